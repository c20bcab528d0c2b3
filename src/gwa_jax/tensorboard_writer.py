"""TensorBoard event files for a run: every per-epoch scalar and the alignment histograms.

Written through ``tf.summary`` (TensorFlow is already a gwa-jax dependency for the input
pipeline, so no second writer library is needed). Per epoch, with the epoch as the step:

* ``<key>``: every finite numeric value of the ``metrics.jsonl`` row (``gwa``, ``train_loss``,
  ``test_acc``, ``test/<name>_acc``, timings, ...);
* ``alignment/all``: histogram of the per-sample alignment scores of the ids seen this epoch;
* ``alignment/clean`` and ``alignment/mislabelled``: the same split by the noise mask, when
  the training labels contain noise.

View with ``tensorboard --logdir runs/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SUBDIR = "tensorboard"
NUM_BUCKETS = 50


def scalar_items(row: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a metrics row (booleans and strings are skipped)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, bool | str) or value is None:
            continue
        if isinstance(value, int | float | np.integer | np.floating):
            value = float(value)
            if math.isfinite(value):
                out[key] = value
    return out


def score_groups(scores: np.ndarray, noise_mask: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """Finite scores (N,) by group: ``all``, and ``clean``/``mislabelled`` under noise.

    Args:
      scores: (N,) scores by id, NaN for ids not seen.
      noise_mask: optional (N,) bool, True where the training label differs from the true one.
    """
    scores = np.asarray(scores, np.float32)
    finite = np.isfinite(scores)
    groups = {"all": scores[finite]}
    if noise_mask is not None:
        noise_mask = np.asarray(noise_mask, bool)
        if noise_mask.shape != scores.shape:
            raise ValueError(f"noise_mask {noise_mask.shape} must match scores {scores.shape}.")
        if noise_mask[finite].any():
            groups["clean"] = scores[finite & ~noise_mask]
            groups["mislabelled"] = scores[finite & noise_mask]
    return groups


class TensorBoardWriter:
    """Writes one run's event files under ``logdir``; a no-op when ``enabled`` is False.

    Args:
      logdir: directory of the event files (gwa-train: ``<workdir>/tensorboard``).
      enabled: False on every process but the first of a multi-host run.
    """

    def __init__(self, logdir: str | Path, enabled: bool = True):
        self.logdir = Path(logdir)
        self._writer = None
        if enabled:
            import tensorflow as tf

            self._tf = tf
            self._writer = tf.summary.create_file_writer(str(self.logdir))

    @classmethod
    def for_workdir(cls, workdir: str | Path, enabled: bool = True) -> TensorBoardWriter:
        """The writer of a gwa-train run: event files in ``<workdir>/tensorboard``."""
        return cls(Path(workdir) / SUBDIR, enabled)

    def write_epoch(self, step: int, row: Mapping[str, Any], scores: np.ndarray | None = None,
                    noise_mask: np.ndarray | None = None) -> None:
        """Writes the row's scalars and the score histograms at ``step``, then flushes.

        Args:
          step: TensorBoard step (gwa-train: the epoch).
          row: the epoch's metrics row.
          scores: (N,) per-sample scores by id, NaN for ids not seen.
          noise_mask: (N,) bool, True for mislabelled ids (None: unknown).
        """
        if self._writer is None:
            return
        tf = self._tf
        with self._writer.as_default(step=int(step)):
            for key, value in scalar_items(row).items():
                tf.summary.scalar(key, value)
            if scores is not None:
                for name, values in score_groups(scores, noise_mask).items():
                    if values.size:
                        tf.summary.histogram(f"alignment/{name}", values,
                                             buckets=NUM_BUCKETS)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
