"""Evaluation sets: fixed-size padded numpy batches in a fixed order, read with Grain."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grain
import numpy as np

from gwa_jax.data.batches import pad_batch

#: ``rows`` int64 (n,) -> the unpadded batch of those rows (numpy arrays with n rows).
RowLoader = Callable[[np.ndarray], dict[str, np.ndarray]]


def read_options(num_threads: int, prefetch: int) -> grain.ReadOptions:
    """Grain's read options: ``num_threads`` threads, ``prefetch`` elements buffered."""
    return grain.ReadOptions(num_threads=int(num_threads), prefetch_buffer_size=int(prefetch))


class EvalSet:
    """An evaluation set; iterating yields fixed-size padded numpy batches.

    Every batch is a dict with at least

    * ``"image"``: float32 (B, H, W, C) in [-1, 1], zeros on padding rows;
    * ``"label"``: int32 (B,), 0 on padding rows;
    * ``"mask"``: bool (B,), False on padding rows;

    and, depending on the set: ``"id"`` int32 (B,) (sets drawn from the train split),
    ``"true_label"`` int32 (B,) (clean label when ``"label"`` may be noisy), ``"alt_label"``,
    and for ImageNet-ReaL ``"real_labels"`` bool (B, C) multi-hot plus ``"real_mask"`` bool
    (B,) (real row with at least one ReaL label). B is ``batch_size`` for every batch,
    including the last one. Iterating twice gives the same batches.
    """

    def __init__(self, name: str, load_rows: RowLoader, rows: np.ndarray, batch_size: int,
                 *, num_threads: int = 2, prefetch: int = 4) -> None:
        """Args:
          name: the set's key.
          load_rows: ``rows -> batch`` (:data:`RowLoader`), images already preprocessed.
          rows: int (N,) the rows to evaluate, in this order.
          batch_size: B.
          num_threads / prefetch: Grain's reading threads and batches buffered.
        """
        self.name = name
        self.batch_size = int(batch_size)
        self._rows = np.asarray(rows, np.int64)
        self.num_examples = len(self._rows)
        self._load_rows = load_rows
        self.num_threads = int(num_threads)
        self.prefetch = int(prefetch)

    def __len__(self) -> int:
        """Number of batches."""
        return -(-self.num_examples // self.batch_size)

    def __repr__(self) -> str:
        return f"EvalSet({self.name!r}, num_examples={self.num_examples}, B={self.batch_size})"

    def batch(self, k: int) -> dict[str, np.ndarray]:
        """The padded batch ``k`` (0 <= k < len(self))."""
        rows = self._rows[k * self.batch_size:(k + 1) * self.batch_size]
        return pad_batch(self._load_rows(rows), self.batch_size)

    def map_dataset(self) -> grain.MapDataset:
        """The padded batches as a random-access :class:`grain.MapDataset`."""
        return grain.MapDataset.range(len(self)).map(self.batch)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        options = read_options(self.num_threads, self.prefetch)
        return iter(self.map_dataset().to_iter_dataset(options))
