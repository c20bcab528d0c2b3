"""Regime-study analysis on hand-written runs: saturation, stops, regret, tables, figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments import regime
from gwa_jax.experiments.args import ArgError
from gwa_jax.experiments.paper import load_config
from gwa_jax.experiments.plan import expand
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]


def test_saturation_epoch_by_hand():
    assert regime.saturation_epoch([1, 2, 3, 4], [0.5, 0.9, 0.96, 1.0]) == 3  # 0.95 * 1.0
    assert regime.saturation_epoch([1, 2, 3], [0.5, 0.48, 0.5]) == 1  # 0.475: already there
    assert regime.saturation_epoch([], []) is None


def test_smoothed_gwa_stop_by_hand():
    epochs = np.arange(1, 7)
    steps = 10 * epochs
    gwa = np.array([0.0, 0.5, 0.0, 0.3, 0.3, 0.3])
    # Raw argmax: epoch 2. Trailing 3-epoch means: 0, .25, .1667, .2667, .2, .3 -> epoch 6.
    assert regime.smoothed_gwa_stop(epochs, steps, gwa, window=1) == 2
    assert regime.smoothed_gwa_stop(epochs, steps, gwa, window=3) == 6
    # Warm-up 0.5 of 60 steps: epochs ending at step <= 30 are skipped (raw argmax -> epoch 4).
    assert regime.smoothed_gwa_stop(epochs, steps, gwa, window=1, warmup_fraction=0.5) == 4
    # A NaN epoch (no GWA) is never selected; the mean takes the last 2 finite values:
    # 0, .25, nan, (.5 + .3) / 2 = .4, .3, .3 -> epoch 4.
    gwa_nan = np.array([0.0, 0.5, np.nan, 0.3, 0.3, 0.3])
    assert regime.smoothed_gwa_stop(epochs, steps, gwa_nan, window=2) == 4
    assert regime.smoothed_gwa_stop(epochs[:0], steps[:0], gwa[:0]) is None


def test_smoothed_stop_uses_the_runs_own_warmup(tmp_path):
    for model in ("vit", "convnext"):
        config = load_config(REPO / "configs" / "regime.py", f"model={model},recipe=paper")
        assert regime.gwa_warmup_fraction(config.to_dict()) == config.gwa.warmup_fraction
    assert regime.gwa_warmup_fraction(None) == regime.gwa_warmup_fraction({}) == 0.1
    # The same curve written with two warm-ups; trailing 5-epoch means 0, 1, .67, .5, .4, .7:
    # 0.1 keeps epoch 2, 0.5 (of 60 steps) skips epochs 1-3, so the stop moves to epoch 6.
    (run,) = [r for r in expand("regime") if r.model == "vit" and r.seed == 0
              and r.variant == "pool2000_paper_noise0"]
    rows = [{"epoch": e, "step": 10 * e, "test_acc": 0.5, "train_acc": 0.5, "gwa": g}
            for e, g in enumerate([0.0, 2.0, 0.0, 0.0, 0.0, 1.5], start=1)]
    stops = {}
    for fraction in (0.1, 0.5):
        root = tmp_path / str(fraction)
        write_run(run.workdir(root), selected={"gwa": {"epoch": 2}}, metrics=rows,
                  config={"gwa": {"warmup_fraction": fraction}})
        (item,) = regime.collect(root)
        stops[fraction] = item.stops[regime.SMOOTHED]
    assert stops == {0.1: 2, 0.5: 6}


def _write(root, run, test, train, selected):
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "test_acc": t, "train_acc": a, "gwa": 0.25}
            for e, (t, a) in enumerate(zip(test, train, strict=True))]
    write_run(run.workdir(root), selected={k: {"epoch": v} for k, v in selected.items()},
              metrics=rows)


def test_regret_tables_and_figure(tmp_path, capsys):
    runs = [r for r in expand("regime") if r.model == "vit" and r.variant ==
            "pool2000_paper_noise0"]
    assert [r.seed for r in runs] == [0, 1, 2]
    test = [0.60, 0.70, 0.80, 0.75]
    train = [0.5, 0.8, 0.97, 1.0]
    _write(tmp_path, runs[0], test, train, {"gwa": 2, "labelwave": 3, "last": 4})
    _write(tmp_path, runs[1], test, train, {"gwa": 3, "labelwave": 1, "last": 4})
    items = regime.collect(tmp_path)
    assert len(items) == 2
    a, b = items
    assert a.saturation == 3 and a.best_epoch == 3 and a.best_acc == 0.80
    assert a.regret("gwa") == pytest.approx(10.0) and a.regret("labelwave") == 0.0
    assert a.regret("last") == pytest.approx(5.0) and a.regret("gd") is None
    # Flat GWA (0.25 every epoch, exact means): its trailing mean peaks first at epoch 1 (0.60).
    assert a.stops[regime.SMOOTHED] == 1 and a.regret(regime.SMOOTHED) == pytest.approx(20.0)
    assert b.regret("gwa") == 0.0 and b.regret("labelwave") == pytest.approx(20.0)
    assert list(a.curves["epoch"]) == [1, 2, 3, 4] and list(a.curves["test_acc"]) == test
    assert list(a.curves["train_acc"]) == train and list(a.curves["gwa"]) == [0.25] * 4
    header, rows = regime.summary_rows(items)
    (row,) = rows
    cell = dict(zip(header, row, strict=True))
    assert cell["Runs"] == "2" and cell["GWA epoch"] == "2.5" and cell["Best epoch"] == "3.0"
    assert cell["gwa regret"] == "5.00 (10.00)" and cell["labelwave regret"] == "10.00 (20.00)"
    assert cell["gd regret"] == "–"
    # GWA vs the last epoch: run a stops at 0.70 vs last 0.75 (-5), run b at 0.90 vs 0.85 (+5).
    assert regime.gwa_gain_over_last(a) == pytest.approx(-5.0)
    assert regime.gwa_gain_over_last(b) == pytest.approx(5.0)
    assert cell["GWA - last"] == "0.00" and cell["GWA ahead/level/behind"] == "1/0/1"
    by_pool = regime.regret_by_pool(items, "gwa")
    assert list(by_pool) == [("vit", "paper", 0.0)]
    assert by_pool[("vit", "paper", 0.0)][2000] == pytest.approx([10.0, 0.0])
    assert regime.regret_by_pool(items, "gd") == {}
    header, rows = regime.per_run_rows(items)
    assert rows[0][:8] == ["vit", "2000", "paper", "0%", "0", "4", "3", "3 (80.00)"]

    spec = importlib.util.spec_from_file_location("_rr", REPO / "scripts" / "regime_report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--root", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    d = tmp_path / "out" / "regime"
    for name in ("runs.md", "runs.csv", "summary.md", "summary.csv", "regret_vs_pool.png",
                 "curves.png", "command.txt"):
        assert (d / name).stat().st_size > 0, name
    assert script.main(["--root", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert script.main(["--json", str(tmp_path / "absent.json"), "--out", str(tmp_path)]) == 2
    assert "no such report" in capsys.readouterr().err


def test_regime_configs_differ_only_where_the_study_says():
    path = REPO / "configs" / "regime.py"
    runs = expand("regime")
    assert len(runs) == 48 and all(r.split == 0.0 for r in runs)
    small = load_config(path, "model=vit,pool=2000,recipe=paper")
    big = load_config(path, "model=vit,pool=8000,recipe=paper")
    plain = load_config(path, "model=convnext,pool=2000,recipe=plain,noise=0.17")
    # Same number of epochs for every pool size: Table 4's CIFAR-10 counts for the paper
    # recipe (ViT 179, ConvNeXt 92), 30 for the plain one; epochs= overrides them.
    assert small.total_steps // 32 == big.total_steps // (8000 // 64) == 179
    for model, epochs in (("vit", 179), ("convnext", 92)):
        for pool in (2000, 8000):
            c = load_config(path, f"model={model},pool={pool}")
            assert c.total_steps == epochs * -(-pool // 64)  # ceil(N / B) steps an epoch.
    assert plain.total_steps == 30 * 32
    assert load_config(path, "pool=8000,epochs=7").total_steps == 7 * 125
    with pytest.raises(ArgError, match="epochs=-2; give a positive count"):
        load_config(path, "epochs=-2")
    assert (small.optim.lr, load_config(path, "model=convnext").optim.lr) == (1e-4, 1e-3)
    assert small.augment.randaug_magnitude == 1 and small.augment.crop == "pad_crop"
    assert plain.augment.randaug_magnitude == 0 and plain.augment.crop == "none"
    assert plain.dataset.label_noise.rate == 0.17 and plain.criteria.gd.enabled
    assert big.dataset.train_subset == 8000 and big.dataset.val_fraction == 0.0


def test_offline_json_runs_give_the_numbers_of_the_same_run_files(tmp_path):
    """A run read from a scripts/offline_full_size.py report equals the same run read from
    gwa-train's files (the second path); other configs in the report are skipped."""
    (run,) = [r for r in expand("regime") if r.model == "convnext" and r.seed == 2 and
              r.variant == "pool8000_plain_noise0.17"]
    test, train = [0.60, 0.82, 0.80, 0.75, 0.7], [0.5, 0.8, 0.97, 0.99, 1.0]
    selected = {"gwa": 2, "labelwave": 3, "last": 5}
    _write(tmp_path, run, test, train, selected)
    (from_files,) = regime.collect(tmp_path)
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "test_acc": t, "train_acc": a, "gwa": 0.25}
            for e, (t, a) in enumerate(zip(test, train, strict=True))]
    report = {"runs": [
        {"config": "configs/fmnist_n.py:model=vit,noise=0.17,pool=60000", "metrics": rows,
         "selected": {}},
        {"config": "configs/regime.py:model=convnext,pool=8000,recipe=plain,noise=0.17,seed=2",
         "metrics": rows, "selected": {k: {"epoch": v} for k, v in selected.items()}}]}
    path = tmp_path / "report.json"
    path.write_text(__import__("json").dumps(report))
    (from_json,) = regime.from_offline_json(path)
    assert from_json == from_files
    for key, values in from_files.curves.items():
        np.testing.assert_array_equal(from_json.curves[key], values, err_msg=key)
    assert from_json.regret("gwa") == 0.0 and from_json.regret("last") == pytest.approx(12.0)
    assert from_json.stops["gd"] is None and from_json.saturation == 3
