"""Per-example and per-batch augmentation keys, computed on the host in numpy.

The training stream draws nothing itself: it hands the device the threefry key data of each
example, ``fold_in(fold_in(key(seed), epoch), id)`` (:func:`example_key_data`, exactly
:func:`gwa_jax.data.augment_jax.example_keys`), and of each batch's batch-level draws (mixup,
:func:`batch_key_data`). The host's random crops (ImageNet's inception crop) draw from the same
example keys. The keys depend on (seed, epoch, id) or (seed, epoch, step) only, never on
reading order, threads or processes.
"""

from __future__ import annotations

import numpy as np

#: The value folded into an epoch's key before the step for the batch-level (mixup) keys;
#: never an example id (ids are int32, non-negative).
BATCH_STREAM = 0xFFFFFFFF
_U32 = np.uint32
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))

def _threefry2x32(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 (20 rounds) of the counters (x0, x1) under the key (k0, k1), uint32,
    broadcasting; the hash ``jax.random`` uses for ``threefry2x32`` keys."""
    k0, k1, x0, x1 = (np.asarray(a, _U32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ _U32(0x1BD11BDA))
    with np.errstate(over="ignore"):
        x0, x1 = x0 + k0, x1 + k1
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                x0 = x0 + x1
                x1 = x0 ^ ((x1 << _U32(r)) | (x1 >> _U32(32 - r)))
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + _U32(i + 1)
    return x0, x1


def fold_in_data(key_data: np.ndarray, data: int | np.ndarray) -> np.ndarray:
    """``jax.random.key_data(jax.random.fold_in(key, data))`` for threefry key data uint32
    (..., 2) and uint32 ``data`` (broadcast against the leading axes), in numpy."""
    key_data = np.asarray(key_data, _U32)
    data = np.asarray(data, _U32)
    return np.stack(_threefry2x32(key_data[..., 0], key_data[..., 1], np.zeros_like(data),
                                  data), axis=-1)


def seed_key_data(seed: int) -> np.ndarray:
    """uint32 (2,): ``jax.random.key_data(jax.random.key(seed))`` (threefry) in numpy."""
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be non-negative.")
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], _U32)


def epoch_key_data(seed: int, epoch: int) -> np.ndarray:
    """uint32 (2,): the key data of ``fold_in(key(seed), epoch)``."""
    return fold_in_data(seed_key_data(seed), epoch)


def example_key_data(seed: int, epoch: int, ids: np.ndarray) -> np.ndarray:
    """uint32 (N, 2): the key data of :func:`gwa_jax.data.augment_jax.example_keys`
    ``(key(seed), epoch, ids)``, one key per id."""
    return fold_in_data(epoch_key_data(seed, epoch)[None], np.asarray(ids, np.int64))


def batch_key_data(seed: int, epoch: int, step: int) -> np.ndarray:
    """uint32 (2,): the key of the batch-level draws (mixup) of ``step`` of ``epoch``."""
    return fold_in_data(fold_in_data(epoch_key_data(seed, epoch), BATCH_STREAM), step)
