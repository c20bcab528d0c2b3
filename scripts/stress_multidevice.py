"""Runs the multi-device tests many times in a row on a deliberately loaded machine.

    python scripts/stress_multidevice.py --runs 30 --busy 2 \\
        --out results/reliability/multidevice_stress.json

Starts ``--busy`` processes that spin on a core each, then runs
``pytest tests/test_multidevice.py`` ``--runs`` times, one after the other, and records each
run's exit status, pytest's closing line and the load average while it ran. The busy loops
are stopped at the end (also on Ctrl-C). Writes the JSON report to ``--out`` (after every
run, so a stopped sweep keeps what it measured) and exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LOOP = "while True: pass"


def _closing_line(output: str) -> str:
    lines = [ln.strip("= ") for ln in output.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--busy", type=int, default=2, help="busy-loop processes to start")
    parser.add_argument("--tests", default="tests/test_multidevice.py")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.busy < 0:
        parser.error("--runs must be >= 1 and --busy >= 0")
    if args.out.exists():
        parser.error(f"{args.out} exists; choose another --out or remove it first")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    report = {"command": " ".join(["python", "scripts/stress_multidevice.py", *sys.argv[1:]]),
              "commit": _git_commit(), "cpus": os.cpu_count(), "busy_loops": args.busy,
              "python": platform.python_version(), "tests": args.tests, "runs": []}
    try:
        for i in range(1, args.runs + 1):
            t0 = time.time()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                                   "no:cacheprovider", args.tests], cwd=ROOT,
                                  capture_output=True, text=True)
            run = {"run": i, "returncode": proc.returncode,
                   "result": _closing_line(proc.stdout), "wall_s": round(time.time() - t0, 1),
                   "load_average_1min_at_end": round(os.getloadavg()[0], 2)}
            if proc.returncode:
                run["output_tail"] = (proc.stdout + proc.stderr)[-4000:]
            report["runs"].append(run)
            report["failed_runs"] = sum(r["returncode"] != 0 for r in report["runs"])
            args.out.write_text(json.dumps(report, indent=2) + "\n")
            print(f"run {i}/{args.runs}: rc {proc.returncode}, {run['result']}, "
                  f"{run['wall_s']} s, load {run['load_average_1min_at_end']}", flush=True)
    finally:
        for p in busy:
            p.kill()
    return 1 if report["failed_runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
