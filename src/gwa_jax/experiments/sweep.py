"""Running a table's runs one after another, or printing them for a cluster scheduler.

A run whose workdir holds ``summary.json`` is finished and skipped. Any other run is started
with its ``gwa-train`` command; a workdir with an interrupted run resumes from its last
checkpoint, since gwa-train itself resumes when given the same command. Each run's output is
appended to ``<workdir>/train.log``. A failed run does not stop the sweep; the exit status
says whether any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gwa_jax.experiments.plan import Run, python_executable, shell_command

DONE, PARTIAL, NEW = "done", "partial", "new"
LOG_NAME = "train.log"


def add_sweep_options(parser: argparse.ArgumentParser, only_help: str,
                      override_help: str) -> None:
    """The options every sweep command shares: ``--dry-run`` / ``--print-commands``,
    ``--only``, ``--override`` and ``--verbose`` (``scripts/sweep.py`` and ``gwa-sweep``)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="list every run with its status and command; run nothing")
    mode.add_argument("--print-commands", action="store_true",
                      help="print one gwa-train command per unfinished run (for a scheduler)")
    parser.add_argument("--only", nargs="+", default=[], metavar="FILTER", help=only_help)
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help=override_help)
    parser.add_argument("--verbose", action="store_true", help="stream training output")


def run_status(run: Run, root: str | os.PathLike, configs_dir: str | os.PathLike | None = None,
               overrides: Sequence[str] = ()) -> str:
    """``done`` (summary.json exists), ``partial`` (started, unfinished) or ``new``.

    With ``configs_dir``, a run that stopped early (``stopped_early`` in its summary) under
    another ``criteria.early_stop`` than its command line asks for now is ``partial``: gwa-train
    trains it on (a larger or zero patience), as it would resume an unfinished run."""
    workdir = run.workdir(root)
    if (workdir / "summary.json").exists():
        if configs_dir is not None and _trains_on(run, root, configs_dir, overrides):
            return PARTIAL
        return DONE
    if (workdir / "config.json").exists() or (workdir / "metrics.jsonl").exists():
        return PARTIAL
    return NEW


def _trains_on(run: Run, root: str | os.PathLike, configs_dir: str | os.PathLike,
               overrides: Sequence[str]) -> bool:
    workdir = run.workdir(root)
    try:
        stopped = json.loads((workdir / "summary.json").read_text()).get("stopped_early")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(stopped, dict):
        return False
    # A deliberate late import to keep start-up light: only a stopped run needs its config.
    from gwa_jax.cli.train_run import parse_command_line, stopped_run_trains_on

    config, _, _ = parse_command_line(run.command(root, configs_dir, overrides), num_devices=1,
                                      check_files=False)
    return stopped_run_trains_on(config, str(workdir))


def _failure_summary(path: Path, lines: int = 5) -> str:
    """The ``gwa-train: error:`` line of the last attempt in a log, else its last lines."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    attempt = text.rsplit("\n$ ", 1)[-1].splitlines()[1:]
    errors = [ln for ln in attempt if ln.startswith("gwa-train: error:")]
    shown = errors[-1:] or attempt[-lines:]
    return "\n".join("    " + ln for ln in shown)


def sweep(runs: Sequence[Run], root: str | os.PathLike, configs_dir: str | os.PathLike, *,
          overrides: Sequence[str] = (), dry_run: bool = False, print_commands: bool = False,
          verbose: bool = False, out: TextIO | None = None) -> int:
    """Runs (or lists) ``runs``; returns the number of failed runs.

    Args:
      runs: the plan (see :func:`gwa_jax.experiments.plan.expand`).
      root: directory holding the workdirs.
      configs_dir: the ``configs/`` directory.
      overrides: ``KEY=VALUE`` config overrides appended to every command.
      dry_run: print each run with its status and command, run nothing.
      print_commands: print one shell command per unfinished run, nothing else.
      verbose: stream each run's output to the terminal as well as to its log.
      out: where messages go (default stdout).
    """
    out = out or sys.stdout
    total = len(runs)
    if print_commands:
        for run in runs:
            if run_status(run, root, configs_dir, overrides) != DONE:
                print(shell_command(run.command(root, configs_dir, overrides)), file=out)
        return 0
    failed: list[Run] = []
    counts = {DONE: 0, PARTIAL: 0, NEW: 0}
    t_start = time.time()
    for i, run in enumerate(runs, 1):
        status = run_status(run, root, configs_dir, overrides)
        counts[status] += 1
        workdir = run.workdir(root)
        head = f"[{i}/{total}]"
        if status == DONE:
            print(f"{head} finished, skipped: {workdir}", file=out)
            continue
        cmd_text = shell_command(run.command(root, configs_dir, overrides))
        if dry_run:
            what = "would resume" if status == PARTIAL else "would run"
            print(f"{head} {what}: {cmd_text}", file=out)
            continue
        what = "resuming" if status == PARTIAL else "running"
        print(f"{head} {what}: {cmd_text}", file=out, flush=True)
        workdir.mkdir(parents=True, exist_ok=True)
        cmd = run.command(root, configs_dir, overrides, executable=python_executable())
        t0 = time.time()
        rc = _execute(cmd, workdir / LOG_NAME, verbose)
        dt = time.time() - t0
        if rc == 0:
            print(f"{head} done in {dt:.0f}s", file=out, flush=True)
        else:
            failed.append(run)
            print(f"{head} FAILED (exit {rc}) after {dt:.0f}s; log {workdir / LOG_NAME}:\n"
                  f"{_failure_summary(workdir / LOG_NAME)}", file=out, flush=True)
    if dry_run:
        print(f"{total} runs: {counts[DONE]} finished, {counts[PARTIAL]} to resume, "
              f"{counts[NEW]} to start", file=out)
    else:
        print(f"sweep: {total} runs, {counts[DONE]} already finished, {len(failed)} failed, "
              f"{time.time() - t_start:.0f}s", file=out)
        for run in failed:
            print(f"  failed: {run.workdir(root)}", file=out)
    return len(failed)


def _execute(cmd: list[str], log_path: Path, verbose: bool) -> int:
    """Runs ``cmd`` appending its output to ``log_path`` (and the terminal when verbose)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with open(log_path, "ab") as log:
        log.write(f"\n$ {shell_command(cmd)}\n".encode())
        log.flush()
        if not verbose:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
        return proc.wait()
