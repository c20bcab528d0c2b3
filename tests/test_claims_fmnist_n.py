"""results/fmnist_n/README.md: every result number of its prose recomputed from the committed
files (the format-1 runs in ``runs/`` and ``runs_v1/``, the tables beside them, and the
other studies it quotes), and the generators of its ``fmnist-n-f1-*`` blocks
(:mod:`gwa_jax.experiments.writeups_fmnist_n`) on hand-made files.

The format-2 section's prose is checked in ``tests/test_claims.py``
(``test_fmnist_n_format2_prose``, ``test_fmnist_n_format1_prose_says_nothing_is_significant``).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gwa_jax.experiments import curve_facts
from gwa_jax.experiments import writeups_fmnist_n as wf
from gwa_jax.experiments.claims import paired_test
from gwa_jax.experiments.results import RunResult
from scripts_loader import load_script
from synthetic import write_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
FM = RESULTS / "fmnist_n"
NOISES = ("0", "0.09", "0.17", "0.4")
MODELS = ("vit", "convnext")
SEEDS = (0, 1, 2)
#: Table 1's rows: label -> (criterion, split of the runs that have it).
ROWS = {"Val Set (10%)": ("val", "0.1"), "Val Set (1%)": ("val", "0.01"),
        "LabelWave": ("labelwave", "0"), "GD": ("gd", "0"), "GWA": ("gwa", "0")}


def _text() -> str:
    return " ".join((FM / "README.md").read_text().split())


def _in_readme(*phrases: str) -> None:
    text = _text()
    missing = [p for p in phrases if p not in text]
    assert not missing, f"results/fmnist_n/README.md lacks {missing}"


def _run(model: str, noise: str, seed: int, split: str = "0", runs: str = "runs") -> RunResult:
    run = RunResult.load_verified(FM / runs / f"model-{model}_noise{noise}_split{split}_seed{seed}")
    assert run is not None
    return run


def _range(values, fmt: str = "{:.2f}", sep: str = "-") -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}{sep}{hi}"


@functools.cache
def _facts(model: str, noise: str) -> list[dict]:
    """Per seed of a 0%-split cell: :func:`curve_facts.facts` plus the undefined GWA epochs,
    the lowest excess kurtosis and every criterion's stop and accuracy [%]."""
    out = []
    for seed in SEEDS:
        run = _run(model, noise, seed)
        f = dict(curve_facts.facts(run))
        _, gwa = run.column("gwa")
        _, kurtosis = run.column("align_kurtosis")
        f["undefined"] = int(np.isnan(gwa).sum())
        f["min_kurtosis"] = float(np.nanmin(kurtosis))
        for crit in ("labelwave", "gd", "last"):
            f[f"{crit}_stop"] = run.selected_epoch(crit)
            f[f"{crit}_acc"] = 100 * run.value(crit)
        out.append(f)
    return out


@functools.cache
def _cell(row: str, model: str, noise: str, runs: str = "runs") -> tuple[float, float]:
    """(mean, max - min) over the seeds of one Table 1 cell [%], from the runs; row ``last
    epoch`` too."""
    crit, split = ROWS.get(row, ("last", "0"))
    xs = [100 * _run(model, noise, s, split, runs).value(crit) for s in SEEDS]
    return float(np.mean(xs)), float(max(xs) - min(xs))


def _ranks(model: str, noise: str) -> list[str]:
    """Table 1's rows of a column, best mean first (means rounded as printed)."""
    return sorted(ROWS, key=lambda r: -round(_cell(r, model, noise)[0], 2))


def _place(model: str, noise: str) -> int:
    """GWA's place in a column as table1.md marks it: 1 + the distinct printed means above."""
    means = {r: round(_cell(r, model, noise)[0], 2) for r in ROWS}
    return 1 + len({v for v in means.values() if v > means["GWA"]})


def _is_last(model: str, noise: str) -> bool:
    return all(_cell("GWA", model, noise)[0] < _cell(r, model, noise)[0] for r in ROWS
               if r != "GWA")


# --- the committed tables are those of the committed runs ---------------------------------------


def _without_fewer_marks(text: str) -> str:
    """A table of runs planned for 6 seeds (the plan grew for format 2) as it printed when 3
    were planned: no ``*`` marks, no note for them, no command line."""
    lines = [re.sub(r"\)\*", ")", line) for line in text.splitlines()
             if not line.startswith(("* fewer", "`python scripts/"))]
    return "\n".join(line.rstrip() for line in lines)


def test_committed_tables_regenerate_from_the_committed_runs(tmp_path):
    """table1.md, runs_overview.md, fig3_correlation.md and online_offline.md from ``runs/``,
    table1_v1.md from ``runs_v1/``, table1_changes.md from the two CSVs: what the README's
    quoted tables (checked against these files by test_claims.py) rest on."""
    from gwa_jax.experiments.reports import make_table

    command = "python scripts/make_tables.py fmnist_n fmnist_n_asym"
    make_table("fmnist_n", FM / "runs", tmp_path / "new", command=command)
    make_table("fmnist_n", FM / "runs_v1", tmp_path / "v1", command=command)
    new, v1 = tmp_path / "new" / "fmnist_n", tmp_path / "v1" / "fmnist_n"
    for name in ("runs_overview.md", "fig3_correlation.md", "online_offline.md"):
        assert (new / name).read_text() == (FM / name).read_text(), name
    for fresh, committed in ((new / "table1.md", FM / "table1.md"),
                             (v1 / "table1.md", FM / "table1_v1.md")):
        assert _without_fewer_marks(fresh.read_text()) == _without_fewer_marks(
            committed.read_text()), committed.name
    for fresh, committed in ((new / "table1.csv", FM / "table1.csv"),
                             (v1 / "table1.csv", FM / "table1_v1.csv")):
        assert wf._cells(fresh) == pytest.approx(wf._cells(committed), abs=1e-3)
    load_script("compare_tables").main([str(FM / "table1_v1.csv"), str(FM / "table1.csv"),
                                        "--out", str(tmp_path / "changes.md")])
    body = [line for line in (tmp_path / "changes.md").read_text().splitlines()
            if not line.startswith("`python")]
    assert body == [line for line in (FM / "table1_changes.md").read_text().splitlines()
                    if not line.startswith("`python")]


# --- settings and counts ----------------------------------------------------------------------


def test_format1_run_counts_epochs_and_the_studies_it_points_to():
    for model in MODELS:  # "# 37 runs, 0 failed": 36 table runs + one offline-estimator run
        names = sorted(p.name for p in (FM / "runs").glob(f"model-{model}_*"))
        assert len(names) == 37 and sum(n.endswith("_offline1") for n in names) == 1
        assert all(RunResult.load_verified(FM / "runs" / n) is not None for n in names)
    _in_readme("--only model=convnext # 37 runs, 0 failed", "--only model=vit # 37 runs, 0 failed")
    for model, steps, epochs in (("convnext", 600, 19), ("vit", 1000, 32)):
        run = _run(model, "0", 0)
        per_epoch = run.config["dataset"]["train_subset"] // run.config["batch_size"]
        assert per_epoch == 31 and run.config["total_steps"] == steps
        assert run.summary["num_epochs"] == epochs == steps // per_epoch
    _in_readme("(600 for the ConvNeXt, 1000 for the ViT) are rounded down to whole epochs: 19 "
               "and 32 epochs of the 0% split", "with 31 steps per epoch at learning rate 2e-3")
    # Every run of the plan is rerun under format 2.
    from gwa_jax.experiments.plan import expand

    names = sorted(p.name for p in (FM / "runs_format2").iterdir() if p.is_dir())
    assert names == sorted(r.name for r in expand("fmnist_n")) and len(names) == 98
    _in_readme("All of them are rerun under format 2 (next section, `runs_format2/`); the sections "
               "after it still describe the format-1 runs.")
    # ../bench (one seed: one run per configuration) and ../regime (clean 60,000: 2-3 seeds).
    bench = json.loads((RESULTS / "bench" / "gpu" / "offline_full_size.json").read_text())
    configs = [r["config"] for r in bench["runs"] if "fmnist_n.py" in r["config"]]
    assert configs and len(configs) == len(set(configs))
    assert all("seed" not in c for c in configs)
    seeds = [len(_gpu(model, 60000)) for model in MODELS]
    assert sorted(seeds) == [2, 3]
    _in_readme("`../bench/README.md` (one seed) and `../regime/README.md` (clean, 2-3 seeds)")


# --- Table 1's paragraph ------------------------------------------------------------------------


def test_table1_paragraph():
    place = {(m, n): _place(m, n) for m in MODELS for n in NOISES}
    assert [k for k, v in place.items() if v == 1] == [("vit", "0.17")]
    assert sorted(k for k, v in place.items() if v == 2) == [
        ("convnext", "0"), ("convnext", "0.4"), ("vit", "0.4")]
    assert sorted(k for k in place if _is_last(*k)) == [("convnext", "0.09"), ("vit", "0.09")]
    # ConvNeXt 0%: 0.01 behind the tie of LabelWave, GD and the last epoch.
    tie = {round(_cell(r, "convnext", "0")[0], 2) for r in ("LabelWave", "GD", "last epoch")}
    (top,) = tie
    assert f"{top - round(_cell('GWA', 'convnext', '0')[0], 2):.2f}" == "0.01"
    _in_readme("In short (ranks of the means over 3 seeds: observations): **GWA is best in one "
               "column (ViT 17%), second in three (ViT 40%, ConvNeXt 0% and 40%; at ConvNeXt 0% "
               "0.01 behind the tie of LabelWave, GD and the last epoch) and last in two (ViT 9%, "
               "ConvNeXt 9%).**")
    # Against LabelWave, GD and the last epoch at ViT 17% and 40%.
    gwa = [_cell("GWA", "vit", n)[0] for n in ("0.17", "0.4")]
    best_other = [max(_cell(r, "vit", n)[0] for r in ("LabelWave", "GD", "last epoch"))
                  for n in ("0.17", "0.4")]
    assert all(g > o for g, o in zip(gwa, best_other, strict=True))
    lw, g40 = _cell("LabelWave", "convnext", "0.4")[0], _cell("GWA", "convnext", "0.4")[0]
    assert lw > g40
    before = [f["gwa_epoch"] < f["best_epoch"] for m in MODELS for f in _facts(m, "0.09")]
    assert before == [True] * 6
    _in_readme(f"(ViT 17% and 40%: {gwa[0]:.2f} and {gwa[1]:.2f} against at most "
               f"{best_other[0]:.2f} and {best_other[1]:.2f}), behind LabelWave at ConvNeXt 40% "
               f"({g40:.2f} vs {lw:.2f}), and stops too early at 9% noise for both models "
               f"(before the best epoch in all 6 runs, `runs_overview.md`)")
    # The seed ranges.
    gwa_ranges = {(m, n): _cell("GWA", m, n)[1] for m in MODELS for n in NOISES}
    widest = max(gwa_ranges, key=gwa_ranges.get)
    assert widest == ("vit", "0.4")
    _in_readme(f"(up to {gwa_ranges[widest]:.2f} points for GWA, at ViT 40%; "
               f"{_cell('GD', 'vit', '0.4')[1]:.2f} and {_cell('LabelWave', 'vit', '0.4')[1]:.2f}"
               f" points for GD and LabelWave there)")
    # "with 3 seeds no per-cell test can be": the smallest two-sided p over 3 units.
    best = paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert best.sign_p == 0.25 and best.wilcoxon_p == 0.25


# --- what changed against the first protocol -----------------------------------------------------


def test_what_changed_paragraphs():
    # The first table's headline against this one's (ViT 0%: GWA vs Val Set (10%)).
    old = [_cell(r, "vit", "0", "runs_v1")[0] for r in ("GWA", "Val Set (10%)")]
    new = [_cell(r, "vit", "0")[0] for r in ("GWA", "Val Set (10%)")]
    assert f"{old[1] - old[0]:.0f}" == "3" and f"{new[1] - new[0]:.1f}" == "1.1"
    _in_readme(f"GWA 3 points below the 10% split without noise (ViT {old[0]:.2f} vs "
               f"{old[1]:.2f}), shrinks to 1.1 points ({new[0]:.2f} vs {new[1]:.2f}); both are "
               "differences of means over 3 seeds against 3, observations without a paired test")
    # The first protocol's runs: the last epoch scored 512 (ViT) or 704 (ConvNeXt) of the 1984
    # ids of a full epoch; LabelWave's count there is never above the epoch before's; GWA's
    # change into it is below its largest epoch-to-epoch change and GWA never selects it.
    v1 = [(m, _run(m, n, s, runs="runs_v1")) for m in MODELS for n in NOISES for s in SEEDS]
    assert len(v1) == 24
    for model, run in v1:
        rows = run.metrics
        assert rows[-1]["align_seen"] == {"vit": 512, "convnext": 704}[model]
        assert {r["align_seen"] for r in rows[:-1]} == {1984} == {31 * 64}
        assert rows[-1]["labelwave"] <= rows[-2]["labelwave"]
        _, gwa = run.column("gwa")
        jumps = np.abs(np.diff(gwa))
        assert jumps[-1] < np.nanmax(jumps[:-1])
        assert run.selected_epoch("gwa") < run.summary["num_epochs"] == rows[-1]["epoch"]
    _in_readme("The last epoch used to be partial (512 of 1984 ids in the ViT runs, 704 in the "
               "ConvNeXt runs): LabelWave's change count over fewer ids was biased low (in each "
               "of the 24 first-protocol 0%-split runs the partial epoch counts no more changed "
               "predictions than the epoch before it); GWA did not jump there (its change into "
               "that epoch is below its largest epoch-to-epoch change in every run, and it never "
               "selected that epoch).")
    # GD's stop against the first protocol's: the same epoch, or the last epoch in both.
    same = both_last = 0
    for model in MODELS:
        for noise in NOISES:
            for seed in SEEDS:
                a, b = (_run(model, noise, seed, runs=r) for r in ("runs_v1", "runs"))
                ends = [r.selected_epoch("gd") == r.summary["num_epochs"] for r in (a, b)]
                both_last += all(ends)
                same += all(ends) or a.selected_epoch("gd") == b.selected_epoch("gd")
    assert same == both_last
    _in_readme(f"so its values changed and its stop moved in {24 - same} of the 24 0%-split runs "
               f"(both protocols stop at the last epoch in the other {both_last})")
    # GD returns the last epoch in 14 of the 18 runs at 0-17% noise.
    low = [f for m in MODELS for n in NOISES[:3] for f in _facts(m, n)]
    assert len(low) == 18 and sum(f["gd_stop"] == f["last_stop"] for f in low) == 14
    _in_readme("it still mostly returns the last epoch (in 14 of the 18 runs, `runs_overview.md`)")
    # The seed ranges of table1.md.
    ranges = [round(_cell(r, m, n)[1], 2) for r in ROWS for m in MODELS for n in NOISES]
    assert len(ranges) == 40
    between = sum(1 <= r <= 4 for r in ranges)
    above = sum(r > 4 for r in ranges)
    _in_readme(f"(the seed range of `table1.md` lies between 1 and 4 points in {between} of the "
               f"40 cells and above 4 points in {above})")


def test_mislabel_auroc_and_fig3_prose():
    pairs = wf.auroc_pairs(ROOT)
    assert len(pairs) == 6 and all(len(g) == 3 for g, _ in pairs.values())
    assert all(a > b for g, last in pairs.values() for a, b in zip(g, last, strict=True))
    _in_readme("better at the epoch GWA selects than at the last epoch, in every seed of every "
               "noisy column:")
    # The committed means and ranges are those of the per-seed values, and mislabel_auroc.md
    # (whose rows the README quotes) prints them.
    table = (FM / "mislabel_auroc.md").read_text()
    for r in wf._csv_rows(FM / "mislabel_auroc.csv"):
        values = [float(v) for v in r["values"].split(";")]
        assert float(r["mean"]) == pytest.approx(np.mean(values), abs=1e-5)
        assert float(r["range"]) == pytest.approx(max(values) - min(values), abs=1e-5)
        assert f"{float(r['mean']):.3f} ({float(r['range']):.3f})" in table
    # Fig. 3: the pooled correlation.
    from gwa_jax.experiments import tables

    _, _, raw = tables.correlation_rows(wf.format1_results(ROOT))
    pooled = raw["all"]
    assert pooled["pearson"] < min(raw[m]["pearson"] for m in MODELS)
    assert pooled["spearman"] < min(raw[m]["spearman"] for m in MODELS)
    assert pooled["pearson_p"] < 0.05 <= pooled["spearman_p"]
    rho = {}
    for model in MODELS:
        pairs = [(float(v.removeprefix("noise")), r.max_align_mean)
                 for (m, v, _, _), r in wf.format1_results(ROOT).items() if m == model]
        rho[model] = stats.spearmanr(*zip(*pairs, strict=True)).statistic
    assert rho["convnext"] < -0.95 and -0.95 < rho["vit"] < 0  # "almost entirely", "less so"
    _in_readme("**Pooled over both models the correlation is much weaker** (the pooled Pearson r "
               "is still below p = 0.05, the pooled Spearman rho is not significant)",
               "(the ConvNeXt's almost entirely by noise level, the ViT's less so:")


# --- where GWA wins and where it loses ------------------------------------------------------------


def test_where_gwa_wins_bullet_noisy():
    v17, v40 = _facts("vit", "0.17"), _facts("vit", "0.4")
    assert {f["best_epoch"] for f in v17} == {15}
    assert all(f["gwa_epoch"] < 15 for f in v17)
    assert min(f["train_last"] for f in v17) > 100 * (1 - 0.17)
    val = [_cell(r, "vit", "0.17")[0] for r in ("Val Set (10%)", "Val Set (1%)")]
    gwa17 = _cell("GWA", "vit", "0.17")[0]
    assert gwa17 > max(val)
    assert _ranks("vit", "0.4")[:2] == ["Val Set (10%)", "GWA"] and _place("vit", "0.4") == 2
    assert [f["within_se"] for f in v40] == [1, 1, 1]
    _in_readme(
        "(means over 3 seeds: observations; no pooled row of the paired tests above is "
        "significant)",
        f"ViT 17%: GWA stops at epochs {_range([f['gwa_epoch'] for f in v17], '{:d}')} "
        f"({_range([f['gwa_test'] for f in v17])}%) before the best epoch 15, while the last "
        f"epoch has memorised (training accuracy "
        f"{_range([f['train_last'] for f in v17], '{:.1f}')}% at the last epoch, above the 83% "
        f"clean fraction; test {_range([f['test_last'] for f in v17])}%); GWA's mean "
        f"({gwa17:.2f}) is above both validation splits' ({val[0]:.2f} and {val[1]:.2f}).",
        f"ViT 40%: GWA stops at {_range([f['gwa_epoch'] for f in v40], '{:d}')} "
        f"({_range([f['gwa_test'] for f in v40])}%) against "
        f"{_range([f['test_last'] for f in v40])}% at the last epoch, second only to the 10% "
        "split; its maximum is clear (1 epoch within one standard error in all three runs).")
    # Undefined epochs and kurtosis at 40% noise only.
    beta = _run("vit", "0.4", 0).config["gwa"]["beta"]
    for model in MODELS:
        for noise in NOISES[:3]:
            assert all(f["undefined"] == 0 for f in _facts(model, noise))
    f40 = {m: _facts(m, "0.4") for m in MODELS}
    kurt = [f["min_kurtosis"] for fs in f40.values() for f in fs]
    assert max(kurt) < -beta
    c40 = f40["convnext"]
    lw, g = _cell("LabelWave", "convnext", "0.4")[0], _cell("GWA", "convnext", "0.4")[0]
    _in_readme(
        "**Undefined epochs at 40% noise** (and at no other noise rate).",
        f"its excess kurtosis falls to {max(kurt):.2f}..{min(kurt):.2f}, below -beta = -{beta}",
        "GWA is **undefined in " + ", ".join(str(f["undefined"]) for f in c40[:2])
        + f" and {c40[2]['undefined']} of {c40[0]['epochs']} ConvNeXt epochs and "
        + ", ".join(str(f["undefined"]) for f in f40["vit"][:2])
        + f" and {f40['vit'][2]['undefined']} of {f40['vit'][0]['epochs']} ViT epochs**",
        f"stop (epochs {_range([f['gwa_epoch'] for f in c40], '{:d}')}, {g:.2f} on average) is "
        f"{lw - g:.2f} behind LabelWave (an observation over 3 seeds), and "
        f"{_range([f['within_se'] for f in c40], '{:d}')} epochs lie within one standard error")


def test_where_gwa_wins_bullet_9_percent_and_clean():
    c9, v9 = _facts("convnext", "0.09"), _facts("vit", "0.09")
    c17 = _facts("convnext", "0.17")
    assert all(f["gwa_epoch"] < f["best_epoch"] for f in (*c9, *v9))
    assert _is_last("convnext", "0.09") and _is_last("vit", "0.09")
    assert _place("convnext", "0.17") == 3
    assert set(_ranks("convnext", "0.17")[:2]) == {"Val Set (10%)", "Val Set (1%)"}
    _in_readme(
        "ConvNeXt: GWA stops at epochs " + ", ".join(str(f["gwa_epoch"]) for f in c9[:2])
        + f" and {c9[2]['gwa_epoch']} ({_range([f['gwa_test'] for f in c9])}%) while the best "
        f"epochs are {_range([f['best_epoch'] for f in c9], '{:d}')} "
        f"({_range([f['test_best'] for f in c9])}%) and the last epoch gives "
        f"{_range([f['test_last'] for f in c9], '{:.1f}')}%; ViT: epochs "
        f"{_range([f['gwa_epoch'] for f in v9], '{:d}')} ({_range([f['gwa_test'] for f in v9])}%)"
        f" against best epochs {_range([f['best_epoch'] for f in v9], '{:d}')} and "
        f"{_range([f['test_last'] for f in v9], '{:.1f}')}% at the end.",
        "(its stop is before the best epoch in all 6 runs); GWA's mean is last in both columns.",
        f"ConvNeXt 17% is similar (GWA epochs {_range([f['gwa_epoch'] for f in c17], '{:d}')}, "
        f"best {_range([f['best_epoch'] for f in c17], '{:d}')}), third behind both splits.")
    v0, c0 = _facts("vit", "0"), _facts("convnext", "0")
    gap = [f["gwa_test"] - f["test_last"] for f in v0]
    assert all(d < 0 for d in gap)
    gd, val = _cell("GD", "vit", "0")[0], _cell("Val Set (10%)", "vit", "0")[0]
    assert abs(gd - val) <= 0.25 + 1e-9
    _in_readme(
        f"**Without noise it costs the ViT about a point** ({-np.mean(gap):.2f} points below the "
        f"last epoch on average, behind it in 3 of 3 seeds: an observation, 3 seeds are too few "
        f"for a test).",
        f"GWA stops at epochs {_range([f['gwa_epoch'] for f in v0], '{:d}')} "
        f"({_range([f['gwa_test'] for f in v0])}%) while accuracy still rises to "
        f"{_range([f['test_last'] for f in v0], '{:.1f}')}% at the end (best "
        f"{_range([f['test_best'] for f in v0])}% at epochs "
        f"{_range([f['best_epoch'] for f in v0], '{:d}')}); GD ({gd:.2f}) is within 0.25 points "
        f"of the 10% split ({val:.2f}).",
        f"ConvNeXt 0%: GWA ({_cell('GWA', 'convnext', '0')[0]:.2f}) is level with the last epoch "
        f"({_cell('last epoch', 'convnext', '0')[0]:.2f}), but "
        f"{_range([f['within_se'] for f in c0], '{:d}')} epochs lie within one standard error")
    # LabelWave and GD at 0-17% noise.
    low = [f for m in MODELS for n in NOISES[:3] for f in _facts(m, n)]
    lw = sum(f["labelwave_stop"] == f["last_stop"] for f in low)
    gd_last = sum(f["gd_stop"] == f["last_stop"] for f in low)
    ties = [n for n in NOISES if round(_cell("LabelWave", "convnext", n)[0], 2)
            == round(_cell("GD", "convnext", n)[0], 2)]
    assert ties == ["0", "0.09"]
    assert lw == gd_last
    _in_readme(f"(each of them in {lw} of the {len(low)} runs: their triggers "
               "rarely fire in 19-32 epochs), which is why they tie at two ConvNeXt cells (0% and "
               "9%).")


@functools.cache
def _gpu_items() -> dict:
    from gwa_jax.experiments.writeups_regime import gpu_plain_items

    return gpu_plain_items(ROOT)


def _gpu(model: str, pool: int, noise: float = 0.0) -> list:
    return [it for k, it in sorted(_gpu_items().items())
            if k[:2] == (model, pool) and k[3] == noise]


def test_the_regime_numbers_it_quotes():
    from gwa_jax.experiments.writeups_regime import run_facts

    pools = (2000, 8000, 60000)
    vit = [float(np.mean([it.regret("gwa") for it in _gpu("vit", p)])) for p in pools]
    assert [len(_gpu("vit", p)) for p in pools] == [3, 3, 3]
    assert [len(_gpu("convnext", p)) for p in pools] == [3, 3, 2]
    clean = [it for p in pools for it in _gpu("convnext", p)]
    at_last = sum(it.stops["gwa"] == it.epochs for it in clean)
    facts = run_facts(ROOT)
    paper = {pool: [facts[("convnext", pool, "paper", 0.0, s)][0].regret("gwa") for s in SEEDS]
             for pool in (2000, 8000)}
    t = paired_test(paper[8000], paper[2000])
    assert (t.ahead, t.level, t.behind) == (3, 0, 0) and not t.significant
    _in_readme(
        "(GPU loop; 3 seeds, the ConvNeXt at 60,000 2): the ViT's clean-data regret falls from "
        f"{vit[0]:.2f} to {vit[1]:.2f} and {vit[2]:.2f} points in the means",
        f"the ConvNeXt's GWA selects the last epoch in {at_last} of its {len(clean)} clean runs",
        f"the ConvNeXt's grows from {np.mean(paper[2000]):.2f} (2k) to "
        f"{np.mean(paper[8000]):.2f} points (8k, 3 seeds; larger at 8k in 3 of 3 seeds, sign p = "
        f"{t.sign_p:.2g}: not significant).")


def test_online_offline_prose():
    with open(FM / "online_offline.csv", newline="") as f:
        rows = {r["Model"]: r for r in csv.DictReader(f)}
    from gwa_jax.experiments import tables
    from gwa_jax.experiments.results import correlation

    offline = {m: RunResult.load_verified(FM / "runs" / f"model-{m}_noise0_split0_seed0_offline1")
               for m in MODELS}
    fresh = {r[0]: r for r in tables.online_offline_rows(list(offline.items()))[1]}
    assert {m: r[3:] for m, r in fresh.items()} == {
        m: [r["Pearson GWA"], r["Pearson mean alignment"], r["offline kurtosis + beta"]]
        for m, r in rows.items()}
    for run in offline.values():  # "r = 0.99" for both models, unrounded
        on, off = (run.column(k)[1] for k in ("align_mean", "align_mean_offline"))
        assert f"{correlation(on, off)['pearson']:.2f}" == "0.99"
    vit, cnx = rows["ViT"], rows["ConvNeXt"]
    _in_readme(
        "tracks the offline one for both models (r = 0.99)",
        f"GWA itself agrees for the ViT ({float(vit['Pearson GWA']):.2f}) but only at r = "
        f"{float(cnx['Pearson GWA']):.2f} for the ConvNeXt",
        "offline denominator stays small ("
        + cnx["offline kurtosis + beta"].replace(" to ", "-") + ")")


# --- the generators on hand-made files ----------------------------------------------------------


def _table_csv(path: Path, cells: dict[tuple[str, str, str], float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["row", "model", "column_group", "column", "mean"])
        w.writeheader()
        for (row, model, column), mean in cells.items():
            w.writerow({"row": row, "model": model, "column_group": "F-MNIST", "column": column,
                        "mean": "" if mean is None else mean})


def test_moved_and_largest_moves_on_hand_made_tables(tmp_path):
    folder = tmp_path / "results" / "fmnist_n"
    old = {("GWA", "vit", "0%"): 70.0, ("GWA", "vit", "9%"): 70.0, ("GD", "convnext", "40%"): 60.0,
           ("GD", "vit", "0%"): 50.0, ("LabelWave", "vit", "0%"): 40.0,
           ("LabelWave", "vit", "9%"): 30.0}
    new = {("GWA", "vit", "0%"): 70.4, ("GWA", "vit", "9%"): 72.5, ("GD", "convnext", "40%"): 56.0,
           ("GD", "vit", "0%"): 50.6, ("LabelWave", "vit", "0%"): None,
           ("Val Set (1%)", "vit", "0%"): 10.0}
    _table_csv(folder / "table1_v1.csv", old)
    _table_csv(folder / "table1.csv", new)
    # In both: GWA 0% (+0.4), GWA 9% (+2.5), GD conv 40% (-4.0), GD vit 0% (+0.6).
    assert wf.moved_cells(tmp_path) == ("3 of the 4 cells moved by more than 0.5 points (all 4 "
                                        "in `table1_changes.md`):")
    assert wf.largest_moves(tmp_path) == (
        "The largest moves (2 cells of 4 by 2.5 points or more): ConvNeXt 40% GD -4.00, "
        "ViT 9% GWA +2.50.")
    _table_csv(folder / "table1.csv", {("GWA", "vit", "0%"): 71.0})
    assert wf.largest_moves(tmp_path) == "No cell moved by 2.5 points or more."


def test_auroc_paired_on_a_hand_made_csv(tmp_path):
    path = tmp_path / "results" / "fmnist_n" / "mislabel_auroc.csv"
    path.parent.mkdir(parents=True)
    rows = [("vit", "noise0.09", "gwa", "0.9;0.8;0.7"), ("vit", "noise0.09", "last", "0.8;0.9;0.6"),
            ("convnext", "noise0.4", "gwa", "0.95;0.9;0.85"),
            ("convnext", "noise0.4", "last", "0.9;0.9;0.8")]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["model", "variant", "criterion", "values"])
        w.writeheader()
        for model, variant, crit, values in rows:
            w.writerow({"model": model, "variant": variant, "criterion": crit, "values": values})
    assert wf.auroc_pairs(tmp_path) == {("vit", "noise0.09"): ([0.9, 0.8, 0.7], [0.8, 0.9, 0.6]),
                                        ("convnext", "noise0.4"): ([0.95, 0.9, 0.85],
                                                                   [0.9, 0.9, 0.8])}
    text = wf.auroc_paired(tmp_path)
    lines = text.splitlines()
    assert "the cells have 3 seeds" in lines[0]
    # ViT: +0.1, -0.1, +0.1 -> mean +0.033, 2/0/1; ConvNeXt: +0.05, 0, +0.05 -> 2/1/0;
    # both: 4/1/1.
    vit = paired_test([0.9, 0.8, 0.7], [0.8, 0.9, 0.6])
    both = paired_test([0.9, 0.8, 0.7, 0.95, 0.9, 0.85], [0.8, 0.9, 0.6, 0.9, 0.9, 0.8])
    assert (both.ahead, both.level, both.behind) == (4, 1, 1)
    assert f"| ViT: (noise, seed) | 3 | +0.033 | 2/0/1 | {vit.sign_p:.2g} |" in text
    assert "| ConvNeXt: (noise, seed) | 3 | +0.033 | 2/1/0 | 0.5 | 0.5 | not significant |" in text
    assert f"| both models: (model, noise, seed) | 6 | +0.033 | 4/1/1 | {both.sign_p:.2g} |" in text
    bad = path.read_text().replace("0.8;0.9;0.6", "0.8;0.9")
    path.write_text(bad)
    with pytest.raises(ValueError, match="unpaired seeds"):
        wf.auroc_pairs(tmp_path)


def test_fig3_correlations_on_hand_made_runs(tmp_path):
    runs = tmp_path / "results" / "fmnist_n" / "runs"
    align = {"vit": (0.30, 0.25, 0.22, 0.10), "convnext": (0.50, 0.45, 0.35, 0.30)}
    acc = {"vit": (0.77, 0.74, 0.70, 0.60), "convnext": (0.82, 0.78, 0.79, 0.70)}
    for model in MODELS:
        for i, noise in enumerate(NOISES):
            write_run(runs / f"model-{model}_noise{noise}_split0_seed0",
                      selected={"last": {"epoch": 3, "test_acc": acc[model][i]}},
                      max_align_mean=align[model][i])
    text = wf.fig3_correlations(tmp_path)
    x = [*align["vit"], *align["convnext"]]
    y = [100 * a for a in (*acc["vit"], *acc["convnext"])]
    pooled = stats.pearsonr(x, y)
    spear = stats.spearmanr(x, y)
    assert (f"pooled over both models (8 runs) Pearson r = {pooled.statistic:.3f} (p = "
            f"{pooled.pvalue:.2g}), Spearman {spear.statistic:.3f} (p = {spear.pvalue:.2g})"
            ) in text
    vit = stats.pearsonr(align["vit"], [100 * a for a in acc["vit"]])
    assert f"ViT (4 runs) Pearson r = {vit.statistic:.3f} (p = {vit.pvalue:.2g})" in text
    # Max mean alignment falls with the noise rate in both models: rank correlation -1.
    assert text.endswith("same runs: ViT -1.000 (p = 0), ConvNeXt -1.000 (p = 0).")
    assert wf.fig3_correlations(tmp_path / "empty") == "No run of this kind is committed yet."
