"""TensorBoard event files for a run: every per-epoch scalar and the alignment histograms.

Written with the ``tensorboard`` package alone (its event protos and TFRecord framing):
TensorFlow is never imported, so the files are written on installs without it and read by
``tensorboard --logdir`` as usual. Per epoch, with the epoch as the step:

* ``<key>``: every finite numeric value of the ``metrics.jsonl`` row (``gwa``, ``train_loss``,
  ``test_acc``, ``test/<name>_acc``, timings, ...), as a scalar summary of TensorBoard's
  scalars plugin (a float32 scalar tensor, the format ``tf.summary.scalar`` writes);
* ``alignment/all``: histogram of the per-sample alignment scores of the ids seen this epoch;
* ``alignment/clean`` and ``alignment/mislabelled``: the same split by the noise mask, when
  the training labels contain noise.

Histograms are ``HistogramProto`` values with ``NUM_BUCKETS`` equal-width buckets between the
smallest and largest score (``np.histogram``'s buckets: half-open, the last one closed), plus
the count, sum and sum of squares; TensorBoard's histograms and distributions dashboards
show them.

View with ``tensorboard --logdir runs/``.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter

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


_file_ids = itertools.count()


def histogram_proto(values: np.ndarray, buckets: int = NUM_BUCKETS) -> Any:
    """A ``HistogramProto`` of ``values`` (non-empty, finite) in ``buckets`` equal buckets.

    The buckets span ``[min, max]`` as in ``np.histogram(values, buckets)``; ``bucket_limit``
    holds their right edges (the last is ``max``) and ``min`` the left edge of the first,
    which is how TensorBoard reads them. All values equal: one bucket.
    """
    values = np.asarray(values, np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("histogram_proto needs a non-empty array of finite values.")
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        counts, limits = np.array([values.size]), np.array([hi])
    else:
        counts, edges = np.histogram(values, bins=buckets, range=(lo, hi))
        limits = edges[1:]
    return summary_pb2.HistogramProto(
        min=lo, max=hi, num=float(values.size), sum=float(values.sum()),
        sum_squares=float(np.dot(values, values)), bucket_limit=limits.tolist(),
        bucket=counts.astype(np.float64).tolist())


def _scalar_value(tag: str, value: float) -> Any:
    """A scalars-plugin summary value: a float32 scalar tensor, as ``tf.summary.scalar``."""
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT,
                                    tensor_shape=TensorShapeProto(),
                                    float_val=[value])
    return summary_pb2.Summary.Value(
        tag=tag, tensor=tensor,
        metadata=scalar_metadata.create_summary_metadata(display_name=None, description=None))


class TensorBoardWriter:
    """Writes one run's event file under ``logdir``; a no-op when ``enabled`` is False.

    Every writer opens a new ``events.out.tfevents.*`` file (a resumed run adds one; TensorBoard
    reads them all) and writes synchronously: each ``write_epoch`` is on disk when it returns.

    Args:
      logdir: directory of the event files (gwa-train: ``<workdir>/tensorboard``).
      enabled: False on every process but the first of a multi-host run.
    """

    def __init__(self, logdir: str | Path, enabled: bool = True):
        self.logdir = Path(logdir)
        self.path: Path | None = None  # The event file, once opened.
        self._file = None
        self._records = None
        if enabled:
            self.logdir.mkdir(parents=True, exist_ok=True)
            name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
                    f".{os.getpid()}.{next(_file_ids)}")
            self.path = self.logdir / name
            self._file = open(self.path, "wb")  # Closed by close().
            self._records = RecordWriter(self._file)
            self._write(event_pb2.Event(
                wall_time=time.time(), file_version="brain.Event:2",
                source_metadata=event_pb2.SourceMetadata(writer="gwa_jax.run.tensorboard_writer")))
            self._file.flush()

    @classmethod
    def for_workdir(cls, workdir: str | Path, enabled: bool = True) -> TensorBoardWriter:
        """The writer of a gwa-train run: event files in ``<workdir>/tensorboard``."""
        return cls(Path(workdir) / SUBDIR, enabled)

    def _write(self, event: Any) -> None:
        self._records.write(event.SerializeToString())

    def write_epoch(self, step: int, row: Mapping[str, Any], scores: np.ndarray | None = None,
                    noise_mask: np.ndarray | None = None) -> None:
        """Writes the row's scalars and the score histograms at ``step``, then flushes.

        Args:
          step: TensorBoard step (gwa-train: the epoch).
          row: the epoch's metrics row.
          scores: (N,) per-sample scores by id, NaN for ids not seen.
          noise_mask: (N,) bool, True for mislabelled ids (None: unknown).
        """
        if self._file is None:
            return
        values = [_scalar_value(key, value) for key, value in scalar_items(row).items()]
        if scores is not None:
            for name, group in score_groups(scores, noise_mask).items():
                if group.size:
                    values.append(summary_pb2.Summary.Value(
                        tag=f"alignment/{name}", histo=histogram_proto(group)))
        if values:
            self._write(event_pb2.Event(
                wall_time=time.time(), step=int(step),
                summary=summary_pb2.Summary(value=values)))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._records = None
