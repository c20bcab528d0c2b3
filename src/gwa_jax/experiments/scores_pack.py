"""Packing a run's per-sample scores into the compact ``scores.npz`` of an exported run folder.

    path = pack_run("runs/fmnist_n/model-vit_noise0.4_split0_seed0",
                    "results/fmnist_n/runs_format2/model-vit_noise0.4_split0_seed0")
    pack_run(workdir, out_dir, epochs="all")       # every saved epoch
    pack_run(workdir, out_dir, epochs=[5, 11])     # these epochs

By default the kept epochs are the ones the committed tables and figures read
(:func:`default_epochs`): each criterion's selected epoch in ``summary.json`` (the mislabel
AUROC table reads ``gwa`` and ``last``; gwa-inspect's ``--epoch CRITERION`` any of them)
and the three epochs of Fig. 2, 4 and 16 (:func:`gwa_jax.experiments.figures.three_epochs`:
early, GWA-selected, last). Those picks are the same on the packed run as on the workdir.
The file format is described in :mod:`gwa_jax.run.packed_scores`; ``scripts/pack_scores.py``
is the command line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gwa_jax.experiments.results import RunResult
from gwa_jax.run import integrity
from gwa_jax.run.packed_scores import SCORES_FILE, PackedScoresError, npz_bytes, pack_arrays

__all__ = ["PackError", "default_epochs", "export_run", "pack_run", "packed_bytes",
           "SCORES_FILE"]


class PackError(ValueError):
    """A run that cannot be packed, or a ``scores.npz`` that is already there; one line."""


def default_epochs(run: RunResult) -> list[int]:
    """The saved score epochs the tables and figures read: every criterion's selected epoch
    and Fig. 2 / 4 / 16's three epochs (sorted, each once)."""
    # A deliberate late import to keep start-up light: figures loads matplotlib.
    from gwa_jax.experiments.figures import three_epochs

    saved = run.score_epochs()
    if not saved:
        return []
    wanted = {int(e["epoch"]) for e in (run.summary.get("selected") or {}).values()
              if isinstance(e, dict) and e.get("epoch") is not None}
    return sorted((wanted & set(saved)) | set(three_epochs(run)))


def _pick_epochs(run: RunResult, epochs: str | Sequence[int] | None) -> list[int]:
    saved = run.score_epochs()
    if epochs is None or epochs == "default":
        return default_epochs(run)
    if epochs == "all":
        return saved
    if isinstance(epochs, str):
        raise PackError(f"epochs must be 'default', 'all' or a list of epochs, not {epochs!r}")
    chosen = sorted({int(e) for e in epochs})
    missing = [e for e in chosen if e not in saved]
    if missing:
        problems = [run.score_problem(e) for e in missing if run.score_problem(e)]
        raise PackError(problems[0] if problems else
                        f"no saved scores for epoch(s) {', '.join(map(str, missing))} in "
                        f"{run.workdir}/alignment")
    return chosen


def packed_bytes(workdir: str | os.PathLike,
                 epochs: str | Sequence[int] | None = None) -> bytes:
    """The bytes of the ``scores.npz`` of the run in ``workdir`` (see :func:`pack_run`)."""
    workdir = Path(workdir)
    run = RunResult.load(workdir)
    if run is None:
        raise PackError(f"{workdir} holds no finished run (no readable summary.json)")
    if not (workdir / integrity.META).is_file():
        raise PackError(f"{workdir} holds no per-sample scores (no {integrity.META})")
    try:
        meta = run.meta()
        chosen = _pick_epochs(run, epochs)
        scores = {e: run.scores(e) for e in chosen}
    except integrity.DamagedRunError as err:
        raise PackError(str(err)) from None
    if not chosen:
        raise PackError(f"no alignment/epoch_*.npy to pack in {workdir} (train with "
                        f"config.gwa.save_scores_every >= 1)")
    try:
        return npz_bytes(pack_arrays(meta, scores))
    except PackedScoresError as err:
        raise PackError(f"{workdir}: {err}") from None


def pack_run(workdir: str | os.PathLike, out_dir: str | os.PathLike,
             epochs: str | Sequence[int] | None = None, force: bool = False) -> Path:
    """Writes ``out_dir/scores.npz`` from the run in ``workdir`` and returns its path.

    Args:
      workdir: a run written by gwa-train (``summary.json``, ``alignment/meta.npz``,
        ``alignment/epoch_NNNN.npy``); its files are verified against its checksums.
      out_dir: the exported run folder (created when absent). When it has a
        ``checksums.json``, the new file's entry is recorded there; otherwise seal the folder
        afterwards (``python scripts/seal_runs.py OUT_DIR``).
      epochs: None or ``"default"`` (:func:`default_epochs`), ``"all"`` (every saved
        epoch), or a list of epochs.
      force: replace an existing ``scores.npz`` (otherwise :class:`PackError`).

    Raises :class:`PackError` (one line) for a run that cannot be packed.
    """
    out = Path(out_dir) / SCORES_FILE
    if out.exists() and not force:
        raise PackError(f"{out} exists; pass force=True (--force) to replace it")
    data = packed_bytes(workdir, epochs)
    track = (Path(out_dir) / integrity.MANIFEST).is_file()
    integrity.atomic_write(out, data, track=track)
    return out


#: The run files an exported run folder keeps besides ``scores.npz`` and ``checksums.json``.
EXPORTED_FILES = ("config.json", "metrics.jsonl", "summary.json")


def export_run(workdir: str | os.PathLike, out_root: str | os.PathLike,
               epochs: str | Sequence[int] | None = None, force: bool = False) -> Path:
    """Exports the finished run in ``workdir`` to ``out_root/<its name>``: its
    ``config.json``, ``metrics.jsonl`` and ``summary.json`` (verified against the run's own
    checksums, whose entries are carried over), then ``scores.npz`` (:func:`pack_run`), and
    returns the folder. An existing folder is refused unless ``force``.

    Raises :class:`PackError` (one line) for an unfinished or damaged run.
    """
    src = Path(workdir)
    out = Path(out_root) / src.name
    if not (src / "summary.json").is_file():
        raise PackError(f"{src} is not a finished gwa-train run (no summary.json)")
    damage = integrity.check_files(src, repair=False).lines()
    if damage:
        raise PackError(damage[0])
    if out.exists() and not force:
        raise PackError(f"{out} exists; pass force=True (--force) to replace it")
    out.mkdir(parents=True, exist_ok=True)
    for name in (*EXPORTED_FILES, integrity.MANIFEST):
        (out / name).write_bytes((src / name).read_bytes())
    problems = integrity.seal_run(out)  # keeps the run's own entries, drops the others
    if problems:
        raise PackError(problems[0])
    pack_run(src, out, epochs, force=True)
    return out
