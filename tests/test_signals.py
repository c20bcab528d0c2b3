"""SIGINT and SIGTERM at every phase of a real ``gwa-train`` run, and the workdir lock taken
before the heavy imports.

Each signal is sent when the run's own log (or, for the first moments, the kernel's view of
its signal mask) says a phase has begun: start-up, compilation, mid-epoch, a queued epoch,
evaluation, checkpointing (see ``signal_harness.py``). Only outcomes are checked: the exit
status, one ``gwa-train:`` line and no traceback, what was saved, and that rerunning the same
command ends identical to an uninterrupted run. Nothing is timed.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import requires_fmnist
from gwa_jax.run.run_guard import DISTRIBUTED_VARS, workdir_from_argv
from gwa_jax.train import sharding
from signal_harness import (
    COMPILED,
    COMPILING,
    CONFIG,
    DATA_READY,
    EPOCHS,
    EXE,
    HANG_GUARD,
    STEPS_PER_EPOCH,
    GwaTrain,
    assert_one_clean_line,
    checkpoint_steps,
    checkpointing,
    command,
    epoch_done,
    error_lines,
    evaluating,
    metrics,
    rerun_matches,
    run_to_end,
    step_line,
)

SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM
QUEUED_LOG_EVERY = STEPS_PER_EPOCH + 5  # One line, early in epoch 2, until epoch 3.
BEFORE_TRAINING = ("interrupted by {} before training started; rerun the same command to "
                   "start (or resume) the run")
# gwa-train's first moments are read from /proc/PID/status.
needs_proc = pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/status"),
                                reason="needs /proc/PID/status")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted one must end identical to."""
    workdir = tmp_path_factory.mktemp("reference")
    proc = run_to_end(command(workdir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["epoch"] for r in metrics(workdir)] == list(range(1, EPOCHS + 1))
    return workdir


def interrupted_at(line: str, sig: int) -> tuple[int, int]:
    """(step, epoch) of a mid-epoch stop's line."""
    found = re.fullmatch(
        rf"gwa-train: error: interrupted by {signal.Signals(sig).name} at step (\d+) \(epoch "
        rf"(\d+)\); saved a checkpoint there, rerun the same command to resume", line)
    assert found, line
    return int(found.group(1)), int(found.group(2))


# --- Light start-up: nothing heavy before the signal handling and the lock -------------------

def test_the_entry_point_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import gwa_jax, gwa_jax.cli.train, gwa_jax.run.run_guard, gwa_jax.run.interrupt\n"
        "heavy = sorted(m for m in ('jax', 'jaxlib', 'flax', 'tensorflow', 'orbax', 'absl.app')"
        " if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert 'head_alignment' in dir(gwa_jax) and '__version__' in dir(gwa_jax)\n"
        "from gwa_jax import __version__, head_alignment, EpochTracker\n"
        "assert all(getattr(gwa_jax, n) is not None for n in gwa_jax.__all__)\n"
        "assert 'jax' in sys.modules\n"
        "print('ok', __version__)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "0.1.0"]


@pytest.mark.parametrize("argv,workdir", [
    (["--workdir", "a"], "a"), (["--workdir=a"], "a"), (["-workdir=a"], "a"),
    (["--workdir=a", "--config.seed=1", "--workdir", "b"], "b"),  # absl: the last one wins.
    (["--config.seed=1"], None), (["--workdir"], None), (["--", "--workdir=a"], None),
    (["--workdir=a", "--flagfile=f"], None),  # A flag file could name another.
])
def test_the_workdir_is_read_from_the_command_line(argv, workdir):
    assert workdir_from_argv(["gwa-train", *argv]) == workdir


def test_early_lock_knows_the_distributed_variables():
    assert set(sharding._COORDINATOR_VARS) | {"GWA_DISTRIBUTED"} == set(DISTRIBUTED_VARS)


@requires_fmnist
@needs_proc
def test_a_second_gwa_train_is_refused_while_the_first_starts(tmp_path):
    """The first command holds the lock from its first second; frozen there (SIGSTOP), still
    importing, a second command in the same workdir exits 2 naming its PID."""
    work = tmp_path / "busy"
    first = GwaTrain(command(work))
    try:
        lock = work / ".gwa-train.lock"
        deadline = time.monotonic() + HANG_GUARD
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert first.proc.poll() is None and time.monotonic() < deadline, first.stderr
            time.sleep(0.001)
        first.send(signal.SIGSTOP)
        second = run_to_end(command(work))
        assert not first.has_line(COMPILING)  # The first one is still starting.
        assert second.returncode == 2, second.stderr[-3000:]
        assert error_lines(second.stderr) == [
            f"gwa-train: error: workdir {work} is in use by another gwa-train (PID "
            f"{first.pid}); wait for it to end or stop it, or choose another --workdir"]
        assert "Traceback" not in second.stderr
        assert os.listdir(work) == [".gwa-train.lock"]
        first.send(SIGTERM)
        os.kill(first.pid, signal.SIGCONT)
        line = assert_one_clean_line(first.finish(), first.stderr, SIGTERM)
        assert line == "gwa-train: " + BEFORE_TRAINING.format("SIGTERM")
    finally:
        first.kill()


@requires_fmnist
def test_bad_input_through_the_command_leaves_the_workdir_as_found(tmp_path):
    """The lock is taken before the config is read; a rejected command gives it back and
    removes what taking it created."""
    new = tmp_path / "new" / "w"
    proc = run_to_end([EXE, *CONFIG, f"--workdir={new}", "--config.foo=1"])
    assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1, proc.stderr[-3000:]
    assert "unknown config key: foo" in error_lines(proc.stderr)[0]
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("a user's file")
    proc = run_to_end([EXE, *CONFIG, f"--workdir={existing}", "--config.optim.lr=nan"])
    assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1, proc.stderr[-3000:]
    assert os.listdir(existing) == ["notes.txt"]


# --- Signals: the default selection -----------------------------------------------------

@requires_fmnist
@needs_proc
def test_sigint_the_moment_signal_handling_starts_is_one_line(tmp_path):
    """gwa-train's first line installs the handling: a Ctrl-C right then (JAX not imported
    yet) exits 130 with one line, having trained nothing."""
    work = tmp_path / "startup"
    run = GwaTrain(command(work))
    try:
        run.wait_until_handling_signals()
        run.send(SIGINT)
        line = assert_one_clean_line(run.finish(), run.stderr, SIGINT)
    finally:
        run.kill()
    assert line == "gwa-train: " + BEFORE_TRAINING.format("SIGINT")
    assert not checkpoint_steps(work, "latest") and not metrics(work)


@requires_fmnist
def test_sigterm_mid_epoch_then_resume_matches(reference, tmp_path):
    """A scheduler's SIGTERM after a step line of epoch 2: the current step finishes, a
    mid-epoch checkpoint is saved, exit 143; the restart resumes there and ends identical."""
    work = tmp_path / "sigterm"
    argv = command(work)
    run = GwaTrain(argv)
    try:
        run.wait_for(step_line(STEPS_PER_EPOCH + 1))
        run.send(SIGTERM)
        line = assert_one_clean_line(run.finish(), run.stderr, SIGTERM)
    finally:
        run.kill()
    step, epoch = interrupted_at(line, SIGTERM)
    assert epoch == 2 and STEPS_PER_EPOCH < step < 2 * STEPS_PER_EPOCH
    assert checkpoint_steps(work, "interrupted") == [str(step)]
    assert [r["epoch"] for r in metrics(work)] == [1]
    last = rerun_matches(work, reference, argv)
    assert f"Resuming mid-epoch 2 at step {step}" in last.stderr
    assert not checkpoint_steps(work, "interrupted")


def test_sigint_with_grain_worker_processes_is_one_line_and_resumes_from_the_state(
        reference, tmp_path):
    """Grain worker processes read the batches: Ctrl-C mid-epoch still gives one line and no
    worker traceback (the workers ignore SIGINT), the mid-epoch checkpoint holds the input
    iterator's state, and the rerun reads exactly the remaining batches (ends identical to
    the threads-only reference)."""
    import json

    work = tmp_path / "workers"
    argv = command(work, "--config.dataset.worker_processes=2")
    run = GwaTrain(argv)
    try:
        run.wait_for(step_line(STEPS_PER_EPOCH + 3))
        run.send(SIGINT)
        line = assert_one_clean_line(run.finish(), run.stderr, SIGINT)
    finally:
        run.kill()
    step, epoch = interrupted_at(line, SIGINT)
    assert epoch == 2
    [meta_file] = (work / "checkpoints" / "interrupted").glob(f"{step}/meta/metadata")
    state = json.loads(meta_file.read_text())["data_state"]
    assert state["start_step"] == 0 and state["grain"]
    last = rerun_matches(work, reference, argv)
    assert f"Resuming mid-epoch 2 at step {step}" in last.stderr


@requires_fmnist
def test_sigint_while_an_epoch_is_queued_stops_mid_epoch(reference, tmp_path):
    """One progress line every 25 steps: after step 25's line (epoch 2) nothing but the loop
    itself waits for the device until the epoch ends, so JAX's asynchronous dispatch could
    queue the rest of the epoch. A Ctrl-C there still stops within a step, with a mid-epoch
    checkpoint (not after the whole queued epoch and its evaluation)."""
    work = tmp_path / "queued"
    argv = command(work, log_every=QUEUED_LOG_EVERY)
    run = GwaTrain(argv)
    try:
        run.wait_for(step_line(QUEUED_LOG_EVERY))
        run.send(SIGINT)
        line = assert_one_clean_line(run.finish(), run.stderr, SIGINT)
    finally:
        run.kill()
    step, epoch = interrupted_at(line, SIGINT)
    assert epoch == 2 and checkpoint_steps(work, "interrupted") == [str(step)]
    assert [r["epoch"] for r in metrics(work)] == [1]
    rerun_matches(work, reference, argv)


# --- Signals: every phase (slow) -----------------------------------------------------

# name: (where to send it, signal, expected outcome, log_every_steps)
PHASES = {
    "startup-at-once": (("handling", 0.0), SIGTERM, "startup", 1),
    "startup-0.3s": (("handling", 0.3), SIGINT, "startup", 1),
    "startup-1s": (("handling", 1.0), SIGTERM, "startup", 1),
    "data-ready": (DATA_READY, SIGINT, "startup", 1),
    "compiling": (COMPILING, SIGTERM, "startup", 1),
    "first-step-done": (COMPILED, SIGINT, "any", 1),
    "mid-epoch": (step_line(STEPS_PER_EPOCH + 5), SIGINT, "mid-epoch", 1),
    "queued-epoch": (step_line(QUEUED_LOG_EVERY), SIGTERM, "mid-epoch", QUEUED_LOG_EVERY),
    "epoch-end": (epoch_done(1), SIGTERM, "any", 1),
    "evaluation": (evaluating(2), SIGTERM, "after-epoch-2", 1),
    "checkpointing": (checkpointing(2), SIGINT, "any", 1),
}


@requires_fmnist
@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_signal_at_every_phase_then_resume_matches(reference, tmp_path, phase):
    where, sig, outcome, log_every = PHASES[phase]
    work = tmp_path / phase
    argv = command(work, log_every=log_every)
    run = GwaTrain(argv)
    try:
        if isinstance(where, tuple):  # A delay after the handling is installed.
            run.wait_until_handling_signals()
            time.sleep(where[1])
        else:
            run.wait_for(where)
        run.send(sig)
        line = assert_one_clean_line(run.finish(), run.stderr, sig)
    finally:
        run.kill()
    name = signal.Signals(sig).name
    if outcome == "startup":  # Nothing trained, nothing saved.
        assert line == "gwa-train: " + BEFORE_TRAINING.format(name)
        assert not checkpoint_steps(work, "latest") and not metrics(work)
    elif outcome == "mid-epoch":
        step, epoch = interrupted_at(line, sig)
        assert epoch == 2 and checkpoint_steps(work, "interrupted") == [str(step)]
    elif outcome == "after-epoch-2":  # Evaluation ends, the epoch is saved, then the exit.
        assert line == (f"gwa-train: error: interrupted by {name} after epoch 2; saved a "
                        f"checkpoint there, rerun the same command to resume")
        assert "2" in checkpoint_steps(work, "latest")
        assert not checkpoint_steps(work, "interrupted")
    rerun_matches(work, reference, argv)


@requires_fmnist
@pytest.mark.slow
def test_double_signal_exits_at_once_then_resume_matches(reference, tmp_path):
    """Ctrl-C mid-epoch saves; in the restarted run a Ctrl-C followed by a SIGTERM (two
    signals, both delivered) exits at once on the second, without saving."""
    work = tmp_path / "double"
    argv = command(work)
    run = GwaTrain(argv)
    try:
        run.wait_for(step_line(STEPS_PER_EPOCH + 5))
        run.send(SIGINT)
        step, _ = interrupted_at(assert_one_clean_line(run.finish(), run.stderr, SIGINT),
                                 SIGINT)
    finally:
        run.kill()
    saved = checkpoint_steps(work, "interrupted")
    assert saved == [str(step)]
    again = GwaTrain(argv)
    try:
        again.wait_for(step_line(step + 2))
        again.send(SIGINT)
        again.send(SIGTERM)
        line = assert_one_clean_line(again.finish(), again.stderr, SIGTERM)
    finally:
        again.kill()
    assert f"Resuming mid-epoch 2 at step {step}" in again.stderr
    assert line == ("gwa-train: interrupted again by SIGTERM; exited without saving, rerun "
                    "the same command to resume from the last checkpoint")
    assert checkpoint_steps(work, "interrupted") == saved
    rerun_matches(work, reference, argv)
