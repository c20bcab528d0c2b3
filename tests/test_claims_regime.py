"""results/regime/README.md, format-2 section: every number of its prose recomputed from the
committed format-2 runs (``results/regime/runs_format2``) and the format-1 table beside them;
the section's blocks are checked by ``tests/test_claims.py`` (regenerated and diffed, their
generators on hand-made runs).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments.claims import fmt_p, paired_test
from gwa_jax.experiments.writeups_regime import (
    FORMAT1_RUNS_CSV,
    FORMAT2,
    format1_cells,
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
