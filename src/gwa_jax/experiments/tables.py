"""The paper's tables from run directories, as Markdown, CSV and LaTeX.

A :class:`TableSpec` lists rows (an early-stopping criterion read from the runs of one
validation split: ``Val Set (10%)`` is the ``val`` selection of the 10%-split run, ``GWA`` the
``gwa`` selection of the 0%-split run, ...) and columns (a model x data variant x test metric).
Each cell is the mean over seeds of the test accuracy at the selected epoch, with (max - min)
in parentheses; per column the best mean is bold and the second best underlined (ranked on
the displayed, rounded means; ties share the mark). In relative mode the reference row (Val Set
10%) stays absolute and the other rows show their difference to it, as in the paper's Tables
1, 2 and 5.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gwa_jax.experiments.claims import md_table
from gwa_jax.experiments.plan import (
    CIFAR_NOISE,
    FINETUNE_FMNIST_NOISE,
    FMNIST_ASYM_NOISE,
    FMNIST_NOISE,
    MODEL_NAMES,
    Run,
    expand,
    noise_variant,
)
from gwa_jax.experiments.results import RunResult, correlation, mislabel_auroc
from gwa_jax.uncertainty import epochs_within_se

CORRUPTION_GROUP_ORDER = ("Blur", "Digital", "Noise", "Weather")
MISSING = "–"
FEWER = "*"


@dataclasses.dataclass(frozen=True)
class Column:
    """A table column: runs of ``model`` on ``variant``, reporting ``metric``."""

    variant: str
    label: str
    group: str = ""
    model: str | None = None
    metric: str = "test_acc"


@dataclasses.dataclass(frozen=True)
class Row:
    """A table row: the ``criterion`` selection of the runs with validation ``split``.

    ``reference`` rows stay absolute in relative mode; the rows after one (in the same
    ``group``) are reported as differences to it.
    """

    label: str
    split: float
    criterion: str
    model: str | None = None
    group: str = ""
    reference: bool = False


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A table layout over the runs of the plan ``plan``."""

    name: str
    title: str
    plan: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    scale: float = 100.0
    digits: int = 2
    always_relative: bool = False
    rank: bool = True
    row_header: str = "Early Stop"


#: Decimals a cell's per-run values keep before scaling: drops the float32 noise of the
#: logged metrics (a test accuracy of 0.5529 logs as 0.55290001630783).
VALUE_DECIMALS = 6


@dataclasses.dataclass
class Cell:
    """The per-seed values (already scaled) of one cell."""

    values: list[float]
    expected: int

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        """The mean, rounded to 10 decimals (with the values rounded to
        :data:`VALUE_DECIMALS`, a mean that ends in 5, e.g. 57.485 of six test accuracies on
        10,000 images, then prints the same in the table and read back from ``table1.csv``)."""
        return round(float(np.mean(self.values)), 10) if self.values else math.nan

    @property
    def range(self) -> float:
        return float(np.max(self.values) - np.min(self.values)) if self.values else math.nan


# --- table layouts -------------------------------------------------------------------------------


def criteria_rows(gd: str = "gd", model: str | None = None, group: str = "") -> tuple[Row, ...]:
    """The five rows of Table 1."""
    return (Row("Val Set (10%)", 0.1, "val", model, group, reference=True),
            Row("Val Set (1%)", 0.01, "val", model, group),
            Row("LabelWave", 0.0, "labelwave", model, group),
            Row("GD", 0.0, gd, model, group),
            Row("GWA", 0.0, "gwa", model, group))


def _noise_columns(model: str | None, noises: Sequence[float], group: str,
                   prefix: str = "noise") -> list[Column]:
    """One column per label-noise level (variant ``noise0.17`` / ``asym0.2``), label ``17%``."""
    return [Column(noise_variant(n, prefix), f"{round(100 * n):d}%", group, model)
            for n in noises]


def _imagenet_columns(model: str | None, variant: str = "imagenet",
                      group: str = "ImageNet-1k") -> list[Column]:
    """ImageNet val, V2 and ReaL accuracy of the same runs."""
    return [Column(variant, "Val", group, model, "test_acc"),
            Column(variant, "V2", group, model, "test/imagenet_v2_acc"),
            Column(variant, "ReaL", group, model, "test/imagenet2012_real_acc")]


def table_specs(gd: str = "gd") -> dict[str, TableSpec]:
    """Every run-based table by name; ``gd`` picks the GD stop rule of the GD row
    (``gd``: 5 consecutive increases, ``gd_up5``: the 5th increase)."""
    cifar = "CIFAR-10"
    rows = criteria_rows(gd)
    specs: list[TableSpec] = []
    cols_c = [c for m in ("vit", "convnext") for c in _noise_columns(m, CIFAR_NOISE, cifar)]
    cols_i = [c for m in ("vit", "convnext") for c in _imagenet_columns(m)]
    cols_all = [c for m in ("vit", "convnext")
                for c in _noise_columns(m, CIFAR_NOISE, cifar) + _imagenet_columns(m)]
    specs.append(TableSpec("table1_cifar10", "Table 1 (CIFAR-10/-N): test accuracy [%] at "
                           "each criterion's stop", "table1_cifar10", rows, tuple(cols_c)))
    specs.append(TableSpec("table1_imagenet", "Table 1 (ImageNet-1k): test accuracy [%] at "
                           "each criterion's stop", "table1_imagenet", rows, tuple(cols_i)))
    specs.append(TableSpec("table1", "Table 1: test accuracy [%] at each criterion's stop",
                           "table1", rows, tuple(cols_all)))
    t2_rows = (Row("Val Set (10%)", 0.1, "val", reference=True),
               Row("Val Set (1%)", 0.01, "val"), Row("GWA", 0.0, "gwa"))
    t2_cols = [Column("noise0", g, "CIFAR-C", "vit", f"corruption:{g}")
               for g in CORRUPTION_GROUP_ORDER]
    t2_cols += [Column("imagenet", g, "ImageNet-C", "vit", f"corruption:{g}")
                for g in CORRUPTION_GROUP_ORDER]
    specs.append(TableSpec("table2", "Table 2: ViT/S-16 test accuracy [%] on corrupted test "
                           "sets per corruption group (differences to Val Set 10%)", "table2",
                           t2_rows, tuple(t2_cols), always_relative=True))
    t3_rows = (Row("Val Set (10%)", 0.1, "val", "vit", reference=True),
               Row("Val Set (1%)", 0.01, "val", "vit"), Row("GWA", 0.0, "gwa_finetune", "vit"))
    t3_cols = _imagenet_columns(None, "imagenet2012") + [
        Column("i_naturalist2018", "iNat18"), Column("places365_small", "Places365")]
    specs.append(TableSpec("table3", "Table 3: fine-tuned ViT/B-16 (ImageNet-21k) test "
                           "accuracy [%]", "table3", t3_rows, tuple(t3_cols)))
    t5_rows = []
    for m in ("vit", "convnext"):
        t5_rows += [Row("90/10", 0.1, "val", m, MODEL_NAMES[m], reference=True),
                    Row("90/1", 0.01, "val", m, MODEL_NAMES[m]),
                    Row("90/0", 0.0, "gwa", m, MODEL_NAMES[m])]
    t5_cols = _noise_columns(None, CIFAR_NOISE, cifar) + [Column("imagenet", "Val",
                                                                  "ImageNet-1k")]
    specs.append(TableSpec("table5", "Table 5: fixed 90% training set, val split 90/10, 90/1, "
                           "90/0 (GWA) test accuracy [%]", "table5", tuple(t5_rows),
                           tuple(t5_cols), row_header="Val Split"))
    fm = "F-MNIST"
    cols_f = [c for m in ("vit", "convnext") for c in _noise_columns(m, FMNIST_NOISE, fm)]
    specs.append(TableSpec("fmnist_n", "Offline benchmark: Fashion-MNIST with symmetric label "
                           "noise, test accuracy [%]", "fmnist_n", rows, tuple(cols_f)))
    fa = "F-MNIST asym."
    cols_a = [c for m in ("vit", "convnext")
              for c in _noise_columns(m, FMNIST_ASYM_NOISE, fa, prefix="asym")]
    specs.append(TableSpec("fmnist_n_asym", "Fashion-MNIST with asymmetric label noise, test "
                           "accuracy [%]", "fmnist_n_asym", rows, tuple(cols_a)))
    ft_rows = (Row("Val Set (10%)", 0.1, "val", "vit", reference=True),
               Row("Val Set (1%)", 0.01, "val", "vit"), Row("LabelWave", 0.0, "labelwave", "vit"),
               Row("GWA", 0.0, "gwa", "vit"), Row("GWA (fine-tuning rule)", 0.0, "gwa_finetune",
                                                  "vit"),
               Row("Last epoch", 0.0, "last", "vit"))
    ft_cols = _noise_columns("vit", FINETUNE_FMNIST_NOISE, "F-MNIST 5-9, fine-tuned")
    specs.append(TableSpec("finetune_fmnist", "Fine-tuning testbed (Table 3 style): ViT "
                           "pretrained on Fashion-MNIST classes 0-4, fine-tuned on 5-9, test "
                           "accuracy [%]", "finetune_fmnist", ft_rows, tuple(ft_cols)))
    return {s.name: s for s in specs}


# --- cells ---------------------------------------------------------------------------------------

RunKey = tuple[str, str, float, int]  # (model, variant, split, seed)


def run_key(run: Run) -> RunKey:
    return (run.model, run.variant, round(run.split, 6), run.seed)


def collect(plan: str | Sequence[Run], root: str | os.PathLike
            ) -> tuple[dict[RunKey, RunResult], dict[tuple[str, str, float], int]]:
    """Finished runs of a plan by key, and the planned number of seeds per (model, variant,
    split)."""
    runs = expand(plan) if isinstance(plan, str) else list(plan)
    results: dict[RunKey, RunResult] = {}
    planned: dict[tuple[str, str, float], int] = {}
    for run in runs:
        if run.role != "table":
            continue
        key = run_key(run)
        planned[key[:3]] = planned.get(key[:3], 0) + 1
        result = RunResult.load_verified(run.result_dir(root))
        if result is not None:
            results[key] = result
    return results, planned


def cell_value(result: RunResult, criterion: str, metric: str) -> float | None:
    """A cell's raw value for one run (``metric == "auroc"``: mislabel-detection AUROC of
    ``-alignment`` at the criterion's epoch)."""
    if metric == "auroc":
        return mislabel_auroc(result, result.selected_epoch(criterion))
    return result.value(criterion, metric)


def build_cells(spec: TableSpec, results: dict[RunKey, RunResult],
                planned: dict[tuple[str, str, float], int]) -> list[list[Cell]]:
    """``cells[row][column]`` of a table."""
    grid = []
    for row in spec.rows:
        line = []
        for col in spec.columns:
            model = row.model or col.model or ""
            split = round(row.split, 6)
            expected = planned.get((model, col.variant, split), 0)
            values = []
            for (m, v, s, _seed), result in sorted(results.items()):
                if (m, v, s) != (model, col.variant, split):
                    continue
                value = cell_value(result, row.criterion, col.metric)
                if value is not None:
                    values.append(spec.scale * round(value, VALUE_DECIMALS))
            line.append(Cell(values, expected))
        grid.append(line)
    return grid


def ranks(spec: TableSpec, cells: list[list[Cell]]) -> list[list[int]]:
    """Per column (and row group): 1 for the best rounded mean, 2 for the second best."""
    out = [[0] * len(spec.columns) for _ in spec.rows]
    if not spec.rank:
        return out
    groups = sorted({r.group for r in spec.rows})
    for j in range(len(spec.columns)):
        for g in groups:
            idx = [i for i, r in enumerate(spec.rows) if r.group == g and cells[i][j].n]
            rounded = {i: round(cells[i][j].mean, spec.digits) for i in idx}
            distinct = sorted(set(rounded.values()), reverse=True)
            for i, v in rounded.items():
                if v == distinct[0]:
                    out[i][j] = 1
                elif len(distinct) > 1 and v == distinct[1]:
                    out[i][j] = 2
    return out


def _reference_rows(spec: TableSpec) -> list[int | None]:
    """For each row, the index of its reference row (None for reference rows themselves)."""
    out: list[int | None] = []
    last: dict[str, int] = {}
    for i, row in enumerate(spec.rows):
        if row.reference:
            last[row.group] = i
            out.append(None)
        else:
            out.append(last.get(row.group))
    return out


def cell_text(spec: TableSpec, cells: list[list[Cell]], i: int, j: int, relative: bool) -> str:
    """``81.57 (0.96)``; relative: ``+0.47 (0.96)``; ``*`` when seeds are missing."""
    cell = cells[i][j]
    if not cell.n:
        return MISSING
    d = spec.digits
    ref = _reference_rows(spec)[i] if relative else None
    if ref is not None and cells[ref][j].n:
        text = f"{cell.mean - cells[ref][j].mean:+.{d}f}"
    else:  # A reference row, or no reference to subtract: absolute.
        text = f"{cell.mean:.{d}f}"
    text += f" ({cell.range:.{d}f})"
    return text + (FEWER if cell.n < cell.expected else "")


# --- rendering -----------------------------------------------------------------------------------


def _col_levels(spec: TableSpec) -> list[tuple[str, str, str]]:
    return [(MODEL_NAMES.get(c.model or "", c.model or ""), c.group, c.label)
            for c in spec.columns]


def _row_label(row: Row) -> str:
    return f"{row.group} {row.label}".strip()


def _notes(spec: TableSpec, cells: list[list[Cell]], relative: bool) -> list[str]:
    notes = ["Mean over seeds, (max - min) in parentheses."]
    if relative:
        notes.append("Rows below a reference row (Val Set 10% / 90/10) are differences to it.")
    if spec.rank:
        notes.append("Best per column in bold, second best underlined.")
    if any(c.n and c.n < c.expected for line in cells for c in line):
        notes.append(f"{FEWER} fewer finished seeds than planned.")
    if any(not c.n for line in cells for c in line):
        notes.append(f"{MISSING} no finished run.")
    return notes


def to_markdown(spec: TableSpec, cells: list[list[Cell]], relative: bool = False,
                command: str | None = None) -> str:
    rk = ranks(spec, cells)
    header = [spec.row_header] + [" ".join(p for p in lv if p) for lv in _col_levels(spec)]
    lines = [f"### {spec.title}", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join(["---"] + [":---:"] * len(spec.columns)) + "|"]
    for i, row in enumerate(spec.rows):
        texts = []
        for j in range(len(spec.columns)):
            t = cell_text(spec, cells, i, j, relative)
            value, sep, rest = t.partition(" ")
            if rk[i][j] == 1:
                t = f"**{value}**{sep}{rest}"
            elif rk[i][j] == 2:
                t = f"<u>{value}</u>{sep}{rest}"
            texts.append(t)
        lines.append("| " + " | ".join([_row_label(row)] + texts) + " |")
    lines += [""] + [f"{n}  " for n in _notes(spec, cells, relative)]
    return "\n".join(lines).rstrip() + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("%", r"\%"), ("&", r"\&"), ("_", r"\_"),
                 ("#", r"\#"), ("–", "--")):
        text = text.replace(a, b)
    return text


def _latex_header_row(levels: list[tuple[str, ...]], level: int) -> tuple[str, str]:
    """Header level ``level``, merging neighbours that agree on this and every upper level;
    returns (row, cmidrules)."""
    cells, rules, j = [], [], 0
    while j < len(levels):
        k = j
        while k + 1 < len(levels) and levels[k + 1][: level + 1] == levels[j][: level + 1]:
            k += 1
        span = k - j + 1
        text = _latex_escape(levels[j][level])
        cells.append(text if span == 1 else f"\\multicolumn{{{span}}}{{c}}{{{text}}}")
        if levels[j][level]:
            rules.append(f"\\cmidrule(lr){{{j + 2}-{k + 2}}}")
        j = k + 1
    return " & ".join([""] + cells) + r" \\", " ".join(rules)


def to_latex(spec: TableSpec, cells: list[list[Cell]], relative: bool = False) -> str:
    rk = ranks(spec, cells)
    levels = _col_levels(spec)
    lines = [r"% " + spec.title, r"\begin{tabular}{l" + "c" * len(spec.columns) + "}",
             r"\toprule"]
    for level in range(2):
        if any(lv[level] for lv in levels):
            row, rules = _latex_header_row(levels, level)
            lines += [row] + ([rules] if rules else [])
    lines.append(" & ".join([_latex_escape(spec.row_header)]
                            + [_latex_escape(lv[2]) for lv in levels]) + r" \\")
    lines.append(r"\midrule")
    for i, row in enumerate(spec.rows):
        texts = []
        for j in range(len(spec.columns)):
            t = cell_text(spec, cells, i, j, relative)
            value, sep, rest = t.partition(" ")
            value = _latex_escape(value)
            if rk[i][j] == 1:
                value = f"\\textbf{{{value}}}"
            elif rk[i][j] == 2:
                value = f"\\underline{{{value}}}"
            texts.append(value + (f" {{\\scriptsize {_latex_escape(rest)}}}" if sep else ""))
        lines.append(" & ".join([_latex_escape(_row_label(row))] + texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(spec: TableSpec, cells: list[list[Cell]], relative: bool = False) -> str:
    """Tidy CSV: one line per cell with mean, range, seeds and rank (1 best, 2 second)."""
    rk = ranks(spec, cells)
    ref = _reference_rows(spec)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "row_group", "row", "criterion", "split", "model", "column_group",
                "column", "variant", "metric", "mean", "range", "difference_to_reference",
                "n_seeds", "n_planned", "values", "rank"])
    for i, row in enumerate(spec.rows):
        for j, col in enumerate(spec.columns):
            c = cells[i][j]
            diff = ""
            if relative and ref[i] is not None and c.n and cells[ref[i]][j].n:
                diff = _num(c.mean - cells[ref[i]][j].mean)
            w.writerow([spec.name, row.group, row.label, row.criterion, row.split,
                        row.model or col.model or "", col.group, col.label, col.variant,
                        col.metric, _num(c.mean), _num(c.range), diff, c.n, c.expected,
                        ";".join(_num(v) for v in c.values), rk[i][j] or ""])
    return buf.getvalue()


def _num(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


# --- plain grids (Table 4, correlations) ---------------------------------------------------------


def grid_markdown(title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                  notes: Sequence[str] = (), command: str | None = None) -> str:
    lines = [f"### {title}", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += [md_table(header, rows)]
    if notes:
        lines += [""] + [f"{n}  " for n in notes]
    return "\n".join(lines).rstrip() + "\n"


def grid_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def grid_latex(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [r"% " + title, r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


# --- Fig. 3 numbers and mislabel detection -------------------------------------------------------


def correlation_rows(results: dict[RunKey, RunResult], metric: str = "test_acc",
                     criterion: str = "last") -> tuple[list[str], list[list[str]],
                                                       dict[str, dict[str, float]]]:
    """Pearson / Spearman of ``max_align_mean`` vs the final test accuracy, per model and
    pooled (Fig. 3). Returns (header, rows, raw numbers by model)."""
    by_model: dict[str, tuple[list[float], list[float]]] = {}
    for (model, _v, _s, _seed), result in sorted(results.items()):
        x, y = result.max_align_mean, result.value(criterion, metric)
        if x is None or y is None:
            continue
        for key in (model, "all"):
            xs, ys = by_model.setdefault(key, ([], []))
            xs.append(x)
            ys.append(100.0 * y)
    header = ["Model", "runs", "Pearson r", "p", "Spearman rho", "p"]
    rows, raw = [], {}
    for key in [k for k in (*MODEL_NAMES, "all") if k in by_model]:
        c = correlation(*by_model[key])
        raw[key] = c
        rows.append([MODEL_NAMES.get(key, key), str(c["n"]), _fmt(c["pearson"], 3),
                     _fmt_p(c["pearson_p"]), _fmt(c["spearman"], 3), _fmt_p(c["spearman_p"])])
    return header, rows, raw


def _fmt(x: float | None, digits: int) -> str:
    return MISSING if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    return MISSING if p is None or math.isnan(p) else f"{p:.2g}"


def auroc_spec(spec: TableSpec, results: dict[RunKey, RunResult]) -> TableSpec | None:
    """Mislabel-detection AUROC table for the noisy columns of a Table 1 style ``spec``:
    rows = model x (GWA-selected epoch, last epoch), columns = the noisy data variants."""
    noisy_variants = []
    for (_m, variant, split, _seed), result in results.items():
        if split == 0 and result.noisy() and variant not in noisy_variants:
            noisy_variants.append(variant)
    cols: dict[str, Column] = {}
    for col in spec.columns:
        if col.variant in noisy_variants and col.metric == "test_acc":
            cols.setdefault(col.variant, Column(col.variant, col.label, col.group, None, "auroc"))
    if not cols:
        return None
    models = [m for m in MODEL_NAMES if any(c.model == m for c in spec.columns)]
    rows = []
    for m in models:
        rows += [Row("GWA epoch", 0.0, "gwa", m, MODEL_NAMES[m]),
                 Row("last epoch", 0.0, "last", m, MODEL_NAMES[m])]
    return TableSpec(f"{spec.name}_mislabel_auroc", "Mislabel detection: AUROC of -alignment "
                     "over the trained samples (0% split runs)", spec.plan, tuple(rows),
                     tuple(cols.values()), scale=1.0, digits=3, rank=False,
                     row_header="Scores at")


# --- Per-run overview of the 0%-split runs --------------------------------------------------------

OVERVIEW_CRITERIA = (("GWA", "gwa"), ("LabelWave", "labelwave"), ("GD", "gd"), ("Last", "last"))


def run_overview_rows(spec: TableSpec, results: dict[RunKey, RunResult]
                      ) -> tuple[list[str], list[list[str]]]:
    """One row per 0%-split run: how often GWA was undefined (NaN, i.e. excess kurtosis +
    beta <= eps), the lowest excess kurtosis, each criterion's epoch and test accuracy [%],
    the best test epoch in hindsight, and how many epochs' GWA lie within one bootstrap
    standard error (``gwa_se``) of the selected one. The evidence behind "where GWA loses"."""
    labels = {(c.model, c.variant): f"{c.group} {c.label}".strip() for c in spec.columns}
    header = ["Model", "Data", "Seed", "Epochs", "GWA undefined", "min kurtosis"]
    header += [f"{name} epoch (acc)" for name, _ in OVERVIEW_CRITERIA]
    header += ["Best epoch (acc)", "GWA within 1 SE"]
    rows = []
    order = {key: i for i, key in enumerate(labels)}
    keys = [k for k in results if k[2] == 0 and (k[0], k[1]) in labels]
    for key in sorted(keys, key=lambda k: (order[(k[0], k[1])], k[3])):
        model, variant, _split, seed = key
        result = results[key]
        epochs, gwa = result.column("gwa")
        _, kurtosis = result.column("align_kurtosis")
        _, test = result.column("test_acc")
        row = [MODEL_NAMES.get(model, model), labels[(model, variant)], str(seed),
               str(len(epochs)), f"{int(np.isnan(gwa).sum())}/{len(epochs)}",
               _fmt(float(np.nanmin(kurtosis)) if np.isfinite(kurtosis).any() else None, 2)]
        for _name, criterion in OVERVIEW_CRITERIA:
            epoch, acc = result.selected_epoch(criterion), result.value(criterion)
            row.append(MISSING if epoch is None or acc is None
                       else f"{epoch} ({100 * acc:.2f})")
        if np.isfinite(test).any():
            best = int(np.nanargmax(test))
            row.append(f"{int(epochs[best])} ({100 * test[best]:.2f})")
        else:
            row.append(MISSING)
        row.append(_within_se(result, epochs, gwa))
        rows.append(row)
    return header, rows


def _within_se(result: RunResult, epochs: np.ndarray, gwa: np.ndarray) -> str:
    """Epochs whose GWA lies within one bootstrap SE of the GWA-selected epoch's GWA."""
    selected = result.selected_epoch("gwa")
    _, gwa_se = result.column("gwa_se")
    if selected is None or selected not in set(epochs.tolist()):
        return MISSING
    count = epochs_within_se(gwa, gwa_se, int(np.flatnonzero(epochs == selected)[0]))
    return MISSING if count == 0 else str(count)


# --- Online vs offline estimator (Fig. 6 numbers) ------------------------------------------


def online_offline_rows(runs: Sequence[tuple[str, RunResult]]
                        ) -> tuple[list[str], list[list[str]]]:
    """Per run with an offline estimate every epoch (``gwa_offline`` in metrics.jsonl):
    Pearson correlation over epochs of online (Alg. 1) vs offline GWA and mean alignment, and
    the range of the offline kurtosis denominator (excess kurtosis + beta)."""
    header = ["Model", "Run", "epochs", "Pearson GWA", "Pearson mean alignment",
              "offline kurtosis + beta"]
    rows = []
    for model, result in runs:
        _, on = result.column("gwa")
        _, off = result.column("gwa_offline")
        if not np.isfinite(off).any():
            continue
        _, mean_on = result.column("align_mean")
        _, mean_off = result.column("align_mean_offline")
        _, kurt_off = result.column("align_kurtosis_offline")
        beta = float(((result.config or {}).get("gwa") or {}).get("beta", 1.2))
        keep = np.isfinite(on) & np.isfinite(off)
        keep_mean = np.isfinite(mean_on) & np.isfinite(mean_off)
        gwa_c = correlation(on[keep], off[keep])
        mean_c = correlation(mean_on[keep_mean], mean_off[keep_mean])
        denom = kurt_off[np.isfinite(kurt_off)] + beta
        span = (f"{denom.min():.2f} to {denom.max():.2f}" if denom.size else MISSING)
        rows.append([MODEL_NAMES.get(model, model), result.workdir.name, str(gwa_c["n"]),
                     _fmt(gwa_c["pearson"], 3), _fmt(mean_c["pearson"], 3), span])
    return header, rows


# --- Table 4 -------------------------------------------------------------------------------------

#: (column header, config stem, arguments): one column, or several merged as "(a, b, c)".
TABLE4_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ConvNeXt-P (CIFAR-10)", "table1_cifar10_convnext", ("",)),
    ("ViT/CIFAR-4 (CIFAR-10)", "table1_cifar10_vit", ("",)),
    ("ConvNeXt-F (ImageNet)", "table1_imagenet_convnext", ("",)),
    ("ViT/S-16 (ImageNet)", "table1_imagenet_vit", ("",)),
    ("ViT/B-16 (fine-tuning)", "table3_finetune_vit",
     ("dataset=imagenet2012", "dataset=i_naturalist2018", "dataset=places365_small")),
    ("ConvNeXt (F-MNIST)", "fmnist_n", ("model=convnext",)),
    ("ViT (F-MNIST)", "fmnist_n", ("model=vit",)),
)

_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
_SCHEDULES = {"constant": "Constant", "cosine": "Cosine", "warmup_cosine": "WarmupCosine"}


def hyperparameters(c: Any) -> dict[str, str]:
    """Table 4's rows for one resolved config."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.data import DATASETS

    o, a, d = c.optim, c.augment, c.dataset
    spec = DATASETS.get(d.name)
    size = d.image_size or (spec.image_shape[0] if spec else "?")
    train = "100%" if not d.val_fraction else f"{100 * (1 - d.val_fraction):g}%"
    if d.train_subset:
        train = f"{d.train_subset} images"
    return {
        "Model": c.model.name,
        "Dataset": d.name + ("" if d.label_key == "label" else f" ({d.label_key})"),
        "Optimizer": _OPTIMIZERS.get(o.name, o.name),
        "LR": f"{o.lr:g}",
        "Weight Decay": f"{o.weight_decay:g}" if o.weight_decay else "-",
        "Momentum": "[0.9,0.999]" if o.name in ("adam", "adamw") else f"{o.momentum:g}",
        "Batch Size": str(c.batch_size),
        "Iterations": str(c.total_steps),
        "Image Size": str(size),
        "RandAug": (f"{a.randaug_magnitude:g}" if a.randaug_magnitude else "0"),
        "RandAug ops": str(a.randaug_num_ops) if a.randaug_magnitude else "-",
        "Mixup": f"{a.mixup:.1f}",
        "Crop / flip": f"{a.crop} / {'yes' if a.flip else 'no'}",
        "Grad Clip Norm": f"{o.grad_clip_norm:g}" if o.grad_clip_norm else "-",
        "Scheduler": _SCHEDULES.get(o.schedule, o.schedule),
        "Warmup Steps": str(o.warmup_steps) if o.schedule == "warmup_cosine" else "-",
        "Train set (split=0)": train,
    }


def table4(configs_dir: str | os.PathLike,
           load: Callable[[Path, str], Any] | None = None) -> tuple[list[str], list[list[str]]]:
    """Table 4 from the config files: (header, rows)."""
    if load is None:
        # A deliberate late import to keep start-up light: only this path needs the data, plotting
        # or training modules.
        from gwa_jax.experiments.paper import load_config as load
    columns: list[tuple[str, dict[str, str]]] = []
    for title, stem, args in TABLE4_COLUMNS:
        per_arg = [hyperparameters(load(Path(configs_dir) / f"{stem}.py", arg)) for arg in args]
        merged = {}
        for key in per_arg[0]:
            values = [h[key] for h in per_arg]
            merged[key] = values[0] if len(set(values)) == 1 else f"({', '.join(values)})"
        columns.append((title, merged))
    header = ["Hyperparameter"] + [t for t, _ in columns]
    keys = list(columns[0][1])
    rows = [[k] + [h[k] for _, h in columns] for k in keys]
    return header, rows
