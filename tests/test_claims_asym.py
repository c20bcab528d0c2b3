"""results/fmnist_n_asym/README.md: every number of its prose recomputed from the committed
format-2 runs (``results/fmnist_n_asym/runs_format2``, each with its ``scores.npz``), the
tables beside them and the symmetric-noise study it quotes, and the generators of its blocks
(:mod:`gwa_jax.experiments.writeups_asym`, :mod:`gwa_jax.experiments.writeups_offline`)
checked on hand-made runs and tables.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gwa_jax.experiments.claims import fmt_p, paired_test
from gwa_jax.experiments.curve_facts import facts
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult, auroc, mislabel_auroc
from gwa_jax.experiments.writeups import _pairs_over, study_values
from gwa_jax.experiments.writeups_asym import FLIPPED, STUDY
from gwa_jax.experiments.writeups_offline import (
    NO_RUNS,
    RUNS,
    changes_text,
    correlation_table,
    correlations,
    moved_cells,
    score_groups,
    score_groups_table,
    stop_cells,
    stop_facts,
    stops_table,
    study_runs,
)
from scripts_loader import load_script
from synthetic import write_run

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "results" / "fmnist_n_asym"
COLUMNS = [("vit", "asym0.2"), ("vit", "asym0.4"), ("convnext", "asym0.2"),
           ("convnext", "asym0.4")]


def prose() -> str:
    """The write-up with generated blocks removed and whitespace collapsed."""
    text = re.sub(r"<!-- begin generated: (\S+) -->.*?<!-- end generated: \1 -->", "",
                  (FOLDER / "README.md").read_text(), flags=re.S)
    return " ".join(text.split())


def span(values, fmt: str, sep: str = "-") -> str:
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}{sep}{hi}"


@pytest.fixture(scope="module")
def runs() -> dict:
    return study_runs(ROOT, STUDY, None)


@pytest.fixture(scope="module")
def values() -> dict:
    return study_values(ROOT, "fmnist_n_asym", runs=RUNS)


def zero_split(runs: dict, model: str | None = None, variant: str | None = None
               ) -> list[RunResult]:
    return [r for k, r in sorted(runs.items()) if k[2] == 0.0 and model in (None, k[0])
            and variant in (None, k[1])]


def pooled(values: dict, model: str | None, key: str, variant: str | None = None):
    return paired_test(*_pairs_over(values, model, variant, key))


# --- the runs, the commands and the committed tables ------------------------------------------


def test_the_48_runs_are_the_plan_in_format_2(runs):
    """"# 48 runs: 2 models x 20/40% x (0% split: seeds 0-5; 10% and 1% splits: seeds 0-2)";
    every run has its scores; the format-1 runs are gone; no Fig. 6."""
    planned = [r for r in expand("fmnist_n_asym") if r.role == "table"]
    names = sorted(p.name for p in (FOLDER / RUNS).iterdir())
    assert names == sorted(r.name for r in planned) and len(names) == 48
    assert {(r.split, r.seed) for r in planned} == {
        *((0.0, s) for s in range(6)), *((sp, s) for sp in (0.1, 0.01) for s in range(3))}
    assert len(runs) == 48 and all(r.format_version == 2 for r in runs.values())
    assert all((FOLDER / RUNS / n / "scores.npz").is_file() for n in names)
    assert not (FOLDER / "runs").exists() and not (FOLDER / "runs_v1").exists()
    text = prose()
    assert "# 48 runs: 2 models x 20/40% x (0% split: seeds 0-5; 10% and 1% splits: seeds 0-2)" \
        in text
    assert all(not dict(r.args).get("offline") for r in planned)
    assert not list(FOLDER.glob("fig6_*")) and "No Fig. 6" in text


def test_setting_matches_the_code():
    """The class-dependent map the write-up spells out, and the seeds."""
    from gwa_jax.data.noise import ASYMMETRIC_MAPS
    from gwa_jax.experiments.plan import OFFLINE_SEEDS, OFFLINE_VAL_SEEDS

    # T-shirt <-> shirt, pullover <-> coat, sneaker <-> ankle boot; dress -> coat/shirt,
    # sandal -> sneaker (Fashion-MNIST classes 0-9); trouser (1) and bag (8) never flipped.
    assert ASYMMETRIC_MAPS["fashion_mnist"] == {0: (6,), 6: (0,), 2: (4,), 4: (2,), 7: (9,),
                                                9: (7,), 3: (4, 6), 5: (7,)}
    assert sorted(FLIPPED) == [0, 2, 3, 4, 5, 6, 7, 9]
    assert OFFLINE_SEEDS == (0, 1, 2, 3, 4, 5) and OFFLINE_VAL_SEEDS == (0, 1, 2)
    text = prose()
    assert "(T-shirt <-> shirt, pullover <-> coat, sneaker <-> ankle boot; dress -> coat/shirt, " \
           "sandal -> sneaker)" in text and "seeds 0-5" in text and "seeds 0-2" in text
    assert "the classes the map can relabel, 0 and 2-7 and 9" in text
    assert "the two classes the map never flips (trouser and bag)" in text


def test_committed_tables_regenerate_from_the_runs(tmp_path):
    """table1.md (quoted in the write-up), runs_overview.md, mislabel_auroc.md,
    fig3_correlation.md, curve_facts.md and table1_changes.md are what the commands of the
    write-up write from the committed runs."""
    root = str(FOLDER / RUNS)
    assert load_script("make_tables").main(
        ["fmnist_n_asym", "--root", root, "--out", str(tmp_path), "--no-paper"]) == 0

    def body(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if not ln.startswith("`python ")]

    for name in ("table1.md", "runs_overview.md", "fig3_correlation.md", "mislabel_auroc.md"):
        fresh = (tmp_path / "fmnist_n_asym" / name).read_text()
        assert body(fresh) == body((FOLDER / name).read_text()), name
    table = [ln for ln in (FOLDER / "table1.md").read_text().splitlines() if ln.startswith("|")]
    assert "\n".join(table) in (FOLDER / "README.md").read_text()
    out = tmp_path / "curve_facts.md"
    assert load_script("curve_facts").main([root, "--match", "split0_", "--out", str(out)]) == 0
    assert body(out.read_text()) == body((FOLDER / "curve_facts.md").read_text())
    out = tmp_path / "changes.md"
    assert load_script("compare_tables").main(
        [str(FOLDER / "table1_format1.csv"), str(FOLDER / "table1.csv"), "--out", str(out)]) == 0
    assert body(out.read_text()) == body((FOLDER / "table1_changes.md").read_text())


# --- "What the 48 runs support" ---------------------------------------------------------------


def test_the_validation_split_prose(values, runs):
    text = prose()
    both, cx, vit = (pooled(values, m, "val") for m in (None, "convnext", "vit"))
    assert both.significant and (both.n, both.ahead, both.level, both.behind) == (12, 1, 0, 11)
    assert (f"GWA is behind it in 11 of 12 (model, noise, seed) units ({both.mean_diff:.2f} "
            f"points; sign p = {fmt_p(both.sign_p)}, Wilcoxon p = {fmt_p(both.wilcoxon_p)})") \
        in text
    assert cx.significant and (cx.n, cx.behind, fmt_p(cx.sign_p)) == (6, 6, "0.031")
    assert not vit.significant and (vit.ahead, vit.level, vit.behind) == (1, 0, 5)
    assert f"(1/0/5, sign p = {fmt_p(vit.sign_p)})" in text
    assert "the ConvNeXt's 6 in all 6 (sign p = 0.031)" in text
    assert not any(pooled(values, m, "val@0.01").significant for m in (None, "vit", "convnext"))
    trained = {k[2]: len(r.meta()["ids"]) for k, r in runs.items()}  # by split
    assert trained[0.0] - trained[0.01] == 20  # the 1% split's validation ids
    assert trained[0.1] == 0.9 * trained[0.0]  # "though it trains on 10% fewer images"
    assert "The 10% validation split beats GWA**, though it trains on 10% fewer images" in text
    assert "The 1% split (20 validation images) does not differ significantly from GWA" in text


def test_the_no_held_out_data_prose(values, runs):
    text = prose()
    vit = {k: pooled(values, "vit", k) for k in ("last", "gd", "labelwave")}
    for k in ("last", "gd"):
        t = vit[k]
        assert t.significant and (t.ahead, t.level, t.behind) == (11, 1, 0)
    assert (f"(11/1/0, {vit['last'].mean_diff:+.2f} points, sign p = "
            f"{fmt_p(vit['last'].sign_p)}; GD returns the last epoch in every run)") in text
    assert all(r.selected_epoch("gd") == r.selected_epoch("last") for r in zero_split(runs))
    t = vit["labelwave"]
    assert t.significant and (t.ahead, t.level, t.behind) == (11, 0, 1)
    assert f"(11/0/1, {t.mean_diff:+.2f}, sign p = {fmt_p(t.sign_p)})" in text
    cells = {(m, v, k) for m, v in COLUMNS for k in ("last", "gd", "labelwave")
             if pooled(values, m, k, v).significant}
    assert cells == {("vit", "asym0.2", "last"), ("vit", "asym0.2", "gd"),
                     ("vit", "asym0.4", "labelwave")}
    assert all(pooled(values, m, k, v).ahead == 6 for m, v, k in cells)
    assert not any(pooled(values, "convnext", k).significant
                   for k in ("last", "gd", "labelwave", "val@0.01"))
    assert pooled(values, "convnext", "last").level == 7
    assert "GWA is level with the last epoch in 7 of its 12 units" in text
    both = {k: pooled(values, None, k) for k in ("last", "gd", "labelwave")}
    assert both["last"].significant and both["gd"].significant
    assert (both["last"].ahead, both["last"].level, both["last"].behind) == (14, 8, 2)
    assert f"(14/8/2, sign p = {fmt_p(both['last'].sign_p)})" in text
    assert not both["labelwave"].significant
    assert f"not significantly of LabelWave (sign p = {fmt_p(both['labelwave'].sign_p)})" in text


# --- where the criteria stop ------------------------------------------------------------------


def test_the_stops_prose(runs):
    text = prose()
    cx, vit = stop_facts(zero_split(runs, "convnext")), stop_facts(zero_split(runs, "vit"))
    allf = stop_facts(zero_split(runs))
    assert set(cx["epochs"]) == {18} and set(vit["epochs"]) == {31}
    assert min(cx["gwa_epoch"]) == 18 - 3  # "in the last four epochs of the ConvNeXt's 18"
    assert (f"at epochs {span(vit['gwa_epoch'], 'd')} of the ViT's 31, while the best test "
            f"epochs in hindsight are {span(cx['best_epoch'], 'd')} and "
            f"{span(vit['best_epoch'], 'd')}, so GWA's regret is "
            f"{span(allf['regret'], '.1f')} points") in text
    early = sum(lw < last for lw, last in zip(allf["labelwave_epoch"], allf["last_epoch"],
                                              strict=True))
    assert allf["gd_epoch"] == allf["last_epoch"] and len(allf["gd_epoch"]) == 24
    assert f"LabelWave stops before the last epoch in {early} of the 24" in text
    train = [facts(r)["train_last"] for r in zero_split(runs)]
    assert f"training accuracy at the last epoch is {span(train, '.1f')}%" in text
    for r in zero_split(runs):  # "above the share of correct training labels in every run"
        meta = r.meta()
        clean = 100 * (1 - meta["noise_mask"][meta["ids"]].mean())
        assert facts(r)["train_last"] > clean
        assert f"{clean:.0f}%" in text
    assert (f"lowest excess kurtosis {span(allf['min_kurtosis'], '+.2f', ' to ')}, above "
            "-beta = -1.2") in text and min(allf["min_kurtosis"]) > -1.2
    assert max(allf["undefined"]) == 0
    val = [r for k, r in runs.items() if k[2]]
    stops = [r.selected_epoch("val") for r in val]
    lasts = [r.selected_epoch("last") for r in val]
    assert f"the Val Set runs select epochs {span(stops, 'd')} of their {span(lasts, 'd')}" \
        in text


# --- mislabel detection -----------------------------------------------------------------------


def test_the_score_groups_prose(runs):
    text = prose()
    groups = [score_groups(r, r.selected_epoch("gwa"), FLIPPED) for r in zero_split(runs)]
    noisy = [g["noisy"] for g in groups]
    assert min(noisy) > 0
    assert f"every run ({span(noisy, '.3f', ' to ')})" in text
    clean = [g["clean_flipped"] for g in groups]
    assert all(g["clean_flipped"] > g["noisy"] for g in groups)
    assert f"the clean samples of the flipped classes ({span(clean, '.3f', ' to ')})" in text
    assert all(g["clean_kept"] > g["clean_flipped"] for g in groups)
    within = [g["auroc_flipped"] for g in groups]
    assert all(g["auroc_flipped"] < g["auroc"] for g in groups)
    assert f"within the flipped classes it is {span(within, '.3f')}" in text
    sym = []
    for r in expand("fmnist_n"):
        if r.role == "table" and r.split == 0.0 and dict(r.args)["noise"] > 0:
            run = RunResult.load_verified(ROOT / "results" / "fmnist_n" / RUNS / r.name)
            sym.append(score_groups(run, run.selected_epoch("gwa"))["noisy"])
    assert len(sym) == 36 and max(sym) < 0
    assert f"negative in every noisy run ({span(sym, '.3f', ' to ')}" in text
    gained = {(m, v) for m, v in COLUMNS if _auroc_test(runs, m, v).significant}
    assert gained == {("vit", "asym0.2")}
    t = _auroc_test(runs, "vit", "asym0.2")
    assert (t.ahead, fmt_p(t.sign_p)) == (6, "0.031")
    assert "Only at ViT 20% do the scores separate the mislabelled samples better at GWA's " \
           "epoch than at the last (6 of 6 seeds, sign p = 0.031)" in text


def _auroc_test(runs: dict, model: str, variant: str):
    rs = zero_split(runs, model, variant)
    return paired_test([mislabel_auroc(r, r.selected_epoch("gwa")) for r in rs],
                       [mislabel_auroc(r, r.selected_epoch("last")) for r in rs])


# --- correlation and figures ------------------------------------------------------------------


def test_correlation_prose(runs):
    text = prose()
    c = correlations(runs)
    cx, both = c["convnext", "all"], c["all", "all"]
    assert (cx["n"], c["vit", "all"]["n"], both["n"]) == (24, 24, 48)
    assert (f"Across the 24 ConvNeXt runs the alignment tracks final accuracy (Pearson "
            f"{cx['pearson']:.3f}, p = {fmt_p(cx['pearson_p'])})") in text
    within = [c[m, v] for m in ("vit", "convnext") for v in ("asym0.2", "asym0.4")]
    assert all(w["pearson"] < 0 for w in within)
    assert (f"negative for both models ({span([w['pearson'] for w in within], '.3f', ' to ')}, "
            f"p = {fmt_p(max(w['pearson_p'] for w in within))} or lower)") in text
    assert both["pearson_p"] > 0.05
    assert f"no correlation ({both['pearson']:.3f}, p = {fmt_p(both['pearson_p'])})" in text
    fig3 = (FOLDER / "fig3_correlation.md").read_text()
    assert f"| ConvNeXt | 24 | {cx['pearson']:.3f} |" in fig3

    def level(model, variant):
        rs = [r for k, r in runs.items() if k[:2] == (model, variant)]
        return [r.max_align_mean for r in rs], [r.value("last") for r in rs]

    (a20, y20), (a40, y40) = level("convnext", "asym0.2"), level("convnext", "asym0.4")
    assert max(a40) < min(a20) and max(y40) < min(y20)
    assert "the 40% runs both align less and end lower than the 20% runs" in text
    for variant in ("asym0.2", "asym0.4"):
        (av, _), (ac, _) = level("vit", variant), level("convnext", variant)
        assert min(av) > max(ac)
    assert ("at each noise rate every ViT run has a higher maximum mean alignment than every "
            "ConvNeXt run") in text


def test_fig2_prose(runs):
    """The ViT's Fig. 2 (40%, seed 0) and the second mode of its epoch-31 histogram."""
    text = prose()
    run, twin = runs[("vit", "asym0.4", 0.0, 0)], runs[("vit", "asym0.4", 0.1, 0)]
    epochs, gwa = run.column("gwa")
    assert int(epochs[np.nanargmax(gwa)]) == run.selected_epoch("gwa") == 31
    assert run.selected_epoch("last") == 31
    v_epochs, val = twin.column("val_acc")
    assert int(v_epochs[int(np.nanargmax(val))]) == twin.selected_epoch("val") == 20
    assert ("GWA rises to the last epoch (31) while the 10% split's validation accuracy peaks "
            "at epoch 20") in text
    meta = run.meta()
    ids = meta["ids"]
    high = run.scores(31)[ids] > 0.2
    kept = np.isin(meta["true_labels"][ids][high], [1, 8])
    assert not meta["noise_mask"][ids][high].any()
    assert (f"of its {int(high.sum())} ids above 0.2, all are clean and {kept.mean():.0%} are "
            "trousers or bags") in text


# --- what changed -----------------------------------------------------------------------------


def test_changes_prose():
    text = prose()
    n, moved = moved_cells(FOLDER / "table1_format1.csv", FOLDER / "table1.csv", 0.0)
    cx = [(row, col, x, y) for m, col, row, x, y in moved if m == "convnext"]
    assert len(cx) == 10 and sum(y < x for *_, x, y in cx) == 9
    assert "Every ConvNeXt cell but one fell" in text
    largest = max(moved, key=lambda c: abs(c[4] - c[3]))
    assert largest[:3] == ("vit", "40%", "Val Set (1%)")
    assert (f"the largest move is the ViT's 1% split at 40%, which rose from {largest[3]:.2f} "
            f"to {largest[4]:.2f}") in text
    table = [ln for ln in (FOLDER / "table1.md").read_text().splitlines()
             if ln.startswith("| Val Set (10%)")]
    assert len(table) == 1 and table[0].count("**") == 2 * 4  # best in all 4 columns
    assert "the 10% split is now best in every column" in text
    assert "git show 3d846f7:results/fmnist_n_asym/README.md" in text


# --- the generators on hand-made runs and tables ----------------------------------------------


def _curve_run(path: Path, test: list[float], gwa: list[float], kurt: list[float],
               stops: dict[str, int], align: float = 0.1) -> Path:
    rows = [{"epoch": e, "step": 10 * e, "test_acc": t, "train_acc": t, "gwa": g,
             "gwa_se": 0.05, "align_kurtosis": k, "align_mean": align, "labelwave": 5.0,
             "align_seen": 100, "epoch_time_s": 1.0}
            for e, (t, g, k) in enumerate(zip(test, gwa, kurt, strict=True), 1)]
    return write_run(path, metrics=rows, max_align_mean=align,
                     selected={c: {"epoch": e, "test_acc": test[e - 1]} for c, e in stops.items()})


def _name(model: str, variant: str, split: float, seed: int) -> str:
    return next(r.name for r in expand("fmnist_n_asym") if (r.model, r.variant, r.split, r.seed)
                == (model, variant, split, seed))


def test_stop_facts_and_the_stops_block_on_hand_made_runs(tmp_path):
    folder = tmp_path / "results" / "fmnist_n_asym" / RUNS
    nan = math.nan
    _curve_run(folder / _name("vit", "asym0.4", 0.0, 0), [0.5, 0.7, 0.65, 0.6],
               [nan, 0.1, 0.3, 0.28], [-1.5, 0.2, -0.3, 0.1],
               {"gwa": 3, "labelwave": 2, "gd": 4, "last": 4})
    _curve_run(folder / _name("vit", "asym0.4", 0.0, 1), [0.4, 0.5, 0.8, 0.7],
               [0.1, 0.2, 0.3, 0.4], [0.5, 0.4, 0.3, 0.2],
               {"gwa": 4, "labelwave": 4, "gd": 4, "last": 4})
    _curve_run(folder / _name("vit", "asym0.4", 0.1, 0), [0.5] * 4, [0.1] * 4, [0.0] * 4,
               {"val": 2})  # not a 0%-split run: not in the stops table
    found = study_runs(tmp_path, STUDY)
    assert list(found) == [("vit", "asym0.4", 0.0, 0), ("vit", "asym0.4", 0.0, 1)]
    f = stop_facts(list(found.values()))
    assert f["gwa_epoch"] == [3, 4] and f["labelwave_epoch"] == [2, 4]
    assert f["best_epoch"] == [2, 3] and np.allclose(f["best_acc"], [70, 80])
    assert np.allclose(f["regret"], [5, 10]) and f["within_se"] == [2, 1]
    assert f["min_kurtosis"] == [-1.5, 0.2] and f["undefined"] == [1, 0]
    assert stop_cells(f) == ["3-4 (65.00-70.00)", "2-4 (70.00)", "4 (60.00-70.00)",
                             "4 (60.00-70.00)", "2-3 (70.00-80.00)", "5.0-10.0", "1-2",
                             "-1.50 to +0.20", "0-1 of 4"]
    table = stops_table(tmp_path, STUDY)
    assert table.splitlines()[2] == "| ViT 40% | 2 | " + " | ".join(stop_cells(f)) + " |"
    assert stops_table(tmp_path / "nothing", STUDY) == "No run of this kind is committed yet."


def test_moved_cells_and_the_changes_block_on_hand_made_tables(tmp_path):
    folder = tmp_path / "results" / "fmnist_n_asym"
    folder.mkdir(parents=True)
    head = "row,model,column,mean\n"
    (folder / "table1_format1.csv").write_text(
        head + "GWA,vit,20%,60.0\nGD,vit,20%,60.0\nGWA,convnext,40%,50.0\nGD,convnext,40%,\n"
        "LabelWave,vit,20%,55.0\n")
    (folder / "table1.csv").write_text(
        head + "GD,vit,20%,60.5\nGWA,vit,20%,61.25\nGWA,convnext,40%,49.0\nGD,convnext,40%,48.0\n"
        "LabelWave,vit,20%,54.999\n")
    n, moved = moved_cells(folder / "table1_format1.csv", folder / "table1.csv")
    assert n == 4  # a cell with no mean in one table is not compared; 0.5 exactly is not moved
    assert moved == [("vit", "20%", "GWA", 60.0, 61.25), ("convnext", "40%", "GWA", 50.0, 49.0)]
    assert changes_text(tmp_path, STUDY) == (
        "Against the format-1 runs (`table1_changes.md`), 2 of 4 cells moved by more than 0.5 "
        "points: ViT 20%: GWA 60.00 -> 61.25; ConvNeXt 40%: GWA 50.00 -> 49.00.")


def test_correlations_and_the_correlation_block_on_hand_made_runs(tmp_path):
    folder = tmp_path / "results" / "fmnist_n_asym" / RUNS
    align = {"asym0.2": [0.10, 0.12, 0.11], "asym0.4": [0.05, 0.07, 0.04]}
    acc = {"asym0.2": [0.80, 0.78, 0.81], "asym0.4": [0.60, 0.65, 0.62]}
    for variant in align:
        for seed in range(3):
            a = acc[variant][seed]
            _curve_run(folder / _name("convnext", variant, 0.0, seed), [a], [0.1], [0.0],
                       {"last": 1}, align=align[variant][seed])
    c = correlations(study_runs(tmp_path, STUDY, None))
    assert set(c) == {("convnext", "all"), ("convnext", "asym0.2"), ("convnext", "asym0.4"),
                      ("all", "all"), ("all", "asym0.2"), ("all", "asym0.4")}
    xs = align["asym0.2"] + align["asym0.4"]
    ys = [100 * a for a in acc["asym0.2"] + acc["asym0.4"]]
    assert c["convnext", "all"]["pearson"] == pytest.approx(stats.pearsonr(xs, ys).statistic)
    r20 = stats.pearsonr(align["asym0.2"], acc["asym0.2"])
    assert c["convnext", "asym0.2"]["pearson"] == pytest.approx(r20.statistic)
    lines = correlation_table(tmp_path, STUDY).splitlines()
    assert lines[0] == "| model | all runs | 20% runs | 40% runs |"
    assert lines[2].startswith(f"| ConvNeXt | {c['convnext', 'all']['pearson']:+.3f} (p = ")
    assert lines[3].startswith("| both models |") and len(lines) == 4
    assert correlation_table(tmp_path / "nothing", STUDY) == "No run of this kind is committed yet."


def test_score_groups_and_its_block_on_a_hand_made_run(tmp_path):
    """Groups by hand: ids 0-5 trained (6 and 7 not), true classes 1 (never flipped) and 0 / 6
    (flipped); ids 3 and 5 mislabelled."""
    scores = np.array([0.30, 0.10, 0.05, -0.02, 0.00, 0.01, 9.0, 9.0], np.float32)
    meta = {"ids": np.arange(6), "true_labels": np.array([1, 0, 6, 0, 1, 6, 0, 0]),
            "noise_mask": np.array([0, 0, 0, 1, 0, 1, 0, 0], bool),
            "train_labels": np.array([1, 0, 6, 6, 1, 0, 0, 0]), "split": np.zeros(8, np.int8)}
    path = tmp_path / "results" / "fmnist_n_asym" / RUNS / _name("vit", "asym0.2", 0.0, 0)
    _curve_run(path, [0.5, 0.6], [0.1, 0.2], [0.0, 0.0], {"gwa": 2, "last": 2})
    write_run(path, selected={"gwa": {"epoch": 2, "test_acc": 0.6}, "last": {"epoch": 2,
              "test_acc": 0.6}}, metrics=[{"epoch": e, "step": 10 * e, "test_acc": 0.5,
                                          "gwa": 0.1, "align_mean": 0.1} for e in (1, 2)],
              scores={2: scores}, meta=meta)
    run = RunResult.load_verified(path)
    g = score_groups(run, 2, FLIPPED)
    noisy = meta["noise_mask"][:6]
    assert g["noisy_share"] == pytest.approx(2 / 6)
    assert g["auroc"] == pytest.approx(auroc(-scores[:6], noisy)) == pytest.approx(7 / 8)
    # Within the flipped classes (ids 1, 2, 3, 5): clean 0.10, 0.05 against noisy -0.02, 0.01.
    assert g["auroc_flipped"] == 1.0
    assert g["clean_kept"] == pytest.approx(0.15) and g["clean_flipped"] == pytest.approx(0.075)
    assert g["noisy"] == pytest.approx(-0.005)
    assert math.isnan(score_groups(run, 2, ())["clean_flipped"])  # an empty group
    with pytest.raises(ValueError, match="no scores at epoch 1"):
        score_groups(run, 1, FLIPPED)
    row = score_groups_table(tmp_path, STUDY, FLIPPED).splitlines()[2]
    assert row == "| ViT 20% | 1 | 33.3 | 0.875 | 1.000 | 0.150 | 0.075 | -0.005 |"
    assert score_groups_table(tmp_path / "nothing", STUDY, FLIPPED) == NO_RUNS
