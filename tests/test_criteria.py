"""Early-stopping criteria on synthetic metric curves: ties, NaN, warm-up, never-triggered."""

import math

import pytest

from gwa_jax import criteria

nan = math.nan


def test_val_max_with_ties_goes_to_earliest():
    assert criteria.select_val([0.5, 0.7, 0.7, 0.6]) == 1
    assert criteria.select_val([nan, 0.2, nan]) == 1
    assert criteria.select_val([]) is None


def test_gwa_respects_warmup_boundary():
    steps = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    gwa = [9.0, 0.1, 0.2, 0.3, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    # Warm-up = 10% of 100 steps: epoch 0 ends at step 10, not beyond -> excluded.
    assert criteria.select_gwa(gwa, steps, 100, 0.1) == 4
    # Epoch 0 ends at step 10 > 9.0 -> included when the warm-up is shorter.
    assert criteria.select_gwa(gwa, steps, 90, 0.1) == 0
    assert criteria.warmup_epochs(steps, 100, 0.1) == 1
    assert criteria.warmup_epochs(steps, 100, 0.0) == 0


def test_gwa_skips_nan_epochs_and_ties_earliest():
    steps = list(range(10, 110, 10))
    gwa = [0.0, 0.1, nan, 0.4, nan, 0.4, 0.2, nan, nan, nan]
    assert criteria.select_gwa(gwa, steps, 100) == 3
    assert criteria.select_gwa([nan] * 5, steps[:5], 50) is None


def test_gwa_finetune_first_local_min_then_max():
    steps = list(range(1, 9))
    gwa = [0.9, 0.6, 0.5, 0.7, 0.8, 0.75, 0.85, 0.6]
    # Plain max would pick epoch 0 (the pre-trained start); the fine-tuning rule skips the dip.
    assert criteria.select_gwa(gwa, steps, 8, 0.0) == 0
    assert criteria.select_gwa_finetune(gwa, steps, 8) == 6
    # No local minimum (monotone decrease) -> falls back to the max rule.
    assert criteria.select_gwa_finetune([0.9, 0.8, 0.7], [1, 2, 3], 3) == 0


def test_first_local_min_plateau_and_nan():
    assert criteria.first_local_min([5, 3, 3, 4]) == 1
    assert criteria.first_local_min([5, nan, 3, nan, 4]) == 2
    assert criteria.first_local_min([5, 4, 3, 2]) is None
    assert criteria.first_local_min([1, 2, 3]) == 0


def test_labelwave_moving_average_first_local_min():
    changes = [nan, 100, 80, 60, 50, 55, 70, 90, 40]
    # Trailing MA(2): nan, 100, 90, 70, 55, 52.5, 62.5, 80, 65 -> first local min at index 5.
    assert criteria.select_labelwave(changes, window=2) == 5
    # Never turns up -> last epoch.
    assert criteria.select_labelwave([nan, 9, 8, 7, 6], window=2) == 4
    assert criteria.moving_average([nan, 4, 2], 2)[2] == pytest.approx(3.0)


def test_gd_both_rules():
    gd = [5, 4, 5, 6, 7, 8, 9, 3, 4]
    # Five consecutive increases 4->5->6->7->8->9 fire at index 6, which both rules select
    # (one convention: the epoch at which the rule stops training).
    assert criteria.select_gd_consecutive(gd, 5) == 6
    assert criteria.select_gd_up(gd, 5) == 6
    # With a dip between them the counting rule fires at the 5th increase, the patience rule
    # needs 5 in a row.
    dip = [9, 1, 2, 3, 2, 3, 4, 5, 6, 7]
    assert criteria.select_gd_up(dip, 5) == 7
    assert criteria.select_gd_consecutive(dip, 5) == 9
    zigzag = [5, 6, 5, 6, 5, 6, 5, 6, 5, 6, 5]
    # Never 5 in a row -> last epoch; the counting rule stops at the 5th increase (index 9).
    assert criteria.select_gd_consecutive(zigzag, 5) == len(zigzag) - 1
    assert criteria.select_gd_up(zigzag, 5) == 9
    assert criteria.select_gd_up([3, 2, 1], 5) == 2


def test_select_all_keys_depend_on_available_metrics():
    hist = [{"step": 10 * (i + 1), "gwa": g, "labelwave": lw}
            for i, (g, lw) in enumerate([(0.1, nan), (0.3, 10), (0.2, 5), (0.25, 7)])]
    sel = criteria.select_all(hist, total_steps=40, labelwave_window=1)
    assert set(sel) == {"gwa", "gwa_finetune", "labelwave", "last"}
    assert sel["gwa"] == 1 and sel["last"] == 3 and sel["labelwave"] == 2
    hist[0]["val_acc"] = 0.5
    hist[2]["val_acc"] = 0.9
    for h, g in zip(hist, [3.0, 2.0, 2.5, 2.6], strict=True):
        h["gd"] = g
    sel = criteria.select_all(hist, total_steps=40)
    assert sel["val"] == 2 and "gd" in sel and "gd_up5" in sel
