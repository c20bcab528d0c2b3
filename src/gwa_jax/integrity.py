"""Checks of a finished run's files before its summary is trusted.

``summary.json``, ``metrics.jsonl`` and ``alignment/meta.npz`` can be rebuilt from the last
checkpoint (its meta carries the metrics history, the data layer re-derives ``meta.npz``), so
damage to them makes gwa-train rebuild instead of printing a wrong summary. Per-epoch score
files live nowhere else: a missing or unreadable one is reported by name.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
from absl import logging


def _load_json(path: Path):
    with open(path) as f:
        return json.load(f)


def finished_run_damage(workdir: str | os.PathLike) -> str | None:
    """Why a finished run's files cannot be trusted (one line naming the file), or None.

    Also warns, by name, about per-epoch score files that are missing or unreadable.
    """
    path = Path(workdir)
    try:
        summary = _load_json(path / "summary.json")
        num_epochs = int(summary["num_epochs"])
        if not isinstance(summary["selected"], dict):
            raise ValueError("no selections")
    except (OSError, ValueError, KeyError, TypeError):
        return f"{path / 'summary.json'} is unreadable or incomplete"
    try:
        with open(path / "metrics.jsonl", "rb") as f:
            epochs = [json.loads(line)["epoch"] for line in f]
    except (OSError, ValueError, KeyError, TypeError):
        epochs = None
    if epochs != list(range(1, num_epochs + 1)):
        return f"{path / 'metrics.jsonl'} is damaged (not one line per epoch 1..{num_epochs})"
    try:
        with np.load(path / "alignment" / "meta.npz") as meta:
            {k: meta[k] for k in meta.files}  # noqa: B018 - reading every array checks it.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        return f"{path / 'alignment' / 'meta.npz'} is missing or damaged ({type(err).__name__})"
    _warn_score_files(path, num_epochs)
    return None


def _warn_score_files(path: Path, num_epochs: int) -> None:
    try:
        every = int(_load_json(path / "config.json")["gwa"]["save_scores_every"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not every:
        return
    for epoch in range(1, num_epochs + 1):
        if epoch % every and epoch != num_epochs:
            continue
        name = path / "alignment" / f"epoch_{epoch:04d}.npy"
        try:
            np.load(name, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            logging.warning("%s is missing or damaged and cannot be rebuilt (per-sample scores "
                            "are kept only there); rerun with --overwrite to regenerate it",
                            name)
