"""Expand a paper table into its runs and train them one after another (or print them).

    python scripts/sweep.py fmnist_n                    # train every run, skip finished ones
    python scripts/sweep.py table1_cifar10 --dry-run    # what would run / resume / be skipped
    python scripts/sweep.py table1 --print-commands > jobs.txt   # one gwa-train line per job
    python scripts/sweep.py fmnist_n --only model=vit split=0,0.1 --root runs/

Tables: table1_cifar10, table1_imagenet, table1, table2, table3, table5, fmnist_n,
fmnist_n_asym, paper (= table1 + table3 + table5). Each run has the workdir
<root>/<config>/<argument slug>; a run with summary.json is skipped, an interrupted one
resumes from its last checkpoint. Exits 1 when any run failed (after trying the others).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gwa_jax.experiments.plan import PLANS, expand
from gwa_jax.experiments.sweep import add_sweep_options, sweep

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("table", choices=list(PLANS))
    p.add_argument("--root", default="runs", help="directory of the workdirs (default: runs)")
    p.add_argument("--configs", default=str(ROOT / "configs"), help="the configs/ directory")
    add_sweep_options(
        p, only_help="keep runs matching all filters: KEY=V1,V2 on model, variant, split, "
                     "seed, config or a config argument; or a substring of the workdir",
        override_help="config override for every run, e.g. dataset.data_dir=/data/tfds")
    args = p.parse_args(argv)
    runs = [r for r in expand(args.table) if r.matches(args.only)]
    if not runs:
        print(f"sweep: no run of {args.table} matches {' '.join(args.only)}", file=sys.stderr)
        return 2
    failed = sweep(runs, args.root, args.configs, overrides=args.override, dry_run=args.dry_run,
                   print_commands=args.print_commands, verbose=args.verbose)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `sweep.py ... --print-commands | head`
        sys.exit(0)
