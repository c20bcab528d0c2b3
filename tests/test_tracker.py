"""EpochTracker: the same selections as criteria.select_all, online stopping, checkpointing."""

import json
import math

import numpy as np
import pytest

from gwa_jax import EpochTracker, criteria, summarize_scores


def _random_history(rng, n, with_val, with_gd):
    hist = []
    for i in range(n):
        row = {"epoch": i + 1, "step": 10 * (i + 1),
               "gwa": math.nan if rng.random() < 0.15 else float(rng.normal()),
               "labelwave": math.nan if i == 0 else float(rng.integers(0, 50))}
        if with_val:
            row["val_acc"] = float(rng.integers(0, 20)) / 20  # Ties on purpose.
        if with_gd:
            row["gd"] = float(rng.normal())
        hist.append(row)
    return hist


@pytest.mark.parametrize("seed", range(30))
def test_selections_equal_select_all_on_random_histories(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    hist = _random_history(rng, n, with_val=seed % 2 == 0, with_gd=seed % 3 == 0)
    kw = {"total_steps": 10 * n, "warmup_fraction": float(rng.choice([0.0, 0.1, 0.3])),
          "labelwave_window": int(rng.integers(1, 4)), "gd_patience": int(rng.integers(1, 6))}
    tracker = EpochTracker(**kw)
    for t, row in enumerate(hist):  # Online: after every epoch, not only at the end.
        tracker.append(row)
        want = criteria.select_all(hist[: t + 1], **kw)
        assert tracker.selections() == want
        for name in criteria.CRITERIA:
            idx = want.get(name)
            assert tracker.best_index(name) == idx
            assert tracker.best_epoch(name) == (None if idx is None else hist[idx]["epoch"])
            assert tracker.is_best(name) == (idx == t)
    # JSON round trip (NaN -> null) keeps every decision.
    restored = EpochTracker.from_state_dict(json.loads(json.dumps(tracker.state_dict())))
    assert restored.selections() == tracker.selections()
    assert restored.state_dict() == tracker.state_dict()


def test_should_stop_after_patience_epochs_without_gwa_improvement():
    # 10 steps per epoch, 100 total: the warm-up (10%) excludes epoch 1 (step 10).
    gwa = [9.0, 0.1, 0.3, 0.2, 0.25, 0.29, 0.5, 0.4, 0.45, 0.3]
    tracker = EpochTracker(total_steps=100)
    stops = []
    for i, g in enumerate(gwa):
        tracker.update(g, step=10 * (i + 1))
        stops.append(tracker.should_stop(patience=3))
    # Best after warm-up: epoch 3 (0.3); 3 epochs without a new maximum at 6: stop there, and
    # the decision stands (gwa-train's rule: later epochs never move an earlier stop).
    assert stops == [False] * 5 + [True] * 5
    stop = criteria.early_stop_epoch(gwa, [10 * (i + 1) for i in range(10)], 100, patience=3)
    assert stop == 5 == tracker.early_stop_index(3)
    assert tracker.best_epoch("gwa") == 7  # Epoch 1's 9.0 lies in the warm-up.
    assert not tracker.should_stop(patience=1, criterion="last")
    # val: "not improved for patience epochs", counted from the current best.
    val = EpochTracker(total_steps=100)
    flags = []
    for i, v in enumerate([0.5, 0.6, 0.55, 0.58, 0.7, 0.6]):
        val.update(float("nan"), step=10 * (i + 1), val_acc=v)
        flags.append(val.should_stop(patience=2, criterion="val"))
    assert flags == [False, False, False, True, False, False]


def test_update_from_epoch_alignment_and_errors():
    values = np.random.default_rng(0).normal(0.2, 0.1, 50).astype(np.float32)
    seen = np.arange(50) < 40
    ep = summarize_scores(values, seen)
    assert math.isfinite(ep.gwa)
    tracker = EpochTracker(total_steps=10)
    row = tracker.update(ep, step=5, val_acc=0.5, labelwave=None, gd=1.0)
    assert row["gwa"] == ep.gwa and row["align_mean"] == pytest.approx(values[:40].mean())
    assert row["epoch"] == 1 and math.isnan(row["labelwave"])
    assert tracker.best_epoch("val") == 1 and tracker.best_epoch("gd") == 1
    with pytest.raises(ValueError, match="unknown criterion 'gwaa'"):
        tracker.best_epoch("gwaa")
    with pytest.raises(ValueError, match="patience must be >= 1"):
        tracker.should_stop(patience=0)
    with pytest.raises(KeyError, match="needs 'step'"):
        tracker.append({"gwa": 1.0})
    assert EpochTracker(total_steps=10).best_epoch("gwa") is None
