"""Tables of any run folder: each criterion's stop against the best epoch in hindsight.

For every finished run (a workdir with ``summary.json``) under a root, and every criterion
in its ``summary.selected`` (``gwa``, ``labelwave``, ``last``, ``val``, ...):

* the selected epoch and the test accuracy there,
* the best epoch in hindsight (highest ``test_acc`` in ``metrics.jsonl``) and its accuracy,
* the regret: best accuracy minus the accuracy at the stop (percentage points, >= 0).

Rows can be labelled and grouped by any key: a grid key of ``gwa-sweep`` (read from
``<root>/sweep.json``: ``noise``, ``optim.lr``) or any key of the run's ``config.json``
(``dataset.label_noise.rate``, ``seed``, ``model.name``). The grouped table averages over
the runs of each group (mean and standard deviation over runs).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gwa_jax.criteria import CRITERIA
from gwa_jax.experiments.args import format_value
from gwa_jax.experiments.grid import read_manifest
from gwa_jax.experiments.results import RunResult

MISSING = "–"


class NoFinishedRuns(LookupError):
    """No finished run under the given path; the message is one line."""


@dataclasses.dataclass
class Run:
    """A finished run with its name (workdir relative to the root) and coordinates."""

    name: str
    result: RunResult
    grid: dict[str, Any]

    def key(self, key: str) -> Any:
        """A grid coordinate, else a (dotted) key of ``config.json``; None when absent."""
        key = key.removeprefix("config.")
        if key in self.grid:
            return self.grid[key]
        node: Any = self.result.config or {}
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node


def find_runs(path: str | os.PathLike) -> tuple[list[Run], int]:
    """The finished runs at or below ``path`` (sorted by workdir) and the number of
    unfinished ones (``config.json`` without ``summary.json``)."""
    path = Path(path)
    manifest: dict[Path, dict[str, Any]] = {}
    for where in (path.parent.parent, path.parent, path):  # sweep.json of the root above.
        manifest.update(read_manifest(where))
    if (path / "summary.json").exists():
        dirs = [path]
        root = path.parent
    else:
        dirs = sorted(p.parent for p in path.rglob("summary.json"))
        root = path
    runs = []
    for d in dirs:
        result = RunResult.load_verified(d)
        if result is None:
            continue
        name = str(d.relative_to(root))
        runs.append(Run(name, result, dict(manifest.get(d.resolve(), {}))))
    unfinished = sum(1 for p in path.rglob("config.json")
                     if not (p.parent / "summary.json").exists()) if path.is_dir() else 0
    return runs, unfinished


def load_runs_or_fail(path: str | os.PathLike) -> list[Run]:
    """:func:`find_runs`, raising :class:`NoFinishedRuns` when there is none."""
    path = Path(path)
    if not path.exists():
        raise NoFinishedRuns(f"{path} does not exist")
    runs, unfinished = find_runs(path)
    if not runs:
        extra = f" ({unfinished} unfinished)" if unfinished else ""
        raise NoFinishedRuns(f"no finished run (a workdir with summary.json) under "
                             f"{path}{extra}")
    return runs


def best_in_hindsight(result: RunResult, metric: str = "test_acc"
                      ) -> tuple[int | None, float | None]:
    """(epoch, value) of the highest ``metric`` in ``metrics.jsonl`` (first on ties)."""
    epochs, values = result.column(metric)
    if not np.isfinite(values).any():
        return None, None
    i = int(np.nanargmax(values))
    return int(epochs[i]), float(values[i])


def criteria_of(runs: Sequence[Run]) -> list[str]:
    """The criteria selected in any run, in a fixed order (unknown names last)."""
    names = {c for r in runs for c in r.result.summary.get("selected", {})}
    return [c for c in CRITERIA if c in names] + sorted(names - set(CRITERIA))


@dataclasses.dataclass(frozen=True)
class Stop:
    """One criterion's stop in one run (accuracies in [0, 1])."""

    epoch: int | None
    acc: float | None
    best_epoch: int | None
    best_acc: float | None

    @property
    def regret(self) -> float | None:
        if self.acc is None or self.best_acc is None:
            return None
        return self.best_acc - self.acc


def stop(run: Run, criterion: str, metric: str = "test_acc") -> Stop:
    best_epoch, best_acc = best_in_hindsight(run.result, metric)
    return Stop(run.result.selected_epoch(criterion), run.result.value(criterion, metric),
                best_epoch, best_acc)


def _pct(x: float | None, digits: int = 2) -> str:
    return MISSING if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def _text(value: Any) -> str:
    return MISSING if value is None else format_value(value)


def per_run_rows(runs: Sequence[Run], by: Sequence[str] = (),
                 criteria: Sequence[str] | None = None, metric: str = "test_acc"
                 ) -> tuple[list[str], list[list[str]]]:
    """One row per run and criterion: [by keys..., run, criterion, epoch, acc [%], best
    epoch, best acc [%], regret [pp]]; runs sorted by the ``by`` keys, then by name."""
    criteria = list(criteria or criteria_of(runs))
    header = [*by, "run", "criterion", "epoch", "test acc [%]", "best epoch",
              "best test acc [%]", "regret [pp]"]
    rows = []
    for run in sorted(runs, key=lambda r: ([_sort_key(r.key(k)) for k in by], r.name)):
        for criterion in criteria:
            s = stop(run, criterion, metric)
            if s.epoch is None:
                continue
            rows.append([*(_text(run.key(k)) for k in by), run.name, criterion, str(s.epoch),
                         _pct(s.acc), _text(s.best_epoch), _pct(s.best_acc), _pct(s.regret)])
    return header, rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def _mean_std(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return MISSING
    a = 100 * np.asarray(values, np.float64)
    if len(a) == 1:
        return f"{a[0]:.{digits}f}"
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f}"


def grouped_rows(runs: Sequence[Run], by: Sequence[str],
                 criteria: Sequence[str] | None = None, metric: str = "test_acc"
                 ) -> tuple[list[str], list[list[str]]]:
    """One row per group (distinct values of the ``by`` keys) and criterion: number of runs,
    mean selected epoch, test accuracy [%] and regret [pp] (mean ± sample std over runs)."""
    criteria = list(criteria or criteria_of(runs))
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(_text(run.key(k)) for k in by), []).append(run)
    header = [*by, "criterion", "runs", "mean epoch", "test acc [%]", "regret [pp]"]
    rows = []
    order = sorted(groups, key=lambda g: [_sort_key(groups[g][0].key(k)) for k in by])
    for group in order:
        for criterion in criteria:
            stops = [stop(r, criterion, metric) for r in groups[group]]
            stops = [s for s in stops if s.epoch is not None and s.acc is not None]
            if not stops:
                continue
            regrets = [s.regret for s in stops if s.regret is not None]
            rows.append([*group, criterion, str(len(stops)),
                         f"{np.mean([s.epoch for s in stops]):.1f}",
                         _mean_std([s.acc for s in stops]), _mean_std(regrets)])
    return header, rows
