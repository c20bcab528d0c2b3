"""The generators of the write-ups' generated blocks (see :mod:`gwa_jax.experiments.claims`).

Each generator reads committed files under ``results/`` of a repository root and returns the
markdown of one block; :func:`generators` binds them to a root. Block names say where they
are used: ``quickstart-*`` in ``README.md`` and ``results/quickstart/README.md``, ``results-*``
in ``results/README.md``, ``fmnist-n-*`` / ``fmnist-n-asym-*`` / ``regime-*`` /
``early-stop-*`` in those studies' ``results/<study>/README.md``.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import gwa_jax.experiments.writeups_bench  # noqa: F401 - registers its generators
from gwa_jax.experiments import (
    curve_facts,
    writeups_asym,  # noqa: F401 - registers its generators
    writeups_fmnist_n,  # noqa: F401 - registers its generators
    writeups_regime,  # noqa: F401 - registers its generators
)
from gwa_jax.experiments.claims import (
    GENERATORS,
    fmt_diff,
    fmt_p,
    generator,
    md_table,
    missing_note,
    paired_rows,
    paired_test,
    verdict,
)
from gwa_jax.experiments.figures import three_epochs
from gwa_jax.experiments.plan import MODEL_NAMES, expand
from gwa_jax.experiments.results import RunResult, mislabel_auroc
from gwa_jax.experiments.tables import VALUE_DECIMALS, Cell
from gwa_jax.train.trainer import selection_table
from gwa_jax.uncertainty import epochs_within_se


def generators(root: str | Path) -> dict[str, Callable[[], str]]:
    """Every registered generator (this module's and those of the modules it imports) bound
    to the repository ``root`` (results read from ``root/results``)."""
    root = Path(root)
    return {name: functools.partial(fn, root) for name, fn in GENERATORS.items()}


def _run(path: Path) -> RunResult:
    run = RunResult.load_verified(path)
    if run is None:
        raise FileNotFoundError(f"no finished run in {path}")
    return run


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else \
        f"{100 * x:.{digits}f}"


# --- the quickstart ---------------------------------------------------------------------------


@generator("quickstart-table")
def quickstart_table(root: Path) -> str:
    """The end-of-run table of the committed quickstart run, as ``gwa-train`` prints it."""

    summary = _run(root / "results" / "quickstart").summary
    return f"```\n{selection_table(summary)}\n```"


def quickstart_facts(run: RunResult) -> dict[str, float | int]:
    """The numbers the quickstart prose quotes: best test epoch and accuracy, each
    criterion's epoch and accuracy, epochs within one SE of GWA's maximum, the last epoch's
    train accuracy and the sum of the logged epoch times [s]."""
    epochs, test = run.column("test_acc")
    _, gwa = run.column("gwa")
    _, se = run.column("gwa_se")
    _, train = run.column("train_acc")
    _, seconds = run.column("epoch_time_s")
    best = int(np.nanargmax(test))
    g = run.selected_epoch("gwa")
    return {"epochs": int(epochs[-1]), "best_epoch": int(epochs[best]),
            "best_acc": float(test[best]), "gwa_epoch": g, "gwa_acc": run.value("gwa"),
            "labelwave_epoch": run.selected_epoch("labelwave"),
            "labelwave_acc": run.value("labelwave"), "last_acc": run.value("last"),
            "within_se": epochs_within_se(gwa, se, int(np.flatnonzero(epochs == g)[0])),
            "train_acc_last": float(train[-1]), "seconds": float(np.nansum(seconds))}


@generator("quickstart-facts")
def quickstart_facts_block(root: Path) -> str:
    f = quickstart_facts(_run(root / "results" / "quickstart"))
    return (f"In the committed run (`results/quickstart/`) the train accuracy ends at "
            f"{_pct(f['train_acc_last'], 1)}% and the test accuracy peaks at epoch "
            f"{f['best_epoch']} with {_pct(f['best_acc'], 2)}%; GWA stops at epoch "
            f"{f['gwa_epoch']} ({_pct(f['gwa_acc'])}%), LabelWave at epoch "
            f"{f['labelwave_epoch']} ({_pct(f['labelwave_acc'])}%), the last epoch has "
            f"{_pct(f['last_acc'])}%; {f['within_se'] - 1} other epochs lie within one "
            f"bootstrap standard error of GWA's maximum. Its {f['epochs']} epochs took "
            f"{f['seconds']:.0f} s (sum of the logged epoch times) on a 2-core CPU.")


@generator("quickstart-run")
def quickstart_run(root: Path) -> str:
    """The quickstart's epochs and steps, from its config.json and summary.json."""
    run = _run(root / "results" / "quickstart")
    c, s = run.config, run.summary
    n, b = c["dataset"]["train_subset"], c["batch_size"]
    per = -(-n // b)
    return (f"{s['num_epochs']} whole epochs of {per} steps ({s['total_steps']} steps; {n} ids "
            f"in batches of {b}, the last batch of each epoch holds {n - (per - 1) * b} ids and "
            f"{per * b - n} masked copies; `total_steps={s['requested_total_steps']}` is rounded "
            f"down to whole epochs).")


@generator("quickstart-detail")
def quickstart_detail(root: Path) -> str:
    """GWA's maximum, the epochs within one SE of it, and the mislabel AUROC at the early,
    GWA and last epochs (from ``scores.npz``)."""

    run = _run(root / "results" / "quickstart")
    epochs, gwa = run.column("gwa")
    _, se = run.column("gwa_se")
    _, test = run.column("test_acc")
    g = run.selected_epoch("gwa")
    i = int(np.flatnonzero(epochs == g)[0])
    near = [j for j in range(len(epochs)) if gwa[j] >= gwa[i] - se[i]]
    others = ", ".join(f"{epochs[j]} ({gwa[j]:.3f})" for j in near if j != i)
    accs = [100 * test[j] for j in near]
    early, _, last = three_epochs(run)
    auc = {e: mislabel_auroc(run, e) for e in (early, g, last)}
    return (f"GWA peaks at epoch {g} ({gwa[i]:.3f}, bootstrap SE {se[i]:.3f}). Epochs "
            f"{others} lie within one standard error of that maximum, so the stop is decided "
            f"within noise among epochs {min(epochs[near])}-{max(epochs[near])} (test accuracy "
            f"{min(accs):.1f}-{max(accs):.1f}%). Mislabel detection (AUROC of minus the "
            f"score, `scores.npz`): {auc[g]:.3f} at the GWA epoch, {auc[early]:.3f} at epoch "
            f"{early}, {auc[last]:.3f} at epoch {last}; of these three epochs the mislabelled "
            f"samples separate best at epoch {max(auc, key=auc.get)}.")


# --- the Table-1-style offline studies ------------------------------------------------------

#: Rows compared against GWA: (label, criterion, split of the run that has it).
AGAINST = (("last epoch", "last", 0.0), ("LabelWave", "labelwave", 0.0), ("GD", "gd", 0.0),
           ("Val Set (10%)", "val", 0.1), ("Val Set (1%)", "val", 0.01))
#: A per-cell paired test over fewer seeds cannot reach p < 0.05 (two-sided, 5 seeds: 0.0625).
MIN_CELL_SEEDS = 6


def value_key(crit: str, split: float) -> str:
    """The key of ``crit`` in :func:`study_values`: the criterion itself for the 0% split run,
    ``"val"`` for the 10% split run's validation row, ``"<crit>@<split>"`` otherwise."""
    return crit if split == 0.0 or (crit, split) == ("val", 0.1) else f"{crit}@{split:g}"


def study_values(root: Path, study: str, plan: str | None = None, runs: str = "runs"
                 ) -> dict[tuple[str, str, int, str], float]:
    """Test accuracy [points] of every committed run of a Table-1-style study by (model,
    variant, seed, key); GWA, LabelWave, GD and the last epoch from the 0% split run, the
    validation rows from the 10% (``val``) and 1% (``val@0.01``) split runs
    (:func:`value_key`). Runs are read from ``results/<study>/<runs>/<name>``."""

    out = {}
    for run in expand(plan or study):
        if run.role != "table" or run.split not in (0.0, 0.1, 0.01):
            continue
        result = RunResult.load_verified(root / "results" / study / runs / run.name)
        if result is None:
            continue
        for crit in (("val",) if run.split else ("gwa", "gwa_finetune", "last", "labelwave",
                                                 "gd")):
            value = result.value(crit)
            if value is not None:
                out[(run.model, run.variant, run.seed, value_key(crit, run.split))] = (
                    100 * round(value, VALUE_DECIMALS))
    return out


def _pairs_over(values: dict, model: str | None, variant: str | None, crit: str,
                base: str = "gwa") -> tuple[list[float], list[float]]:
    keys = sorted(k[:3] for k in values if k[3] == base and (model is None or k[0] == model)
                  and (variant is None or k[1] == variant) and (*k[:3], crit) in values)
    return [values[(*k, base)] for k in keys], [values[(*k, crit)] for k in keys]


#: The base row of the fine-tuning testbed and the rows compared against it.
FINETUNE_AGAINST = (("GWA (max after warm-up)", "gwa", 0.0), *AGAINST)
NO_RUNS = "No run of this kind is committed yet."


def study_claims(root: Path, study: str, plan: str | None = None, runs: str = "runs",
                 base: tuple[str, str] = ("GWA", "gwa"),
                 against: Sequence[tuple[str, str, float]] = AGAINST,
                 complete_only: bool = True) -> str:
    """Paired tests of the ``base`` row (label, criterion) against each row of ``against`` in
    a Table-1-style study: per model pooled over (noise, seed) units, over both models, and
    per cell where a cell has :data:`MIN_CELL_SEEDS` seeds or more. With ``complete_only`` a
    row is tested only once all its planned runs are committed (:func:`missing_rows`); the
    others are listed."""
    values = study_values(root, study, plan, runs)
    if not values:
        return NO_RUNS
    missing = missing_rows(values, plan or study, against) if complete_only else {}
    against = [a for a in against if a[0] not in missing]
    name, crit0 = base
    models = sorted({k[0] for k in values}, reverse=True)  # vit, convnext
    variants = sorted({k[1] for k in values})
    seeds = {v: {k[2] for k in values if k[1] == v and k[3] == crit0} for v in variants}
    pairs = []
    for label, crit, split in against:
        for model in (*models, None) if len(models) > 1 else models:
            a, b = _pairs_over(values, model, None, value_key(crit, split), crit0)
            if a:
                pairs.append((f"{name} - {label}: {model or 'both models'}", a, b))
    units = ("(noise, seed) of a model, or (model, noise, seed) for both models"
             if len(models) > 1 else "(noise, seed)")
    out = [f"Pooled units: {units}.", "", paired_rows(pairs, name, "row", "units")]
    cells = []
    for label, crit, split in against:
        for model in models:
            for variant in variants:
                a, b = _pairs_over(values, model, variant, value_key(crit, split), crit0)
                if len(a) >= MIN_CELL_SEEDS:
                    cells.append((f"{name} - {label}: {column_label(model, variant)}", a, b))
    most = max((len(s) for s in seeds.values()), default=0)
    found = [(label, paired_test(a, b)) for label, a, b in (*pairs, *cells)]
    found = [f"{label} ({fmt_diff(t.mean_diff)}, {t.ahead}/{t.level}/{t.behind}, sign p = "
             f"{fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)})"
             for label, t in found if t.significant]
    out = [("Significant: " + "; ".join(found) + ".") if found else
           "No comparison below is significant.", "", *out]
    if cells:
        out += ["", "Per cell (units: seeds):", "", paired_rows(cells, name, "row", "seeds")]
    else:
        out += ["", f"No per-cell test: the cells have at most {most} seeds, and a two-sided "
                f"paired test needs {MIN_CELL_SEEDS} to go below p = 0.05."]
    if missing:
        out += ["", missing_note(missing)]
    return "\n".join(out)


def missing_rows(values: dict, plan: str, against: Sequence[tuple[str, str, float]]
                 ) -> dict[str, tuple[int, int]]:
    """The rows of ``against`` whose planned runs (``role == "table"`` at the row's split)
    do not all have a value in ``values`` (:func:`study_values`): label -> (runs with a value,
    runs planned)."""
    out = {}
    for label, crit, split in against:
        planned = [r for r in expand(plan) if r.role == "table" and r.split == split]
        key = value_key(crit, split)
        have = sum((r.model, r.variant, r.seed, key) in values for r in planned)
        if have < len(planned):
            out[label] = (have, len(planned))
    return out



# --- the post-hoc patience table ------------------------------------------------------------


@generator("early-stop-table")
def early_stop_table(root: Path) -> str:
    """The rows of ``results/early_stop/patience.md`` for patience 3, 5 and 10."""
    lines = (root / "results" / "early_stop" / "patience.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| study |"))
    header, rule = lines[start], lines[start + 1]
    col = [c.strip() for c in header.strip("|").split("|")].index("patience")
    rows = [line for line in lines[start + 2:] if line.startswith("| ")
            and line.strip("|").split("|")[col].strip() in ("3", "5", "10")]
    return "\n".join([header, rule, *rows])


def _csv_rows(path: Path) -> list[dict[str, str]]:

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@generator("early-stop-regime")
def early_stop_regime(root: Path) -> str:
    """The paper-recipe 2k ViT runs of the regime study at patience 5 against the plain ones."""
    rows = _csv_rows(root / "results" / "early_stop" / "patience.csv")

    def pick(recipe: str) -> list[dict[str, str]]:
        return [r for r in rows if r["study"] == "regime/runs_format2" and r["patience"] == "5"
                and "model-vit_pool2000_recipe-" + recipe in r["run"]]

    def span(values: Sequence[float], fmt: str = "{:.0f}") -> str:
        return f"{fmt.format(min(values))} to {fmt.format(max(values))}"

    paper, plain = pick("paper"), pick("plain")
    full = [int(r["full_selected_epoch"]) for r in paper]
    stop = [int(r["stop_epoch"]) for r in paper]
    return (f"The {len(paper)} paper-recipe ViT runs of the regime study at 2,000 images train "
            f"{paper[0]['epochs']} epochs and select by GWA at epochs {span(full)} in the full "
            f"run; patience 5 stops them after epoch {span(stop)} and changes their test "
            f"accuracy by {span([float(r['acc_change']) for r in paper], '{:+.2f}')} points. "
            f"The {len(plain)} plain-recipe ViT runs at 2,000 images ({plain[0]['epochs']} "
            f"epochs) change by "
            f"{span([float(r['acc_change']) for r in plain], '{:+.2f}')} points at patience 5.")


def study_means(root: Path, study: str, plan: str | None = None, runs: str = "runs",
                base: tuple[str, str] = ("GWA", "gwa"),
                against: Sequence[tuple[str, str, float]] = AGAINST) -> str:
    """Mean test accuracy [%] (seeds) per criterion and (model, noise) column of a
    Table-1-style study; the 10% split's ``val`` row where those runs exist."""
    values = study_values(root, study, plan, runs)
    if not values:
        return NO_RUNS
    cols = sorted({k[:2] for k in values}, key=lambda c: (c[0] != "vit", c[1]))
    rows = []
    for label, crit in (base, *((a[0], value_key(a[1], a[2])) for a in against)):
        cells = []
        for model, variant in cols:
            xs = [v for k, v in values.items() if k[:2] == (model, variant) and k[3] == crit]
            cells.append(f"{Cell(xs, len(xs)).mean:.2f} ({len(xs)})" if xs else "–")
        if any(c != "–" for c in cells):
            rows.append([label, *cells])
    return md_table(["criterion", *(column_label(m, v) for m, v in cols)], rows)


def column_label(model: str, variant: str) -> str:
    """``("vit", "noise0.17")`` -> ``ViT 17%``; ``("convnext", "asym0.4")`` -> ``ConvNeXt
    asym. 40%``."""
    kind = "asym. " if variant.startswith("asym") else ""
    rate = float(variant.removeprefix("asym").removeprefix("noise"))
    return f"{MODEL_NAMES.get(model, model)} {kind}{rate:.0%}"


# --- results/README.md: the rerun budget ----------------------------------------------------

#: study -> (sweep plan, folders of its committed format-2 runs, of its earlier runs).
BUDGET_STUDIES = {"fmnist_n": ("fmnist_n", "runs_format2", "runs"),
                  "fmnist_n_asym": ("fmnist_n_asym", "runs_format2", "runs"),
                  "finetune_fmnist": ("finetune_fmnist", "runs_format2", "runs"),
                  "regime": ("regime", "runs_format2", "runs")}


def _minutes(run_dir: Path) -> float | None:
    result = RunResult.load_verified(run_dir)
    if result is None or not result.metrics:
        return None
    return sum(r.get("epoch_time_s") or 0.0 for r in result.metrics) / 60


def _model_minutes(root: Path, study: str, folder: str, plan: str) -> dict[str, list[float]]:

    out: dict[str, list[float]] = {}
    for run in expand(plan):
        m = _minutes(root / "results" / study / folder / run.name)
        if m is not None:
            out.setdefault(run.model, []).append(m)
    return out


def remaining_hours(root: Path, study: str, plan: str, new: str, old: str
                    ) -> tuple[float, float | None, int]:
    """CPU hours the planned runs missing from ``results/<study>/<new>`` need: each at the
    minutes of its earlier twin (the same run name in ``<old>``) times the ratio of format-2 to
    earlier minutes over the runs that have both, else at its model's mean minutes (format 2
    where there are any, else earlier; 0 when none of its model is committed). Returns
    (hours, ratio or None, runs with both)."""
    runs = expand(plan)
    folder = Path(root) / "results" / study
    fresh = {r.name: _minutes(folder / new / r.name) for r in runs}
    twin = {r.name: _minutes(folder / old / r.name) for r in runs}
    both = [n for n in fresh if fresh[n] is not None and twin[n] is not None]
    ratio = sum(fresh[n] for n in both) / sum(twin[n] for n in both) if both else None
    means = {m: float(np.mean(v)) for m, v in _model_minutes(root, study, old, plan).items()}
    means.update({m: float(np.mean(v)) for m, v in
                  _model_minutes(root, study, new, plan).items()})
    minutes = 0.0
    for r in runs:
        if fresh[r.name] is None:
            minutes += (twin[r.name] * (ratio or 1.0) if twin[r.name] is not None
                        else means.get(r.model, 0.0))
    return minutes / 60, ratio, len(both)


@generator("results-budget")
def results_budget(root: Path) -> str:
    """Per study: planned runs, format-2 runs committed, the format-2 / earlier time ratio
    and the CPU hours the missing runs need (:func:`remaining_hours`)."""

    rows, total = [], 0.0
    for study, (plan, new, old) in BUDGET_STUDIES.items():
        hours, ratio, n = remaining_hours(root, study, plan, new, old)
        total += hours
        done = sum(len(v) for v in _model_minutes(root, study, new, plan).values())
        rows.append([study, str(len(expand(plan))), str(done),
                     "–" if ratio is None else f"{ratio:.2f} ({n} runs)", f"{hours:.1f}"])
    rows.append(["all", str(sum(int(r[1]) for r in rows)), str(sum(int(r[2]) for r in rows)),
                 "", f"{total:.1f}"])
    return md_table(["study", "planned runs", "format-2 runs committed",
                     "format-2 / earlier minutes (runs with both)",
                     "CPU hours left"], rows)


#: The size budget of every committed ``scores.npz`` together (bytes).
SCORES_BUDGET = 10 * 2**20


def scores_sizes(root: Path) -> dict[str, tuple[int, int]]:
    """Per results/ folder: (number of committed ``scores.npz`` files, their bytes)."""
    out: dict[str, tuple[int, int]] = {}
    for path in sorted((root / "results").rglob("scores.npz")):
        study = path.relative_to(root / "results").parts[0]
        n, size = out.get(study, (0, 0))
        out[study] = (n + 1, size + path.stat().st_size)
    return out


@generator("results-scores")
def results_scores(root: Path) -> str:
    sizes = scores_sizes(root)
    rows = [[s, str(n), f"{b / 1024:.0f}"] for s, (n, b) in sizes.items()]
    total = sum(b for _, b in sizes.values())
    rows.append(["all", str(sum(n for n, _ in sizes.values())), f"{total / 1024:.0f}"])
    return (md_table(["folder", "scores.npz files", "KiB"], rows) +
            f"\n\nBudget: {SCORES_BUDGET / 2**20:.0f} MiB for all of them together; used "
            f"{100 * total / SCORES_BUDGET:.1f}%.")


# --- the format-2 reruns (results/<study>/runs_format2) -------------------------------------


def study_auroc(root: Path, study: str, plan: str | None = None,
                runs: str = "runs_format2",
                bases: Sequence[tuple[str, str]] = (("GWA", "gwa"),)) -> str:
    """Mislabel-detection AUROC of ``-score`` at each of ``bases``' (label, criterion) epochs
    and at the last epoch of the 0%-split runs with label noise (from their ``scores.npz``):
    mean over seeds per (model, noise), and the paired test of the two epochs over the seeds.
    With several bases, one row per (column, base)."""

    found: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for run in expand(plan or study):
        if run.role != "table" or run.split != 0.0 or not dict(run.args).get("noise"):
            continue
        result = RunResult.load_verified(root / "results" / study / runs / run.name)
        if result is None:
            continue
        last = mislabel_auroc(result, result.selected_epoch("last"))
        for label, crit in bases:
            g = mislabel_auroc(result, result.selected_epoch(crit))
            if g is not None and last is not None:
                found.setdefault((run.model, run.variant, label), []).append((g, last))
    rows = []
    for (model, variant, label), pairs in found.items():
        g, last = np.array(pairs).T
        t = paired_test(g, last)
        rows.append([column_label(model, variant), *([label] if len(bases) > 1 else []),
                     str(len(pairs)), f"{g.mean():.3f}", f"{last.mean():.3f}",
                     f"{t.ahead}/{t.level}/{t.behind}", f"{t.sign_p:.2g}", f"{t.wilcoxon_p:.2g}"])
    if not rows:
        return NO_RUNS
    if len(bases) > 1:
        head = ["column", "criterion", "seeds", "AUROC at its epoch", "AUROC at last epoch",
                "ahead/level/behind"]
    else:
        head = ["column", "seeds", f"AUROC at {bases[0][0]} epoch", "AUROC at last epoch",
                f"{bases[0][0]} ahead/level/behind"]
    return md_table([*head, "sign p", "Wilcoxon p"], rows)


@generator("readme-fmnist-n")
def readme_fmnist_n(root: Path, runs: str = "runs_format2") -> str:
    """The symmetric-noise Fashion-MNIST study's paired tests of GWA against every other
    criterion over both models' units, as sentences (the main README's summary)."""
    values = study_values(root, "fmnist_n", runs=runs)
    missing = missing_rows(values, "fmnist_n", AGAINST)
    out, per_model = [], []
    for label, crit, split in AGAINST:
        if label in missing:
            continue
        name = "the last epoch" if crit == "last" else label
        t = paired_test(*_pairs_over(values, None, None, value_key(crit, split)))
        out.append(f"- {verdict(t, 'GWA', name, '(model, noise, seed) units')}")
        for model in ("vit", "convnext"):
            t = paired_test(*_pairs_over(values, model, None, value_key(crit, split)))
            if t.significant:
                per_model.append(f"{MODEL_NAMES[model]}: {verdict(t, 'GWA', name, 'units')}")
    if per_model:
        out += ["", "Per model ((noise, seed) units), significant: " + "; ".join(per_model)
                + "."]
    return "\n".join(out) + (f"\n\n{missing_note(missing)}" if missing else "")


for _study, _extra in (("fmnist_n", {}), ("fmnist_n_asym", {}),
                       ("finetune_fmnist", {"base": ("gwa_finetune", "gwa_finetune"),
                                            "against": FINETUNE_AGAINST})):
    _name = _study.replace("_", "-")
    generator(f"{_name}-f2-means")(functools.partial(study_means, study=_study,
                                                     runs="runs_format2", **_extra))
    generator(f"{_name}-f2-claims")(functools.partial(study_claims, study=_study,
                                                      runs="runs_format2", **_extra))
    _bases = ((("gwa_finetune", "gwa_finetune"), ("GWA (max after warm-up)", "gwa"))
              if _study == "finetune_fmnist" else (("GWA", "gwa"),))
    generator(f"{_name}-f2-auroc")(functools.partial(study_auroc, study=_study, bases=_bases))


# --- the fine-tuning testbed (results/finetune_fmnist/runs_format2) --------------------------


def _span(values: Sequence[float], fmt: str = "{:.3f}", sep: str = "-") -> str:
    """``min-max`` of ``values`` in ``fmt`` (one value when they agree)."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}{sep}{hi}"


def _epochs(values: Sequence[int]) -> str:
    """``epoch 4`` or ``epochs 2-5``."""
    return ("epoch " if min(values) == max(values) else "epochs ") + _span(values, "{:d}")


def finetune_facts(root: Path, runs: str = "runs_format2",
                   split: float | None = 0.0) -> list[tuple[str, dict]]:
    """(run name, :func:`curve_facts.facts`) of the committed fine-tuning runs (``split``
    None: every split), plan order."""
    out = []
    for run in expand("finetune_fmnist"):
        if run.role != "table" or (split is not None and run.split != split):
            continue
        result = RunResult.load_verified(root / "results" / "finetune_fmnist" / runs / run.name)
        if result is not None and result.metrics:
            out.append((run.name, curve_facts.facts(result)))
    return out


@generator("finetune-fmnist-dip")
def finetune_dip(root: Path, runs: str = "runs_format2") -> str:
    """Does GWA first dip during fine-tuning, and where do the plain and the fine-tuning rule
    stop, over the 0%-split runs."""
    rows = [f for _, f in finetune_facts(root, runs)]
    if not rows:
        return NO_RUNS
    n = len(rows)
    dips = [f for f in rows if f["gwa_first"] is not None and f["gwa_first"] > f["gwa_min"]
            and f["gwa_min_epoch"] < f["epochs"] and f["gwa_last"] > f["gwa_min"]]
    early = [f for f in rows if f["gwa_epoch"] < f["gwa_min_epoch"]]
    out = [f"GWA dips in {len(dips)} of {n} 0%-split runs: it starts at "
           f"{_span([f['gwa_first'] for f in dips])} at epoch 1, falls to a minimum at "
           f"{_epochs([f['gwa_min_epoch'] for f in dips])} "
           f"({_span([f['gwa_min'] for f in dips])}) and ends at "
           f"{_span([f['gwa_last'] for f in dips])}." if dips else
           f"GWA dips in none of the {n} 0%-split runs."]
    if early:
        out.append(f"The plain GWA rule (maximum after the 10% warm-up) stops before that "
                   f"minimum in {len(early)} of {n} runs, at "
                   f"{_epochs([f['gwa_epoch'] for f in early])}, "
                   f"{_span([f['gwa_test'] - f['test_last'] for f in early], '{:+.2f}', ' to ')}"
                   f" points against the last epoch there.")
    else:
        out.append(f"The plain GWA rule stops before that minimum in none of the {n} runs.")
    ft_diff = [f["gwa_finetune_test"] - f["test_last"] for f in rows]
    out.append(f"The fine-tuning rule (`gwa_finetune`: the first local minimum of GWA, then "
               f"its maximum after it) stops at "
               f"{_epochs([f['gwa_finetune_epoch'] for f in rows])} of "
               f"{_span([f['epochs'] for f in rows], '{:d}')}, "
               f"{_span(ft_diff, '{:+.2f}', ' to ')} points against the last epoch.")
    return " ".join(out)


@generator("finetune-fmnist-pretrain")
def finetune_pretrain(root: Path, runs: str = "runs_format2") -> str:
    """The pretraining run's length and its test accuracy on classes 0-4 at its last epoch."""
    result = RunResult.load_verified(root / "results" / "finetune_fmnist" / runs /
                                     "stage-pretrain")
    if result is None:
        return NO_RUNS
    epochs, test = result.column("test_acc")
    return (f"The pretraining run (`{runs}/stage-pretrain`) trains {int(epochs[-1])} epochs and "
            f"ends at {100 * test[-1]:.1f}% test accuracy on classes 0-4; every fine-tuning "
            f"run starts from its last checkpoint.")


#: A fine-tuning-rule stop this many points or more below the last epoch is named a failure.
FINETUNE_FAIL_POINTS = 2.0


@generator("finetune-fmnist-limits")
def finetune_limits(root: Path, runs: str = "runs_format2") -> str:
    """Facts behind the testbed's limits: training accuracy at the end and the hindsight-best
    epoch (0%-split runs), and every run of any split where ``gwa_finetune`` ends
    :data:`FINETUNE_FAIL_POINTS` or more below the last epoch."""
    rows = finetune_facts(root, runs)
    if not rows:
        return NO_RUNS
    by_noise: dict[str, list[dict]] = {}
    for name, f in rows:
        by_noise.setdefault("17%" if "noise0.17" in name else "0%", []).append(f)
    train = "; ".join(f"{_span([f['train_last'] for f in fs], '{:.1f}')}% at {noise} noise"
                      for noise, fs in sorted(by_noise.items()))
    facts = [f for _, f in rows]
    out = [f"- Training accuracy at the last epoch of the 0%-split runs: {train}. The best test "
           f"epoch in hindsight is {_epochs([f['best_epoch'] for f in facts])} of "
           f"{_span([f['epochs'] for f in facts], '{:d}')}."]
    failed = [(name, f) for name, f in finetune_facts(root, runs, split=None)
              if f["gwa_finetune_test"] - f["test_last"] <= -FINETUNE_FAIL_POINTS]
    n_all = len(finetune_facts(root, runs, split=None))
    if not failed:
        out.append(f"- In none of the {n_all} fine-tuning runs (all splits) does `gwa_finetune` "
                   f"end {FINETUNE_FAIL_POINTS:.0f} points or more below the last epoch.")
    for name, f in failed:
        out.append(f"- `{name}`: `gwa_finetune` stops at epoch {f['gwa_finetune_epoch']} "
                   f"({f['gwa_finetune_test']:.2f}%; the plain rule: epoch {f['gwa_epoch']}), "
                   f"the last epoch has {f['test_last']:.2f}%: "
                   f"{f['gwa_finetune_test'] - f['test_last']:+.2f} points (one of the "
                   f"{n_all} fine-tuning runs, all splits).")
    return "\n".join(out)


# --- results/my_digits (the README's "Your own experiments") ---------------------------------


def _mean_of(cell: str) -> float:
    """``"91.50 ± 1.38"`` -> 91.5."""
    return float(cell.split("±")[0])


@generator("my-digits-facts")
def my_digits_facts(root: Path) -> str:
    """The example's findings from ``by_noise.csv`` and the ``inspect_epoch*.json`` files."""
    d = root / "results" / "my_digits"
    by = {(r["noise"], r["criterion"]): r for r in _csv_rows(d / "by_noise.csv")}
    noisy = [n for n, _ in by if n != "0"][0]
    g, last = by[(noisy, "gwa")], by[(noisy, "last")]
    g0, last0 = by[("0", "gwa")], by[("0", "last")]
    found = [json.loads(p.read_text()) for p in sorted(d.glob("inspect/*/inspect_epoch*.json"))]
    precision = " and ".join(f"{f['precision_at_k']:.3f}" for f in found)
    auroc = " and ".join(f"{f['auroc']:.3f}" for f in found)
    return (
        f"- `by_noise.md` ({g['runs']} runs per noise rate: observations, too few for a paired "
        f"test): with {float(noisy):.0%} noise the GWA stop (mean epoch {g['mean epoch']}) has "
        f"{_mean_of(g['test acc [%]']):.2f}% against {_mean_of(last['test acc [%]']):.2f}% at "
        f"the last epoch ({last['mean epoch']}), a regret of {_mean_of(g['regret [pp]']):.2f} "
        f"points against {_mean_of(last['regret [pp]']):.2f}; without noise GWA stops at mean "
        f"epoch {g0['mean epoch']} (regret {_mean_of(g0['regret [pp]']):.2f} points) while the "
        f"last epoch's regret is {_mean_of(last0['regret [pp]']):.2f} points.\n"
        f"- `inspect/*/inspect_epoch*.json`: at the GWA epoch (epochs "
        f"{', '.join(str(f['epoch']) for f in found)}) precision@{found[0]['k']} of the most "
        f"negatively aligned training samples is {precision} against a "
        f"{np.mean([f['noise_rate'] for f in found]):.0%} base rate; AUROC of -score over all "
        f"{found[0]['num_scored']} scored samples {auroc}.")
