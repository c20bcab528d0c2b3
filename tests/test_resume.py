"""Reliability of gwa-train as a process: SIGKILL and restart, NaN stop, workdir rules.

The reference is the quickstart smoke configuration of the README; every interrupted run
must end with the same metrics (timing fields aside), scores and selections.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fmnist
from gwa_jax.config_check import ConfigError
from gwa_jax.run.workdir import FINISHED, FRESH, RESUME, prepare_workdir

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


@pytest.mark.parametrize("lines,delay", [
    pytest.param(3, 0.0, marks=pytest.mark.slow),  # The mid-epoch kill is the harder case.
    (1, 1.5)], ids=["after-epoch-3", "mid-epoch-2"])
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
    from gwa_jax.run.run_files import write_json

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


# --- The lock, damaged files, a full disk: gwa-train as a process ----------------------------

def run(workdir, *extra, env=None, timeout=600):
    environ = {**os.environ, **(env or {})}
    return subprocess.run(command(workdir, *extra), capture_output=True, text=True,
                          timeout=timeout, env=environ)


def error_lines(proc):
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("gwa-train:")]


def assert_same_run(workdir, ref_dir):
    assert metrics(workdir) == metrics(ref_dir)
    assert selections(workdir) == selections(ref_dir)
    for name in sorted(os.listdir(ref_dir / "alignment")):
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(workdir / "alignment" / name),
                                          np.load(ref_dir / "alignment" / name))


# Signals (SIGINT/SIGTERM at every phase of a run) are in test_signals.py.


def test_a_second_command_in_the_same_workdir_exits_2_naming_the_pid(tmp_path):
    from gwa_jax.run.workdir_lock import workdir_lock

    work = tmp_path / "busy"
    with workdir_lock(work):
        proc = run(work, timeout=300)
    assert proc.returncode == 2
    assert error_lines(proc) == [
        f"gwa-train: error: workdir {work} is in use by another gwa-train (PID {os.getpid()}); "
        f"wait for it to end or stop it, or choose another --workdir"]
    assert sorted(os.listdir(work)) == [".gwa-train.lock"]


def damaged_copy(ref_dir, tmp_path):
    work = tmp_path / "damaged"
    shutil.copytree(ref_dir, work)
    return work


@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back_and_ends_identical(reference, tmp_path):
    work = damaged_copy(reference[0], tmp_path)
    (work / "summary.json").unlink()  # So the restart resumes rather than reports.
    target = work / "checkpoints" / "latest" / "4" / "state" / "d"
    victim = max((p for p in target.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = os.urandom(64)
    victim.write_bytes(bytes(data))
    proc = run(work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checkpoints/latest/4 is damaged (checksum mismatch)" in proc.stderr
    assert "Resuming from epoch 3" in proc.stderr and "non-finite" not in proc.stderr
    assert_same_run(work, reference[0])


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated-metrics-no-summary", "non-json-metrics-line",
                                    "invalid-summary", "deleted-meta-npz",
                                    "garbage-METADATA-no-summary", "stray-temporary"])
def test_damaged_run_file_is_rebuilt_and_ends_identical(reference, tmp_path, damage):
    work = damaged_copy(reference[0], tmp_path)
    m = work / "metrics.jsonl"
    if damage == "truncated-metrics-no-summary":
        m.write_bytes(m.read_bytes()[: len(m.read_bytes()) // 3])
        (work / "summary.json").unlink()
    elif damage == "non-json-metrics-line":
        lines = m.read_text().splitlines(keepends=True)
        m.write_text(lines[0] + "{not json\n" + "".join(lines[2:]))
    elif damage == "invalid-summary":
        (work / "summary.json").write_text("{")
    elif damage == "deleted-meta-npz":
        (work / "alignment" / "meta.npz").unlink()
    elif damage == "garbage-METADATA-no-summary":
        (work / "checkpoints" / "latest" / "4" / "state" / "_METADATA").write_text("{garbage")
        (work / "summary.json").unlink()
    else:
        (work / ".metrics.jsonl.abc123.tmp").write_text('{"epoch": 9')
    proc = run(work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert_same_run(work, reference[0])
    assert (work / "alignment" / "meta.npz").exists()
    assert not list(work.glob(".*.tmp"))


@pytest.mark.slow
def test_nan_at_the_first_step_says_no_checkpoint_exists(tmp_path):
    proc = run(tmp_path / "nan1", "--config.debug_nan_at_step=1")
    assert proc.returncode == 1
    assert error_lines(proc) == [
        "gwa-train: error: non-finite loss or gradient at step 1 (epoch 1); stopped, no "
        "checkpoint was saved yet (lower optim.lr or enable optim.grad_clip_norm)"]


def _can_mount_tmpfs():
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs "
                            "/mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not shutil.which("unshare") or not _can_mount_tmpfs(),
                    reason="needs unshare and a tmpfs mount in a user namespace")
@pytest.mark.parametrize("size_mib,options", [
    (3, "rw"), pytest.param(6, "rw", marks=pytest.mark.slow), (1, "ro")])
def test_full_or_read_only_disk_is_one_line(tmp_path, size_mib, options):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    work = mnt / "run"
    # The run's exit status is kept; its metrics are copied out of the tmpfs to be checked.
    script = (f"mount -t tmpfs -o size={size_mib}m,{options} tmpfs {mnt} || exit 99; "
              f"{' '.join(command(work))}; rc=$?; "
              f"cp {work}/metrics.jsonl {tmp_path} 2>/dev/null; exit $rc")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, timeout=600)
    errors = error_lines(proc)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1, proc.stderr[-3000:]
    if options == "ro":
        assert proc.returncode == 2
        assert "cannot create or write --workdir" in errors[0]
        assert "Read-only file system" in errors[0]
    else:
        assert proc.returncode == 1
        assert f"no space left on the device writing {mnt}/run/" in errors[0]
        saved = tmp_path / "metrics.jsonl"
        if saved.exists():  # Earlier epochs' lines are intact.
            rows = [json.loads(line) for line in saved.read_text().splitlines()]
            assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
