"""Reliability of gwa-train as a process: SIGKILL and restart, NaN stop, workdir rules.

The reference is the quickstart smoke configuration of the README; every interrupted run
must end with the same metrics (timing fields aside), scores and selections.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fmnist
from gwa_jax.config_check import ConfigError
from gwa_jax.workdir import FINISHED, FRESH, RESUME, prepare_workdir

ROOT = Path(__file__).resolve().parents[1]
pytestmark = requires_fmnist
EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")
SMOKE = ["--config", str(ROOT / "configs" / "quickstart.py"), "--config.total_steps=40",
         "--config.dataset.train_subset=1000", "--config.batch_size=100"]
TIMING = {"epoch_time_s", "train_time_s", "eval_time_s", "ckpt_time_s"}


def command(workdir, *extra):
    return [EXE, *SMOKE, f"--workdir={workdir}", *extra]


def metrics(workdir):
    path = Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    with open(path) as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def selections(workdir):
    return json.loads((Path(workdir) / "summary.json").read_text())["selected"]


def run_and_kill(workdir, lines_before_kill, extra_delay=0.0):
    """Starts gwa-train and SIGKILLs it once metrics.jsonl has the given number of lines."""
    proc = subprocess.Popen(command(workdir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    path = Path(workdir) / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= lines_before_kill:
            time.sleep(extra_delay)
            break
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted smoke run."""
    workdir = tmp_path_factory.mktemp("reference")
    proc = subprocess.run(command(workdir), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GWA-best checkpoint" in proc.stdout
    return workdir, proc.stdout


def test_smoke_run_writes_everything(reference):
    workdir, _ = reference
    rows = metrics(workdir)
    assert len(rows) == 4
    assert {"gwa", "gwa_finetune", "labelwave", "last"} <= set(selections(workdir))


@pytest.mark.parametrize("lines,delay", [(3, 0.0), (1, 1.5)],
                         ids=["after-epoch-3", "mid-epoch-2"])
def test_sigkill_and_restart_matches_uninterrupted(reference, tmp_path, lines, delay):
    ref_dir = reference[0]
    workdir = tmp_path / "killed"
    run_and_kill(workdir, lines, delay)
    assert not (workdir / "summary.json").exists()
    proc = subprocess.run(command(workdir), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert metrics(workdir) == metrics(ref_dir)
    assert selections(workdir) == selections(ref_dir)
    for name in sorted(os.listdir(ref_dir / "alignment")):
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(workdir / "alignment" / name),
                                          np.load(ref_dir / "alignment" / name))


def test_finished_workdir_reports_and_foreign_config_is_refused(reference, tmp_path):
    ref_dir = reference[0]
    again = subprocess.run(command(ref_dir), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert "holds a finished run" in again.stdout and "GWA-best checkpoint" in again.stdout
    other = subprocess.run(command(ref_dir, "--config.seed=1"), capture_output=True, text=True,
                           timeout=120)
    assert other.returncode == 2
    errors = [ln for ln in other.stderr.splitlines() if ln.startswith("gwa-train:")]
    assert len(errors) == 1 and "different config (differs in: seed)" in errors[0]
    assert "--overwrite" in errors[0]


def test_prepare_workdir_states(tmp_path):
    from gwa_jax.config_base import default_config
    from gwa_jax.run_files import write_json

    c = default_config()
    assert prepare_workdir(c, tmp_path / "new") == FRESH
    write_json(tmp_path / "config.json", c.to_dict())
    assert prepare_workdir(c, tmp_path) == RESUME
    (tmp_path / "summary.json").write_text("{}")
    assert prepare_workdir(c, tmp_path) == FINISHED
    c2 = default_config()
    c2.seed = 5
    with pytest.raises(ConfigError, match="differs in: seed"):
        prepare_workdir(c2, tmp_path)
    assert prepare_workdir(c2, tmp_path, overwrite=True) == FRESH
    assert os.listdir(tmp_path) == []


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    workdir = tmp_path / "nan"
    proc = subprocess.run(command(workdir, "--config.debug_nan_at_step=15"), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("gwa-train:")]
    assert len(errors) == 1 and "non-finite loss or gradient at step 15 (epoch 2)" in errors[0]
    assert "Traceback" not in proc.stderr
    rows = metrics(workdir)
    assert [r["epoch"] for r in rows] == [1]  # Metrics so far: the one good epoch.
    assert os.listdir(workdir / "checkpoints" / "latest") == ["1"]
    assert not (workdir / "summary.json").exists()
