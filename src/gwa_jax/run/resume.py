"""Where a run restarts: the newest intact checkpoint, and run files rebuilt from it.

A ``latest`` checkpoint of epoch E (or an ``interrupted`` one at step k of epoch E) carries the
run's metrics history in its JSON meta, so ``metrics.jsonl`` is rewritten from the checkpoint
on every resume: a truncated, edited or garbled metrics file never reaches the criteria. A
damaged newest checkpoint (or one without its checksum manifest) falls back to the previous
verified one (see :meth:`gwa_jax.run.checkpoints.RunCheckpoints.restore_newest_good`); a
mid-epoch checkpoint that cannot be trusted falls back to the last ``latest`` one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from absl import logging

from gwa_jax.run import integrity
from gwa_jax.run.checkpoints import INTERRUPTED, DamagedCheckpointError, RunCheckpoints
from gwa_jax.run.run_files import MetricsLog, dumps


@dataclasses.dataclass
class ResumePoint:
    """What the epoch loop starts from.

    Attributes:
      state: the train state (restored, or the fresh one passed in).
      buffers: the epoch buffers mid-epoch (restored from an interrupted checkpoint), or the
        fresh ones passed in.
      prev: LabelWave's previous (N,) predictions and (N,) seen-mask, or None.
      epoch: the epoch to run next; start_step: its first step (> 0 only mid-epoch).
      history: the metrics rows of the finished epochs.
      data_state: mid-epoch, the input iterator's state after step ``start_step``
        (:class:`gwa_jax.data.train.EpochReader`), or None (read from ``start_step``).
    """

    state: Any
    buffers: Any
    prev: tuple[np.ndarray, np.ndarray] | None
    epoch: int
    start_step: int
    history: list[dict[str, Any]]
    data_state: dict[str, Any] | None = None


def history_for_meta(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as ``metrics.jsonl`` stores them (NaN as null): a checkpoint's copy."""
    return [json.loads(dumps(r)) for r in history]


def _read_lines(path: Path) -> list[Any] | None:
    """The parsed lines of a metrics file, or None when a line is not JSON."""
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_bytes().splitlines(keepends=True)
                if line.endswith(b"\n")]
    except ValueError:
        return None


def rebuild_metrics(log: MetricsLog, history: list[dict[str, Any]]) -> None:
    """Makes ``metrics.jsonl`` hold exactly ``history`` (and its checksum entry match it);
    warns when the file said otherwise."""
    if not log.writable:
        return
    text = "".join(dumps(r) + "\n" for r in history).encode()
    if log.path.exists() and log.path.read_bytes() == text:
        if integrity.file_verified(log.path):
            return
        log.rewrite(history)  # The content is the checkpoint's: record its checksum.
        return
    lines = _read_lines(log.path)
    # More lines than the checkpoint is a kill after an append: expected, no warning.
    if lines is None or lines[:len(history)] != history:
        logging.warning("%s was damaged or out of step with the checkpoint; rebuilt from the "
                        "checkpoint's history (%d epochs)", log.path, len(history))
    log.rewrite(history)


def restore_run(ckpts: RunCheckpoints, log: MetricsLog, state: Any, buffers: Any,
                num_ids: int, steps_per_epoch: int) -> ResumePoint:
    """Restores the newest intact checkpoint (mid-epoch ones included) into the shapes and
    shardings of ``state`` and ``buffers``; a run without one starts at epoch 1."""
    prev_target = {"prev_preds": np.zeros(num_ids, np.int32),
                   "prev_seen": np.zeros(num_ids, bool)}
    point = ResumePoint(state, buffers, None, 1, 0, [])
    found = ckpts.restore_newest_good("latest", {"state": state, **prev_target})
    last_step = 0
    if found is not None:
        restored, meta, epoch = found
        point = ResumePoint(restored["state"], buffers,
                            (np.asarray(restored["prev_preds"]), np.asarray(restored["prev_seen"])),
                            epoch + 1, 0, _history(meta, log, epoch))
        last_step = int(meta.get("step", epoch * steps_per_epoch))
        logging.info("Resuming from epoch %d (step %d)", epoch, last_step)
    if INTERRUPTED in ckpts.managers:
        try:
            mid = ckpts.restore_newest_good(INTERRUPTED, {"state": state, "buffers": buffers,
                                                          **prev_target})
        except DamagedCheckpointError as err:
            logging.warning("%s; resuming from the last epoch checkpoint instead",
                            str(err).split("; rerun")[0])
            mid = None
        if mid is not None and mid[2] > last_step:
            restored, meta, step = mid
            prev = ((np.asarray(restored["prev_preds"]), np.asarray(restored["prev_seen"]))
                    if meta["has_prev"] else None)
            point = ResumePoint(restored["state"], restored["buffers"], prev, meta["epoch"],
                                meta["step_in_epoch"], list(meta["history"]),
                                meta.get("data_state"))
            logging.info("Resuming mid-epoch %d at step %d", meta["epoch"], step)
    if found is None and point.epoch == 1 and point.start_step == 0:
        log.truncate_to_epoch(0)
    else:
        rebuild_metrics(log, point.history)
    return point


def _history(meta: dict[str, Any], log: MetricsLog, epoch: int) -> list[dict[str, Any]]:
    if "history" in meta:
        return list(meta["history"])
    return log.truncate_to_epoch(epoch)  # A checkpoint written before histories were kept.


def save_interrupted(ckpts: RunCheckpoints, *, epoch: int, step_in_epoch: int, step: int,
                     state: Any, buffers: Any, prev: tuple[np.ndarray, np.ndarray] | None,
                     history: list[dict[str, Any]], data_state: dict[str, Any] | None = None
                     ) -> None:
    """Saves a mid-epoch checkpoint (state, epoch buffers so far, LabelWave's previous
    predictions, history, the input iterator's state) at global ``step``; returns once it is
    on disk with its manifest."""
    num_ids = jax.tree.leaves(buffers)[0].shape[0]
    preds, seen = prev if prev is not None else (np.zeros(num_ids, np.int32),
                                                 np.zeros(num_ids, bool))
    ckpts.save(INTERRUPTED, step,
               {"state": state, "buffers": buffers, "prev_preds": preds, "prev_seen": seen},
               {"epoch": epoch, "step": step, "step_in_epoch": step_in_epoch,
                "has_prev": prev is not None, "history": history_for_meta(history),
                "data_state": data_state})
