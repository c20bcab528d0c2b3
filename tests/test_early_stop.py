"""criteria.early_stop: the stopping rule by hand, and gwa-train stopping, resuming, refusing."""

import json
import math
import os

import ml_collections
import pytest

from gwa_jax.cli.train_run import UsageError, parse_command_line
from gwa_jax.config_base import ConfigError, default_config
from gwa_jax.config_check import validate
from gwa_jax.criteria import early_stop_epoch
from gwa_jax.run.checkpoints import RunCheckpoints
from gwa_jax.run.workdir import FINISHED, prepare_workdir
from gwa_jax.tracker import EpochTracker
from gwa_jax.train import trainer

NAN = math.nan
STEPS10 = [10 * (i + 1) for i in range(10)]  # One epoch = 10 steps, 100 steps in all.


# --- The rule on hand-made sequences ---------------------------------------------------------

@pytest.mark.parametrize("gwa,warmup,patience,expected", [
    # Max at index 2; indices 3, 4 bring no new maximum: patience 2 stops at 4.
    ([1, 2, 3, 2.5, 2.9, 4], 0.0, 2, 4),
    ([1, 2, 3, 2.5, 2.9, 4], 0.0, 3, None),  # Index 5 is a new maximum before the third.
    ([1, 2, 3, 2.5, 2.9, 4], 0.0, 0, None),  # 0: never stop.
    ([1, 2, 3, 2.5, 2.9, 4], 0.0, 1, 3),
    # Undefined GWA counts as no new maximum, also before the first defined value.
    ([1, NAN, None, 5], 0.0, 2, 2),
    ([NAN, NAN, NAN], 0.0, 3, 2),
    # The warm-up: the first 30 steps (indices 0..2) are not counted; index 3 starts the count.
    ([9, 8, 7, 1, 0.5, 0.4], 0.3, 2, 5),
    ([9, 8, 7, 1, 0.5, 0.4], 0.3, 3, None),
    # Ties are no new maximum.
    ([1, 3, 3, 3], 0.0, 2, 3),
])
def test_gwa_rule_by_hand(gwa, warmup, patience, expected):
    steps = STEPS10[:len(gwa)]
    assert early_stop_epoch(gwa, steps, 100, warmup, patience, "gwa") == expected


@pytest.mark.parametrize("gwa,patience,expected", [
    # Initial minimum at index 2 (confirmed by index 3); the count starts at 3: 4, 5 are no new
    # maximum after it (the 9 before the minimum does not count).
    ([9, 5, 1, 2, 1.5, 1.8, 3], 2, 5),
    ([9, 5, 1, 2, 1.5, 1.8, 3], 3, None),
    # Still falling: no initial minimum, never stops (however long).
    ([9, 8, 7, 6, 5, 4], 1, None),
    # Undefined GWA between the minimum and the value that confirms it: the count starts at the
    # confirming epoch (index 4), so the NaNs before it do not count.
    ([3, 1, NAN, NAN, 2, NAN, NAN], 2, 6),
    ([3, 1, NAN, NAN, 2, NAN, NAN], 3, None),
    ([3, 1, 2, 2, 2], 0, None),
])
def test_gwa_finetune_rule_by_hand(gwa, patience, expected):
    assert early_stop_epoch(gwa, STEPS10[:len(gwa)], 100, 0.1, patience,
                            "gwa_finetune") == expected


def test_rule_is_online_and_refuses_bad_arguments():
    gwa = [1, 2, 3, 2.5, NAN, 2.9, 4, 3]
    full = early_stop_epoch(gwa, STEPS10[:8], 100, 0.0, 2, "gwa")
    assert full == 4
    # The prefix ending at the stop epoch stops there; a shorter prefix does not stop.
    assert early_stop_epoch(gwa[:5], STEPS10[:5], 100, 0.0, 2, "gwa") == 4
    assert early_stop_epoch(gwa[:4], STEPS10[:4], 100, 0.0, 2, "gwa") is None
    with pytest.raises(ValueError, match="unknown early-stopping criterion 'val'"):
        early_stop_epoch(gwa, STEPS10[:8], 100, 0.0, 2, "val")
    with pytest.raises(ValueError, match="patience must be >= 0"):
        early_stop_epoch(gwa, STEPS10[:8], 100, 0.0, -1, "gwa")


def test_tracker_early_stop_index():
    tracker = EpochTracker(100, warmup_fraction=0.3)
    for i, g in enumerate([9, 8, 7, 1, 0.5, 0.4]):
        tracker.append({"step": STEPS10[i], "gwa": g})
    assert tracker.early_stop_index(2) == 5
    assert tracker.early_stop_index(0) is None
    assert tracker.early_stop_index(2, "gwa_finetune") is None  # Still falling.


def test_a_rule_that_fires_at_the_last_epoch_stops_nothing():
    tracker = EpochTracker(60, warmup_fraction=0.0)
    for i, g in enumerate([1, 2, 3, 2, 1, 0.5]):
        tracker.append({"epoch": i + 1, "step": STEPS10[i], "gwa": g})
    config = digits_config(patience=2)
    assert tracker.early_stop_index(2) == 4
    assert trainer._stopped_early(config, tracker, 6) is None  # Epoch 6 is the last anyway.
    assert trainer._stopped_early(config, tracker, 7) == {
        "epoch": 6, "criterion": "gwa", "patience": 2}
    assert trainer._stopped_early(digits_config(patience=0), tracker, 7) is None


# --- Bad input: one line ---------------------------------------------------------------------

@pytest.mark.parametrize("key,value,pattern", [
    ("patience", -1, r"^config\.criteria\.early_stop\.patience must be an integer >= 0 .*got -1$"),
    ("patience", 1.5, r"^config\.criteria\.early_stop\.patience must be int, got 1\.5"),
    ("patience", True, r"patience must be (int|an integer)"),
    ("criterion", "val", r"^config\.criteria\.early_stop\.criterion must be 'gwa' or "
                         r"'gwa_finetune', got 'val'$"),
])
def test_bad_early_stop_settings_are_one_line(key, value, pattern):
    c = default_config()
    settings = {"patience": 0, "criterion": "gwa", key: value}
    c.criteria.early_stop = ml_collections.ConfigDict(settings)
    with pytest.raises(ConfigError, match=pattern) as info:
        validate(c, 1)
    assert "\n" not in str(info.value)


def test_bad_patience_on_the_command_line_is_one_line():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with pytest.raises(UsageError, match="early_stop.patience must be an integer >= 0") as info:
        parse_command_line(["gwa-train", f"--config={root}/configs/quickstart.py",
                            "--workdir=/tmp/w", "--config.criteria.early_stop.patience=-3"], 1)
    assert "\n" not in str(info.value)


# --- gwa-train on digits: stops, resumes, trains on ------------------------------------------

TIMING = {"epoch_time_s", "train_time_s", "eval_time_s", "ckpt_time_s"}


def digits_config(patience=0, criterion="gwa"):
    """10 epochs of 4 steps on 256 noisy digits; GWA peaks at epoch 3 (a new maximum only at
    epochs 1 to 3), so patience 2 stops after epoch 5."""
    c = default_config()
    c.seed = 0
    c.dataset.name = "digits"
    c.dataset.train_subset = 256
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.3
    c.batch_size = 64
    c.eval_batch_size = 200
    c.total_steps = 40
    c.model.name = "convnext_fmnist_tiny"
    c.model.stem_stride = 1
    c.optim.lr = 2e-3
    c.gwa.bootstrap_resamples = 0
    c.criteria.early_stop.patience = patience
    c.criteria.early_stop.criterion = criterion
    return c


def metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def summary(workdir):
    with open(os.path.join(workdir, "summary.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("full"))
    trainer.train_and_evaluate(digits_config(), workdir)
    return workdir


def cli_train(config, workdir, capsys):
    # A late import: the command's module reads absl flags only when it trains.
    from gwa_jax.cli import train_run

    capsys.readouterr()
    code = train_run._train(config, str(workdir), False)
    return code, capsys.readouterr().out


def test_stops_early_then_resumes(full_run, tmp_path, capsys):
    full = metrics(full_run)
    assert len(full) == 10 and "stopped_early" not in summary(full_run)
    gwa = [r["gwa"] for r in full]
    # The rule on the full run's history says where patience 2 stops: before the end.
    stop = EpochTracker(40, history=full).early_stop_index(2)
    assert stop == 4 and gwa.index(max(gwa)) == 2

    workdir = tmp_path / "stopped"
    code, _ = cli_train(digits_config(patience=2), workdir, capsys)
    assert code == 0
    rows, summ = metrics(workdir), summary(workdir)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows == full[:5]  # The same epochs as the full run's, bit for bit.
    assert summ["stopped_early"] == {"epoch": 5, "criterion": "gwa", "patience": 2}
    assert summ["num_epochs"] == 5
    assert summ["selected"]["last"]["epoch"] == 5
    assert summ["selected"]["gwa"]["epoch"] == 3
    assert all(1 <= s["epoch"] <= 5 for s in summ["selected"].values())
    ckpts = RunCheckpoints(str(workdir), ("latest", "best_gwa"))
    assert ckpts.latest_epoch("latest") == 5 and ckpts.latest_epoch("best_gwa") == 3
    ckpts.close()
    assert sorted(os.listdir(workdir / "alignment")) == [
        f"epoch_{e:04d}.npy" for e in range(1, 6)] + ["meta.npz"]
    assert any(f.startswith("events.") for f in os.listdir(workdir / "tensorboard"))

    # The same patience: nothing to train, and it says so.
    code, out = cli_train(digits_config(patience=2), workdir, capsys)
    assert code == 0
    assert "stopped early after epoch 5 (criteria.early_stop.patience=2" in out
    assert "nothing to train" in out
    assert metrics(workdir) == rows and summary(workdir)["stopped_early"]["epoch"] == 5

    # A different patience is the same run (not refused); 0 trains on to total_steps.
    assert prepare_workdir(digits_config(patience=0), workdir) == FINISHED  # Not refused.
    code, _ = cli_train(digits_config(patience=0), workdir, capsys)
    assert code == 0
    assert metrics(workdir) == full
    summ = summary(workdir)
    assert "stopped_early" not in summ and summ["num_epochs"] == 10
    assert summ["selected"] == summary(full_run)["selected"]


def test_api_resume_of_a_stopped_run_trains_nothing(full_run, tmp_path):
    workdir = str(tmp_path / "api")
    first = trainer.train_and_evaluate(digits_config(patience=2), workdir)
    assert first["stopped_early"]["epoch"] == 5
    again = trainer.train_and_evaluate(digits_config(patience=2), workdir)
    assert again["stopped_early"] == first["stopped_early"]
    assert again["selected"] == first["selected"] and len(metrics(workdir)) == 5
    # Patience 4 is not reached by epoch 5: it trains on, and stops after epoch 7.
    more = trainer.train_and_evaluate(digits_config(patience=4), workdir)
    assert more["stopped_early"] == {"epoch": 7, "criterion": "gwa", "patience": 4}
    assert metrics(workdir) == metrics(full_run)[:7]


def test_undefined_gwa_stops_without_a_gwa_selection(tmp_path):
    # GWA off: every epoch's GWA is undefined, so after the warm-up (10% of 40 steps: epoch 1,
    # ending at step 4, is in it) each epoch counts as no new maximum: patience 2 stops after
    # epoch 3.
    c = digits_config(patience=2)
    c.gwa.enabled = False
    workdir = str(tmp_path / "nogwa")
    summ = trainer.train_and_evaluate(c, workdir)
    assert all(r["gwa"] is None or math.isnan(r["gwa"]) for r in metrics(workdir))
    assert summ["stopped_early"] == {"epoch": 3, "criterion": "gwa", "patience": 2}
    assert "gwa" not in summ["selected"] and "gwa_finetune" not in summ["selected"]
    assert summ["selected"]["last"]["epoch"] == 3 and len(metrics(workdir)) == 3
    assert summ["checkpoints"].get("best_gwa") is None


def test_sweep_resumes_a_stopped_run_only_under_another_rule(tmp_path):
    """gwa-sweep / scripts/sweep.py: a run that stopped early is finished for the same rule
    and resumes (trains on) for a larger or zero patience, as gwa-train decides."""
    from pathlib import Path

    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.sweep import DONE, PARTIAL, run_status

    configs = Path(__file__).resolve().parents[1] / "configs"
    run = expand("fmnist_n")[0]
    workdir = run.workdir(tmp_path)
    workdir.mkdir(parents=True)
    summary = {"selected": {}, "stopped_early": {"epoch": 5, "criterion": "gwa",
                                                 "patience": 2}}
    (workdir / "summary.json").write_text(json.dumps(summary))
    same = ["criteria.early_stop.patience=2"]
    assert run_status(run, tmp_path, configs, same) == DONE
    assert run_status(run, tmp_path, configs, ["criteria.early_stop.patience=4"]) == PARTIAL
    assert run_status(run, tmp_path, configs) == PARTIAL  # patience 0: train to the end
    assert run_status(run, tmp_path, configs, [*same, "criteria.early_stop.criterion=gwa_finetune"]
                      ) == PARTIAL
    assert run_status(run, tmp_path) == DONE  # without the configs: summary.json decides
    summary.pop("stopped_early")
    (workdir / "summary.json").write_text(json.dumps(summary))
    assert run_status(run, tmp_path, configs) == DONE
