"""The generators of the regime study's generated blocks (``results/regime/README.md``, and
``readme-regime`` in ``README.md``); registered with :func:`claims.generator` on import
(:mod:`gwa_jax.experiments.writeups` imports this module).

Every generator reads the study's runs from ``results/regime/<runs>/<name>`` (``runs`` =
``"runs"``, the committed format-1 runs; a rerun into another folder, e.g. ``runs_format2``,
registers the same functions again with ``functools.partial(fn, runs=...)``). The GPU loop's
plain-recipe report (``results/regime/gpu_plain``) and the calibration runs
(``results/regime/calibration``) are read from their own folders.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gwa_jax.experiments import curve_facts, regime
from gwa_jax.experiments.claims import generator, md_table, paired_rows, paired_test, verdict
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult

#: Key of a run of the study: (model, pool, recipe, noise, seed).
Key = tuple[str, int, str, float, int]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else \
        f"{100 * x:.{digits}f}"


def run_dir(root: Path, name: str, runs: str = "runs") -> Path:
    """``results/regime/<runs>/<name>`` under the repository ``root``."""
    return Path(root) / "results" / "regime" / runs / name


def regime_items(root: Path, runs: str = "runs") -> list[regime.RunRegret]:
    """The finished runs of the regime study in ``results/regime/<runs>/``, plan order."""
    out = []
    for run in expand("regime"):
        result = RunResult.load_verified(run_dir(root, run.name, runs))
        if result is not None and result.metrics:
            out.append(regime.run_regret(run, result))
    return out


def _key(it: regime.RunRegret) -> Key:
    a = dict(it.run.args)
    return a["model"], a["pool"], a["recipe"], a["noise"], a["seed"]


@generator("regime-run-times")
def regime_run_times(root: Path, runs: str = "runs") -> str:
    rows = []
    for recipe in ("paper", "plain"):
        minutes = [sum(r.get("epoch_time_s") or 0.0 for r in
                       RunResult.load_verified(run_dir(root, it.run.name, runs)).metrics) / 60
                   for it in regime_items(root, runs) if _key(it)[2] == recipe]
        rows.append([recipe, str(len(minutes)), f"{min(minutes):.1f}-{max(minutes):.1f}"])
    return md_table(["recipe", "runs", "sum of epoch times a run [min]"], rows)


@generator("regime-labelwave")
def regime_labelwave(root: Path, runs: str = "runs") -> str:
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
def regime_claims(root: Path, runs: str = "runs") -> str:
    """Paired tests of the regime study: GWA against the last epoch, LabelWave and GD per
    (recipe, noise) over (model, pool, seed) units; regret at 8k against 2k per (model,
    recipe) over (noise, seed) units."""
    items = regime_items(root, runs)
    pairs = []
    for other in ("last", "labelwave", "gd"):
        for recipe in ("paper", "plain"):
            for noise in (0.0, 0.17):
                a, b = _gwa_vs(items, other, lambda k, r=recipe, n=noise: k[2:4] == (r, n))
                pairs.append((f"GWA - {other}: {recipe} recipe, {noise:.0%} noise", a, b))
    table = paired_rows(pairs, "GWA", "other", "(model, pool, seed) units")
    by = {_key(it): it.regret("gwa") for it in items}
    pool_pairs = []
    for model in ("convnext", "vit"):
        for recipe in ("paper", "plain"):
            for noises, label in (((0.0,), "clean"), ((0.0, 0.17), "clean + 17%")):
                ks = [(model, 2000, recipe, n, s) for n in noises for s in range(3)]
                ks = [k for k in ks if by.get(k) is not None
                      and by.get((k[0], 8000, *k[2:])) is not None]
                pool_pairs.append((f"{model}, {recipe} recipe, {label}",
                                   [by[(k[0], 8000, *k[2:])] for k in ks], [by[k] for k in ks]))
    pools = paired_rows(pool_pairs, "regret at 8k", "at 2k", "(noise, seed) units")
    return ("Test accuracy at GWA's stop against the other criteria's (units: model, pool "
            "and seed):\n\n" + table + "\n\nGWA's regret at the 8,000-image pool against the "
            "2,000-image pool (units: noise and seed; > 0: the regret grows with the pool):"
            "\n\n" + pools)


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
def regime_cell_claims(root: Path, runs: str = "runs") -> str:
    """GWA against the last epoch within one (model, recipe, noise) over (pool, seed) units of
    the ``gwa-train`` runs; GWA against the last epoch and LabelWave in the GPU loop's
    plain-recipe runs (``gpu_plain/``), pooled and per model."""
    items = regime_items(root, runs)
    cells = []
    for model in ("convnext", "vit"):
        for recipe in ("paper", "plain"):
            for noise in (0.0, 0.17):
                a, b = _gwa_vs(items, "last", lambda k, m=model, r=recipe, n=noise:
                               (k[0], *k[2:4]) == (m, r, n))
                cells.append((f"{model}, {recipe} recipe, {noise:.0%} noise", a, b))
    gpu = _gpu_plain_accs(root)
    pairs = []
    for other, name in (("last", "last"), ("labelwave", "LabelWave")):
        for model in (None, "convnext", "vit"):
            for noise in ("0%", "17%"):
                sel = [acc for m, _, n, _, acc in gpu if n == noise
                       and (model is None or m == model) and other in acc and "gwa" in acc]
                pairs.append((f"GWA - {name}: {model or 'both models'}, {noise} noise",
                              [acc["gwa"] for acc in sel], [acc[other] for acc in sel]))
    return ("Test accuracy at GWA's stop against the last epoch's within one model, recipe and "
            "noise rate (`gwa-train` runs; units: pool and seed):\n\n" +
            paired_rows(cells, "GWA", "last", "(pool, seed) units") +
            "\n\nThe GPU loop's plain-recipe runs (`gpu_plain/regime/runs.csv`, the 60k runs "
            "in the clean rows; units: model, pool and seed):\n\n" +
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
def readme_regime(root: Path, runs: str = "runs") -> str:
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


def run_facts(root: Path, runs: str = "runs"
              ) -> dict[Key, tuple[regime.RunRegret, dict[str, float | int | None]]]:
    """Every finished run of ``results/regime/<runs>/`` by (model, pool, recipe, noise, seed):
    its :class:`regime.RunRegret` and its :func:`curve_facts.facts` row (accuracies in %)."""
    return {_key(it): (it, curve_facts.facts(_run(run_dir(root, it.run.name, runs))))
            for it in regime_items(root, runs)}


def _span(values: Sequence[float], fmt: str) -> str:
    """``min-max`` of ``values`` in ``fmt``; one value where the two print the same."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


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
def regime_cost_estimate(root: Path, runs: str = "runs") -> str:
    """The calibration's seconds per epoch and what they project for the study's runs."""
    rates = calibration_rates(root)
    items = regime_items(root, runs)
    vit8k = max((it for it in items if _key(it)[:3] == ("vit", 8000, "paper")),
                key=lambda it: it.epochs)
    epochs, one = vit8k.epochs, study_hours([vit8k], rates)
    lo, hi = study_hours(items, rates)
    return (f"- about {_span([r for v in rates.values() for r in v], '{:.0f}')} s per epoch "
            f"per 2,000 images on this CPU while shared with another training (the epoch-time "
            f"sums of the table above over their 30 epochs), which projects one 8k-pool ViT run "
            f"of {epochs} epochs to {_span(one, '{:.1f}')} h and the {len(items)} runs of the "
            f"study (each run's epochs x pool / 2,000 at its model's rates) to "
            f"{lo:.0f}-{hi:.0f} CPU hours.")


@generator("regime-cost-measured")
def regime_cost_measured(root: Path, runs: str = "runs") -> str:
    """What the study's runs took (sum of epoch times) against the projection, and the clean
    paper-recipe ViT's test accuracy at the last epoch."""
    facts = run_facts(root, runs)
    lo, hi = study_hours([it for it, _ in facts.values()], calibration_rates(root))
    total = sum(f["time_s"] or 0.0 for _, f in facts.values()) / 3600

    def minutes(model: str, pool: int) -> str:
        return _span([f["time_s"] / 60 for k, (_, f) in facts.items()
                      if k[:3] == (model, pool, "paper")], "{:.0f}")

    def last(pool: int) -> str:
        return _span([f["test_last"] for k, (_, f) in facts.items()
                      if k[:4] == ("vit", pool, "paper", 0.0)], "{:.1f}")

    word = "less" if total < lo else "more" if total > hi else "within"
    vit_epochs = max(it.epochs for k, (it, _) in facts.items() if k[:3] == ("vit", 8000, "paper"))
    return (f"The runs took {word} than that projection on the 2 cores: sum of epoch times a "
            f"paper-recipe run {minutes('convnext', 2000)} / {minutes('convnext', 8000)} min "
            f"for the ConvNeXt and {minutes('vit', 2000)} / {minutes('vit', 8000)} min for the "
            f"ViT at 2k / 8k images, {total:.1f} CPU hours for all {len(facts)} runs (projected: "
            f"{lo:.0f}-{hi:.0f}). The ViT at 1e-4 learns within {vit_epochs} epochs: test "
            f"accuracy at the last epoch {last(2000)}% at 2k and {last(8000)}% at 8k on clean "
            f"labels (section above).")
