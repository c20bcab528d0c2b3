"""Blocks shared by the write-ups of the Table-1-style offline studies (``fmnist_n``,
``fmnist_n_asym``) under run format 2: each function takes the study's name and reads
``results/<study>/<runs>/<name>`` for the plan's runs and ``results/<study>/table1*.csv``.
The study modules (:mod:`gwa_jax.experiments.writeups_asym`, ...) register them as
generators under their block names.

The helpers that compute something beyond formatting (:func:`stop_facts`,
:func:`moved_cells`, :func:`correlations`, :func:`score_groups`) are public so that the
tests can check them on hand-made runs and tables.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from gwa_jax.experiments import curve_facts
from gwa_jax.experiments.claims import fmt_p, md_table
from gwa_jax.experiments.plan import MODEL_NAMES, expand
from gwa_jax.experiments.results import RunResult, auroc, correlation

#: The folder of the committed format-2 runs under ``results/<study>``.
RUNS = "runs_format2"
#: Cells of the two table versions that moved by more than this many points are listed.
THRESHOLD = 0.5
#: The criteria of the stops table: (label, criterion in ``summary.selected``).
STOPS = (("GWA stop", "gwa"), ("LabelWave stop", "labelwave"), ("GD stop", "gd"),
         ("last epoch", "last"))
NO_RUNS = "No run of this kind is committed yet."
#: A run of a study by (model, variant, split, seed).
RunKey = tuple[str, str, float, int]


def _rate(variant: str) -> str:
    """``asym0.4`` -> ``40%``."""
    return f"{float(variant.removeprefix('asym').removeprefix('noise')):.0%}"


def label(model: str, variant: str) -> str:
    """``("vit", "asym0.4")`` -> ``ViT 40%``."""
    return f"{MODEL_NAMES.get(model, model)} {_rate(variant)}"


def study_runs(root: Path, study: str, split: float | None = 0.0, runs: str = RUNS
               ) -> dict[RunKey, RunResult]:
    """Finished runs (with metrics) of the study's plan in ``results/<study>/<runs>`` by
    (model, variant, split, seed), plan order; ``split`` None: every split."""
    out = {}
    for run in expand(study):
        if run.role != "table" or (split is not None and run.split != split):
            continue
        result = RunResult.load_verified(Path(root) / "results" / study / runs / run.name)
        if result is not None and result.metrics:
            out[(run.model, run.variant, run.split, run.seed)] = result
    return out


def columns(found: dict[RunKey, RunResult]) -> list[tuple[str, str]]:
    """The (model, variant) columns of ``found``: the ViT's first, variants in order."""
    return sorted({k[:2] for k in found}, key=lambda c: (c[0] != "vit", c[1]))


def span(values: Sequence[float], fmt: str, sep: str = "-") -> str:
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}{sep}{hi}"


def stop_facts(results: Sequence[RunResult]) -> dict[str, list]:
    """Per run (in order): each criterion of :data:`STOPS`'s epoch (``<crit>_epoch``) and test
    accuracy [%] (``<crit>_acc``), the best epoch in hindsight and its accuracy, GWA's regret
    (best minus GWA's accuracy, points), the epochs whose GWA lies within one bootstrap SE of
    the selected one, the lowest excess kurtosis and the epochs where GWA is undefined."""
    out: dict[str, list] = {}
    for result in results:
        f = curve_facts.facts(result)
        row = {"epochs": f["epochs"], "best_epoch": f["best_epoch"], "best_acc": f["test_best"],
               "within_se": f["within_se"]}
        for _, crit in STOPS:
            acc = result.value(crit)
            row[f"{crit}_epoch"] = result.selected_epoch(crit)
            row[f"{crit}_acc"] = None if acc is None else 100 * acc
        row["regret"] = f["test_best"] - row["gwa_acc"]
        _, kurtosis = result.column("align_kurtosis")
        _, gwa = result.column("gwa")
        row["min_kurtosis"] = float(np.nanmin(kurtosis))
        row["undefined"] = int(np.isnan(gwa).sum())
        for key, value in row.items():
            out.setdefault(key, []).append(value)
    return out


def stop_cells(facts: dict[str, list]) -> list[str]:
    """One row of the stops table: spans over the runs of :func:`stop_facts`."""
    cells = [f"{span(facts[f'{c}_epoch'], 'd')} ({span(facts[f'{c}_acc'], '.2f')})"
             for _, c in STOPS]
    cells.append(f"{span(facts['best_epoch'], 'd')} ({span(facts['best_acc'], '.2f')})")
    cells += [span(facts["regret"], ".1f"), span(facts["within_se"], "d"),
              span(facts["min_kurtosis"], "+.2f", " to "),
              f"{span(facts['undefined'], 'd')} of {span(facts['epochs'], 'd')}"]
    return cells


def stops_table(root: Path, study: str, runs: str = RUNS) -> str:
    """Ranges over the seeds of each column's 0%-split runs: every criterion's stop, the best
    epoch in hindsight, GWA's regret, epochs within 1 SE, lowest kurtosis, undefined GWA."""
    found = study_runs(root, study, 0.0, runs)
    rows = []
    for model, variant in columns(found):
        results = [r for k, r in found.items() if k[:2] == (model, variant)]
        rows.append([label(model, variant), str(len(results)),
                     *stop_cells(stop_facts(results))])
    if not rows:
        return NO_RUNS
    head = ["column", "seeds", *(f"{name} (test acc. %)" for name, _ in STOPS),
            "best epoch in hindsight (test acc. %)", "GWA regret [points]",
            "epochs within 1 SE of GWA's maximum", "lowest excess kurtosis",
            "epochs with GWA undefined"]
    return md_table(head, rows)


def moved_cells(old: Path, new: Path, threshold: float = THRESHOLD
                ) -> tuple[int, list[tuple[str, str, str, float, float]]]:
    """Cells of two ``make_tables`` CSVs (same study): the number present in both, and those
    whose mean moved by more than ``threshold`` as (model, column, row, old, new), in the new
    table's order, grouped by (model, column)."""
    def read(path: Path) -> dict[tuple[str, str, str], float]:
        with open(path, newline="") as f:
            return {(r["model"], r["column"], r["row"]): float(r["mean"])
                    for r in csv.DictReader(f) if r.get("mean")}

    a, b = read(old), read(new)
    both = [k for k in b if k in a]
    groups = list(dict.fromkeys(k[:2] for k in both))
    moved = [(*k, a[k], b[k]) for g in groups for k in both
             if k[:2] == g and abs(b[k] - a[k]) > threshold]
    return len(both), moved


def changes_text(root: Path, study: str) -> str:
    """The cells of ``table1.csv`` that moved against the format-1 runs' ``table1_format1.csv``."""
    folder = Path(root) / "results" / study
    n, moved = moved_cells(folder / "table1_format1.csv", folder / "table1.csv")
    parts = []
    for model, column in dict.fromkeys((m, c) for m, c, *_ in moved):
        cells = ", ".join(f"{row} {x:.2f} -> {y:.2f}" for m, c, row, x, y in moved
                          if (m, c) == (model, column))
        parts.append(f"{MODEL_NAMES.get(model, model)} {column}: {cells}")
    return (f"Against the format-1 runs (`table1_changes.md`), {len(moved)} of {n} cells "
            f"moved by more than {THRESHOLD:g} points: " + "; ".join(parts) + ".")


def correlations(found: dict[tuple[str, str, float, int], RunResult]
                 ) -> dict[tuple[str, str], dict[str, float]]:
    """:func:`results.correlation` of ``max_align_mean`` with the last epoch's test accuracy
    [%] by (model or ``all``, variant or ``all``)."""
    pairs: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for (model, variant, _split, _seed), result in found.items():
        x, y = result.max_align_mean, result.value("last")
        if x is None or y is None:
            continue
        for key in ((model, "all"), (model, variant), ("all", "all"), ("all", variant)):
            xs, ys = pairs.setdefault(key, ([], []))
            xs.append(x)
            ys.append(100 * y)
    return {k: correlation(*v) for k, v in pairs.items()}


def correlation_table(root: Path, study: str, runs: str = RUNS) -> str:
    """Pearson r (p) of max mean alignment with final test accuracy per model, over all its
    runs and within each noise rate (every split and seed)."""
    found = study_runs(root, study, None, runs)
    if not found:
        return NO_RUNS
    corr = correlations(found)
    variants = sorted({k[1] for k in corr if k[1] != "all"})
    rows = []
    for model in (*(m for m in MODEL_NAMES if (m, "all") in corr), "all"):
        cells = []
        for variant in ("all", *variants):
            c = corr.get((model, variant))
            cells.append("–" if c is None else
                         f"{c['pearson']:+.3f} (p = {fmt_p(c['pearson_p'])}, {c['n']} runs)")
        rows.append([MODEL_NAMES.get(model, "both models"), *cells])
    head = ["model", "all runs", *(f"{_rate(v)} runs" for v in variants)]
    return md_table(head, rows)


def score_groups(result: RunResult, epoch: int, flipped: Collection[int] = range(10)
                 ) -> dict[str, float]:
    """The trained ids' alignment scores at ``epoch`` by group: ``noisy_share`` (mislabelled
    fraction), ``auroc`` (of minus the score for the mislabelled ids, all trained ids),
    ``auroc_flipped`` (the same over the ids whose true class is in ``flipped``: the classes
    a noise map can relabel, every class for symmetric noise) and the mean
    score of the clean ids of the other classes (``clean_kept``), of the clean ids of the
    ``flipped`` classes (``clean_flipped``) and of the mislabelled ids (``noisy``); NaN for
    an empty group."""
    meta, scores = result.meta(), result.scores(epoch)
    if meta is None or scores is None:
        raise ValueError(f"{result.workdir}: no scores at epoch {epoch}")
    ids = meta["ids"]
    score, noisy = scores[ids].astype(np.float64), meta["noise_mask"][ids].astype(bool)
    in_flipped = np.isin(meta["true_labels"][ids], sorted(flipped))
    return {"noisy_share": float(noisy.mean()), "auroc": auroc(-score, noisy),
            "auroc_flipped": auroc(-score[in_flipped], noisy[in_flipped]),
            "clean_kept": _mean(score[~in_flipped & ~noisy]),
            "clean_flipped": _mean(score[in_flipped & ~noisy]), "noisy": _mean(score[noisy])}


def _mean(x: np.ndarray) -> float:
    """The mean; NaN for an empty group."""
    return float(x.mean()) if x.size else math.nan


def score_groups_table(root: Path, study: str, flipped: Collection[int] = range(10),
                       runs: str = RUNS) -> str:
    """Per noisy column, ranges over the seeds of the 0%-split runs of :func:`score_groups`
    at GWA's epoch; the columns on the classes never flipped only where there are some."""
    found = study_runs(root, study, 0.0, runs)
    kept = [c for c in range(10) if c not in set(flipped)]
    keys = ("auroc", "auroc_flipped", "clean_kept", "clean_flipped", "noisy") if kept else (
        "auroc", "clean_flipped", "noisy")
    rows = []
    for model, variant in columns(found):
        groups = [score_groups(r, r.selected_epoch("gwa"), flipped) for k, r in found.items()
                  if k[:2] == (model, variant)]
        if not any(g["noisy_share"] for g in groups):
            continue
        col = {key: [g[key] for g in groups] for key in groups[0]}
        rows.append([label(model, variant), str(len(groups)),
                     span([100 * x for x in col["noisy_share"]], ".1f"),
                     *(span(col[k], ".3f", "-" if "auroc" in k else " to ") for k in keys)])
    if not rows:
        return NO_RUNS
    head = ["column", "seeds", "mislabelled [% of trained ids]", "AUROC"]
    if kept:
        head += ["AUROC within the flipped classes",
                 f"mean score: clean, classes never flipped ({', '.join(map(str, kept))})",
                 "mean score: clean, flipped classes"]
    else:
        head += ["mean score: clean"]
    return md_table(head + ["mean score: mislabelled"], rows)
