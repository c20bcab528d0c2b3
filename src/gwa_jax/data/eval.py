"""Evaluation sets: fixed-size padded numpy batches in a fixed order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from gwa_jax.data.batches import pad_batch
from gwa_jax.data.tf_setup import tf

__all__ = ["EvalSet", "pad_batch"]


class EvalSet:
    """An evaluation set; iterating yields fixed-size padded numpy batches.

    Every batch is a dict with at least

    * ``"image"``: float32 (B, H, W, C) in [-1, 1], zeros on padding rows;
    * ``"label"``: int32 (B,), 0 on padding rows;
    * ``"mask"``: bool (B,), False on padding rows;

    and, depending on the set: ``"id"`` int32 (B,) (sets drawn from the train split),
    ``"true_label"`` int32 (B,) (clean label when ``"label"`` may be noisy), and for
    ImageNet-ReaL ``"real_labels"`` bool (B, C) multi-hot plus ``"real_mask"`` bool (B,)
    (real row with at least one ReaL label). B is ``batch_size`` for every batch, including
    the last one. Iterating twice gives the same batches.
    """

    def __init__(
        self,
        name: str,
        make_dataset: Callable[[int], tf.data.Dataset],
        num_examples: int,
        batch_size: int,
    ) -> None:
        """Wraps a dataset factory.

        Args:
          name: the set's key.
          make_dataset: ``batch_size -> tf.data.Dataset`` of batched dicts in fixed order
            (the last batch may be smaller), images already preprocessed.
          num_examples: number of real examples.
          batch_size: B.
        """
        self.name = name
        self.num_examples = int(num_examples)
        self.batch_size = int(batch_size)
        self._make_dataset = make_dataset

    def __len__(self) -> int:
        """Number of batches."""
        return -(-self.num_examples // self.batch_size)

    def __repr__(self) -> str:
        return f"EvalSet({self.name!r}, num_examples={self.num_examples}, B={self.batch_size})"

    def dataset(self) -> tf.data.Dataset:
        """The underlying (unpadded, prefetched) tf.data pipeline."""
        return self._make_dataset(self.batch_size).prefetch(tf.data.AUTOTUNE)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for batch in self.dataset().as_numpy_iterator():
            yield pad_batch(batch, self.batch_size)

