"""The generators of ``results/fmnist_n/README.md``'s format-1 blocks (``fmnist-n-f1-*``);
registered with :func:`claims.generator` on import (:mod:`gwa_jax.experiments.writeups`
imports this module). The format-2 blocks (``fmnist-n-f2-*``) live in
:mod:`gwa_jax.experiments.writeups`.

The format-1 runs are read from ``results/fmnist_n/runs/<name>``; the comparison with the
first protocol from the two committed table CSVs ``table1_v1.csv`` and ``table1.csv``; the
per-seed mislabel AUROC from the committed ``mislabel_auroc.csv`` (these runs' per-sample
scores are not committed, so that file is the only record of them).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from gwa_jax.experiments import tables
from gwa_jax.experiments.claims import ALPHA, fmt_diff, fmt_p, generator, md_table, paired_test
from gwa_jax.experiments.plan import MODEL_NAMES
from gwa_jax.experiments.results import RunResult, correlation

STUDY = "fmnist_n"
#: A cell of Table 1 that moved by more than this many points is counted as moved
#: (``scripts/compare_tables.py``'s default threshold, bold in ``table1_changes.md``).
MOVED = 0.5
#: A move at least this large is listed among the largest.
LARGE = 2.5

#: (row, model, column group, column) of a Table 1 CSV cell.
Cell = tuple[str, str, str, str]


def _folder(root: Path) -> Path:
    return Path(root) / "results" / STUDY


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def format1_results(root: Path, runs: str = "runs") -> dict[tables.RunKey, RunResult]:
    """The finished Table-1 runs of the study in ``results/fmnist_n/<runs>/`` by (model,
    variant, split, seed)."""
    results, _ = tables.collect(STUDY, _folder(root) / runs)
    return results


def _p(p: float) -> str:
    return f"{p:.2g}"


@generator("fmnist-n-f1-fig3")
def fig3_correlations(root: Path, runs: str = "runs") -> str:
    """Fig. 3 in numbers: Pearson and Spearman of the max mean alignment against the last
    epoch's test accuracy per model and pooled (as ``fig3_correlation.md``), and the
    Spearman rank correlation of the max mean alignment with the noise rate per model."""
    results = format1_results(root, runs)
    _, rows, raw = tables.correlation_rows(results)
    if not rows:
        return "No run of this kind is committed yet."
    models = [m for m in MODEL_NAMES if m in raw]
    per_model = "; ".join(
        f"{MODEL_NAMES[m]} ({raw[m]['n']} runs) Pearson r = {raw[m]['pearson']:.3f} (p = "
        f"{_p(raw[m]['pearson_p'])}), Spearman {raw[m]['spearman']:.3f} (p = "
        f"{_p(raw[m]['spearman_p'])})" for m in models)
    pooled = raw["all"]
    noise = []
    for m in models:
        pairs = [(float(variant.removeprefix("noise")), r.max_align_mean)
                 for (model, variant, _, _), r in sorted(results.items())
                 if model == m and r.max_align_mean is not None]
        c = correlation(*zip(*pairs, strict=True))
        noise.append(f"{MODEL_NAMES[m]} {c['spearman']:.3f} (p = {_p(c['spearman_p'])})")
    return (f"Max mean alignment over training vs the last epoch's test accuracy, over every "
            f"finished run (all splits and seeds): {per_model}; pooled over both models "
            f"({pooled['n']} runs) Pearson r = {pooled['pearson']:.3f} (p = "
            f"{_p(pooled['pearson_p'])}), Spearman {pooled['spearman']:.3f} (p = "
            f"{_p(pooled['spearman_p'])}). Spearman rank correlation of the max mean alignment "
            f"with the noise rate, same runs: {', '.join(noise)}.")


# --- the first protocol against this one (table1_v1.csv -> table1.csv) ------------------------


def _cells(path: Path) -> dict[Cell, float]:
    return {(r["row"], r["model"], r["column_group"], r["column"]): float(r["mean"])
            for r in _csv_rows(path) if r.get("mean")}


def table_changes(root: Path, old: str = "table1_v1.csv", new: str = "table1.csv"
                  ) -> list[tuple[Cell, float]]:
    """(cell, new mean - old mean) of every cell in both committed CSVs, in the new file's
    order (as ``scripts/compare_tables.py`` computes ``table1_changes.md``)."""
    a, b = _cells(_folder(root) / old), _cells(_folder(root) / new)
    return [(k, b[k] - a[k]) for k in b if k in a]


def _label(cell: Cell) -> str:
    row, model, _, column = cell
    return f"{MODEL_NAMES.get(model, model)} {column} {row}"


@generator("fmnist-n-f1-moved")
def moved_cells(root: Path) -> str:
    """How many Table 1 cells moved by more than :data:`MOVED` points between the two
    protocols."""
    changes = table_changes(root)
    moved = sum(1 for _, d in changes if abs(d) > MOVED)
    return (f"{moved} of the {len(changes)} cells moved by more than {MOVED} points (all "
            f"{len(changes)} in `table1_changes.md`):")


@generator("fmnist-n-f1-largest-moves")
def largest_moves(root: Path) -> str:
    """The cells that moved by :data:`LARGE` points or more, largest first."""
    changes = sorted(table_changes(root), key=lambda c: -abs(c[1]))
    large = [(k, d) for k, d in changes if abs(d) >= LARGE]
    if not large:
        return f"No cell moved by {LARGE} points or more."
    listed = ", ".join(f"{_label(k)} {fmt_diff(d)}" for k, d in large)
    return (f"The largest moves ({len(large)} cells of {len(changes)} by {LARGE} points or "
            f"more): {listed}.")


# --- mislabel detection of the format-1 runs (mislabel_auroc.csv) ----------------------------


def auroc_pairs(root: Path, file: str = "mislabel_auroc.csv"
                ) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """Per (model, variant): the per-seed AUROC at GWA's epoch and at the last epoch, paired
    by position (both rows list the same runs in seed order)."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for r in _csv_rows(_folder(root) / file):
        values = [float(v) for v in r["values"].split(";") if v]
        found[(r["model"], r["variant"], r["criterion"])] = values
    out = {}
    for (model, variant, crit), gwa in found.items():
        last = found.get((model, variant, "last"))
        if crit != "gwa" or last is None:
            continue
        if len(gwa) != len(last) or any(math.isnan(v) for v in (*gwa, *last)):
            raise ValueError(f"{file}: {model} {variant}: unpaired seeds {gwa} / {last}")
        out[(model, variant)] = (gwa, last)
    return out


def _pooled(pairs: dict, keep: Sequence[str]) -> tuple[list[float], list[float]]:
    a, b = [], []
    for (model, _), (x, y) in sorted(pairs.items()):
        if model in keep:
            a += x
            b += y
    return a, b


@generator("fmnist-n-f1-auroc-paired")
def auroc_paired(root: Path) -> str:
    """Paired tests of the per-seed AUROC at GWA's epoch against the last epoch, pooled over
    the (noise, seed) units of each model and of both models."""
    pairs = auroc_pairs(root)
    if not pairs:
        return "No run of this kind is committed yet."
    models = [m for m in MODEL_NAMES if any(k[0] == m for k in pairs)]
    rows = [(f"{MODEL_NAMES[m]}: (noise, seed)", *_pooled(pairs, [m])) for m in models]
    if len(models) > 1:
        rows.append(("both models: (model, noise, seed)", *_pooled(pairs, models)))
    most = max(len(a) for a, _ in pairs.values())
    table = []
    for label, a, b in rows:
        t = paired_test(a, b)
        table.append([label, str(t.n), f"{t.mean_diff:+.3f}", f"{t.ahead}/{t.level}/{t.behind}",
                      fmt_p(t.sign_p), fmt_p(t.wilcoxon_p),
                      f"significant (p < {ALPHA:g}, two-sided)" if t.significant
                      else "not significant"])
    return (f"Per-seed AUROC from `mislabel_auroc.csv`, GWA's epoch against the last epoch "
            f"(two-sided sign and Wilcoxon signed-rank tests; no per-cell test: the cells have "
            f"{most} seeds):\n\n" + md_table(
                ["units", "n", "GWA epoch - last epoch [AUROC]", "ahead/level/behind", "sign p",
                 "Wilcoxon p", "verdict"], table))
