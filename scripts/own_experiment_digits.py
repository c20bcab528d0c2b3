"""The README's "Your own experiments" end to end on configs/my_digits.py.

    python scripts/own_experiment_digits.py                      # -> results/my_digits/
    python scripts/own_experiment_digits.py --grid noise=0,0.2 seed=0,1,2 --root runs/my

Runs the three commands a user types, in-process: gwa-sweep (train the grid, skipping
finished runs), gwa-report (tables grouped by noise, figures) and gwa-inspect (the most
negatively aligned samples of each noisy run at its GWA epoch), and records the command
line in <out>/command.txt.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gwa_jax.cli import inspect as inspect_cli
from gwa_jax.cli import report as report_cli
from gwa_jax.cli import sweep as sweep_cli
from gwa_jax.experiments.run_table import find_runs

CONFIG = "configs/my_digits.py"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", nargs="+", default=["noise=0,0.2", "seed=0,1"])
    p.add_argument("--root", default="runs/my")
    p.add_argument("--out", default="results/my_digits")
    p.add_argument("-k", type=int, default=15)
    args = p.parse_args(argv)
    status = sweep_cli.main(["--config", CONFIG, "--grid", *args.grid, "--root", args.root])
    if status:
        return status
    status = report_cli.main([args.root, "--out", args.out, "--by", "noise"])
    if status:
        return status
    runs, _ = find_runs(args.root)
    for run in runs:
        if run.result.noisy():
            out = Path(args.out) / "inspect" / run.name.replace("/", "__")
            status = status or inspect_cli.main([str(run.result.workdir), "--epoch", "gwa",
                                                 "-k", str(args.k), "--out", str(out)])
    command = shlex.join(["python", "scripts/own_experiment_digits.py",
                          *(sys.argv[1:] if argv is None else argv)])
    (Path(args.out) / "command.txt").write_text(command + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
