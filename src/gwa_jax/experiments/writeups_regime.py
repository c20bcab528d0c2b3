"""The generators of the regime study's generated blocks (``results/regime/README.md``, and
``readme-regime`` in ``README.md``); registered with :func:`claims.generator` on import
(:mod:`gwa_jax.experiments.writeups` imports this module).

Every generator reads the study's runs from ``results/regime/<runs>/<name>`` (``runs`` =
:data:`FORMAT2` by default, the committed runs as ``scripts/export_runs.py`` writes them; the
parameter lets a test point a generator at hand-made runs). The GPU loop's plain-recipe report
(``results/regime/gpu_plain``) and the calibration runs (``results/regime/calibration``) are
read from their own folders; the format-1 runs the study was first made with survive as their
per-run report, :data:`FORMAT1_RUNS_CSV`.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gwa_jax.experiments import curve_facts, regime
from gwa_jax.experiments.claims import (
    generator,
    md_table,
    missing_note,
    paired_rows,
    paired_test,
    verdict,
)
from gwa_jax.experiments.plan import MODEL_NAMES, Run, expand
from gwa_jax.experiments.results import RunResult, mislabel_auroc
from gwa_jax.experiments.writeups_offline import STOPS, span, stop_cells, stop_facts

#: The folder of the study's runs (run format 2), as ``scripts/export_runs.py`` writes them.
FORMAT2 = "runs_format2"

#: The format-1 runs' per-run report (``scripts/regime_report.py``, then ``runs.csv``) that
#: the format-2 runs are compared with.
FORMAT1_RUNS_CSV = "runs_format1.csv"

#: Key of a run of the study: (model, pool, recipe, noise, seed).
Key = tuple[str, int, str, float, int]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else \
        f"{100 * x:.{digits}f}"


def run_dir(root: Path, name: str, runs: str = FORMAT2) -> Path:
    """``results/regime/<runs>/<name>`` under the repository ``root``."""
    return Path(root) / "results" / "regime" / runs / name


def regime_items(root: Path, runs: str = FORMAT2) -> list[regime.RunRegret]:
    """The finished runs of the regime study in ``results/regime/<runs>/``, plan order."""
    out = []
    for run in expand("regime"):
        result = RunResult.load_verified(run_dir(root, run.name, runs))
        if result is not None and result.metrics:
            out.append(regime.run_regret(run, result))
    return out


def _run_key(run: Run) -> Key:
    a = dict(run.args)
    return a["model"], a["pool"], a["recipe"], a["noise"], a["seed"]


def _key(it: regime.RunRegret) -> Key:
    return _run_key(it.run)


class Rows:
    """The rows of a paired-test table, each tested only once every planned run it reads is
    committed; :attr:`missing` lists the others as ``{label: (committed, planned)}``."""

    def __init__(self, items: Sequence[regime.RunRegret]):
        self.items = items
        self.have = {_key(it) for it in items}
        self.pairs: list[tuple[str, list[float], list[float]]] = []
        self.missing: dict[str, tuple[int, int]] = {}

    def add(self, label: str, keep: Callable[[Key], bool],
            values: Callable[[], tuple[list[float], list[float]]]) -> None:
        """Tests ``values()`` under ``label`` if the planned runs whose key ``keep`` accepts
        are all committed, else lists the row in :attr:`missing`."""
        planned = [k for k in map(_run_key, expand("regime")) if keep(k)]
        have = sum(k in self.have for k in planned)
        if have < len(planned):
            self.missing[label] = (have, len(planned))
        else:
            self.pairs.append((label, *values()))

    def table(self, a: str, b: str, unit: str) -> str:
        if not self.pairs:
            return "No row has all its runs committed yet."
        return paired_rows(self.pairs, a, b, unit)


@generator("regime-run-times")
def regime_run_times(root: Path, runs: str = FORMAT2) -> str:
    rows = []
    for recipe in ("paper", "plain"):
        minutes = [sum(r.get("epoch_time_s") or 0.0 for r in
                       RunResult.load_verified(run_dir(root, it.run.name, runs)).metrics) / 60
                   for it in regime_items(root, runs) if _key(it)[2] == recipe]
        rows.append([recipe, str(len(minutes)),
                     f"{min(minutes):.1f}-{max(minutes):.1f}" if minutes else "–"])
    return md_table(["recipe", "runs", "sum of epoch times a run [min]"], rows)


@generator("regime-labelwave")
def regime_labelwave(root: Path, runs: str = FORMAT2) -> str:
    stops = [it.stops.get("labelwave") for it in regime_items(root, runs)
             if _key(it)[2] == "paper" and _key(it)[3] == 0.0]
    stops = [s for s in stops if s is not None]
    return (f"On clean labels with the paper recipe LabelWave stops at epochs "
            f"{min(stops)}-{max(stops)} ({len(stops)} runs).")


def _gwa_vs(items: Sequence, other: str, keep: Callable) -> tuple[list[float], list[float]]:
    chosen = [it for it in items if keep(_key(it)) and it.accs.get("gwa") is not None
              and it.accs.get(other) is not None]
    return ([100 * it.accs["gwa"] for it in chosen], [100 * it.accs[other] for it in chosen])


@generator("regime-claims")
def regime_claims(root: Path, runs: str = FORMAT2) -> str:
    """Paired tests of the regime study: GWA against the last epoch, LabelWave and GD per
    (recipe, noise) over (model, pool, seed) units; regret at 8k against 2k per (model,
    recipe) over (noise, seed) units. A row is tested once all its planned runs are
    committed; the others are listed."""
    items = regime_items(root, runs)
    rows = Rows(items)
    for other in ("last", "labelwave", "gd"):
        for recipe in ("paper", "plain"):
            for noise in (0.0, 0.17):
                keep = functools.partial(_is, recipe=recipe, noise=noise)
                rows.add(f"GWA - {other}: {recipe} recipe, {noise:.0%} noise", keep,
                         functools.partial(_gwa_vs, items, other, keep))
    by = {_key(it): it.regret("gwa") for it in items}
    pools = Rows(items)
    for model in ("convnext", "vit"):
        for recipe in ("paper", "plain"):
            for noises, label in (((0.0,), "clean"), ((0.0, 0.17), "clean + 17%")):
                pools.add(f"{model}, {recipe} recipe, {label}",
                          lambda k, m=model, r=recipe, ns=noises: (k[0], k[2]) == (m, r)
                          and k[3] in ns,
                          functools.partial(_pool_pairs, by, model, recipe, noises))
    note = missing_note({**rows.missing, **pools.missing})
    return ("Test accuracy at GWA's stop against the other criteria's (units: model, pool "
            "and seed):\n\n" + rows.table("GWA", "other", "(model, pool, seed) units") +
            "\n\nGWA's regret at the 8,000-image pool against the 2,000-image pool (units: "
            "noise and seed; > 0: the regret grows with the pool):\n\n" +
            pools.table("regret at 8k", "at 2k", "(noise, seed) units") +
            (f"\n\n{note}" if note else ""))


def _is(k: Key, model: str | None = None, recipe: str | None = None,
        noise: float | None = None) -> bool:
    """Whether run key ``k`` has the given model, recipe and noise (None: any)."""
    return all(want is None or got == want
               for got, want in ((k[0], model), (k[2], recipe), (k[3], noise)))


def _pool_pairs(by: dict[Key, float | None], model: str, recipe: str,
                noises: Sequence[float]) -> tuple[list[float], list[float]]:
    """GWA's regret at 8k and at 2k of the same (model, recipe, noise, seed), where both are
    defined: (8k values, 2k values)."""
    ks = [(model, 2000, recipe, n, s) for n in noises for s in range(3)]
    ks = [k for k in ks if by.get(k) is not None and by.get((k[0], 8000, *k[2:])) is not None]
    return [by[(k[0], 8000, *k[2:])] for k in ks], [by[k] for k in ks]


def _gpu_plain_accs(root: Path) -> list[tuple[str, int, str, int, dict[str, float]]]:
    """(model, pool, noise, seed, {criterion: test accuracy [points]}) of every run of the
    GPU loop's plain-recipe report (``results/regime/gpu_plain/regime/runs.csv``)."""
    out = []
    for r in _csv_rows(root / "results" / "regime" / "gpu_plain" / "regime" / "runs.csv"):
        accs = {c: float(r[f"{c} epoch (acc)"].split("(")[1].rstrip(")"))
                for c in ("gwa", "labelwave", "last") if "(" in r[f"{c} epoch (acc)"]}
        out.append((r["Model"], int(r["Pool"]), r["Noise"], int(r["Seed"]), accs))
    return out


@generator("regime-cell-claims")
def regime_cell_claims(root: Path, runs: str = FORMAT2, gpu: bool = True) -> str:
    """GWA against the last epoch within one (model, recipe, noise) over (pool, seed) units of
    the ``gwa-train`` runs (each row once all its planned runs are committed); with ``gpu``
    GWA against the last epoch and LabelWave in the GPU loop's plain-recipe runs
    (``gpu_plain/``), pooled and per model."""
    items = regime_items(root, runs)
    cells = Rows(items)
    for model in ("convnext", "vit"):
        for recipe in ("paper", "plain"):
            for noise in (0.0, 0.17):
                keep = functools.partial(_is, model=model, recipe=recipe, noise=noise)
                cells.add(f"{model}, {recipe} recipe, {noise:.0%} noise", keep,
                          functools.partial(_gwa_vs, items, "last", keep))
    note = missing_note(cells.missing)
    out = ("Test accuracy at GWA's stop against the last epoch's within one model, recipe and "
           "noise rate (`gwa-train` runs; units: pool and seed):\n\n" +
           cells.table("GWA", "last", "(pool, seed) units") + (f"\n\n{note}" if note else ""))
    if not gpu:
        return out
    gpu_runs = _gpu_plain_accs(root)
    pairs = []
    for other, name in (("last", "last"), ("labelwave", "LabelWave")):
        for model in (None, "convnext", "vit"):
            for noise in ("0%", "17%"):
                sel = [acc for m, _, n, _, acc in gpu_runs if n == noise
                       and (model is None or m == model) and other in acc and "gwa" in acc]
                pairs.append((f"GWA - {name}: {model or 'both models'}, {noise} noise",
                              [acc["gwa"] for acc in sel], [acc[other] for acc in sel]))
    return (out + "\n\nThe GPU loop's plain-recipe runs (`gpu_plain/regime/runs.csv`, the 60k "
            "runs in the clean rows; units: model, pool and seed):\n\n" +
            paired_rows(pairs, "GWA", "other", "(model, pool, seed) units"))


#: The calibration runs of the regime study (``results/regime/calibration/<name>``) and the
#: learning rate each was trained with, as the write-up labels it.
CALIBRATION = (("model-vit_pool2000_recipe-paper_noise0_seed0", "Adam 1e-4 (paper)"),
               ("model-vit_pool2000_recipe-paper_noise0_seed1", "Adam 1e-4 (paper)"),
               ("model-vit_pool2000_recipe-paper_noise0_seed0_lr1e-3",
                "Adam 1e-3 (`--config.optim.lr=1e-3`)"),
               ("model-convnext_pool2000_recipe-paper_noise0_seed0", "Adam 1e-3 (paper)"))


def _run(path: Path) -> RunResult:
    run = RunResult.load_verified(path)
    if run is None:
        raise FileNotFoundError(f"no finished run in {path}")
    return run


@generator("regime-calibration")
def regime_calibration(root: Path) -> str:
    rows = []
    for name, lr in CALIBRATION:
        run = _run(root / "results" / "regime" / "calibration" / name)
        epochs, test = run.column("test_acc")
        _, train = run.column("train_acc")
        _, seconds = run.column("epoch_time_s")
        g = run.selected_epoch("gwa")
        rows.append([f"`{name}`", lr, f"{100 * train[-1]:.1f}%",
                     f"{100 * test[-1]:.2f}% ({100 * np.nanmax(test):.2f}%)",
                     f"epoch {g} ({_pct(run.value('gwa'))}%)", f"{np.nansum(seconds):.0f} s"])
    return md_table(["run (`calibration/...`)", "learning rate", "train acc. at epoch 30",
                     "test acc. at epoch 30 (best)", "GWA stop (test acc.)",
                     "epoch time, sum"], rows)


@generator("readme-regime")
def readme_regime(root: Path, runs: str = FORMAT2) -> str:
    """The regime study's significant GWA-vs-last-epoch comparisons, as sentences."""
    items = regime_items(root, runs)
    out = []
    for recipe, noise, what in (("paper", 0.17, "paper recipe, 17% noise"),
                                ("plain", 0.17, "no augmentation, 17% noise"),
                                ("paper", 0.0, "paper recipe, clean"),
                                ("plain", 0.0, "no augmentation, clean")):
        a, b = _gwa_vs(items, "last", lambda k, r=recipe, n=noise: k[2:4] == (r, n))
        out.append(f"- {what}: " + verdict(paired_test(a, b), "GWA", "the last epoch",
                                          "(model, pool, seed) units"))
    return "\n".join(out)


# --- per-run facts and the cost of the study ------------------------------------------------


def gpu_plain_items(root: Path) -> dict[Key, regime.RunRegret]:
    """The GPU loop's plain-recipe runs (``results/regime/gpu_plain/regime_plain*.json``) by
    (model, pool, recipe, noise, seed)."""
    out = {}
    for path in sorted((root / "results" / "regime" / "gpu_plain").glob("regime_plain*.json")):
        for it in regime.from_offline_json(path):
            out[_key(it)] = it
    return out


def run_facts(root: Path, runs: str = FORMAT2
              ) -> dict[Key, tuple[regime.RunRegret, dict[str, float | int | None]]]:
    """Every finished run of ``results/regime/<runs>/`` by (model, pool, recipe, noise, seed):
    its :class:`regime.RunRegret` and its :func:`curve_facts.facts` row (accuracies in %)."""
    return {_key(it): (it, curve_facts.facts(_run(run_dir(root, it.run.name, runs))))
            for it in regime_items(root, runs)}


def calibration_rates(root: Path) -> dict[str, list[float]]:
    """Seconds per epoch of each calibration run (sum of its epoch times over its epochs),
    by model (``vit`` / ``convnext``), in :data:`CALIBRATION` order; all at 2,000 images."""
    out: dict[str, list[float]] = {}
    for name, _ in CALIBRATION:
        run = _run(root / "results" / "regime" / "calibration" / name)
        epochs, seconds = run.column("epoch_time_s")
        out.setdefault(name.split("_")[0].removeprefix("model-"), []).append(
            float(np.nansum(seconds)) / len(epochs))
    return out


def study_hours(items: Sequence[regime.RunRegret], rates: dict[str, Sequence[float]]
                ) -> tuple[float, float]:
    """(low, high) CPU hours the runs ``items`` take at ``rates`` (seconds per epoch per
    2,000 images by model): epochs x pool / 2,000 x the model's lowest / highest rate."""
    lo = hi = 0.0
    for it in items:
        model, pool = _key(it)[:2]
        lo += it.epochs * pool / 2000 * min(rates[model]) / 3600
        hi += it.epochs * pool / 2000 * max(rates[model]) / 3600
    return lo, hi


@generator("regime-cost-estimate")
def regime_cost_estimate(root: Path, runs: str = FORMAT2) -> str:
    """The calibration's seconds per epoch and what they project for the study's runs."""
    rates = calibration_rates(root)
    items = regime_items(root, runs)
    vit8k = max((it for it in items if _key(it)[:3] == ("vit", 8000, "paper")),
                key=lambda it: it.epochs)
    epochs, one = vit8k.epochs, study_hours([vit8k], rates)
    lo, hi = study_hours(items, rates)
    return (f"- about {span([r for v in rates.values() for r in v], '.0f')} s per epoch "
            f"per 2,000 images on this CPU while shared with another training (the epoch-time "
            f"sums of the table above over their 30 epochs), which projects one 8k-pool ViT run "
            f"of {epochs} epochs to {span(one, '.1f')} h and the {len(items)} runs of the "
            f"study (each run's epochs x pool / 2,000 at its model's rates) to "
            f"{lo:.0f}-{hi:.0f} CPU hours.")


@generator("regime-cost-measured")
def regime_cost_measured(root: Path, runs: str = FORMAT2) -> str:
    """What the study's runs took (sum of epoch times) against the projection, and the clean
    paper-recipe ViT's test accuracy at the last epoch."""
    facts = run_facts(root, runs)
    lo, hi = study_hours([it for it, _ in facts.values()], calibration_rates(root))
    total = sum(f["time_s"] or 0.0 for _, f in facts.values()) / 3600

    def minutes(model: str, pool: int) -> str:
        got = [f["time_s"] / 60 for k, (_, f) in facts.items() if k[:3] == (model, pool, "paper")]
        return span(got, ".0f") if got else "–"

    def last(pool: int) -> str:
        got = [f["test_last"] for k, (_, f) in facts.items()
               if k[:4] == ("vit", pool, "paper", 0.0)]
        return span(got, ".1f") if got else "–"

    word = "less" if total < lo else "more" if total > hi else "within"
    vit_epochs = max(it.epochs for k, (it, _) in facts.items() if k[:3] == ("vit", 8000, "paper"))
    return (f"The runs took {word} than that projection on the 2 cores: sum of epoch times a "
            f"paper-recipe run {minutes('convnext', 2000)} / {minutes('convnext', 8000)} min "
            f"for the ConvNeXt and {minutes('vit', 2000)} / {minutes('vit', 8000)} min for the "
            f"ViT at 2k / 8k images, {total:.1f} CPU hours for all {len(facts)} runs (projected: "
            f"{lo:.0f}-{hi:.0f}). The ViT at 1e-4 learns within {vit_epochs} epochs: test "
            f"accuracy at the last epoch {last(2000)}% at 2k and {last(8000)}% at 8k on clean "
            f"labels (section above).")


# --- per-cell tables of the runs --------------------------------------------------------------

@generator("regime-summary")
def regime_summary(root: Path, runs: str = FORMAT2) -> str:
    """:func:`regime.summary_rows` of the committed runs of ``results/regime/<runs>/``, with
    how many of the planned runs are in."""
    items = regime_items(root, runs)
    planned = len(expand("regime"))
    if not items:
        return f"0 of the {planned} planned runs are committed."
    header, rows = regime.summary_rows(items)
    return (f"{len(items)} of the {planned} planned runs are committed; per cell the mean "
            "(max) over its committed seeds (Runs):\n\n" + md_table(header, rows))


def cell_label(model: str, pool: int, recipe: str, noise: float) -> str:
    """``("vit", 8000, "paper", 0.17)`` -> ``ViT 8k paper 17%``."""
    return f"{MODEL_NAMES.get(model, model)} {pool // 1000}k {recipe} {noise:.0%}"


@generator("regime-stops")
def regime_stops(root: Path, runs: str = FORMAT2) -> str:
    """Per (model, pool, recipe, noise), ranges over its committed seeds: every criterion's
    stop (:func:`writeups_offline.stop_cells`), and the training accuracy at the last epoch
    (on the noisy, augmented batches, %)."""
    cells: dict[tuple, list[RunResult]] = {}
    planned: dict[tuple, int] = {}
    for run in expand("regime"):
        cell = _run_key(run)[:4]
        planned[cell] = planned.get(cell, 0) + 1
        result = RunResult.load_verified(run_dir(root, run.name, runs))
        if result is not None and result.metrics:
            cells.setdefault(cell, []).append(result)
    if not cells:
        return "No run of this kind is committed yet."
    rows = [[cell_label(*cell), f"{len(found)} of {planned[cell]}",
             *stop_cells(stop_facts(found)),
             span([curve_facts.facts(r)["train_last"] for r in found], ".1f")]
            for cell, found in cells.items()]
    head = ["cell", "seeds", *(f"{name} (test acc. %)" for name, _ in STOPS),
            "best epoch in hindsight (test acc. %)", "GWA regret [points]",
            "epochs within 1 SE of GWA's maximum", "lowest excess kurtosis",
            "epochs with GWA undefined", "train acc. at last epoch %"]
    return md_table(head, rows)


def format1_cells(path: Path) -> dict[tuple, dict[str, list[float]]]:
    """Per (model, pool, recipe, noise) of a ``regime_report.py`` ``runs.csv``: the seeds'
    test accuracy [%] at the last epoch (``last``) and at GWA's stop (``gwa``), GWA's epoch
    (``gwa_epoch``) and regret [points] (``gwa_regret``)."""
    out: dict[tuple, dict[str, list[float]]] = {}
    for r in _csv_rows(path):
        cell = (r["Model"], int(r["Pool"]), r["Recipe"], float(r["Noise"].rstrip("%")) / 100)
        got = out.setdefault(cell, {})
        epoch, _, acc = r["gwa epoch (acc)"].partition(" (")
        for key, value in (("last", float(r["last epoch (acc)"].split("(")[1].rstrip(")"))),
                           ("gwa", float(acc.rstrip(")"))), ("gwa_epoch", float(epoch)),
                           ("gwa_regret", float(r["gwa regret"]))):
            got.setdefault(key, []).append(value)
    return out


@generator("regime-changes")
def regime_changes(root: Path, runs: str = FORMAT2, previous: str = FORMAT1_RUNS_CSV) -> str:
    """Per cell whose planned format-2 runs are all committed: the means over seeds of the
    test accuracy at the last epoch and at GWA's stop, GWA's epoch and regret, format 1 ->
    format 2; the other cells listed with their counts."""
    old = format1_cells(Path(root) / "results" / "regime" / previous)
    found: dict[tuple, list[regime.RunRegret]] = {}
    for it in regime_items(root, runs):
        found.setdefault(_key(it)[:4], []).append(it)
    planned: dict[tuple, int] = {}
    for run in expand("regime"):
        planned[_run_key(run)[:4]] = planned.get(_run_key(run)[:4], 0) + 1
    rows, missing = [], {}
    for cell, n in planned.items():
        items = found.get(cell, [])
        if len(items) < n:
            missing[cell_label(*cell)] = (len(items), n)
            continue
        if cell not in old:
            raise ValueError(f"{previous} has no format-1 runs of {cell_label(*cell)}")
        new = {"last": [100 * it.accs["last"] for it in items],
               "gwa": [100 * it.accs["gwa"] for it in items if it.accs["gwa"] is not None],
               "gwa_epoch": [it.stops["gwa"] for it in items if it.stops["gwa"] is not None],
               "gwa_regret": [it.regret("gwa") for it in items if it.regret("gwa") is not None]}
        rows.append([cell_label(*cell), *(
            f"{np.mean(old[cell][k]):.{d}f} -> {np.mean(new[k]):.{d}f}" if new[k] else
            f"{np.mean(old[cell][k]):.{d}f} -> –"
            for k, d in (("last", 2), ("gwa", 2), ("gwa_epoch", 1), ("gwa_regret", 2)))])
    table = md_table(["cell", "last epoch acc. %", "GWA stop acc. %", "GWA epoch",
                      "GWA regret [points]"], rows) if rows else \
        "No cell has all its format-2 runs committed yet."
    note = missing_note(missing)
    return table + (f"\n\n{note}" if note else "")


@generator("regime-auroc")
def regime_auroc(root: Path, runs: str = FORMAT2) -> str:
    """Mislabel-detection AUROC of ``-score`` at GWA's and at the last epoch of the noisy runs
    (their ``scores.npz``), per (model, recipe) over (pool, seed) units, once all of them are
    committed: means and the paired test of the two epochs."""
    planned: dict[tuple[str, str], list[Run]] = {}
    for run in expand("regime"):
        model, _, recipe, noise, _ = _run_key(run)
        if noise:
            planned.setdefault((model, recipe), []).append(run)
    rows, missing = [], {}
    for (model, recipe), group in planned.items():
        name = f"{MODEL_NAMES.get(model, model)} {recipe}, 17% noise"
        found = [r for r in (RunResult.load_verified(run_dir(root, run.name, runs))
                             for run in group) if r is not None and r.metrics]
        if len(found) < len(group):
            missing[name] = (len(found), len(group))
            continue
        pairs = [(mislabel_auroc(r, r.selected_epoch("gwa")),
                  mislabel_auroc(r, r.selected_epoch("last"))) for r in found]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        if len(pairs) < len(group):
            missing[f"{name}, with scores"] = (len(pairs), len(group))
            continue
        g, last = (list(x) for x in zip(*pairs, strict=True))
        t = paired_test(g, last)
        rows.append([name, str(t.n), f"{np.mean(g):.3f}", f"{np.mean(last):.3f}",
                     f"{t.ahead}/{t.level}/{t.behind}", f"{t.sign_p:.2g}",
                     f"{t.wilcoxon_p:.2g}"])
    table = md_table(["runs (units: pool, seed)", "n", "AUROC at GWA epoch",
                      "AUROC at last epoch", "GWA ahead/level/behind", "sign p", "Wilcoxon p"],
                     rows) if rows else "No row has all its runs committed yet."
    note = missing_note(missing)
    return table + (f"\n\n{note}" if note else "")
