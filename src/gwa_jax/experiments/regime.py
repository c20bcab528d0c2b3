"""Analysis of the regime study (``configs/regime.py``): saturation, stops and regret per run.

For one finished 0%-split run, from its ``metrics.jsonl`` and ``summary.json``:

* saturation epoch: the first epoch whose training accuracy reaches ``SATURATION`` (95%) of the
  final epoch's (the training accuracy is measured on the noisy labels during the epoch);
* each criterion's selected epoch (``summary.selected``) and the test accuracy there;
* best epoch: the highest test accuracy over all epochs (hindsight, earliest on ties);
* regret of a criterion: best test accuracy minus the test accuracy at its stop, in points;
* ``gwa_ma5`` (post hoc, not a criterion of the paper): the epoch where GWA's trailing 5-epoch
  mean peaks after the warm-up, with its regret, from the same GWA curve.

Every number is read from the run files; nothing is trained here. The committed reports of
the removed device-resident loop ``scripts/offline_full_size.py`` (``results/regime/gpu_plain``
and ``device_loop``; see ``results/regime/README.md``) are read by :func:`from_offline_json`,
with the same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gwa_jax import criteria
from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.plan import REGIME_ARGS, Run, expand, regime_run
from gwa_jax.experiments.results import RunResult

SATURATION = 0.95
#: |GWA - last| below this many points counts as level (the same epoch, or accuracies that
#: print equal with two decimals).
LEVEL = 0.005
CRITERIA = ("gwa", "labelwave", "gd", "last")
#: Post-hoc diagnostic, not a criterion of the paper: the epoch of maximum of GWA's trailing
#: ``SMOOTH_WINDOW``-epoch mean, after the same warm-up (asks whether an early GWA stop is the
#: argmax of a noisy plateau). Computed from the run's GWA curve; nothing is retrained.
SMOOTHED = "gwa_ma5"
SMOOTH_WINDOW = 5
COLUMNS = (*CRITERIA, SMOOTHED)


def saturation_epoch(epochs: Sequence[int], train_acc: Sequence[float],
                     fraction: float = SATURATION) -> int | None:
    """First epoch with ``train_acc >= fraction * train_acc[-1]`` (None without data)."""
    acc = np.asarray(train_acc, dtype=np.float64)
    if not len(acc) or not np.isfinite(acc[-1]):
        return None
    hits = np.flatnonzero(acc >= fraction * acc[-1])
    return int(epochs[int(hits[0])])


@dataclasses.dataclass(frozen=True)
class RunRegret:
    """One run of the study. Accuracies are fractions; regret is in points (x100)."""

    run: Run
    epochs: int
    saturation: int | None
    best_epoch: int | None
    best_acc: float | None
    stops: dict[str, int | None]
    accs: dict[str, float | None]
    #: Per-epoch curves for the figures: "epoch", "test_acc", "train_acc", "gwa"; (E,) each.
    curves: dict[str, np.ndarray] = dataclasses.field(default_factory=dict, compare=False)

    def regret(self, criterion: str) -> float | None:
        acc = self.accs.get(criterion)
        if acc is None or self.best_acc is None:
            return None
        return 100.0 * (self.best_acc - acc)


def gwa_warmup_fraction(config: Mapping[str, Any] | None) -> float:
    """``gwa.warmup_fraction`` of a run's ``config.json`` (as a dict); the config default
    when the run has no config or the key (the JSON reports of the removed
    ``scripts/offline_full_size.py``, which took no config overrides)."""
    value = ((config or {}).get("gwa") or {}).get("warmup_fraction")
    return float(default_config().gwa.warmup_fraction if value is None else value)


def smoothed_gwa_stop(epochs: np.ndarray, steps: np.ndarray, gwa: np.ndarray,
                      window: int = SMOOTH_WINDOW, warmup_fraction: float | None = None
                      ) -> int | None:
    """Epoch (1-based, from ``epochs``) where GWA's trailing ``window``-epoch mean peaks after
    the warm-up (the first ``warmup_fraction`` of the run's steps; ``steps[-1]`` is the last).
    ``epochs``, ``steps``, ``gwa``: (E,) per-epoch columns of one run; None without GWA.
    ``warmup_fraction``: None = the config default (:func:`gwa_warmup_fraction`)."""
    if not len(steps):
        return None
    if warmup_fraction is None:
        warmup_fraction = gwa_warmup_fraction(None)
    index = criteria.select_gwa(list(criteria.moving_average(gwa, window)), list(steps),
                                int(steps[-1]), warmup_fraction)
    return None if index is None else int(epochs[index])


def _regret(run: Run, epochs: np.ndarray, test: np.ndarray, train: np.ndarray, gwa: np.ndarray,
            selected_epoch: Callable[[str], int | None], steps: np.ndarray,
            warmup_fraction: float) -> RunRegret:
    best_epoch = best_acc = None
    if np.isfinite(test).any():
        i = int(np.nanargmax(test))
        best_epoch, best_acc = int(epochs[i]), float(test[i])
    by_epoch = {int(e): float(a) for e, a in zip(epochs, test, strict=True) if np.isfinite(a)}
    stops, accs = {}, {}
    for criterion in COLUMNS:
        epoch = (smoothed_gwa_stop(epochs, steps, gwa, warmup_fraction=warmup_fraction)
                 if criterion == SMOOTHED
                 else selected_epoch(criterion))
        stops[criterion] = epoch
        accs[criterion] = by_epoch.get(epoch) if epoch is not None else None
    curves = {"epoch": np.asarray(epochs), "test_acc": test, "train_acc": train, "gwa": gwa}
    return RunRegret(run, len(epochs), saturation_epoch(epochs, train), best_epoch, best_acc,
                     stops, accs, curves)


def run_regret(run: Run, result: RunResult) -> RunRegret:
    """The study's numbers of one run (see the module docstring)."""
    epochs, test = result.column("test_acc")
    _, train = result.column("train_acc")
    _, gwa = result.column("gwa")
    steps, _ = result.column("gwa", x="step")
    return _regret(run, epochs, test, train, gwa, result.selected_epoch, steps,
                   gwa_warmup_fraction(result.config))


def from_offline_json(path: str | os.PathLike) -> list[RunRegret]:
    """The ``configs/regime.py`` runs of a JSON report of the removed device-resident loop
    ``scripts/offline_full_size.py`` (``{"runs": [{"config", "metrics", "selected"}]}``)."""
    out = []
    for record in json.loads(Path(path).read_text())["runs"]:
        file, _, arg = record["config"].partition(":")
        if Path(file).stem != "regime":
            continue
        a = parse_arg(arg or None, where=file, **REGIME_ARGS)
        run = regime_run(a.model, a.pool, a.recipe, a.noise, a.seed)
        rows, selected = record["metrics"], record["selected"]
        epochs = np.array([r["epoch"] for r in rows], dtype=np.int64)
        out.append(_regret(run, epochs, _json_column(rows, "test_acc"),
                           _json_column(rows, "train_acc"), _json_column(rows, "gwa"),
                           functools.partial(_json_stop, selected),
                           np.array([r["step"] for r in rows], dtype=np.int64),
                           gwa_warmup_fraction(None)))
    return out


def _json_column(rows: Sequence[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows],
                    dtype=np.float64)


def _json_stop(selected: dict, criterion: str) -> int | None:
    return (selected.get(criterion) or {}).get("epoch")


def collect(root: str | os.PathLike, plan: str = "regime") -> list[RunRegret]:
    """Every finished run of ``plan`` under ``root``, in plan order."""
    out = []
    for run in expand(plan):
        result = RunResult.load_verified(run.result_dir(root))
        if result is not None and result.metrics:
            out.append(run_regret(run, result))
    return out


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def per_run_rows(items: Sequence[RunRegret]) -> tuple[list[str], list[list[str]]]:
    """One row per run: coordinates, saturation, stops with test accuracy, regrets."""
    header = ["Model", "Pool", "Recipe", "Noise", "Seed", "Epochs", "Saturation epoch",
              "Best epoch (acc)"]
    header += [f"{c} epoch (acc)" for c in COLUMNS] + [f"{c} regret" for c in COLUMNS]
    rows = []
    for it in items:
        a = it.run.coordinates
        row = [str(a["model"]), str(a["pool"]), str(a["recipe"]),
               f"{round(100 * float(a['noise']))}%", str(a["seed"]), str(it.epochs),
               _fmt(it.saturation),
               "–" if it.best_epoch is None else f"{it.best_epoch} ({100 * it.best_acc:.2f})"]
        for c in COLUMNS:
            e, acc = it.stops[c], it.accs[c]
            row.append("–" if e is None or acc is None else f"{e} ({100 * acc:.2f})")
        row += [_fmt(it.regret(c)) for c in COLUMNS]
        rows.append(row)
    return header, rows


def group_key(run: Run) -> tuple[str, int, str, float]:
    a = run.coordinates
    return (str(a["model"]), int(a["pool"]), str(a["recipe"]), float(a["noise"]))


def summary_rows(items: Sequence[RunRegret]) -> tuple[list[str], list[list[str]]]:
    """Mean over seeds per (model, pool, recipe, noise): saturation epoch, GWA and best epoch,
    each criterion's regret as mean (max) over seeds, in points, then GWA's gain over the last
    epoch (mean of :func:`gwa_gain_over_last`, points) and in how many runs GWA is ahead, level
    (within :data:`LEVEL`) or behind."""
    groups: dict[tuple[str, int, str, float], list[RunRegret]] = {}
    for it in items:
        groups.setdefault(group_key(it.run), []).append(it)
    header = ["Model", "Pool", "Recipe", "Noise", "Runs", "Saturation epoch", "GWA epoch",
              "Best epoch"] + [f"{c} regret" for c in COLUMNS]
    header += ["GWA - last", "GWA ahead/level/behind"]
    rows = []
    # Recipe, noise, model, pool: the order the write-up reads the cells in.
    for (model, pool, recipe, noise) in sorted(groups, key=lambda k: (k[2], k[3], k[0], k[1])):
        group = groups[(model, pool, recipe, noise)]
        def mean(values: list[float | None]) -> float | None:
            vals = [v for v in values if v is not None]
            return float(np.mean(vals)) if vals else None

        row = [model, str(pool), recipe, f"{round(100 * noise)}%", str(len(group)),
               _fmt(mean([g.saturation for g in group]), 1),
               _fmt(mean([g.stops["gwa"] for g in group]), 1),
               _fmt(mean([g.best_epoch for g in group]), 1)]
        for c in COLUMNS:
            regrets = [g.regret(c) for g in group if g.regret(c) is not None]
            row.append("–" if not regrets else
                       f"{np.mean(regrets):.2f} ({max(regrets):.2f})")
        gains = [gwa_gain_over_last(g) for g in group]
        gains = [v for v in gains if v is not None]
        row.append(_fmt(mean(gains)))
        ahead, behind = sum(v >= LEVEL for v in gains), sum(v <= -LEVEL for v in gains)
        row.append(f"{ahead}/{len(gains) - ahead - behind}/{behind}" if gains else "–")
        rows.append(row)
    return header, rows


def gwa_gain_over_last(item: RunRegret) -> float | None:
    """Test accuracy at GWA's stop minus at the last epoch, in points (> 0: stopping where GWA
    says beats training to the end); None when either is missing."""
    gwa, last = item.accs.get("gwa"), item.accs.get("last")
    if gwa is None or last is None:
        return None
    return 100.0 * (gwa - last)


def regret_by_pool(items: Sequence[RunRegret], criterion: str
                   ) -> dict[tuple[str, str, float], dict[int, list[float]]]:
    """The regrets (points) of ``criterion`` grouped for a regret-vs-pool figure:
    ``{(model, recipe, noise): {pool: [one value per finished run, in item order]}}``."""
    out: dict[tuple[str, str, float], dict[int, list[float]]] = {}
    for it in items:
        value = it.regret(criterion)
        if value is None:
            continue
        model, pool, recipe, noise = group_key(it.run)
        out.setdefault((model, recipe, noise), {}).setdefault(pool, []).append(value)
    return out
