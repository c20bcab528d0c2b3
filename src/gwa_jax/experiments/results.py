"""Reading finished run directories, and the statistics computed from them.

A workdir written by ``gwa-train`` holds ``config.json``, ``metrics.jsonl`` (one line per
epoch), ``summary.json`` (the epoch each criterion selected and the test accuracies there,
``max_align_mean``, ``final_eval`` of the robustness suites) and ``alignment/`` (per-sample
scores by id per epoch, ``meta.npz`` with the trained ids and the label-noise mask). An
exported run folder may keep ``scores.npz`` instead of ``alignment/`` (the trained ids'
scores at a few epochs, float16; :mod:`gwa_jax.run.packed_scores`): it is read when
``alignment/`` is absent, with the same results. :class:`RunResult` reads them lazily; the
functions below compute what the tables report.

Every file is checked against the run's ``checksums.json`` (:mod:`gwa_jax.run.integrity`) before
it is used: a ``summary.json``, ``config.json``, ``metrics.jsonl``, ``meta.npz`` or
``scores.npz`` that does not match raises :class:`~gwa_jax.run.integrity.DamagedRunError`
(one line naming it); a damaged per-epoch score file is skipped with a warning naming it; a
run without a manifest is read with one warning naming the missing manifest. Nothing is
written into the run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from absl import logging
from scipy import stats

from gwa_jax.data.registry import CORRUPTION_GROUPS
from gwa_jax.run import integrity
from gwa_jax.run.packed_scores import SCORES_FILE, PackedScores, PackedScoresError, read_packed
from gwa_jax.run.run_format import version_of

#: Kept checkpoint whose ``final_eval`` a criterion reads (Table 2).
FINAL_EVAL_KIND = {"val": "best_val", "gwa": "best_gwa"}
GROUP_PREFIX = "corruption:"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclasses.dataclass
class RunResult:
    """One finished run directory (``summary.json`` present).

    ``summary``, ``config``, ``metrics``, ``meta()`` and ``scores()`` verify their file
    against the run's ``checksums.json`` first (see the module docstring).
    """

    workdir: Path
    _summary: dict[str, Any]
    _config: dict[str, Any] | None = None
    _metrics: list[dict[str, Any]] | None = dataclasses.field(default=None, repr=False)
    _meta: dict[str, np.ndarray] | None = dataclasses.field(default=None, repr=False)
    _check: integrity.FileCheck | None = dataclasses.field(default=None, repr=False)
    _packed: PackedScores | None = dataclasses.field(default=None, repr=False)
    _warned: set[str] = dataclasses.field(default_factory=set, repr=False)

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> RunResult | None:
        """The run in ``workdir``, or ``None`` when it has no (readable) ``summary.json``."""
        workdir = Path(workdir)
        try:
            summary = json.loads((workdir / "summary.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        try:
            config = json.loads((workdir / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
            config = None
        return cls(workdir, summary, config)

    @classmethod
    def load_verified(cls, workdir: str | os.PathLike) -> RunResult | None:
        """:meth:`load`, then :meth:`verify`: raises
        :class:`~gwa_jax.run.integrity.DamagedRunError` (one line) for a damaged run file."""
        result = cls.load(workdir)
        if result is not None:
            result.verify()
        return result

    # --- checksums ----------------------------------------------------------------------------

    @property
    def checks(self) -> integrity.FileCheck:
        """The run files checked against ``checksums.json`` (once; never repaired here: a
        reader does not write into a run folder that gwa-train may be writing)."""
        if self._check is None:
            self._check = integrity.check_files(self.workdir, repair=False)
            if self._check.manifest_missing:
                logging.warning("%s; reading them unverified (record them with: python "
                                "scripts/seal_runs.py %s)", self._check.manifest_missing,
                                self.workdir)
        return self._check

    def verify(self, names: Sequence[str] = ("summary.json", "config.json", "metrics.jsonl",
                                             integrity.META, SCORES_FILE)) -> None:
        """Raises :class:`~gwa_jax.run.integrity.DamagedRunError` (one line) when one of
        ``names`` differs from its checksum, is missing while listed, or is unlisted."""
        problems = self.checks.problems
        for name in names:
            if name in problems:
                raise integrity.DamagedRunError(
                    f"{problems[name]}; refusing to read this run (restore the file, e.g. from "
                    f"version control, or rerun its gwa-train command to rebuild it from the "
                    f"checkpoint)")

    def score_problem(self, epoch: int) -> str | None:
        """Why ``alignment/epoch_NNNN.npy`` (or, for a packed run, ``scores.npz``) cannot be
        trusted (one line), or None."""
        if self.packed_run:
            return self.checks.problems.get(SCORES_FILE)
        return self.checks.problems.get(f"alignment/epoch_{epoch:04d}.npy")

    @property
    def packed_run(self) -> bool:
        """Whether the scores come from ``scores.npz`` (no ``alignment/`` folder)."""
        return not (self.workdir / "alignment").is_dir() and (
            self.workdir / SCORES_FILE).is_file()

    def packed(self) -> PackedScores | None:
        """``scores.npz`` (verified: raises :class:`~gwa_jax.run.integrity.DamagedRunError`,
        one line, when it differs from its checksum or is not a packed scores file), or None
        when the run keeps ``alignment/`` or no ``scores.npz``."""
        if self._packed is None and self.packed_run:
            self.verify((SCORES_FILE,))
            try:
                self._packed = read_packed(self.workdir / SCORES_FILE)
            except PackedScoresError as err:
                raise integrity.DamagedRunError(str(err)) from None
        return self._packed

    def _skip_scores(self, epoch: int) -> bool:
        line = self.score_problem(epoch)
        if line is None:
            return False
        if line not in self._warned:
            self._warned.add(line)
            logging.warning("%s; skipping these per-sample scores", line)
        return True

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` (verified)."""
        self.verify(("summary.json",))
        return self._summary

    @property
    def config(self) -> dict[str, Any] | None:
        """``config.json`` (verified), or None when the run has none."""
        self.verify(("config.json",))
        return self._config

    @property
    def format_version(self) -> int:
        """The run format that wrote this run (:mod:`gwa_jax.run.run_format`): recorded in
        ``summary.json`` or ``config.json``, 1 when neither records one."""
        return version_of(self.summary, self.config)

    # --- summary.json -----------------------------------------------------------------------

    def selected(self, criterion: str) -> dict[str, Any] | None:
        """The ``summary.selected`` entry of a criterion (epoch, step, test accuracies)."""
        return self.summary.get("selected", {}).get(criterion)

    def selected_epoch(self, criterion: str) -> int | None:
        entry = self.selected(criterion)
        return None if entry is None else int(entry["epoch"])

    def value(self, criterion: str, metric: str = "test_acc") -> float | None:
        """A metric at a criterion's selected epoch.

        ``metric`` is a key of the selected entry (``test_acc``, ``test/imagenet_v2_acc``,
        ``val_acc``, ``gwa``), or ``corruption:<Group>`` for the mean accuracy over the
        corrupted test sets of that group (Blur / Digital / Noise / Weather) evaluated on the
        criterion's kept checkpoint (``final_eval``; criteria ``val`` and ``gwa``).
        """
        if metric.startswith(GROUP_PREFIX):
            kind = FINAL_EVAL_KIND.get(criterion, criterion)
            groups = self.corruption_groups(kind)
            return groups.get(metric[len(GROUP_PREFIX):])
        entry = self.selected(criterion)
        return None if entry is None else _finite(entry.get(metric))

    def corruption_groups(self, kind: str) -> dict[str, float]:
        """Mean accuracy per corruption group on checkpoint ``kind`` (``best_gwa`` /
        ``best_val``), averaged over corruptions and severities."""
        accs = self.summary.get("final_eval", {}).get(kind) or {}
        per_group: dict[str, list[float]] = {}
        for key, acc in accs.items():
            group = corruption_group(key)
            v = _finite(acc)
            if group is not None and v is not None:
                per_group.setdefault(group, []).append(v)
        return {g: float(np.mean(v)) for g, v in per_group.items()}

    @property
    def max_align_mean(self) -> float | None:
        return _finite(self.summary.get("max_align_mean"))

    # --- metrics.jsonl and alignment/ ---------------------------------------------------------

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The per-epoch rows of ``metrics.jsonl`` (complete lines only; verified)."""
        if self._metrics is None:
            self.verify(("metrics.jsonl",))
            rows = []
            path = self.workdir / "metrics.jsonl"
            if path.exists():
                with open(path, "rb") as f:
                    for raw in f:
                        if raw.endswith(b"\n"):
                            rows.append(json.loads(raw))
            self._metrics = rows
        return self._metrics

    def column(self, key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of a metrics column (``x="step"``: (steps, values)); missing /
        null values are NaN."""
        rows = self.metrics
        epochs = np.array([r[x] for r in rows], dtype=np.int64)
        values = np.array([_finite(r.get(key)) if _finite(r.get(key)) is not None else np.nan
                           for r in rows], dtype=np.float64)
        return epochs, values

    def meta(self) -> dict[str, np.ndarray] | None:
        """``alignment/meta.npz`` (ids, true_labels, train_labels, noise_mask, split;
        verified), or its trained ids' part from ``scores.npz`` (see
        :meth:`~gwa_jax.run.packed_scores.PackedScores.meta`)."""
        if self._meta is None and self.packed_run:
            self._meta = self.packed().meta()
        if self._meta is None:
            self.verify((integrity.META,))
            path = self.workdir / "alignment" / "meta.npz"
            if not path.exists():
                return None
            with np.load(path) as f:
                self._meta = {k: f[k] for k in f.files}
        return self._meta

    def score_epochs(self) -> list[int]:
        """Epochs with a saved ``alignment/epoch_NNNN.npy`` that verifies, sorted (a damaged
        one is skipped with a warning naming it); for a packed run, the epochs kept in
        ``scores.npz`` (none, with a warning, when it differs from its checksum)."""
        directory = self.workdir / "alignment"
        if self.packed_run:
            return [] if self._skip_scores(0) else list(self.packed().epochs)
        if not directory.is_dir():
            return []
        out = []
        for p in directory.glob("epoch_*.npy"):
            try:
                epoch = int(p.stem.split("_")[1])
            except (IndexError, ValueError):
                continue
            if not self._skip_scores(epoch):
                out.append(epoch)
        return sorted(out)

    def scores(self, epoch: int) -> np.ndarray | None:
        """Per-sample alignment scores by id at ``epoch`` (NaN for ids not trained); None when
        the file is missing or damaged (named in a warning). A packed run's float16 scores
        come back as float32."""
        if self.packed_run:
            return None if self._skip_scores(epoch) else self.packed().scores_at(epoch)
        path = self.workdir / "alignment" / f"epoch_{epoch:04d}.npy"
        if not path.exists() or self._skip_scores(epoch):
            return None
        return np.load(path)

    def noisy(self) -> bool:
        """Whether any trained id carries a wrong label."""
        meta = self.meta()
        return meta is not None and bool(np.any(meta["noise_mask"][meta["ids"]]))


def corruption_group(key: str) -> str | None:
    """``"cifar10_corrupted/glass_blur_3" -> "Blur"``; None for other test keys."""
    _, sep, sub = key.partition("/")
    if not sep:
        return None
    corruption = sub.rsplit("_", 1)[0]
    return CORRUPTION_GROUPS.get(corruption)


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the positives ``labels`` (rank formula:
    the Mann-Whitney U of the positives over n_pos * n_neg, ties counted half).

    NaN when a class is empty.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(s)  # Average ranks: ties count half.
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def mislabel_auroc(run: RunResult, epoch: int | None) -> float | None:
    """AUROC of ``-alignment`` at ``epoch`` for detecting the mislabelled trained ids.

    None when the epoch's scores or the metadata are missing or the run has no noise.
    """
    if epoch is None:
        return None
    meta, scores = run.meta(), run.scores(epoch)
    if meta is None or scores is None:
        return None
    ids = meta["ids"]
    s = scores[ids]
    y = meta["noise_mask"][ids]
    keep = np.isfinite(s)
    value = auroc(-s[keep], y[keep])
    return None if math.isnan(value) else value


def correlation(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (with p-values) of paired finite values.

    Returns ``n``, ``pearson``, ``pearson_p``, ``spearman``, ``spearman_p`` (NaN when fewer
    than 3 pairs or a constant input).
    """
    xa, ya = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    out = {"n": int(len(xa)), "pearson": math.nan, "pearson_p": math.nan,
           "spearman": math.nan, "spearman_p": math.nan}
    if len(xa) < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return out
    p = stats.pearsonr(xa, ya)
    s = stats.spearmanr(xa, ya)
    out.update(pearson=float(p.statistic), pearson_p=float(p.pvalue),
               spearman=float(s.statistic), spearman_p=float(s.pvalue))
    return out

