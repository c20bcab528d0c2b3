"""Our table cells beside the paper's published numbers (:mod:`.paper_numbers`).

For every cell of one of our paper tables (``table1_cifar10``, ``table1_imagenet``,
``table1``, ``table2``, ``table3``, ``table5``) that the paper prints: our mean over seeds,
the paper's number, ``|ours - paper|`` and the paper's spread (max - min over its 3 runs). A
cell is *flagged* where ``|ours - paper|`` exceeds the paper's spread; cells the paper prints
without a spread (Tables 2 and 5) are compared but cannot be flagged.

The comparison is made on the quantity the paper prints: absolute accuracy for absolute rows,
and for rows the paper prints as a difference to a reference row (Table 2's Val Set (1%) and
GWA, Table 5's 90/1 and 90/0) our difference to our own reference row against the paper's
difference. Our mean is rounded to the paper's two decimals first, so the flag agrees with
the printed numbers.

    rows = compare_cells("table1_cifar10", spec, cells)   # spec, cells: gwa_jax...tables
    print(comparison_markdown("table1_cifar10", rows))
    print(paper_comparison("table1_cifar10", "runs"))     # the same, from a sweep root

:func:`paper_comparison` is what ``scripts/make_tables.py`` and ``gwa-report`` print and
write as ``paper_comparison.md``. ``gwa-report`` finds the tables a folder of runs belongs to
with :func:`detect_paper_sweeps`: a run is recognised by its workdir
``<root>/<config stem>/<argument slug>``, the layout ``scripts/sweep.py`` writes (and
``gwa-sweep`` over a paper config with the same arguments in the same order), e.g.
``runs/table1_cifar10_vit/noise0.17_split0.01_seed1``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.paper_numbers import FAMILY_TO_PAPER, PAPER_TABLES, PaperTable
from gwa_jax.experiments.plan import expand

#: The file both ``scripts/make_tables.py`` and ``gwa-report`` write the comparison to.
PAPER_FILE = "paper_comparison.md"

MODEL_NAMES = {"vit": "ViT", "convnext": "ConvNeXt"}
DIGITS = 2


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One cell of the paper's table with ours beside it.

    ``ours`` is None where we have no finished run for the cell; ``delta`` (``|ours - paper|``,
    both at two decimals) and ``flagged`` are then None / False. ``relative_to`` names the
    reference row when both numbers are differences to it.
    """

    row: str
    model: str
    column_group: str
    column: str
    paper: float
    spread: float | None
    ours: float | None
    n_seeds: int
    relative_to: str | None = None

    @property
    def delta(self) -> float | None:
        if self.ours is None:
            return None
        return round(abs(round(self.ours, DIGITS) - self.paper), DIGITS)

    @property
    def flagged(self) -> bool:
        d = self.delta
        return d is not None and self.spread is not None and d > self.spread + 1e-9


def paper_table(family: str) -> PaperTable | None:
    """The paper table that our table family ``family`` reproduces (None: none)."""
    name = FAMILY_TO_PAPER.get(family)
    return PAPER_TABLES[name] if name else None


def require_paper_table(family: str) -> PaperTable:
    """:func:`paper_table`, raising a one-line ``KeyError`` where the paper prints none."""
    table = paper_table(family)
    if table is None:
        raise KeyError(f"{family}: the paper prints no numbers for this table; tables with "
                       f"paper numbers: {', '.join(FAMILY_TO_PAPER)}")
    return table


def _our_key(row: Any, col: Any) -> tuple[str, str, str, str]:
    return (row.model or col.model or "", col.group, col.label, row.label)


def compare_cells(family: str, spec: Any, cells: Sequence[Sequence[Any]]) -> list[Comparison]:
    """Pairs our cells with the paper's.

    Args:
      family: our table name (a key of :data:`~.paper_numbers.FAMILY_TO_PAPER`).
      spec: our :class:`~gwa_jax.experiments.tables.TableSpec` (rows with ``label`` and
        ``model``, columns with ``model``, ``group`` and ``label``).
      cells: ``cells[row][column]`` with ``mean`` and ``n`` (``tables.build_cells``).

    Returns:
      One :class:`Comparison` per paper cell that our table has a row and a column for, in
      our table's row and column order.
    """
    table = require_paper_table(family)
    ours: dict[tuple[str, str, str, str], Any] = {}
    order: list[tuple[str, str, str, str]] = []
    for i, row in enumerate(spec.rows):
        for j, col in enumerate(spec.columns):
            key = _our_key(row, col)
            ours[key] = cells[i][j]
            order.append(key)
    out = []
    for model, group, label, row_label in order:
        try:
            j = table.columns.index(next(c for c in table.columns if c.group == group
                                         and c.label == label and c.model in ("", model)))
            i = table.row_index(row_label, model)
        except (StopIteration, KeyError):
            continue  # A cell of ours the paper does not print.
        prow, pcell = table.rows[i], table.cells[i][j]
        cell = ours[(model, group, label, row_label)]
        value = cell.mean if cell.n else None
        if value is not None and prow.reference is not None:
            ref = ours.get((model, group, label, prow.reference))
            value = (value - ref.mean) if ref is not None and ref.n else None
        if value is not None and math.isnan(value):
            value = None
        out.append(Comparison(row_label, model, group, label, pcell.value, pcell.spread, value,
                              cell.n, prow.reference))
    return out


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{DIGITS}f}" if signed else f"{x:.{DIGITS}f}"


def comparison_markdown(family: str, rows: Sequence[Comparison],
                        command: str | None = None) -> str:
    """A Markdown table, one line per cell: ours, the paper's, ``|ours - paper|``, the paper's
    spread and ``**yes**`` where the difference exceeds it; a summary line on top."""
    table = paper_table(family)
    assert table is not None
    have = [r for r in rows if r.ours is not None]
    flagged = [r for r in have if r.flagged]
    checkable = [r for r in have if r.spread is not None]
    lines = [f"### {family} beside the paper's {table.source}", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines.append(f"{len(have)} of {len(rows)} cells have runs; {len(flagged)} of "
                 f"{len(checkable)} with a paper spread differ by more than it.")
    lines += ["", "| Row | Column | ours | paper | abs(ours - paper) | paper spread | "
              "beyond spread |", "|---|---|---:|---:|---:|---:|:---:|"]
    for r in rows:
        col = " ".join(p for p in (MODEL_NAMES.get(r.model, r.model), r.column_group, r.column)
                       if p)
        signed = r.relative_to is not None
        flag = "–" if r.ours is None or r.spread is None else ("**yes**" if r.flagged else "no")
        lines.append(f"| {r.row} | {col} | {_num(r.ours, signed)} | {_num(r.paper, signed)} | "
                     f"{_num(r.delta)} | {_num(r.spread)} | {flag} |")
    notes = ["ours: mean over our finished seeds (rounded to 2 decimals before comparing); "
             "paper: as printed.",
             "Signed numbers are differences to the reference row (Val Set (10%) / 90/10), as "
             "the paper prints them.",
             "beyond spread: abs(ours - paper) > the paper's max - min over its 3 runs; – where "
             "the paper prints no spread or we have no run."]
    lines += [""] + [f"{n}  " for n in notes]
    return "\n".join(lines).rstrip() + "\n"


def paper_comparison(family: str, root: str | os.PathLike, *, gd: str = "gd",
                     command: str | None = None,
                     workdirs: Collection[Path] | None = None) -> str:
    """Markdown of table ``family``'s cells (runs of its plan under ``root``) beside the
    paper's: :func:`compare_cells`, then :func:`comparison_markdown`.

    Args:
      family: a key of :data:`~.paper_numbers.FAMILY_TO_PAPER` (``table1_cifar10``, ...).
      root: the sweep root holding ``<config stem>/<argument slug>`` workdirs.
      gd: the GD stop rule of the GD row (``gd`` or ``gd_up5``).
      command: the command line, printed under the heading.
      workdirs: only these (resolved) run folders count; None: every finished run of the plan.

    Raises:
      KeyError: the paper prints no numbers for ``family`` (one line).
      DamagedRunError: a run file differs from its checksum (one line).
    """
    require_paper_table(family)
    spec = T.table_specs(gd)[family]
    runs = [r for r in expand(spec.plan)
            if workdirs is None or r.result_dir(root).resolve() in workdirs]
    results, planned = T.collect(runs, root)
    rows = compare_cells(family, spec, T.build_cells(spec, results, planned))
    return comparison_markdown(family, rows, command)


@dataclasses.dataclass(frozen=True)
class PaperSweep:
    """The finished runs of one paper table among a folder of runs: ``family`` (a key of
    :data:`~.paper_numbers.FAMILY_TO_PAPER`), the sweep ``root`` and the table's ``workdirs``
    found there (resolved)."""

    family: str
    root: Path
    workdirs: frozenset[Path]


def _plan_keys(family: str) -> frozenset[tuple[str, str]]:
    """``(config stem, workdir name)`` of every table run of ``family``'s plan."""
    return frozenset((r.config, r.name) for r in expand(family) if r.role == "table")


def _cover(found: set[tuple[str, str]],
           plans: Mapping[str, frozenset[tuple[str, str]]]) -> list[str]:
    """The families that account for ``found``, greedily: the family holding most of the runs
    not yet accounted for; on a tie one whose runs were all found, then the first in
    ``plans``; until no family holds any of the rest."""
    order = {family: i for i, family in enumerate(plans)}
    remaining, chosen = set(found), []
    while remaining:
        best = max(plans, key=lambda f: (len(plans[f] & remaining), plans[f] <= found,
                                         -order[f]))
        if not plans[best] & remaining:
            break
        chosen.append(best)
        remaining -= plans[best]
    return chosen


def detect_paper_sweeps(workdirs: Iterable[str | os.PathLike]) -> list[PaperSweep]:
    """The paper tables that the run folders ``workdirs`` are runs of (empty: none).

    A folder ``<root>/<config>/<name>`` is a run of a table when its plan
    (:func:`gwa_jax.experiments.plan.expand`) has a run with that config stem and workdir
    name. Tables share runs (``table1`` holds ``table1_cifar10``, ``table2`` reads Table 1's
    ViT runs, ``table5`` its 10%-split runs), so per root the tables are picked greedily:
    first the one holding most of the runs, then the one holding most of the rest, and so on;
    on a tie a table whose runs were all found, then the first in
    :data:`~.paper_numbers.FAMILY_TO_PAPER`. A sweep of ``table1_cifar10`` (finished or not)
    is therefore reported as ``table1_cifar10``, of ``table1`` as ``table1``, of ``table2`` as
    ``table2`` once all its runs are there, of ``paper`` as ``table1``, ``table3`` and
    ``table5``. The result follows the order of :data:`~.paper_numbers.FAMILY_TO_PAPER`.
    """
    by_root: dict[Path, set[tuple[str, str]]] = {}
    for workdir in workdirs:
        d = Path(workdir).resolve()
        by_root.setdefault(d.parent.parent, set()).add((d.parent.name, d.name))
    plans = {family: _plan_keys(family) for family in FAMILY_TO_PAPER}
    out = []
    for root, found in sorted(by_root.items()):
        for family in sorted(_cover(found, plans), key=list(FAMILY_TO_PAPER).index):
            mine = found & plans[family]
            out.append(PaperSweep(family, root, frozenset(root / c / n for c, n in mine)))
    return out
