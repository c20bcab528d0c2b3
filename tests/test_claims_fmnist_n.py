"""results/fmnist_n/README.md: every number of its prose recomputed from the committed
format-2 runs (``results/fmnist_n/runs_format2``, each with its ``scores.npz``) and the tables
beside them; the blocks' generators are :mod:`gwa_jax.experiments.writeups_offline`'s, checked
on hand-made runs in ``tests/test_claims_asym.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments.claims import fmt_p, paired_test
from gwa_jax.experiments.curve_facts import facts
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult, mislabel_auroc
from gwa_jax.experiments.writeups import _pairs_over, study_values
from gwa_jax.experiments.writeups_fmnist_n import STUDY
from gwa_jax.experiments.writeups_offline import (
    RUNS,
    correlations,
    moved_cells,
    score_groups,
    span,
    stop_facts,
    study_runs,
)
from scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "results" / STUDY
NOISES = ("noise0", "noise0.09", "noise0.17", "noise0.4")
COLUMNS = [(m, v) for m in ("vit", "convnext") for v in NOISES]


def prose() -> str:
    """The write-up with generated blocks removed and whitespace collapsed."""
    text = re.sub(r"<!-- begin generated: (\S+) -->.*?<!-- end generated: \1 -->", "",
                  (FOLDER / "README.md").read_text(), flags=re.S)
    return " ".join(text.split())


@pytest.fixture(scope="module")
def runs() -> dict:
    return study_runs(ROOT, STUDY, None)


@pytest.fixture(scope="module")
def values() -> dict:
    return study_values(ROOT, STUDY, runs=RUNS)


def zero_split(runs: dict, model: str | None = None, variants=NOISES) -> list[RunResult]:
    return [r for k, r in sorted(runs.items()) if k[2] == 0.0 and model in (None, k[0])
            and k[1] in variants]


def pooled(values: dict, model: str | None, key: str, variant: str | None = None):
    return paired_test(*_pairs_over(values, model, variant, key))


# --- the runs, the commands and the committed tables ------------------------------------------


def test_the_98_runs_are_the_plan_in_format_2(runs):
    """"# 98 runs: 2 models x 4 noise rates x (0% split: seeds 0-5; 10% and 1% splits: seeds
    0-2), + 2 offline-scored runs (Fig. 6)"; every run has its scores; no format-1 runs."""
    planned = expand(STUDY)
    names = sorted(p.name for p in (FOLDER / RUNS).iterdir())
    assert names == sorted(r.name for r in planned) and len(names) == 98
    table = [r for r in planned if r.role == "table"]
    assert {(r.split, r.seed) for r in table} == {
        *((0.0, s) for s in range(6)), *((sp, s) for sp in (0.1, 0.01) for s in range(3))}
    assert len(table) == 96 and len(runs) == 96
    assert all(r.format_version == 2 for r in runs.values())
    assert all((FOLDER / RUNS / n / "scores.npz").is_file() for n in names)
    assert not (FOLDER / "runs").exists() and not (FOLDER / "runs_v1").exists()
    assert ("# 98 runs: 2 models x 4 noise rates x (0% split: seeds 0-5; 10% and 1% splits: "
            "seeds 0-2), + 2 offline-scored runs (Fig. 6)") in prose()


def test_committed_tables_regenerate_from_the_runs(tmp_path):
    """table1.md (quoted in the write-up), runs_overview.md, mislabel_auroc.md,
    fig3_correlation.md, online_offline.md (quoted), curve_facts.md and table1_changes.md are
    what the write-up's commands write from the committed runs."""
    root = str(FOLDER / RUNS)
    assert load_script("make_tables").main(
        [STUDY, "--root", root, "--out", str(tmp_path), "--no-paper"]) == 0

    def body(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if not ln.startswith("`python ")]

    readme = (FOLDER / "README.md").read_text()
    for name in ("table1.md", "runs_overview.md", "fig3_correlation.md", "mislabel_auroc.md",
                 "online_offline.md"):
        fresh = (tmp_path / STUDY / name).read_text()
        assert body(fresh) == body((FOLDER / name).read_text()), name
    for name in ("table1.md", "online_offline.md"):
        table = [ln for ln in (FOLDER / name).read_text().splitlines() if ln.startswith("|")]
        assert "\n".join(table) in readme, name
    out = tmp_path / "curve_facts.md"
    assert load_script("curve_facts").main([root, "--match", "split0_seed", "--out",
                                            str(out)]) == 0
    assert body(out.read_text()) == body((FOLDER / "curve_facts.md").read_text())
    out = tmp_path / "changes.md"
    assert load_script("compare_tables").main(
        [str(FOLDER / "table1_format1.csv"), str(FOLDER / "table1.csv"), "--out", str(out)]) == 0
    assert body(out.read_text()) == body((FOLDER / "table1_changes.md").read_text())


def test_setting_matches_the_code():
    from gwa_jax.experiments.plan import OFFLINE_SEEDS, OFFLINE_VAL_SEEDS

    assert OFFLINE_SEEDS == tuple(range(6)) and OFFLINE_VAL_SEEDS == (0, 1, 2)
    text = prose()
    assert "18 and 31 epochs of the 0% split" in text
    assert "seeds 0-5" in text and "seeds 0-2" in text


# --- where the criteria stop ------------------------------------------------------------------


def test_the_stops_prose(runs):
    text = prose()
    zero = zero_split(runs)
    f = stop_facts(zero)
    last = f["last_epoch"]
    gd = sum(g == e for g, e in zip(f["gd_epoch"], last, strict=True))
    lw = sum(g == e for g, e in zip(f["labelwave_epoch"], last, strict=True))
    assert (f"GD stops at the last epoch in {gd} of the 48 0%-split runs, LabelWave in {lw}: in "
            f"{span(f['epochs'], 'd')} epochs") in text
    noisy = ("noise0.09", "noise0.17", "noise0.4")
    trains = []
    for v, share in zip(noisy, (91, 83, 60), strict=True):
        for m in ("vit", "convnext"):
            t = [facts(r)["train_last"] for r in zero_split(runs, m, (v,))]
            assert min(t) > share
            trains.append(span(t, ".1f"))
    assert (f"({trains[0]}% and {trains[1]}% at 9% noise, {trains[2]}% and {trains[3]}% at 17%, "
            f"{trains[4]}% and {trains[5]}% at 40%, ViT and ConvNeXt)") in text
    cx, vit = stop_facts(zero_split(runs, "convnext", noisy)), stop_facts(
        zero_split(runs, "vit", noisy))
    assert (f"With noise GWA stops the ConvNeXt at epochs {span(cx['gwa_epoch'], 'd')} of 18 and "
            f"the ViT at epochs {span(vit['gwa_epoch'], 'd')} of 31, next to the best epochs in "
            f"hindsight ({span(cx['best_epoch'], 'd')} and {span(vit['best_epoch'], 'd')}; "
            f"regret {span(cx['regret'] + vit['regret'], '.1f')} points)") in text
    f40 = {m: stop_facts(zero_split(runs, m, ("noise0.4",))) for m in ("vit", "convnext")}
    kurt = f40["vit"]["min_kurtosis"] + f40["convnext"]["min_kurtosis"]
    assert max(kurt) < -1.2  # every 40% run has epochs with GWA undefined
    assert (f"(lowest excess kurtosis {span(kurt, '.2f', ' to ')}, below -beta = -1.2), in "
            f"{span(f40['vit']['undefined'], 'd')} of the ViT's 31 epochs and "
            f"{span(f40['convnext']['undefined'], 'd')} of the ConvNeXt's 18") in text
    other = stop_facts(zero_split(runs, None, ("noise0", "noise0.09", "noise0.17")))
    assert max(other["undefined"]) == 0  # "and at no other noise rate"
    within = f40["vit"]["within_se"] + f40["convnext"]["within_se"]
    assert f"{span(within, 'd')} epochs lie within one bootstrap standard error" in text
    v0 = stop_facts(zero_split(runs, "vit", ("noise0",)))
    early = sum(g < b for g, b in zip(v0["gwa_epoch"], v0["best_epoch"], strict=True))
    last = [b - x for b, x in zip(v0["best_acc"], v0["last_acc"], strict=True)]
    assert (f"ViT 0%: GWA stops at epochs {span(v0['gwa_epoch'], 'd')}, before the best epoch "
            f"in {early} of 6 runs (its regret {span(v0['regret'], '.1f')} points, the last "
            f"epoch's {span(last, '.1f')}") in text
    c0 = stop_facts(zero_split(runs, "convnext", ("noise0",)))
    gap = max(b - x for b, x in zip(c0["best_acc"], c0["last_acc"], strict=True))
    assert gap < 0.4 and "the last epoch is within 0.4 points of the best in every run" in text


# --- mislabel detection, Fig. 6 -----------------------------------------------------------------


def test_the_mislabel_prose(runs):
    text = prose()
    noisy = ("noise0.09", "noise0.17", "noise0.4")
    for m in ("vit", "convnext"):
        for v in noisy:
            rs = zero_split(runs, m, (v,))
            t = paired_test([mislabel_auroc(r, r.selected_epoch("gwa")) for r in rs],
                            [mislabel_auroc(r, r.selected_epoch("last")) for r in rs])
            assert (t.n, t.ahead, fmt_p(t.sign_p)) == (6, 6, "0.031"), (m, v)
    assert ("In every noisy cell the scores separate the mislabelled samples better at GWA's "
            "epoch than at the last epoch, in 6 of 6 seeds (sign p = 0.031 per cell)") in text
    groups = [score_groups(r, r.selected_epoch("gwa")) for r in zero_split(runs, None, noisy)]
    bad = [g["noisy"] for g in groups]
    assert max(bad) < 0 < min(g["clean_flipped"] for g in groups)
    assert f"negative in every run ({span(bad, '.3f', ' to ')}), the clean samples' positive" \
        in text


def test_the_online_offline_prose(runs):
    text = prose()
    rows = {}
    for m in ("vit", "convnext"):
        twin = runs[(m, "noise0", 0.0, 0)]
        off = RunResult.load_verified(FOLDER / RUNS / f"model-{m}_noise0_split0_seed0_offline1")
        assert np.array_equal(off.column("test_acc")[1], twin.column("test_acc")[1])
        assert off.selected_epoch("gwa") == twin.selected_epoch("gwa")
        on, offline = off.column("gwa")[1], off.column("gwa_offline")[1]
        keep = np.isfinite(on) & np.isfinite(offline)
        rows[m] = np.corrcoef(on[keep], offline[keep])[0, 1]
    assert (f"GWA itself agrees less (ViT {rows['vit']:.3f}, ConvNeXt {rows['convnext']:.3f})"
            in text)
    table = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[4:7]]
             for ln in (FOLDER / "online_offline.md").read_text().splitlines()
             if ln.startswith(("| ViT", "| ConvNeXt"))}
    assert table["ViT"][0] == f"{rows['vit']:.3f}"
    assert table["ConvNeXt"][0] == f"{rows['convnext']:.3f}"
    assert (f"tracks the offline one for both models (ViT {table['ViT'][1]}, ConvNeXt "
            f"{table['ConvNeXt'][1]})") in text
    assert min(float(table[m][1]) for m in table) > float(table["ConvNeXt"][0])
    assert f"stays small ({table['ConvNeXt'][2]})" in text


# --- the paired tests, Fig. 3, the format-1 comparison ----------------------------------------


def test_what_the_runs_support(values, runs):
    """"What the 98 runs support": each statement recomputed from the paired tests."""
    from gwa_jax.experiments.writeups import AGAINST, column_label, missing_rows

    text = prose()
    assert len({k[:3] for k in values if k[3] == "gwa"}) == 48
    assert len({k[:3] for k in values if k[3].startswith("val")}) == 24
    assert not missing_rows(values, STUDY, AGAINST)
    vit = pooled(values, "vit", "val")
    assert vit.significant and (vit.n, vit.ahead, vit.level, vit.behind) == (12, 2, 0, 10)
    assert (f"GWA is behind the 10% split for the ViT ({vit.mean_diff:.2f} points, 2/0/10, sign "
            f"p = {fmt_p(vit.sign_p)}, Wilcoxon p = {fmt_p(vit.wilcoxon_p)})") in text
    cx, both = pooled(values, "convnext", "val"), pooled(values, None, "val")
    assert not cx.significant and (cx.ahead, cx.level, cx.behind) == (6, 0, 6)
    assert not both.significant and (both.ahead, both.level, both.behind) == (8, 0, 16)
    assert f"(6/0/6) or over both models (8/0/16, sign p = {fmt_p(both.sign_p)})" in text
    assert not any(pooled(values, m, "val@0.01").significant for m in ("vit", "convnext", None))
    assert "against the 1% split no row is significant" in text
    sig: dict = {}
    for _, crit, split in AGAINST:
        if split:
            continue
        for model in ("convnext", None):  # pooled over the ConvNeXt and over both models
            t = pooled(values, model, crit)
            assert t.significant and t.mean_diff > 0, (crit, model)
        assert not pooled(values, "vit", crit).significant
        for model, variant in {k[:2] for k in values}:
            t = pooled(values, model, crit, variant)
            if t.significant:
                sig.setdefault(column_label(model, variant), []).append(crit)
                assert t.mean_diff > 0
    assert set(sig) == {"ViT 40%", "ConvNeXt 17%", "ConvNeXt 40%"}
    assert "(ViT 40%, ConvNeXt 17% and 40%)" in text
    vit0 = pooled(values, "vit", "last", "noise0")
    assert vit0.mean_diff < 0 and not vit0.significant
    assert (f"GWA - last epoch {vit0.mean_diff:.2f} points, 0/1/5, sign p = "
            f"{fmt_p(vit0.sign_p)}: not significant") in text
    assert (vit0.ahead, vit0.level, vit0.behind) == (0, 1, 5)
    cx0 = pooled(values, "convnext", "last", "noise0")
    assert not cx0.significant and f"(GWA - last epoch {cx0.mean_diff:.2f}, not significant)" \
        in text


def test_the_correlation_prose(runs):
    text = prose()
    c = correlations(runs)
    vit, cx = c["vit", "all"], c["convnext", "all"]
    assert (vit["n"], cx["n"]) == (48, 48)
    assert (f"(Pearson {vit['pearson']:.3f} for the ViT, {cx['pearson']:.3f} for the ConvNeXt)"
            in text)

    def level(model, variants):
        rs = [r for k, r in runs.items() if k[0] == model and k[1] in variants]
        return [r.max_align_mean for r in rs], [100 * r.value("last") for r in rs]

    for m in ("vit", "convnext"):
        a40, y40 = level(m, ("noise0.4",))
        a, y = level(m, NOISES[:3])
        assert max(a40) < min(a) and max(y40) < min(y), m
    assert "the 40% runs align least and end lowest for both models" in text
    within = {(m, v): c[m, v] for m in ("vit", "convnext") for v in NOISES}
    assert not any(w["pearson"] > 0 and w["pearson_p"] < 0.05 for w in within.values())
    neg = {k: w for k, w in within.items() if w["pearson_p"] < 0.05}
    assert set(neg) == {("vit", "noise0.17"), ("vit", "noise0.4"), ("convnext", "noise0.4")}
    assert (f"ConvNeXt 40%: {span([w['pearson'] for w in neg.values()], '.3f', ' to ')}, "
            f"p = {fmt_p(max(w['pearson_p'] for w in neg.values()))} or lower)") in text
    for v in NOISES:
        (av, yv), (ac, yc) = level("vit", (v,)), level("convnext", (v,))
        assert min(av) > max(ac) and np.mean(yv) < np.mean(yc), v
    both = [c["all", v]["pearson"] for v in NOISES]
    assert max(both) < 0 and all(c["all", v]["pearson_p"] < 0.05 for v in NOISES)
    assert f"strongly negative ({span(both, '.3f', ' to ')})" in text
    fig3 = (FOLDER / "fig3_correlation.md").read_text()
    assert f"| ViT | 48 | {vit['pearson']:.3f} |" in fig3


def test_the_changes_prose(runs):
    def runs_zero(model):
        return runs[(model, "noise0", 0.0, 0)]

    import csv

    text = prose()
    n, moved = moved_cells(FOLDER / "table1_format1.csv", FOLDER / "table1.csv", 0.0)
    assert n == 40
    cx = [y - x for m, _c, _r, x, y in moved if m == "convnext"]
    vit = [y - x for m, _c, _r, x, y in moved if m == "vit"]
    assert len(cx) == 20 and max(cx) < 0 and len(vit) == 20
    assert (f"Every ConvNeXt cell fell (by {-max(cx):.2f} to {-min(cx):.2f} points" in text)
    assert f"the ViT's cells moved both ways ({sum(d > 0 for d in vit)} of 20 rose)" in text
    assert "`git show 214a3a0:results/fmnist_n/README.md`" in text
    # "19 and 32 epochs": each model's step budget over floor(2000 / 64) steps an epoch (format
    # 1), where format 2's ceil(2000 / 64) gives the epochs its runs trained
    epochs = {}
    for model in ("convnext", "vit"):
        name = f"model-{model}_noise0_split0_seed0"
        budget = json.loads((FOLDER / RUNS / name / "config.json").read_text())["total_steps"]
        assert budget // -(-2000 // 64) == stop_facts([runs_zero(model)])["last_epoch"][0]
        epochs[model] = budget // (2000 // 64)
    assert f"{epochs['convnext']} and {epochs['vit']} epochs" in text
    # "The format-1 runs supported no comparison": the per-seed values of table1_format1.csv,
    # paired by seed, pooled per model and over both models
    with open(FOLDER / "table1_format1.csv", newline="") as f:
        cells = {(r["row"], r["model"], r["column"]): [float(v) for v in r["values"].split(";")]
                 for r in csv.DictReader(f)}
    rows = {r for r, _m, _c in cells} - {"GWA"}
    assert len(rows) == 4 and all(len(v) == 3 for v in cells.values())
    for row in rows:
        for models in (("vit",), ("convnext",), ("vit", "convnext")):
            keys = [(m, c) for _r, m, c in cells if _r == "GWA" and m in models]
            a = [x for k in keys for x in cells["GWA", *k]]
            b = [x for k in keys for x in cells[row, *k]]
            assert len(a) == 12 * len(models) and not paired_test(a, b).significant, (row, models)
    assert "The format-1 runs supported no comparison (3 seeds, no significant paired" in text


def test_the_main_readme_summary_agrees_with_the_write_ups_table():
    """README.md's ``readme-fmnist-n`` sentences and the write-up's ``fmnist-n-f2-claims``
    table (a second code path) give each pooled row the same mean, counts and p-values."""
    from gwa_jax.experiments.writeups import readme_fmnist_n, study_claims

    table = study_claims(ROOT, STUDY, runs=RUNS)
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith(": both models"):
            rows[cells[0].removeprefix("GWA - ").removesuffix(": both models")] = cells[1:6]
    summary = readme_fmnist_n(ROOT).split("\n\n")[0].splitlines()
    assert len(rows) == len(summary) == 5
    for line, (label, (n, diff, counts, sign, wilcoxon)) in zip(summary, rows.items(),
                                                                 strict=True):
        assert (f": {diff} points on average, ahead/level/behind {counts} over {n} (model, "
                f"noise, seed) units, sign test p = {fmt_p(float(sign))}, Wilcoxon p = "
                f"{fmt_p(float(wilcoxon))}") in line, label
        assert label.removeprefix("last epoch") in line


def test_against_the_papers_table1_claims(values, runs):
    """"Against the paper's Table 1 claims": the paper's numbers recomputed from its Table 1
    as transcribed (:mod:`gwa_jax.experiments.paper_numbers`), ours are the paired tests'
    (pooled over both models unless a model is named)."""
    from gwa_jax.experiments.paper_numbers import TABLE1

    text = prose()
    gwa, val10, val1, lw = (TABLE1.row_index(r) for r in ("GWA", "Val Set (10%)",
                                                          "Val Set (1%)", "LabelWave"))

    def over(row, keep):
        return np.mean([TABLE1.cells[gwa][j].value - TABLE1.cells[row][j].value
                        for j, c in enumerate(TABLE1.columns) if keep(c)])

    cifar = over(val10, lambda c: c.group == "CIFAR-10")
    assert f"on average {cifar:.1f}% above the 10% validation split" in text
    assert f"and {over(lw, lambda c: c.group == 'CIFAR-10'):.2f}% above LabelWave" in text
    assert over(val1, lambda c: c.model == "vit") > 0  # "the paper's ViT beats even the 1% split"
    both = pooled(values, None, "val")
    assert (f"Pooled over both models GWA is {-both.mean_diff:.2f} points behind (8/0/16, sign "
            f"p = {fmt_p(both.sign_p)}: not significant)") in text and not both.significant
    vit = pooled(values, "vit", "val")
    assert vit.significant and f"significantly behind (2/0/10, sign p = {fmt_p(vit.sign_p)})" \
        in text
    lw = pooled(values, None, "labelwave")
    assert lw.significant and (f"(+{lw.mean_diff:.2f} points, {lw.ahead}/{lw.level}/{lw.behind},"
                               f" sign p = {fmt_p(lw.sign_p)}), carried by the ConvNeXt") in text
    assert pooled(values, "convnext", "labelwave").significant
    assert not pooled(values, "vit", "labelwave").significant
    gd = pooled(values, None, "gd")
    assert gd.significant and (f"(+{gd.mean_diff:.2f} points, {gd.ahead}/{gd.level}/"
                               f"{gd.behind}, sign p = {fmt_p(gd.sign_p)})") in text
    f = stop_facts(zero_split(runs))
    fired = sum(g != e for g, e in zip(f["gd_epoch"], f["last_epoch"], strict=True))
    assert f"it returns the last epoch in {48 - fired} of the 48 0%-split runs" in text
    for model in ("vit", "convnext"):
        assert not pooled(values, model, "last", "noise0").significant
    assert "on clean labels it is not significant for either model" in text
