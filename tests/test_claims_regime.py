"""results/regime/README.md, format-2 section: every number of its prose recomputed from the
committed format-2 runs (``results/regime/runs_format2``) and the format-1 table beside them;
the section's blocks are checked by ``tests/test_claims.py`` (regenerated and diffed, their
generators on hand-made runs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments import regime
from gwa_jax.experiments.claims import fmt_p, paired_test
from gwa_jax.experiments.results import RunResult
from gwa_jax.experiments.writeups_regime import (
    CALIBRATION,
    FORMAT1_RUNS_CSV,
    FORMAT2,
    _gpu_plain_accs,
    format1_cells,
    gpu_plain_items,
    regime_auroc,
    run_facts,
)

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "results" / "regime"


def prose() -> str:
    """The write-up with generated blocks removed and whitespace collapsed."""
    text = re.sub(r"<!-- begin generated: (\S+) -->.*?<!-- end generated: \1 -->", "",
                  (FOLDER / "README.md").read_text(), flags=re.S)
    return " ".join(text.split())


def assert_in_prose(*phrases: str) -> None:
    text = prose()
    missing = [p for p in phrases if p not in text]
    assert not missing, f"results/regime/README.md lacks {missing}"


def span(values, fmt: str = "{:.1f}") -> str:
    """``lo-hi`` of the formatted values (one value when they print the same)."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


@pytest.fixture(scope="module")
def facts() -> dict:
    """(model, pool, recipe, noise, seed) -> (RunRegret, curve facts) of the format-2 runs."""
    return run_facts(ROOT, FORMAT2)


def cell(facts: dict, model=None, pool=2000, recipe="paper", noise=None) -> list:
    """The (RunRegret, curve facts) of the committed runs matching the filters, key order;
    ``None`` matches every model / noise rate."""
    return [facts[k] for k in sorted(facts) if k[1] == pool and k[2] == recipe
            and model in (None, k[0]) and noise in (None, k[3])]


def gwa_vs_last(runs: list):
    """The paired test of GWA's test accuracy against the last epoch's over ``runs``
    ((RunRegret, facts) pairs, one unit each)."""
    return paired_test([it.accs["gwa"] for it, _ in runs], [it.accs["last"] for it, _ in runs])


def assert_quotes_test(words: str, t, significant: bool) -> None:
    """``words`` (in the prose) quote paired test ``t``: its counts, then the sign and Wilcoxon
    p-values where given, and the verdict ``significant``."""
    counts = f"{t.ahead}/{t.level}/{t.behind}"
    assert counts in words and t.significant == significant, (counts, t)
    rest = words.split(counts, 1)[1]  # the first p-values after the counts are theirs
    for name, p in (("sign p = ", t.sign_p), ("Wilcoxon p = ", t.wilcoxon_p)):
        if name in rest:
            assert rest.split(name, 1)[1].startswith(fmt_p(p)), (name, t)
    assert_in_prose(words)


def gains(runs: list) -> list[float]:
    """Test accuracy at GWA's stop minus at the last epoch [points], per run."""
    return [100 * (it.accs["gwa"] - it.accs["last"]) for it, _ in runs]


def test_prose_2k_paper_recipe_cells(facts):
    """"The 2,000-image paper-recipe cells": ranges, counts and the paired test over them."""
    runs = cell(facts)
    assert len(runs) == 12  # the paragraph says all 12 are committed
    vit, cx = cell(facts, "vit"), cell(facts, "convnext")

    def train(model, noise):
        return span([f["train_last"] for _, f in cell(facts, model, noise=noise)])

    assert_in_prose(
        f"ends at {train('vit', 0.17)}% for the noisy ViT runs and {train('convnext', 0.17)}% for "
        f"the noisy ConvNeXt runs", f"at {train('vit', 0.0)}% (ViT) and "
        f"{train('convnext', 0.0)}% (ConvNeXt) on clean labels",
        f"(best epochs {span([it.best_epoch for it, _ in vit], '{}')} of {vit[0][0].epochs} "
        f"for the ViT, {span([it.best_epoch for it, _ in cx], '{}')} of {cx[0][0].epochs} for "
        f"the ConvNeXt), the last epoch {span([it.regret('last') for it, _ in runs], '{:.2f}')} "
        "points below the best")
    assert max(f["train_last"] for _, f in cell(facts, noise=0.17)) < 83  # "below the 83%"
    # GWA late in 11 of 12: every stop but one after the saturation epoch.
    early = [it for it, _ in runs if it.stops["gwa"] < it.saturation]
    late = [(it, f) for it, f in runs if it.stops["gwa"] >= it.saturation]
    assert len(early) == 1 and len(late) == 11
    assert_in_prose(
        f"GWA stops late in {len(late)} of the 12 runs (ViT epochs "
        f"{span([it.stops['gwa'] for it, _ in late if it.run.model == 'vit'], '{}')}, ConvNeXt "
        f"{span([it.stops['gwa'] for it, _ in late if it.run.model == 'convnext'], '{}')})")
    t = gwa_vs_last(runs)
    assert not t.significant
    gain = gains(runs)
    assert_in_prose(
        f"behind the last epoch in {t.behind} of the 12, ahead in {t.ahead} by at most "
        f"{max(gain):.2f} points (units (model, noise, seed): {t.ahead}/{t.level}/{t.behind}, "
        f"sign p = {fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: not significant)")
    # The one early stop and everything else within 0.58 points of the last epoch.
    (odd, odd_facts), = [(it, f) for it, f in runs if it.stops["gwa"] < it.saturation]
    assert sorted(gain)[1] == pytest.approx(-0.58, abs=0.005)
    assert (odd.run.model, odd.run.seed, dict(odd.run.args)["noise"]) == ("convnext", 0, 0.17)
    assert_in_prose(
        "Apart from one run it is within 0.58 points of the last epoch",
        f"ConvNeXt 17% seed 0, stops at epoch {odd.stops['gwa']}, before its saturation epoch "
        f"({odd.saturation}), {-min(gain):.2f} points below the last epoch",
        f"within one standard error of ({odd_facts['within_se']} epoch)",
        f"trailing 5-epoch mean (post hoc) comes at epoch {odd.stops['gwa_ma5']} there")
    assert odd_facts["within_se"] == 1  # "no other epoch"
    # GD and LabelWave.
    assert all(it.stops["gd"] == it.stops["last"] for it, _ in runs)
    assert_in_prose(
        f"LabelWave stops at epochs {span([it.stops['labelwave'] for it, _ in runs], '{}')} "
        f"(regret {span([it.regret('labelwave') for it, _ in runs], '{:.2f}')}): "
        f"{span([f['labelwave_last'] for _, f in runs])}% of the training predictions")


def test_prose_2k_paper_convnext_against_format_1(facts):
    """The ConvNeXt's clean GWA stop and regret, and its last-epoch accuracy, format 1 -> 2."""
    old = format1_cells(FOLDER / FORMAT1_RUNS_CSV)
    clean, noisy = (cell(facts, "convnext", noise=n) for n in (0.0, 0.17))
    was = old[("convnext", 2000, "paper", 0.0)]
    fell = [np.mean(old[("convnext", 2000, "paper", n)]["last"])
            - np.mean([f["test_last"] for _, f in runs]) for n, runs in
            ((0.0, clean), (0.17, noisy))]
    assert_in_prose(
        f"stop moved from epoch {np.mean(was['gwa_epoch']):.1f} to "
        f"{np.mean([it.stops['gwa'] for it, _ in clean]):.1f} on average and its regret from "
        f"{np.mean(was['gwa_regret']):.2f} to "
        f"{np.mean([it.regret('gwa') for it, _ in clean]):.2f} points",
        f"last-epoch accuracy fell by {fell[0]:.2f} (clean) and {fell[1]:.2f} (17%) points")


def test_prose_2k_plain_recipe_cells(facts):
    """"The 2,000-image plain-recipe cells": memorisation, the clean and noisy stops, the paired
    tests of GWA against the last epoch over each noise rate's 6 (model, seed) units."""
    runs = cell(facts, recipe="plain")
    assert len(runs) == 12
    clean, noisy = (cell(facts, recipe="plain", noise=n) for n in (0.0, 0.17))
    assert min(f["train_last"] for _, f in noisy) > 83  # "above the 83% of labels that are right"
    assert_in_prose(
        f"is {span([f['train_last'] for _, f in clean])}% on clean labels and "
        f"{span([f['train_last'] for _, f in noisy])}% with 17% noise")
    cx_clean = cell(facts, "convnext", recipe="plain", noise=0.0)
    assert all(it.stops["gwa"] == it.stops["last"] for it, _ in cx_clean)  # "all 3 runs"
    vit_clean = cell(facts, "vit", recipe="plain", noise=0.0)
    behind = [100 * (it.accs["last"] - it.accs["gwa"]) for it, _ in vit_clean]
    assert_in_prose(
        f"stops the ViT at epochs {span([it.stops['gwa'] for it, _ in vit_clean], '{}')}, "
        f"{span(behind, '{:.2f}')} points below its last epoch (regret "
        f"{span([it.regret('gwa') for it, _ in vit_clean], '{:.2f}')}, the last epoch's "
        f"{span([it.regret('last') for it, _ in vit_clean], '{:.2f}')})")
    for units, words in ((clean, "over the 6 clean (model, seed) units that is"),
                         (noisy, "over the 6 noisy units")):
        t = gwa_vs_last(units)
        assert t.n == 6 and not t.significant
        wilcoxon = "" if t.wilcoxon_p == t.sign_p else f", Wilcoxon p = {fmt_p(t.wilcoxon_p)}"
        assert_in_prose(f"{words} {t.ahead}/{t.level}/{t.behind}, sign p = {fmt_p(t.sign_p)}"
                        f"{wilcoxon}: not significant")
    gain = {(it.run.model, it.run.seed): 100 * (it.accs["gwa"] - it.accs["last"])
            for it, _ in noisy}
    cx = [g for (m, _), g in gain.items() if m == "convnext"]
    assert min(cx) > 0 and gain[("vit", 2)] > 0 and gain[("vit", 0)] < 0 and gain[("vit", 1)] < 0
    assert_in_prose(
        f"(its regret {span([it.regret('last') for it, _ in noisy], '{:.2f}')} points) and GWA "
        f"stops at epochs {span([it.stops['gwa'] for it, _ in noisy], '{}')} (best epochs "
        f"{span([it.best_epoch for it, _ in noisy], '{}')})",
        f"ahead of the last epoch in all 3 ConvNeXt runs (by {span(cx, '{:.2f}')} points) and "
        f"in ViT seed 2 (by {gain[('vit', 2)]:.2f}), behind it in ViT seeds 0-1 (by "
        f"{-gain[('vit', 0)]:.2f} and {-gain[('vit', 1)]:.2f})")


def test_prose_8k_plain_convnext(facts):
    """"The 8,000-image ConvNeXt, plain recipe": memorisation, the clean last-epoch stops, the
    noisy early stop, and the paired tests it quotes (GWA - last over the 6 noisy (pool, seed)
    units of the model; regret at 8k against 2k over its 6 (noise, seed) units)."""
    clean, noisy = (cell(facts, "convnext", 8000, "plain", n) for n in (0.0, 0.17))
    assert len(clean) == len(noisy) == 3
    assert_in_prose(
        f"training accuracy at the last epoch is {span([f['train_last'] for _, f in clean])}% on "
        f"clean labels and {span([f['train_last'] for _, f in noisy])}% with 17% noise")
    assert all(it.stops[c] == it.epochs for it, _ in clean for c in ("gwa", "labelwave", "gd"))
    assert_in_prose(
        f"in the 3 runs (regret {span([it.regret('gwa') for it, _ in clean], '{:.2f}')}; best "
        f"epochs {span([it.best_epoch for it, _ in clean], '{}')})")
    (stop,) = {it.stops["gwa"] for it, _ in noisy}
    gain = gains(noisy)
    assert_in_prose(
        f"the last epoch is {span([it.regret('last') for it, _ in noisy], '{:.2f}')} points "
        f"below the best epoch (epochs {span([it.best_epoch for it, _ in noisy], '{}')}) and GWA "
        f"stops at epoch {stop} in all 3 runs, {span(gain, '{:.2f}')} points ahead of the last "
        f"epoch and {span([it.regret('gwa') for it, _ in noisy], '{:.2f}')} below the best")
    both = cell(facts, "convnext", 2000, "plain", 0.17) + noisy
    t = gwa_vs_last(both)
    assert t.n == 6 and t.significant
    assert_in_prose(
        f"that is {t.ahead}/{t.level}/{t.behind} over the 6 (pool, seed) units of the noisy "
        f"plain-recipe ConvNeXt (sign p = {fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: "
        "significant;")
    (ma5,) = {it.stops["gwa_ma5"] for it, _ in noisy}
    assert_in_prose(f"comes at epoch {ma5} in all 3 (regret "
                    f"{span([it.regret('gwa_ma5') for it, _ in noisy], '{:.2f}')})")
    lw = {it.run.seed: it for it, _ in noisy}
    assert lw[1].stops["labelwave"] == lw[1].epochs
    assert_in_prose(
        f"LabelWave stops at epochs {lw[0].stops['labelwave']} and {lw[2].stops['labelwave']} in "
        f"seeds 0 and 2 (regret {lw[0].regret('labelwave'):.2f} and "
        f"{lw[2].regret('labelwave'):.2f}, GWA's {lw[0].regret('gwa'):.2f} and "
        f"{lw[2].regret('gwa'):.2f}) and at the last epoch in seed 1")
    assert paired_test([1.0] * 3, [0.0] * 3).sign_p == 0.25  # "cannot go below p = 0.25"
    by = {k: it.regret("gwa") for k, (it, _) in facts.items()}
    keys = [("convnext", 2000, "plain", n, s) for n in (0.0, 0.17) for s in range(3)]
    t = paired_test([by[(k[0], 8000, *k[2:])] for k in keys], [by[k] for k in keys])
    assert not t.significant
    assert_in_prose(f'row "convnext, plain recipe, clean + 17%" of the pool block below: '
                    f"{t.ahead}/{t.level}/{t.behind}, sign p = {fmt_p(t.sign_p)})")


def test_prose_8k_paper_vit_clean(facts):
    """"The 8,000-image ViT, paper recipe, clean labels": ranges, per-seed gains, the paired
    tests it quotes and the format-1 comparison."""
    runs = cell(facts, "vit", 8000, "paper", 0.0)
    assert len(runs) == 3
    assert max(f["train_last"] for _, f in runs) < min(f["test_last"] for _, f in runs)
    assert_in_prose(
        f"batches ends at {span([f['train_last'] for _, f in runs])}%, below the test accuracy of "
        f"{span([f['test_last'] for _, f in runs], '{:.2f}')}%), test accuracy peaks late (best "
        f"epochs {span([it.best_epoch for it, _ in runs], '{}')} of {runs[0][0].epochs}) and the "
        f"last epoch is {span([it.regret('last') for it, _ in runs], '{:.2f}')} points below "
        f"the best")
    assert all(it.stops["gwa"] > it.saturation for it, _ in runs)  # "late again"
    gain = gains(runs)
    assert gain[0] < 0 and gain[2] < 0 and gain[1] > 0
    assert_in_prose(
        f"at epochs {span([it.stops['gwa'] for it, _ in runs], '{}')} (saturation epochs "
        f"{span([it.saturation for it, _ in runs], '{}')}), with regret "
        f"{span([it.regret('gwa') for it, _ in runs], '{:.2f}')}: behind the last epoch in seeds "
        f"0 and 2 (by {-gain[0]:.2f} and {-gain[2]:.2f} points), ahead in seed 1 (by "
        f"{gain[1]:.2f})")
    both = cell(facts, "vit", 2000, "paper", 0.0) + runs
    t = gwa_vs_last(both)
    assert t.n == 6 and not t.significant
    assert_in_prose(f"clean (pool, seed) units GWA against the last epoch is "
                    f"{t.ahead}/{t.level}/{t.behind}, sign p = {fmt_p(t.sign_p)}: not significant")
    small = cell(facts, "vit", 2000, "paper", 0.0)
    big, little = [it.regret("gwa") for it, _ in runs], [it.regret("gwa") for it, _ in small]
    t = paired_test(big, little)
    assert not t.significant
    assert_in_prose(f"2k is {t.ahead}/{t.level}/{t.behind} over the 3 seeds (mean "
                    f"{np.mean(big) - np.mean(little):.2f} points, sign p = {fmt_p(t.sign_p)}: "
                    "not significant;")
    assert all(it.stops["gd"] == it.epochs for it, _ in runs)
    ma5 = [(it.regret("gwa_ma5"), it.regret("gwa")) for it, _ in runs]
    assert all(m > g for m, g in ma5)  # "higher than GWA's in all 3 runs"
    assert_in_prose(
        f"LabelWave stops at epochs {span([it.stops['labelwave'] for it, _ in runs], '{}')} "
        f"(regret {span([it.regret('labelwave') for it, _ in runs], '{:.2f}')}; "
        f"{span([f['labelwave_last'] for _, f in runs])}% of the training predictions",
        f"comes at epochs {span([it.stops['gwa_ma5'] for it, _ in runs], '{}')} with regret "
        f"{span([m for m, _ in ma5], '{:.2f}')}, higher than GWA's in all 3 runs")
    old = format1_cells(FOLDER / FORMAT1_RUNS_CSV)[("vit", 8000, "paper", 0.0)]
    assert_in_prose(
        f"GWA's mean regret {np.mean(old['gwa_regret']):.2f} -> {np.mean(big):.2f}, its mean "
        f"epoch {np.mean(old['gwa_epoch']):.1f} -> "
        f"{np.mean([it.stops['gwa'] for it, _ in runs]):.1f})")


def test_prose_8k_paper_convnext_clean(facts):
    """"The 8,000-image ConvNeXt, paper recipe, clean labels": format 1 -> 2, the per-seed
    stops, and the paired tests over all 12 clean paper-recipe runs."""
    runs = cell(facts, "convnext", 8000, "paper", 0.0)
    assert len(runs) == 3
    old = format1_cells(FOLDER / FORMAT1_RUNS_CSV)[("convnext", 8000, "paper", 0.0)]
    stops = [it.stops["gwa"] for it, _ in runs]
    gain = gains(runs)
    assert abs(gain[0]) < 0.005 and gain[1] < 0 and gain[2] < 0
    regret = [it.regret("gwa") for it, _ in runs]
    assert_in_prose(
        "(GWA at epochs " + ", ".join(f"{e:.0f}" for e in old["gwa_epoch"][:2]) +
        f" and {old['gwa_epoch'][2]:.0f}, regret {span(old['gwa_regret'], '{:.2f}')}); in format "
        f"2 it is gone: GWA stops at epochs {stops[0]}, {stops[1]} and {stops[2]} (saturation "
        f"epochs {span([it.saturation for it, _ in runs], '{}')}) with regret "
        f"{span(regret, '{:.2f}')}, level with the last epoch in seed 0 and behind it by "
        f"{-gain[1]:.2f} and {-gain[2]:.2f} points in seeds 1-2 (the changes block below: mean "
        f"GWA epoch {np.mean(old['gwa_epoch']):.1f} -> {np.mean(stops):.1f}, regret "
        f"{np.mean(old['gwa_regret']):.2f} -> {np.mean(regret):.2f}).")
    assert_in_prose(
        f"augmented batches {span([f['train_last'] for _, f in runs])}%), test accuracy peaks at "
        f"epochs {span([it.best_epoch for it, _ in runs], '{}')} and the last epoch is "
        f"{span([it.regret('last') for it, _ in runs], '{:.2f}')} points below the best",
        f"LabelWave stops at epochs {span([it.stops['labelwave'] for it, _ in runs], '{}')} "
        f"(regret {span([it.regret('labelwave') for it, _ in runs], '{:.2f}')})")
    assert all(it.stops["gd"] == it.epochs for it, _ in runs)
    small = [it.regret("gwa") for it, _ in cell(facts, "convnext", 2000, "paper", 0.0)]
    t = paired_test(regret, small)
    assert not t.significant
    assert_in_prose(f"8k against 2k is {t.ahead}/{t.level}/{t.behind} over the 3 seeds, sign p = "
                    f"{fmt_p(t.sign_p)}: not significant")
    old_small = format1_cells(FOLDER / FORMAT1_RUNS_CSV)[("convnext", 2000, "paper", 0.0)]
    assert all(b > a for a, b in zip(old_small["gwa_regret"], old["gwa_regret"], strict=True))
    clean = [it for k, (it, _) in facts.items() if k[2:4] == ("paper", 0.0)]
    assert len(clean) == 12 and all(it.stops["gd"] == it.epochs for it in clean)
    gwa = [it.accs["gwa"] for it in clean]
    quoted = []
    for other in ("last", "labelwave"):
        t = paired_test(gwa, [it.accs[other] for it in clean])
        mean = 100 * np.mean(np.subtract(gwa, [it.accs[other] for it in clean]))
        quoted.append((t, mean))
    (t, mean), (lw, _) = quoted
    assert not t.significant and lw.significant
    assert_in_prose(
        f"GWA against the last epoch is {t.ahead}/{t.level}/{t.behind} (mean {mean:.2f} points, "
        f"sign p = {fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: not significant), the "
        f"same against GD, which returns the last epoch in all 12, and GWA is ahead of LabelWave "
        f"in all 12 ({lw.ahead}/{lw.level}/{lw.behind}, sign p = {fmt_p(lw.sign_p)}: "
        "significant;")


def test_prose_8k_plain_vit_clean(facts):
    """"The 8,000-image ViT, plain recipe, clean labels": stops, gains and the paired tests."""
    runs = cell(facts, "vit", 8000, "plain", 0.0)
    assert len(runs) == 3
    gain = gains(runs)
    assert gain[0] < 0 and gain[1] < 0 and gain[2] > 0
    assert all(it.stops["gwa"] < it.epochs for it, _ in runs)
    assert_in_prose(
        f"(training accuracy {span([f['train_last'] for _, f in runs])}% at the last epoch)",
        f"at epochs {span([it.stops['gwa'] for it, _ in runs], '{}')} (best epochs "
        f"{span([it.best_epoch for it, _ in runs], '{}')}), with regret "
        f"{span([it.regret('gwa') for it, _ in runs], '{:.2f}')}: behind the last epoch in seeds "
        f"0 and 1 (by {-gain[0]:.2f} and {-gain[1]:.2f} points), ahead in seed 2 (by "
        f"{gain[2]:.2f})")
    t = gwa_vs_last(cell(facts, "vit", 2000, "plain", 0.0) + runs)
    assert t.n == 6 and not t.significant
    assert_in_prose(f"units that is {t.ahead}/{t.level}/{t.behind}, sign p = {fmt_p(t.sign_p)}, "
                    f"Wilcoxon p = {fmt_p(t.wilcoxon_p)}: not significant")
    big = [it.regret("gwa") for it, _ in runs]
    small = [it.regret("gwa") for it, _ in cell(facts, "vit", 2000, "plain", 0.0)]
    t = paired_test(big, small)
    assert t.behind == 3 and not t.significant
    assert_in_prose(f"(by {np.mean(small) - np.mean(big):.2f} points on average; row \"vit, plain "
                    f"recipe, clean\" of the pool block below: {t.ahead}/{t.level}/{t.behind}, "
                    f"sign p = {fmt_p(t.sign_p)}: not significant)")
    assert all(it.stops[c] == it.epochs for it, _ in runs for c in ("labelwave", "gd"))
@pytest.mark.parametrize("model", ["convnext", "vit"])
def test_prose_8k_paper_noisy(facts, model):
    """"The 8,000-image <model>, paper recipe, 17% noise": the early stop, the per-model paired
    test with the 2k runs, the pool comparison, LabelWave, GD and format 1 -> 2."""
    runs = cell(facts, model, 8000, "paper", 0.17)
    small = cell(facts, model, 2000, "paper", 0.17)
    assert len(runs) == 3 and len(small) == 3
    gain, small_gain = gains(runs), gains(small)
    assert all(g < 0 for g in gain + small_gain)
    assert max(f["train_last"] for _, f in runs) < 83
    assert_in_prose(
        "at epochs " + ", ".join(str(it.stops["gwa"]) for it, _ in runs[:2]) +
        f" and {runs[2][0].stops['gwa']} (saturation epochs "
        f"{span([it.saturation for it, _ in runs], '{}')}), "
        + ", ".join(f"{-g:.2f}" for g in gain[:2]) + f" and {-gain[2]:.2f} points below the last "
        f"epoch (regret {span([it.regret('gwa') for it, _ in runs], '{:.2f}')}), while test "
        f"accuracy keeps rising to its best epochs {span([it.best_epoch for it, _ in runs], '{}')} "
        f"and the last epoch is {span([it.regret('last') for it, _ in runs], '{:.2f}')} points "
        "below the best.",
        f"augmented batches {span([f['train_last'] for _, f in runs])}%, below the 83% of labels")
    t = gwa_vs_last(small + runs)
    assert t.significant
    assert_in_prose(
        f"(epochs {span([it.stops['gwa'] for it, _ in small], '{}')}) and "
        f"{span([-g for g in small_gain], '{:.2f}')} points behind the last epoch, GWA is behind "
        f"the last epoch in all 6 (pool, seed) units of the model ({t.ahead}/{t.level}/{t.behind}, "
        f"sign p = {fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: significant; row "
        f'"{model}, paper recipe, 17% noise" of the per-model block below)')
    both = paired_test(
        [it.regret("gwa") for it, _ in cell(facts, model, 8000, "paper")],
        [it.regret("gwa") for it, _ in cell(facts, model, 2000, "paper")])
    assert_in_prose(f'"{model}, paper recipe, clean + 17%" of the pool block below: '
                    f"{both.ahead}/{both.level}/{both.behind}, sign p = {fmt_p(both.sign_p)}: "
                    + ("significant)" if both.significant else "not significant)"))
    old = format1_cells(FOLDER / FORMAT1_RUNS_CSV)[(model, 8000, "paper", 0.17)]
    assert_in_prose(
        f"mean GWA epoch {np.mean(old['gwa_epoch']):.1f} -> "
        f"{np.mean([it.stops['gwa'] for it, _ in runs]):.1f}, regret "
        f"{np.mean(old['gwa_regret']):.2f} -> {np.mean([it.regret('gwa') for it, _ in runs]):.2f})",
        f"LabelWave stops at epochs {span([it.stops['labelwave'] for it, _ in runs], '{}')} "
        f"(regret {span([it.regret('labelwave') for it, _ in runs], '{:.2f}')}), GD at the last "
        "epoch in all 3 runs.")
    assert all(it.stops["gd"] == it.epochs for it, _ in runs)


def test_prose_8k_paper_vit_noisy_plateau(facts):
    """The ViT paragraph's own sentences: the plateau, the late 2k stops, regret 8k > 2k."""
    runs = cell(facts, "vit", 8000, "paper", 0.17)
    small = cell(facts, "vit", 2000, "paper", 0.17)
    assert all(it.stops["gwa"] > it.saturation for it, _ in small)  # "stopped late"
    assert all(b.regret("gwa") > a.regret("gwa")
               for (b, _), (a, _) in zip(runs, small, strict=True))
    assert_in_prose(
        f"broad plateau: {span([f['within_se'] for _, f in runs], '{}')} epochs lie within one "
        "standard error of it.",
        "where GWA stopped late (epochs",
        "Its regret is larger at 8k than at 2k in all 3 seeds (3 units, not tested;")


def test_prose_8k_plain_vit_noisy(facts):
    """"The 8,000-image ViT, plain recipe, 17% noise": memorisation, the stops and gains, the
    per-model paired test with the 2k runs."""
    runs = cell(facts, "vit", 8000, "plain", 0.17)
    assert len(runs) == 3 and min(f["train_last"] for _, f in runs) > 83
    gain = gains(runs)
    assert all(g > 0 for g in gain)
    assert all(it.stops[c] == it.epochs for it, _ in runs for c in ("labelwave", "gd"))
    stops = [it.stops["gwa"] for it, _ in runs]
    assert_in_prose(
        f"(training accuracy {span([f['train_last'] for _, f in runs])}% at the last epoch, above "
        f"the 83% of labels that are right) and the last epoch is "
        f"{span([it.regret('last') for it, _ in runs], '{:.2f}')} points below the best (best "
        f"epochs {span([it.best_epoch for it, _ in runs], '{}')}). GWA stops at epochs "
        f"{stops[0]}, {stops[1]} and {stops[2]}, ahead of the last epoch in all 3 runs (by "
        f"{gain[0]:.2f}, {gain[1]:.2f} and {gain[2]:.2f} points) and "
        f"{span([it.regret('gwa') for it, _ in runs], '{:.2f}')} points below the best;")
    small = cell(facts, "vit", 2000, "plain", 0.17)
    assert [g < 0 for g in gains(small)] == [True, True, False]
    t = gwa_vs_last(small + runs)
    assert not t.significant
    assert_in_prose(f"that is {t.ahead}/{t.level}/{t.behind} over the model's 6 noisy (pool, seed) "
                    f"units, sign p = {fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: not "
                    'significant (row "vit, plain recipe, 17% noise"')


#: Paired tests "What the 48 runs support" quotes: (README words, recipe, noise, model or
#: None, other criterion or "pool", significant?). GWA against ``other`` over the matching runs
#: (units: the remaining of model, pool and seed); "pool": GWA's regret at 8k against 2k over
#: (noise, seed) units, clean labels when ``noise`` is 0.
SUPPORT_QUOTED: list[tuple[str, str, float | None, str | None, str, bool]] = [
    ('row "GWA - last: paper recipe, 0% noise" of the first block above: 4/1/7, sign p = 0.55, '
     "Wilcoxon p = 0.11;", "paper", 0.0, None, "last", False),
    ('row "GWA - last: plain recipe, 0% noise": 1/6/5, sign p = 0.22, Wilcoxon p = 0.062; both '
     "not significant)", "plain", 0.0, None, "last", False),
    ('row "GWA - last: paper recipe, 17% noise" of the first block above: 0/0/12, sign p = '
     "0.00049, Wilcoxon p = 0.00049: significant)", "paper", 0.17, None, "last", True),
    ('row "GWA - last: plain recipe, 17% noise": 10/0/2, sign p = 0.039, Wilcoxon p = 0.0024: '
     "significant)", "plain", 0.17, None, "last", True),
    ("the ConvNeXt's 6/0/0 is significant (sign p = 0.031)", "plain", 0.17, "convnext", "last",
     True),
    ("the ViT's 4/0/2 is not (sign p = 0.69)", "plain", 0.17, "vit", "last", False),
    ('recipe": 12/0/0 with 17% noise and', "paper", 0.17, None, "labelwave", True),
    ("and 12/0/0 on clean labels, sign p = 0.00049 each: significant)", "paper", 0.0, None,
     "labelwave", True),
    ("(with 17% noise: 7/0/5, sign p = 0.77, Wilcoxon p = 0.092)", "plain", 0.17, None,
     "labelwave", False),
]


def _support_test(facts: dict, recipe, noise, model, other):
    def pick(**kw):
        return [it for k, (it, _) in sorted(facts.items()) if k[2] == recipe
                and noise in (None, k[3]) and model in (None, k[0])
                and all(k[{"pool": 1}[n]] == v for n, v in kw.items())]
    if other == "pool":
        return paired_test([it.regret("gwa") for it in pick(pool=8000)],
                           [it.regret("gwa") for it in pick(pool=2000)])
    runs = pick()
    assert len(runs) == (6 if model else 12)
    return paired_test([it.accs["gwa"] for it in runs], [it.accs[other] for it in runs])


@pytest.mark.parametrize("words,recipe,noise,model,other,significant", SUPPORT_QUOTED,
                         ids=[q[0][:40] for q in SUPPORT_QUOTED])
def test_prose_support_quotes_its_paired_tests(facts, words, recipe, noise, model, other,
                                               significant):
    """Each paired test "What the 48 runs support" quotes: counts, p-values and the verdict
    recomputed from the committed runs."""
    t = _support_test(facts, recipe, noise, model, other)
    assert_quotes_test(words, t, significant)


def test_prose_support_question(facts):
    """"What the 48 runs support", the question: the clean pool rows, GWA's late stops under
    the paper's recipe and the plain ViT's regret at both pools."""
    ps = []
    for model in ("convnext", "vit"):
        for recipe in ("paper", "plain"):
            t = _support_test(facts, recipe, 0.0, model, "pool")
            assert not t.significant
            ps.append(t.sign_p)
    assert_in_prose(f'"clean" rows of the pool block: sign p = {fmt_p(min(ps))}-{fmt_p(max(ps))})')
    clean = cell(facts, None, 2000, "paper", 0.0) + cell(facts, None, 8000, "paper", 0.0)
    assert len(clean) == 12 and all(it.stops["gwa"] > it.saturation for it, _ in clean)
    assert_in_prose(f"(clean labels: epochs {span([it.stops['gwa'] for it, _ in clean], '{}')}, "
                    "after the saturation epoch in all 12 runs)")
    small, big = (cell(facts, "vit", pool, "plain", 0.0) for pool in (2000, 8000))
    t = paired_test([it.regret("gwa") for it, _ in big], [it.regret("gwa") for it, _ in small])
    assert t.behind == 3 and not t.significant
    assert_in_prose(f"stops early at 2,000 images (regret "
                    f"{span([it.regret('gwa') for it, _ in small], '{:.2f}')}) and its regret is "
                    f"lower at 8,000 in all 3 seeds, which 3 seeds cannot make significant (sign p "
                    f"= {fmt_p(t.sign_p)})")


def test_prose_support_noisy(facts):
    """"With 17% noise the recipe decides": GD's stops, the plain-recipe count, LabelWave's
    stops under augmentation and no significant plain-recipe LabelWave row."""
    paper = [it for k, (it, _) in facts.items() if k[2] == "paper"]
    assert len(paper) == 24 and all(it.stops["gd"] == it.epochs for it in paper)
    assert_in_prose(
        "GD returns the last epoch in all 24 paper-recipe runs",
        f"LabelWave stops at epochs {span([it.stops['labelwave'] for it in paper], '{}')} under "
        "augmentation")
    assert not _support_test(facts, "plain", 0.0, None, "labelwave").significant


def _auroc_rows() -> dict[str, list[str]]:
    """The regime-auroc block's table (regenerated from the runs' scores.npz) by its label."""
    rows = [line.strip("|").split("|") for line in regime_auroc(ROOT).splitlines()
            if line.startswith("| ") and "AUROC" not in line]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}


def test_prose_support_mislabel_detection():
    """"Mislabel detection": AUROC means, counts and sign p of each (model, recipe) group."""
    rows = _auroc_rows()
    assert len(rows) == 4 and all(r[0] == "6" for r in rows.values())
    at_gwa = [float(r[1]) for r in rows.values()]
    assert_in_prose(f"mean AUROC {min(at_gwa):.3f}-{max(at_gwa):.3f} in all four")
    vp, cp = rows["ViT plain, 17% noise"], rows["ConvNeXt plain, 17% noise"]
    assert vp[3] == cp[3] == "6/0/0" and vp[4] == cp[4]
    assert_in_prose(f"(ViT {vp[1]} against {vp[2]}, ConvNeXt {cp[1]} against {cp[2]}: 6/0/0 "
                    f"each, sign p = {cp[4]}: significant)")
    ca, va = rows["ConvNeXt paper, 17% noise"], rows["ViT paper, 17% noise"]
    assert float(ca[4]) < 0.05 and float(ca[5]) < 0.05 and float(va[4]) >= 0.05
    assert_in_prose(f"(ConvNeXt {ca[1]} against {ca[2]}: {ca[3]}, sign p = {ca[4]}: significant; "
                    f"ViT {va[1]} against {va[2]}: {va[3]}, sign p = {va[4]}: not significant)")


# --- the older sections: the GPU loop's plain-recipe slice, the device-loop pair, calibration ---


def _gain(it) -> float:
    """Test accuracy at GWA's stop minus at the last epoch [points]."""
    return 100 * (it.accs["gwa"] - it.accs["last"])


def _seq(values, fmt: str = "{:.2f}", sep: str = " / ") -> str:
    return sep.join(fmt.format(v) for v in values)


def _and(values) -> str:
    """``62, 39 and 35``."""
    *head, last = [str(v) for v in values]
    return f"{', '.join(head)} and {last}"


@pytest.fixture(scope="module")
def gpu() -> dict:
    """(model, pool, recipe, noise, seed) -> RunRegret of the GPU loop's plain-recipe runs."""
    return gpu_plain_items(ROOT)


def gpu_cell(gpu: dict, model: str, pool: int, noise: float) -> list:
    return [it for k, it in sorted(gpu.items()) if k[:2] == (model, pool) and k[3] == noise]


#: Paired tests the GPU section quotes: (README words, model or None, noise, other criterion,
#: significant?), each over the GPU loop's runs (units: model, pool and seed).
GPU_QUOTED = [
    ("(GPU rows above: 0/7/1)", "convnext", "0%", "last", False),
    ("vit, 0% noise: 2/2/5, sign p = 0.45, Wilcoxon p = 0.078, not significant", "vit", "0%",
     "last", False),
    ("(GPU rows above: significant, 11/0/1, sign p = 0.0063; per model the ConvNeXt's 6/0/0 is "
     "significant, sign p = 0.031, the ViT's 5/0/1 is not;", None, "17%", "last", True),
    ("the ConvNeXt's 6/0/0 is significant, sign p = 0.031, the ViT's 5/0/1 is not; by",
     "convnext", "17%", "last", True),
    ("the ViT's 5/0/1 is not; by", "vit", "17%", "last", False),
    ("(GPU rows above: 9/0/3, sign p = 0.15)", None, "17%", "labelwave", False),
]


@pytest.mark.parametrize("words,model,noise,other,significant", GPU_QUOTED,
                         ids=[q[0][:40] for q in GPU_QUOTED])
def test_prose_gpu_section_quotes_its_paired_tests(words, model, noise, other, significant):
    """Each paired test the GPU section quotes: counts, p-values and the word recomputed."""
    accs = [acc for m, _, n, _, acc in _gpu_plain_accs(ROOT)
            if n == noise and model in (None, m) and other in acc]
    t = paired_test([a["gwa"] for a in accs], [a[other] for a in accs])
    assert_quotes_test(words, t, significant)


def test_prose_gpu_loop_plain_recipe(gpu):
    """"Plain recipe on one GPU": the clean ConvNeXt and ViT bullets, the noisy one, and the
    runs' hardware and wall times."""
    assert len(gpu) == 29
    cnx = [(k, it) for k, it in sorted(gpu.items()) if k[0] == "convnext" and k[3] == 0.0]
    early = [(k, it) for k, it in cnx if it.stops["gwa"] != it.epochs]
    assert len(cnx) == 8 and [k for k, _ in early] == [("convnext", 2000, "plain", 0.0, 2)]
    (_, e), = early
    assert e.stops["gwa"] == e.epochs - 1
    pools = (2000, 8000, 60000)
    means = {(m, p, c): np.mean([it.regret(c) for it in gpu_cell(gpu, m, p, 0.0)])
             for m in ("convnext", "vit") for p in pools for c in ("gwa", "last")}
    assert_in_prose(
        f"In 7 of 8 clean runs GWA keeps rising to epoch {e.epochs}",
        "(mean regret " + _seq([means[("convnext", p, "gwa")] for p in pools]) + " at 2k / 8k / "
        "60k, the last epoch's " + _seq([means[("convnext", p, "last")] for p in pools]) + ")",
        f"it stops one epoch early, {-_gain(e):.2f} points below the last epoch")
    vit = {p: gpu_cell(gpu, "vit", p, 0.0) for p in pools}
    maxes = [max(it.regret("gwa") for it in vit[p]) for p in pools]
    assert [sum(_gain(it) < 0 for it in vit[p]) for p in pools] == [3, 2, 0]
    ahead60 = [_gain(it) for it in vit[60000] if _gain(it) > 0]
    assert_in_prose(
        f"regret {means[('vit', 2000, 'gwa')]:.2f} (max {maxes[0]:.2f}) at 2,000 images, "
        f"{means[('vit', 8000, 'gwa')]:.2f} ({maxes[1]:.2f}) at 8,000 and "
        f"{means[('vit', 60000, 'gwa')]:.2f} ({maxes[2]:.2f}) at 60,000, against "
        f"{means[('vit', 2000, 'last')]:.2f}, {means[('vit', 8000, 'last')]:.2f} and "
        f"{means[('vit', 60000, 'last')]:.2f} for the last epoch",
        f"ahead in 2 of 3 at 60k (by {ahead60[0]:.2f} and {ahead60[1]:.2f})",
        f"a spread across seeds ({span([it.regret('gwa') for it in vit[2000]])} points at 2k)",
        f"runs ({_seq([it.regret('gwa') for it in vit[2000]])} for seeds 0-2)")
    noisy = {(m, p): gpu_cell(gpu, m, p, 0.17) for m in ("convnext", "vit") for p in (2000, 8000)}
    crit = {c: {k: np.mean([it.regret(k) for it in v]) for k in ("gwa", "labelwave", "last",
                                                                "gwa_ma5")}
            for c, v in noisy.items()}
    everything = [it for v in noisy.values() for it in v]
    assert all(r["labelwave"] > r["gwa"] > r["gwa_ma5"] for r in crit.values())
    lw_ahead = sorted((k[0], k[1], k[4]) for k, it in gpu.items()
                      if k[3] == 0.17 and it.accs["labelwave"] > it.accs["gwa"])
    assert lw_ahead == [("convnext", 8000, 0), ("convnext", 8000, 1), ("vit", 2000, 0)]
    assert_in_prose(
        f"by {span([np.mean([_gain(it) for it in v]) for v in noisy.values()])} points on "
        f"average per cell: the last epoch has memorised the wrong labels, regret "
        f"{span([r['last'] for r in crit.values()])}),",
        f"regret {span([r['gwa'] for r in crit.values()])} points, GWA's epoch "
        f"{span([it.stops['gwa'] for it in everything], '{}')} against best epochs "
        f"{span([it.best_epoch for it in everything], '{}')}. LabelWave "
        f"({span([r['labelwave'] for r in crit.values()])}) is behind GWA in every cell",
        "(ViT 2k seed 0, ConvNeXt 8k seeds 0 and 1)",
        f"every cell on average ({span([r['gwa_ma5'] for r in crit.values()])}; 3 seeds")
    walls = [r["wall_s"] for path in (FOLDER / "gpu_plain").glob("regime_plain*.json")
             for r in json.loads(path.read_text())["runs"]]
    assert len(walls) == 29
    assert "H200" in (FOLDER / "gpu_plain" / "gpu.txt").read_text()
    assert "H100" in (FOLDER / "gpu_plain" / "gpu_h100.txt").read_text()
    assert sorted(k[4] for k in gpu if k[:2] == ("convnext", 60000)) == [0, 1]
    assert all(it.stops["gd"] is None for it in gpu.values())
    assert_in_prose("seed 0 on one H200 (`gpu_plain/gpu.txt`), seeds 1-2 on one H100",
                    "the ConvNeXt at 60k has seeds 0-1 only", "these runs were made before it "
                    "computed Gradient Disparity (its column is empty)",
                    f"29 runs of {min(walls):.0f}-{max(walls):.0f} s each")


def test_prose_gpu_loop_against_other_studies(gpu):
    """The GPU section's numbers from results/fmnist_n (the same ViT cell through gwa-train)
    and results/bench (the 60,000-image ViT at 17% noise), and the first protocol's table."""
    regrets = []
    for s in range(6):
        run = RunResult.load_verified(ROOT / "results" / "fmnist_n" / "runs_format2" /
                                      f"model-vit_noise0_split0_seed{s}")
        assert run.summary["num_epochs"] == 31
        regrets.append(100 * (np.nanmax(run.column("test_acc")[1]) - run.value("gwa")))
    gpu2k = [it.regret("gwa") for it in gpu_cell(gpu, "vit", 2000, 0.0)]
    assert min(gpu2k) <= np.median(regrets) <= max(gpu2k)  # "in the same range"
    assert_in_prose(
        "seeds 0-5, 31 epochs) gives GWA regrets of " + _and([f"{r:.2f}" for r in regrets]),
        f"GPU loop's 2k runs ({_seq(gpu2k)} for seeds 0-2)")
    table = (ROOT / "results" / "fmnist_n" / "table1_v1.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.splitlines() if line.startswith("| ")}
    gap = (float(rows["Val Set (10%)"][0].split()[0].strip("<u>/"))
           - float(rows["GWA"][0].split()[0]))
    assert f"{gap:.0f}" == "3"
    assert_in_prose("the first protocol's table had GWA 3 points below the 10% validation split",
                    "(ViT 0%: 3 points below the 10% validation split in the first protocol's "
                    "table, `../fmnist_n/table1_v1.md`)")
    (bench,) = [r for r in json.loads((ROOT / "results" / "bench" / "gpu" /
                                       "offline_full_size.json").read_text())["runs"]
                if r["config"].endswith("fmnist_n.py:model=vit,noise=0.17,pool=60000")]
    gwa = np.array([m["gwa"] for m in bench["metrics"]])
    assert int(np.argmax(gwa)) == 1 and (np.diff(gwa[1:]) < 0).all()  # "falls from epoch 2 on"
    stop, best = bench["selected"]["gwa"], bench["best_in_hindsight"]
    last = bench["metrics"][-1]["test_acc"]
    assert_in_prose(
        f"never memorises in {bench['epochs']} epochs (training accuracy "
        f"{100 * bench['metrics'][-1]['train_acc']:.1f}%, below the 83% clean fraction), GWA "
        f"falls from epoch 2 on, and its stop (epoch {stop['epoch']}, "
        f"{100 * stop['test_acc']:.2f}%) is {100 * (best['test_acc'] - stop['test_acc']):.2f} "
        f"points below the best epoch and {100 * (last - stop['test_acc']):.2f} below the last.")


def test_prose_device_loop_pair():
    """The device loop's run against gwa-train's format-1 run of the same cell (kept in
    device_loop/gwa_train/) and the three format-1 seeds' GWA epochs (runs_format1.csv)."""
    (report,) = json.loads((FOLDER / "device_loop" / "convnext_2k_paper_seed0_cpu.json")
                           .read_text())["runs"]
    assert report["num_train"] - 64 * report["steps_per_epoch"] == 2000 % 64 == 16
    assert (8000 % 64, 60000 % 64) == (0, 32)
    path = (FOLDER / "device_loop" / "gwa_train" /
            "model-convnext_pool2000_recipe-paper_noise0_seed0")
    ours = RunResult.load_verified(path)
    assert ours.format_version == 1
    (it,) = regime.collect(path.parent)
    old = format1_cells(FOLDER / FORMAT1_RUNS_CSV)[("convnext", 2000, "paper", 0.0)]
    assert old["gwa_epoch"][0] == it.stops["gwa"]  # the kept run is seed 0 of runs_format1.csv
    assert_in_prose(
        f"--out results/regime/device_loop/convnext_2k_paper_seed0_cpu.json # 2 CPU cores shared "
        f"with a training: {report['wall_s']:.0f} s",
        "(16 of 2,000, none of 8,000, 32 of 60,000)",
        f"(final training accuracy on the augmented batches "
        f"{100 * report['metrics'][-1]['train_acc']:.2f}% vs "
        f"{100 * it.curves['train_acc'][-1]:.2f}%, final test accuracy "
        f"{100 * report['metrics'][-1]['test_acc']:.2f}% vs "
        f"{100 * ours.column('test_acc')[1][-1]:.2f}%;",
        f"the GWA stop does not (epoch {report['selected']['gwa']['epoch']} vs "
        f"{it.stops['gwa']})",
        "as between the three format-1 `gwa-train` seeds (epochs " +
        ", ".join(f"{e:.0f}" for e in old["gwa_epoch"]) + ")")


def test_prose_calibration():
    """The calibration runs: none saturates in 30 epochs; the ViT at 1e-3 passes the 1e-4
    run's epoch-30 accuracy early."""
    cal = {name: RunResult.load_verified(FOLDER / "calibration" / name)
           for name, _ in CALIBRATION}
    for run in cal.values():
        _, test = run.column("test_acc")
        _, train = run.column("train_acc")
        assert len(test) == 30 and train[-1] < test[-1]  # "below the test accuracy"
        assert 100 * (np.nanmax(test) - test[-1]) < 0.3  # "within 0.3 points of its best"
    vit, fast = (cal[f"model-vit_pool2000_recipe-paper_noise0_seed0{x}"] for x in ("", "_lr1e-3"))
    target = vit.column("test_acc")[1][-1]
    epochs, test = fast.column("test_acc")
    passes = int(epochs[np.flatnonzero(test > target)[0]])
    assert_in_prose(
        "training accuracy at epoch 30 is still below the test accuracy in all four runs, the "
        "test accuracy at epoch 30 is within 0.3 points of its best",
        f"barely learns ({vit.summary['total_steps']} optimisation steps",
        f"passes the 1e-4 run's epoch-30 test accuracy, {100 * target:.2f}%, at epoch {passes};")


def test_results_readme_regime_run_length(facts):
    """results/README.md: "48 runs of up to an hour and a half each" (sum of epoch times)."""
    longest = max(f["time_s"] for _, f in facts.values()) / 60
    assert len(facts) == 48 and 60 < longest <= 90
    text = " ".join((ROOT / "results" / "README.md").read_text().split())
    assert "48 runs of up to an hour and a half each" in text


def test_readme_regime_sentence(facts):
    """README.md: "Under the paper's augmented recipe nothing is memorised and test accuracy
    rises to the end ...; without augmentation the models memorise the wrong labels, which is
    where GWA's stop pays" (the readme-regime block's significant row)."""
    paper = [v for k, v in facts.items() if k[2] == "paper"]
    assert len(paper) == 24
    assert all(f["train_last"] < 90 for _, f in paper)  # nothing memorised, clean or noisy
    assert all(it.regret("last") < 0.5 and it.best_epoch > it.epochs // 2 for it, _ in paper)
    noisy_plain = [v for k, v in facts.items() if k[2:4] == ("plain", 0.17)]
    assert len(noisy_plain) == 12
    assert all(f["train_last"] > 83 for _, f in noisy_plain)  # above the right labels' 83%
    t = gwa_vs_last(noisy_plain)
    assert t.significant and t.ahead > t.behind
    text = " ".join((ROOT / "README.md").read_text().split())
    assert ("Under the paper's augmented recipe nothing is memorised and test accuracy rises to "
            "the end, so there is nothing for an early stop to save; without augmentation the "
            "models memorise the wrong labels, which is where GWA's stop pays.") in text
