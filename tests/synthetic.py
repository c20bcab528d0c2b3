"""Hand-made run directories with the layout gwa-train writes, for the tests.

    write_run(workdir, selected={"gwa": {"epoch": 3, "test_acc": 0.81}, ...},
              metrics=[{"epoch": 1, "step": 10, "gwa": 0.1, ...}, ...],
              scores={3: scores_by_id}, meta={"ids": ..., "noise_mask": ...})

Only the files given are written; ``summary.json`` always is (it marks a finished run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gwa_jax.run.run_files import MetricsLog, save_npy, save_npz, write_json
from gwa_jax.run.run_format import FORMAT_KEY, FORMAT_VERSION


def write_run(workdir: str | os.PathLike, *, selected: Mapping[str, Mapping[str, Any]],
              config: Mapping[str, Any] | None = None,
              metrics: Sequence[Mapping[str, Any]] | None = None,
              max_align_mean: float | None = None,
              final_eval: Mapping[str, Mapping[str, float]] | None = None,
              scores: Mapping[int, np.ndarray] | None = None,
              meta: Mapping[str, np.ndarray] | None = None,
              total_steps: int | None = None,
              format_version: int | None = FORMAT_VERSION) -> Path:
    """Writes a finished run into ``workdir`` and returns its path.

    Args:
      selected: ``summary.selected``: criterion -> {"epoch", "test_acc", ...}; ``step``
        defaults to the step of that epoch's metrics row (else the epoch number).
      config: ``config.json`` content (e.g. ``get_config(arg).to_dict()``).
      metrics: rows of ``metrics.jsonl``.
      max_align_mean: ``summary.max_align_mean`` (default: max of the rows' align_mean).
      final_eval: ``summary.final_eval`` (``{"best_gwa": {test key: acc}, ...}``).
      scores: epoch -> float32 scores by id (``alignment/epoch_NNNN.npy``).
      meta: ``alignment/meta.npz`` arrays.
      total_steps: ``summary.total_steps``.
      format_version: ``summary.format_version``; None leaves it out (a format-1 run).
    """
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    if config is not None:
        write_json(path / "config.json", dict(config))
    rows = [dict(r) for r in (metrics or [])]
    if rows:
        log = MetricsLog(path / "metrics.jsonl")
        for row in rows:
            log.append(row)
    if max_align_mean is None and rows:
        means = [r["align_mean"] for r in rows if r.get("align_mean") is not None]
        max_align_mean = max(means) if means else None
    for epoch, values in (scores or {}).items():
        save_npy(path / "alignment" / f"epoch_{int(epoch):04d}.npy",
                 np.asarray(values, np.float32))
    if meta is not None:
        save_npz(path / "alignment" / "meta.npz", **dict(meta))
    step_of = {int(r["epoch"]): r.get("step", r["epoch"]) for r in rows}
    sel = {k: {"step": step_of.get(int(v["epoch"]), v["epoch"]), **dict(v)}
           for k, v in selected.items()}
    epochs = [int(r["epoch"]) for r in rows] or [int(v["epoch"]) for v in sel.values()] or [0]
    summary = {
        "selected": sel,
        "checkpoints": {},
        "num_epochs": max(epochs),
        "total_steps": total_steps or max(epochs),
        "max_align_mean": max_align_mean,
        "final_eval": dict(final_eval or {}),
    }
    if format_version is not None:
        summary[FORMAT_KEY] = format_version
    write_json(path / "summary.json", summary)
    return path
