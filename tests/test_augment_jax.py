"""The JAX augmentation (``gwa_jax.data.augment_jax``) against the TensorFlow ops it mirrors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax.data import augment_jax as A
from gwa_jax.data.randaugment import OPS, _apply, _index_tables
from gwa_jax.data.tf_setup import tf

# XLA contracts ``degenerate + factor * (image - degenerate)`` (and the grey sums / the 3x3
# smoothing) into fused multiply-adds, one rounding where TensorFlow's kernels round twice, and
# sums contrast's mean grey level in another order: a few float32 ulps at 255 (~1.5e-5 each),
# under 1e-6 relative. Every other op gives TensorFlow's pixels exactly.
FMA_OPS = {"color", "contrast", "sharpness"}
FMA_TOL = 1e-4
FMA_RTOL = 1e-6

apply_op = jax.jit(A.apply_op)


def _tf_op(op: int, image: np.ndarray, level: float) -> np.ndarray:
    s = abs(level)
    index_map = _index_tables(image.shape[0], image.shape[1], s)[int(level > 0),
                                                                 min(max(op - 1, 0), 4)]
    return _apply(tf.constant(op), tf.constant(image), tf.constant(np.float32(level)),
                  tf.constant(index_map)).numpy()


def _jax_op(op: int, image: np.ndarray, level: float) -> np.ndarray:
    tables = A.geometric_index_tables(image.shape[0], image.shape[1], abs(level))
    index_map = tables[int(level > 0), min(max(op - 1, 0), 4)]
    return np.asarray(apply_op(jnp.int32(op), jnp.asarray(image), jnp.float32(level),
                               jnp.asarray(index_map)))


def _same(op: int, got: np.ndarray, want: np.ndarray) -> bool:
    if OPS[op] in FMA_OPS:
        return np.allclose(got, want, rtol=FMA_RTOL, atol=FMA_TOL)
    return np.array_equal(got, want)


def _images(channels: int) -> list[np.ndarray]:
    rng = np.random.default_rng(channels)
    ints = rng.integers(0, 256, (28, 28, channels)).astype(np.float32)
    # Fractional values, as after a blend in an earlier layer; and a low-contrast image.
    frac = np.clip(ints + rng.uniform(-0.5, 0.5, ints.shape), 0, 255).astype(np.float32)
    flat = rng.integers(100, 104, (28, 28, channels)).astype(np.float32)
    # One fractional level per image: equalize's step is 0 and it returns the image unchanged.
    constant = np.full((28, 28, channels), 77.3, np.float32)
    return [ints, frac, flat, constant]


@pytest.mark.parametrize("h,w", [(28, 28), (32, 32), (24, 30)])
def test_geometric_index_tables_equal_tensorflows(h, w):
    for strength in (0.1, 1.0, 1.5):
        np.testing.assert_array_equal(A.geometric_index_tables(h, w, strength),
                                      _index_tables(h, w, strength))


@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_matches_tensorflow(channels):
    for image in _images(channels):
        for level in (-0.1, 0.1, -1.0, 1.0):
            for op, name in enumerate(OPS):
                want, got = _tf_op(op, image, level), _jax_op(op, image, level)
                assert _same(op, got, want), (name, level, np.abs(got - want).max())


def test_randaugment_draws_an_op_and_sign_per_layer_uniformly():
    # Three channels (colour is the identity on one) and a range short of 0-255 (autocontrast
    # would be the identity): every op gives another image.
    image = np.random.default_rng(5).integers(20, 230, (28, 28, 3)).astype(np.float32)
    candidates = {(op, sign): _tf_op(op, image, sign * 0.5)
                  for op in range(len(OPS)) for sign in (-1, 1)}
    ra = jax.jit(lambda x, k: A.randaugment(x, k, num_ops=1, magnitude=5))
    counts = np.zeros(len(OPS), int)
    signs = []
    for k in jax.random.split(jax.random.key(0), 560):
        out = np.asarray(ra(jnp.asarray(image), k))
        hits = [(op, s) for (op, s), want in candidates.items() if _same(op, out, want)]
        assert hits, "the output is none of the 14 ops at +-0.5"
        assert len({op for op, _ in hits}) == 1, hits
        counts[hits[0][0]] += 1
        signs += [s for _, s in hits]
    # 560 draws over 14 ops: 40 expected each; all ops occur, none more than twice as often.
    assert counts.min() > 15 and counts.max() < 80, counts
    assert 0.4 < np.mean(np.asarray(signs) > 0) < 0.6


def test_pad_crop_and_flip_take_a_window_of_the_padded_image():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    ids = jnp.arange(64)
    out = np.asarray(A.augment_batch(images, A.example_keys(jax.random.key(3), 1, ids),
                                     pad_crop=True, flip=True, randaug_num_ops=2,
                                     randaug_magnitude=0))
    assert out.dtype == np.float32 and out.shape == images.shape
    padded = np.pad(images.astype(np.float32), ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets, flips = set(), []
    for b in range(64):
        found = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                 if np.array_equal(out[b], (lambda x: x[:, ::-1] if f else x)(
                     padded[b, dy:dy + 28, dx:dx + 28]))]
        assert found, f"example {b} is no flipped or unflipped window"
        offsets.add(found[0][:2])
        flips.append(found[0][2])
    assert len(offsets) > 30 and 0.25 < np.mean(flips) < 0.75


def test_augmentation_is_a_function_of_seed_epoch_and_id():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    ids = jnp.arange(100, 116)

    def run(perm, epoch, seed=0):
        keys = A.example_keys(jax.random.key(seed), epoch, ids[perm])
        return np.asarray(A.augment_batch(images[perm], keys, pad_crop=True, flip=True,
                                          randaug_num_ops=2, randaug_magnitude=5))

    base = run(np.arange(16), 1)
    perm = rng.permutation(16)
    np.testing.assert_array_equal(run(perm, 1), base[perm])  # Batch position does not matter.
    assert not np.array_equal(run(np.arange(16), 2), base)
    assert not np.array_equal(run(np.arange(16), 1, seed=1), base)
    untouched = A.augment_batch(images, A.example_keys(jax.random.key(0), 1, ids),
                                pad_crop=False, flip=False, randaug_num_ops=2,
                                randaug_magnitude=0)
    np.testing.assert_array_equal(np.asarray(untouched), images)
