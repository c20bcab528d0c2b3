"""Epoch-level bookkeeping for early stopping: feed it each epoch, ask which epoch to keep.

:class:`EpochTracker` keeps one row per epoch (GWA and its moments, optionally validation
accuracy, LabelWave's prediction-change count and Gradient Disparity) and answers, for every
criterion of :mod:`gwa_jax.criteria`, which epoch it selects, whether the latest epoch is the
selected one (save a checkpoint now) and whether to stop. The selection rules are the
functions of :mod:`gwa_jax.criteria`; gwa-train uses this same class.

    tracker = EpochTracker(total_steps=num_epochs * steps_per_epoch)
    for epoch in range(1, num_epochs + 1):
        ...                                           # train one epoch
        ep = finalize_epoch(scores, epoch=epoch)
        tracker.update(ep, step=epoch * steps_per_epoch, epoch=epoch)
        if tracker.is_best("gwa"):
            save(model)
        if tracker.should_stop(patience=5):
            break
    tracker.best_epoch("gwa")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gwa_jax import criteria
from gwa_jax.accumulator import EpochAlignment

if TYPE_CHECKING:
    import ml_collections

STATE_VERSION = 1


def _plain(value: Any) -> Any:
    """JSON-safe scalar: numpy scalars become Python numbers, NaN/inf become None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class EpochTracker:
    """History of per-epoch metrics and the early-stopping decisions drawn from it.

    Args:
      total_steps: the run's planned number of optimiser steps (the GWA warm-up is the first
        ``warmup_fraction * total_steps`` steps).
      warmup_fraction: GWA criterion's warm-up fraction (paper: 0.1).
      labelwave_window: LabelWave's moving-average window.
      gd_patience: Gradient Disparity's patience / count.
      history: rows to start from (e.g. the lines of a ``metrics.jsonl`` being resumed).

    Every row is a dict with at least ``step`` and ``gwa``; ``epoch``, ``labelwave``,
    ``val_acc`` and ``gd`` are used when present. NaN or None marks a missing value.
    """

    def __init__(self, total_steps: int, *, warmup_fraction: float = 0.1,
                 labelwave_window: int = 3, gd_patience: int = 5,
                 history: Sequence[Mapping[str, Any]] = ()):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}.")
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)
        self.labelwave_window = int(labelwave_window)
        self.gd_patience = int(gd_patience)
        self.history: list[dict[str, Any]] = []
        for row in history:
            self.append(row)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict, total_steps: int,
                    history: Sequence[Mapping[str, Any]] = ()) -> EpochTracker:
        """The tracker gwa-train uses, with the criteria settings of an experiment config."""
        return cls(total_steps, warmup_fraction=config.gwa.warmup_fraction,
                   labelwave_window=config.criteria.labelwave_window,
                   gd_patience=config.criteria.gd.patience, history=history)

    # ---- Feeding ------------------------------------------------------------------------
    def append(self, row: Mapping[str, Any]) -> None:
        """Appends one epoch's row (a dict with ``step`` and ``gwa``; see the class doc)."""
        if "step" not in row:
            raise KeyError(f"an epoch row needs 'step' (optimiser steps so far); got keys "
                           f"{sorted(row)}.")
        row = dict(row)
        row.setdefault("epoch", len(self.history) + 1)
        self.history.append(row)

    def update(self, alignment: EpochAlignment | float, *, step: int, epoch: int | None = None,
               val_acc: float | None = None, labelwave: float | None = None,
               gd: float | None = None) -> dict[str, Any]:
        """Records one epoch from a custom loop and returns the row it stored.

        Args:
          alignment: the epoch's :class:`EpochAlignment` (from ``finalize_epoch``) or its GWA.
          step: optimiser steps taken so far (end of this epoch).
          epoch: the epoch's number (default: 1 + the number of epochs recorded).
          val_acc: validation accuracy, when a validation split exists.
          labelwave: number of training samples whose argmax prediction changed since the
            previous epoch (LabelWave); None or NaN for the first epoch.
          gd: Gradient Disparity of this epoch.
        """
        row: dict[str, Any] = {"epoch": len(self.history) + 1 if epoch is None else int(epoch),
                               "step": int(step)}
        if isinstance(alignment, EpochAlignment):
            row.update(gwa=alignment.gwa, align_mean=alignment.mean,
                       align_kurtosis=alignment.kurtosis)
        else:
            row["gwa"] = float(alignment)
        row["labelwave"] = math.nan if labelwave is None else float(labelwave)
        if val_acc is not None:
            row["val_acc"] = float(val_acc)
        if gd is not None:
            row["gd"] = float(gd)
        self.append(row)
        return row

    # ---- Decisions ----------------------------------------------------------------------
    def selections(self) -> dict[str, int]:
        """History index selected by every criterion with data (``criteria.select_all``)."""
        return criteria.select_all(self.history, total_steps=self.total_steps,
                                   warmup_fraction=self.warmup_fraction,
                                   labelwave_window=self.labelwave_window,
                                   gd_patience=self.gd_patience)

    def best_index(self, criterion: str = "gwa") -> int | None:
        """Index into :attr:`history` selected by ``criterion`` (None: no data yet)."""
        if criterion not in criteria.CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; choose one of "
                             f"{', '.join(criteria.CRITERIA)}.")
        return self.selections().get(criterion)

    def best_epoch(self, criterion: str = "gwa") -> int | None:
        """The ``epoch`` number of the row selected by ``criterion`` (None: no data yet)."""
        i = self.best_index(criterion)
        return None if i is None else self.history[i]["epoch"]

    def is_best(self, criterion: str = "gwa") -> bool:
        """True when ``criterion`` selects the latest epoch (the time to save a checkpoint)."""
        return bool(self.history) and self.best_index(criterion) == len(self.history) - 1

    def should_stop(self, patience: int = 5, criterion: str = "gwa") -> bool:
        """Online early stopping: ``criterion``'s selection is ``patience`` epochs old.

        For ``gwa`` and ``gwa_finetune`` this is gwa-train's ``criteria.early_stop`` rule
        (:meth:`early_stop_index`: ``patience`` epochs without a new maximum after the warm-up,
        or after the fine-tuning rule's initial minimum; an undefined GWA counts as no new
        maximum); for ``val`` it is "validation accuracy has not improved for ``patience``
        epochs"; for LabelWave and the GD rules, which select the last epoch until they
        trigger, it is ``patience`` epochs after the trigger. Those never stop while the
        criterion has no selection.
        """
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}.")
        if criterion in criteria.EARLY_STOP_CRITERIA:
            stop = self.early_stop_index(patience, criterion)
            return stop is not None and stop <= len(self.history) - 1
        best = self.best_index(criterion)
        return best is not None and len(self.history) - 1 - best >= patience

    def early_stop_index(self, patience: int, criterion: str = "gwa") -> int | None:
        """Index into :attr:`history` of the epoch after which ``criteria.early_stop`` stops
        the run (:func:`criteria.early_stop_epoch`), or None: train on (``patience`` 0 never
        stops). gwa-train stops when this is the latest epoch."""
        return criteria.early_stop_epoch(
            [h.get("gwa") for h in self.history], [int(h["step"]) for h in self.history],
            self.total_steps, self.warmup_fraction, patience, criterion)

    # ---- Checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (settings and history; NaN stored as None)."""
        return {
            "version": STATE_VERSION,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "labelwave_window": self.labelwave_window,
            "gd_patience": self.gd_patience,
            "history": [{k: _plain(v) for k, v in row.items()} for row in self.history],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> EpochTracker:
        """Rebuilds a tracker from :meth:`state_dict` (also after a JSON round trip)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported EpochTracker state version {state.get('version')!r}"
                             f" (expected {STATE_VERSION}).")
        return cls(state["total_steps"], warmup_fraction=state["warmup_fraction"],
                   labelwave_window=state["labelwave_window"],
                   gd_patience=state["gd_patience"], history=state["history"])
