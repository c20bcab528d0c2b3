"""``gwa-sweep``: train a grid of runs of any config file, one after another.

    gwa-sweep --config configs/my.py --grid noise=0,0.2 seed=0,1,2 --root runs/my
    gwa-sweep --config configs/my.py:model=vit --grid config.optim.lr=1e-3,3e-3 seed=0,1 \\
        --root runs/my --print-commands > jobs.txt       # one gwa-train line per job
    gwa-sweep --config configs/my.py --grid noise=0,0.2 --root runs/my --dry-run

Grid keys are the config's ``get_config(arg)`` arguments (``noise=...``) or any config key
with the ``config.`` prefix (``config.optim.lr=...``, ``config.model.kwargs.depths=(1,1),
(2,2)``); the product of all grid values is swept. Each run's workdir is
``<root>/<config stem>/<key><value>_...``; a run with ``summary.json`` is skipped, an
interrupted one resumes from its last checkpoint, a failed one does not stop the others
(exit 1 at the end). ``<root>/sweep.json`` records each run's grid coordinates for
``gwa-report --by KEY``. The paper's tables are swept by ``scripts/sweep.py``, which runs
the same code.

Before anything runs or is written (``--dry-run`` and ``--print-commands`` too), every
unfinished run's gwa-train command line is checked as gwa-train checks it on start; a bad one
(or a ``--root`` that is a file) is one ``gwa-sweep: error: ...`` line naming the run, exit 2.
Data this machine lacks (dataset files, ``data_dir``, ``init_from``) is a note.
"""

from __future__ import annotations

import argparse
import sys

from gwa_jax.experiments.checks import OneLineParser, output_dir_problem
from gwa_jax.experiments.grid import (
    GridError,
    check_config_arguments,
    expand_grid,
    validate_runs,
    write_manifest,
)
from gwa_jax.experiments.sweep import add_sweep_options
from gwa_jax.run.run_guard import USAGE_EXIT

PROG = "gwa-sweep"


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return USAGE_EXIT


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = OneLineParser(prog=PROG, description=doc.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="\n\n".join(doc.split("\n\n")[1:]))
    p.add_argument("--config", required=True, metavar="FILE.py[:ARG]",
                   help="config file, optionally with fixed arguments")
    p.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2",
                   help="grid keys: config arguments, or config.KEY for any config key")
    p.add_argument("--root", required=True, help="directory that receives the workdirs")
    add_sweep_options(
        p, only_help="keep runs matching all filters: KEY=V1,V2 on a grid key, or a "
                     "substring of the workdir",
        override_help="config override for every run (not part of the workdir name)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep; returns the exit status (0 ok, 1 a run failed, 2 bad input).

    Bad input (a malformed grid, a config argument or ``config.*`` value that gwa-train
    would refuse, a ``--root`` that is a file) is one line and exit 2 before anything is
    written, with ``--dry-run`` too; data missing on this machine is a note.
    """
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.experiments.sweep import sweep

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a bad option (one line printed).
        return int(stop.code or 0)
    problem = output_dir_problem(args.root, "--root")
    if problem:
        return _fail(problem)
    try:
        runs = expand_grid(args.config, args.grid)
        check_config_arguments(runs)
        runs = [r for r in runs if r.matches(args.only)]
        if not runs:
            return _fail(f"no run of the grid matches --only {' '.join(args.only)}")
        notes = validate_runs(runs, args.root, ".", args.override)
    except GridError as err:
        return _fail(str(err))
    for note in notes:  # Under --print-commands stdout is the job list: notes go to stderr.
        print(f"{PROG}: note: {note}" if args.print_commands else f"note: {note}",
              file=sys.stderr if args.print_commands else sys.stdout)
    if not args.dry_run:
        write_manifest(runs, args.root)
    failed = sweep(runs, args.root, ".", overrides=args.override, dry_run=args.dry_run,
                   print_commands=args.print_commands, verbose=args.verbose)
    return 1 if failed else 0


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `gwa-sweep ... --print-commands | head`
        sys.exit(0)


if __name__ == "__main__":
    run()
