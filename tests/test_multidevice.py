"""Data parallelism: 1, 2 and 4 simulated CPU devices compute the same step and scores.

Simulated devices share the machine's cores, and on a loaded 2-core machine one device's
thread can wait long enough at a collective for XLA's CPU rendezvous watchdog to abort the
process. ``gwa_jax.train.sharding.simulated_devices_env`` gives every simulated device one XLA
thread and raises the rendezvous time-outs far above anything a loaded machine produces, so
the runs are slow under load but never abort.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fmnist
from gwa_jax.config_check import ConfigError, validate
from gwa_jax.train.sharding import simulated_devices_env

ROOT = Path(__file__).resolve().parents[1]
pytestmark = requires_fmnist
EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")


STEP_SCRIPT = Path(__file__).with_name("multidevice_step.py")
LATE_SCRIPT = Path(__file__).with_name("multidevice_late_device.py")
INFLIGHT_SCRIPT = Path(__file__).with_name("multidevice_inflight.py")


def _run(workdir, devices, *extra):
    env = simulated_devices_env(devices)
    cmd = [EXE, "--config", str(ROOT / "configs" / "quickstart.py"), f"--workdir={workdir}",
           "--config.model.name=vit_fmnist_tiny", "--config.dataset.train_subset=512",
           "--config.dataset.classes=(0,1,2)", "--config.eval_batch_size=500",
           "--config.batch_size=64", "--config.total_steps=16", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["num_devices"] == devices
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """(workdir, metrics rows) of the 1-device reference run, shared by the tests."""
    workdir = tmp_path_factory.mktemp("one")
    return workdir, _run(workdir, 1)


def test_four_devices_match_one(tmp_path, one_device):
    one_dir, one = one_device
    four = _run(tmp_path / "four", 4)
    assert [r["epoch"] for r in four] == [1, 2]
    for a, b in zip(one, four, strict=True):
        assert b["gwa"] == pytest.approx(a["gwa"], rel=1e-3, abs=1e-5)
        assert b["align_mean"] == pytest.approx(a["align_mean"], rel=1e-3, abs=1e-6)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["test_acc"] == pytest.approx(a["test_acc"], abs=2e-4)
    for epoch in (1, 2):
        s1 = np.load(one_dir / "alignment" / f"epoch_{epoch:04d}.npy")
        s4 = np.load(tmp_path / "four" / "alignment" / f"epoch_{epoch:04d}.npy")
        np.testing.assert_array_equal(np.isnan(s1), np.isnan(s4))
        np.testing.assert_allclose(s4[~np.isnan(s4)], s1[~np.isnan(s1)], atol=1e-4)


def test_accumulation_on_four_devices_matches_one_device_without(tmp_path, one_device):
    # 64 = 4 micro-batches of 16, each sharded over 4 devices, against 1 x 64 on 1 device.
    one_dir, one = one_device
    acc = _run(tmp_path / "acc", 4, "--config.optim.accumulate_steps=4")
    for a, b in zip(one, acc, strict=True):
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["align_mean"] == pytest.approx(a["align_mean"], rel=1e-3, abs=1e-6)
        s1 = np.load(one_dir / "alignment" / f"epoch_{a['epoch']:04d}.npy")
        s4 = np.load(tmp_path / "acc" / "alignment" / f"epoch_{a['epoch']:04d}.npy")
        np.testing.assert_array_equal(np.isnan(s1), np.isnan(s4))
        np.testing.assert_allclose(s4[~np.isnan(s4)], s1[~np.isnan(s1)], atol=1e-4)


def test_batch_not_divisible_by_four_devices_is_one_line():
    # The check gwa-train runs with jax.device_count() (4 in the runs above), in-process.
    spec = importlib.util.spec_from_file_location("_qs", ROOT / "configs" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.batch_size = 66
    with pytest.raises(ConfigError, match=r"^config.batch_size=66 is not divisible by the 4 "
                                          r"devices"):
        validate(config, num_devices=4)
    validate(config, num_devices=2)  # 66 = 2 x 33 is fine.


def test_one_step_is_the_same_on_1_2_and_4_devices():
    """Gradients, parameters and per-sample results of one train step, by mesh size.

    The batch is sharded and the state replicated as gwa-train places them; only the order of
    floating-point reductions may differ, so each quantity must agree within 4e-6 of its
    largest entry (a gradient averaged over the wrong number of devices is off by a factor).
    """
    proc = subprocess.run([sys.executable, str(STEP_SCRIPT), "1", "2", "4"], cwd=ROOT,
                          capture_output=True, text=True, env=simulated_devices_env(4),
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {n: {k: np.asarray(v) for k, v in r.items()} for n, r in json.loads(proc.stdout).items()}
    ref = out["1"]
    assert ref["seen"].sum() == 32 and np.abs(ref["scores"]).max() > 0.01
    for n in ("2", "4"):
        for key in ("grads", "params_sgd", "gd_grads", "scores", "loss_sum"):
            scale = float(np.abs(ref[key]).max())
            assert scale > 0, key  # A result that is all zeros would test nothing.
            np.testing.assert_allclose(out[n][key], ref[key], rtol=0, atol=4e-6 * scale,
                                       err_msg=f"{key} on {n} devices")
        np.testing.assert_array_equal(out[n]["seen"], ref["seen"])
        np.testing.assert_array_equal(out[n]["preds"], ref["preds"])


def test_a_device_late_at_an_all_reduce_slows_the_run_instead_of_aborting_it():
    """The failure a loaded machine caused: XLA's CPU collectives abort the process when one
    simulated device reaches an all-reduce too long after another (by default a warning
    after 20 s, the abort 40 s later). With ``simulated_devices_env`` the limit is 40
    minutes; the control lowers it to 1 + 1 s, below the 5 s delay, and must abort, which
    shows these are the flags in effect."""
    env = simulated_devices_env(2)
    ours = subprocess.run([sys.executable, str(LATE_SCRIPT), "5"], capture_output=True,
                          text=True, env=env, timeout=1800)
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert ours.stdout.split() == ["3.0"]
    flags = [f for f in env["XLA_FLAGS"].split() if not f.startswith("--xla_cpu_collective_call")]
    control = subprocess.run(
        [sys.executable, str(LATE_SCRIPT), "5"], capture_output=True, text=True, timeout=1800,
        env=dict(env, XLA_FLAGS=" ".join(
            [*flags, "--xla_cpu_collective_call_warn_stuck_timeout_seconds=1",
             "--xla_cpu_collective_call_terminate_timeout_seconds=1"])))
    assert control.returncode != 0
    assert "Termination timeout" in control.stderr


def test_every_simulated_device_flag_is_read_by_xla():
    # XLA stops reading XLA_FLAGS at the first token without "--" and silently ignores the
    # rest; an unknown flag placed last is fatal only if XLA reads up to it.
    env = simulated_devices_env(4)
    assert "--xla_cpu_collective_call_terminate_timeout_seconds=1800" in env["XLA_FLAGS"]
    probe = [sys.executable, "-c", "import jax; print(jax.device_count())"]
    ok = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=600)
    assert ok.returncode == 0 and ok.stdout.split() == ["4"], ok.stderr[-2000:]
    bad = subprocess.run(probe, capture_output=True, text=True, timeout=600,
                         env=dict(env, XLA_FLAGS=env["XLA_FLAGS"] + " --xla_no_such_flag=1"))
    assert bad.returncode != 0 and "Unknown flag in XLA_FLAGS: --xla_no_such_flag" in bad.stderr


def test_settled_calls_on_four_cpu_devices_do_not_deadlock():
    """3,000 small all-reducing calls, each passed through ``settle`` as gwa-train does on
    several CPU devices. Dispatched without it, the same loop deadlocks XLA's CPU runtime
    within seconds (``python tests/multidevice_inflight.py async 3000``: an abort at the
    collective time-out, lowered here to 30 + 30 s so a deadlock fails the test quickly)."""
    env = simulated_devices_env(4)
    flags = [f for f in env["XLA_FLAGS"].split() if not f.startswith("--xla_cpu_collective_call")]
    flags += ["--xla_cpu_collective_call_warn_stuck_timeout_seconds=30",
              "--xla_cpu_collective_call_terminate_timeout_seconds=30"]
    proc = subprocess.run([sys.executable, str(INFLIGHT_SCRIPT), "settled", "3000"],
                          capture_output=True, text=True, timeout=1800,
                          env=dict(env, XLA_FLAGS=" ".join(flags)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["done", str(3000 * 4096.0)]
