"""Batch padding rules shared by every input pipeline (numpy only, no TensorFlow).

Training epochs: ``ceil(num / B)`` batches of B rows, the last one filled with copies of its own
first rows whose ``mask`` is False (:func:`padded_positions`). Evaluation batches: zero rows
after the real ones, ``mask`` False (:func:`pad_batch`).
"""

from __future__ import annotations

import numpy as np


def padded_positions(num: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of an epoch of ``num`` examples in ``ceil(num / B)`` batches of B.

    Returns ``(rows, valid)``: int64 and bool (steps * B,); ``rows[p] = p`` for the real
    positions ``p < num``, and the padding positions of the last batch repeat its first rows
    (the same rule as :func:`gwa_jax.data.train.pad_last_batch`), with ``valid`` False.
    """
    steps = -(-num // batch_size)
    pos = np.arange(steps * batch_size, dtype=np.int64)
    last = (steps - 1) * batch_size
    rows = np.where(pos < num, pos, last + (pos - last) % max(num - last, 1))
    return rows, pos < num


def pad_batch(batch: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    """Pads every array of ``batch`` to ``batch_size`` rows with zeros and adds ``"mask"``."""
    n = len(batch["label"])
    out = {}
    for key, value in batch.items():
        if n < batch_size:
            pad = np.zeros((batch_size - n, *value.shape[1:]), value.dtype)
            value = np.concatenate([value, pad])
        out[key] = value
    mask = np.zeros(batch_size, bool)
    mask[:n] = True
    out["mask"] = mask
    if "real_labels" in out:
        out["real_mask"] = mask & out["real_labels"].any(axis=-1)
    return out
