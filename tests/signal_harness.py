"""Signals a real ``gwa-train`` process when a phase of its run begins, as a user or a scheduler
would, and reads back what it left.

The phase is read from the process itself, never from a hook in the package: the kernel's
view of its signal mask (``/proc/PID/status``: the handling is installed) and its ordinary log
lines (stdout is a pipe, not a terminal, so with ``--alsologtostderr`` the log says when the
train step starts compiling, when it is compiled, every ``log_every_steps`` steps, when an
epoch's evaluation and checkpointing start, and when an epoch ends). Nothing here measures
time: timeouts only guard against a hung process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")
# Small and quick: 3 Fashion-MNIST classes (a 3000-image test set), 1280 training images,
# 20 steps of 64 per epoch, 3 epochs. Steps are slow enough (vit_fmnist, not the tiny one)
# that an epoch has seconds left after its first step line.
CONFIG = ["--config", str(ROOT / "configs" / "quickstart.py"), "--config.total_steps=60",
          "--config.dataset.classes=(0,1,2)", "--config.dataset.train_subset=1280",
          "--config.batch_size=64", "--config.eval_batch_size=500", "--alsologtostderr"]
STEPS_PER_EPOCH, EPOCHS = 20, 3
TIMING = {"epoch_time_s", "train_time_s", "eval_time_s", "ckpt_time_s"}
HANG_GUARD = 600  # Seconds; only for a process that never ends.

# The run's log lines that mark the start of each phase.
COMPILING = r"compiling the train step"
COMPILED = r"train step compiled"
DATA_READY = r"Data parallel over"


def step_line(step: int) -> str:
    return rf"\bstep {step}/{STEPS_PER_EPOCH * EPOCHS} \(epoch"


def evaluating(epoch: int) -> str:
    return rf"Epoch {epoch}: evaluating"


def checkpointing(epoch: int) -> str:
    return rf"Epoch {epoch}: saving checkpoints"


def epoch_done(epoch: int) -> str:
    return rf"\bepoch {epoch}/{EPOCHS} step {epoch * STEPS_PER_EPOCH} \|"


def command(workdir, *extra, log_every: int = 1) -> list[str]:
    return [EXE, *CONFIG, f"--config.log_every_steps={log_every}", f"--workdir={workdir}",
            *extra]


class GwaTrain:
    """One ``gwa-train`` process; its stderr lines are collected as they come."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self.out: list[str] = []
        self._cond = threading.Condition()
        self._closed = 0
        for stream, sink in ((self.proc.stderr, self.lines), (self.proc.stdout, self.out)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    def _read(self, stream, sink):
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed += 1
            self._cond.notify_all()

    def wait_for(self, pattern: str) -> str:
        """Blocks until a stderr line matches ``pattern``; fails if the process ends first."""
        regex = re.compile(pattern)
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                assert self._closed < 2, (f"gwa-train ended before a line matching {pattern!r}:"
                                          f"\n" + "\n".join(self.lines[-40:]))
                assert self._cond.wait(timeout=HANG_GUARD), f"no {pattern!r} line (hung?)"

    def has_line(self, pattern: str) -> bool:
        with self._cond:
            return any(re.search(pattern, line) for line in self.lines)

    def _status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1], 16)
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def wait_until_handling_signals(self) -> None:
        """Blocks until the main thread blocks SIGINT and SIGTERM: gwa-train's first line ran
        (before that the interpreter itself is starting, and no program can answer)."""
        bits = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        deadline = time.monotonic() + HANG_GUARD
        while self._status("SigBlk") & bits != bits:
            assert self.proc.poll() is None, "gwa-train ended during start-up"
            assert time.monotonic() < deadline, "signal handling never installed (hung?)"
            time.sleep(0.001)

    def send(self, sig: int) -> None:
        assert self.proc.poll() is None, "gwa-train ended before the signal could be sent"
        os.kill(self.pid, sig)

    def finish(self) -> int:
        self.proc.wait(timeout=HANG_GUARD)
        with self._cond:
            while self._closed < 2:
                assert self._cond.wait(timeout=HANG_GUARD)
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_to_end(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("gwa-train:")]


def assert_one_clean_line(rc: int, stderr: str, sig: int) -> str:
    """Exit status 128 + sig, exactly one ``gwa-train:`` line, no traceback; the line."""
    assert rc == 128 + sig, f"exit status {rc}, expected {128 + sig}:\n{stderr[-4000:]}"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-4000:]
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr[-4000:]
    return lines[0]


def metrics(workdir) -> list[dict]:
    path = Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    with open(path) as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def selections(workdir) -> dict:
    return json.loads((Path(workdir) / "summary.json").read_text())["selected"]


def checkpoint_steps(workdir, kind: str) -> list[str]:
    folder = Path(workdir) / "checkpoints" / kind
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def assert_same_run(workdir, ref_dir) -> None:
    """metrics.jsonl (timings aside), summary.json's selections and every alignment/*.npy
    are those of the uninterrupted reference run."""
    assert metrics(workdir) == metrics(ref_dir)
    assert selections(workdir) == selections(ref_dir)
    names = sorted(n for n in os.listdir(Path(ref_dir) / "alignment") if n.endswith(".npy"))
    assert names == sorted(n for n in os.listdir(Path(workdir) / "alignment")
                           if n.endswith(".npy"))
    for name in names:
        np.testing.assert_array_equal(np.load(Path(workdir) / "alignment" / name),
                                      np.load(Path(ref_dir) / "alignment" / name))


def rerun_matches(workdir, ref_dir, argv: list[str]) -> subprocess.CompletedProcess:
    """Reruns the same command to its end and checks it against the reference."""
    proc = run_to_end(argv)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert_same_run(workdir, ref_dir)
    return proc
