"""``gwa-report``: tables and figures of any run folder (a sweep root or one workdir).

    gwa-report runs/my --out results/my --by noise          # runs.md, by_noise.md, figures/
    gwa-report runs/my/my/noise0.2 --out results/one        # one run
    gwa-report runs/my --out results/my --by config.optim.lr seed --no-figures

Per run and criterion (gwa, labelwave, last, val, ...): the selected epoch, the test
accuracy there, the best epoch in hindsight and the regret, in Markdown, CSV and LaTeX;
``--by`` groups by any grid key of ``gwa-sweep`` or any config.json key (mean ± std over
runs). Figures: training curves with each stop (Fig. 2) and, for noisy runs, clean vs
mislabelled score histograms (Fig. 16) per run, max mean alignment vs test accuracy across
runs (Fig. 3). Exits 1 with one line when no finished run is found; bad input (a damaged
run file, a path or ``--out`` that is a file, an unknown ``--metric`` or ``--by`` key) is one
``gwa-report: error: ...`` line and exit 2, with nothing written.

Runs of a paper table's sweep (``python scripts/sweep.py table1_cifar10`` ...) also get
``paper_comparison.md``, printed as well: each of our cells beside the paper's number,
|ours - paper| and whether that exceeds the paper's spread over its 3 runs, as
``scripts/make_tables.py`` writes it (``--no-paper``: skip it). Other runs get none.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from gwa_jax.experiments.checks import OneLineParser, output_dir_problem
from gwa_jax.run.run_guard import RUNTIME_EXIT, USAGE_EXIT

PROG = "gwa-report"


def main(argv: list[str] | None = None) -> int:
    """Writes the report; returns the exit status (0 ok, 1 no finished run, 2 bad input).

    Bad input (a path that is a file, a damaged run file, an ``--out`` that is a file, an
    unknown ``--metric`` or ``--by`` key) is one line and exit 2, before anything is written.
    """
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.experiments.run_report import make_report
    from gwa_jax.experiments.run_table import NoFinishedRuns

    doc = __doc__ or ""
    p = OneLineParser(prog=PROG, description=doc.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="\n\n".join(doc.split("\n\n")[1:]))
    p.add_argument("path", help="a sweep root (searched recursively) or one run's workdir")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--by", nargs="+", default=[], metavar="KEY",
                   help="group by grid keys or config.json keys")
    p.add_argument("--metric", default="test_acc",
                   help="metrics.jsonl / summary key to report (default test_acc)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    p.add_argument("--no-paper", action="store_true",
                   help="runs of a paper table: do not print / write the comparison with the "
                        "paper's numbers")
    try:
        args = p.parse_args(argv)
    except SystemExit as stop:  # --help, or a bad option (one line printed).
        return int(stop.code or 0)
    argv_text = sys.argv[1:] if argv is None else argv
    command = shlex.join([PROG, *argv_text])
    problem = _check(args)
    if problem:
        print(f"{PROG}: error: {' '.join(problem.split())}", file=sys.stderr)
        return USAGE_EXIT
    try:
        make_report(args.path, args.out, by=args.by, figures=not args.no_figures,
                    metric=args.metric, command=command, paper=not args.no_paper)
    except NoFinishedRuns as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return RUNTIME_EXIT
    except KeyError as err:
        print(f"{PROG}: error: {err.args[0]}", file=sys.stderr)
        return USAGE_EXIT
    return 0


def _check(args: argparse.Namespace) -> str | None:
    """The first bad input among the path, ``--out``, the run files and ``--metric``."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.data.registry import CORRUPTION_GROUPS
    from gwa_jax.experiments.checks import BadRunFile, check_run_files, metric_names
    from gwa_jax.experiments.grid import MANIFEST
    from gwa_jax.experiments.results import GROUP_PREFIX

    path = Path(args.path)
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a run directory or a sweep root"
    problem = output_dir_problem(args.out, "--out")
    if problem or not path.is_dir():
        return problem  # A missing path: "does not exist", exit 1 (no finished run).
    if os.path.lexists(path / "summary.json"):
        dirs = [path]
    else:
        dirs = sorted(p.parent for p in path.rglob("summary.json"))
    try:
        for where in dict.fromkeys((path.parent.parent, path.parent, path)):
            if (where / MANIFEST).is_file():
                check_manifest(where / MANIFEST)
        files = [check_run_files(d, alignment=not args.no_figures,
                                 need_step=not args.no_figures) for d in dirs]
    except BadRunFile as err:  # A score file is stored nowhere else: the tables need none.
        return str(err) + ("; --no-figures writes the tables without the score files"
                           if ".npy" in str(err) else "")
    if not files:
        return None  # No finished run: exit 1 below.
    metric = args.metric
    if metric.startswith(GROUP_PREFIX):
        groups = sorted(set(CORRUPTION_GROUPS.values()))
        if metric[len(GROUP_PREFIX):] not in groups:
            return (f"--metric {metric!r}: no such corruption group; choose one of "
                    f"{', '.join(GROUP_PREFIX + g for g in groups)}")
        return None
    names = metric_names(files)
    if metric not in names:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return (f"--metric {metric!r} is in no run's metrics.jsonl or summary.json; choose "
                f"one of {shown or 'nothing (the runs hold no numbers)'}")
    return None


def check_manifest(path: Path) -> None:
    """``sweep.json``: a JSON object whose ``runs`` is a list of entries with a workdir."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.experiments.checks import BadRunFile, read_json_object

    runs = read_json_object(path).get("runs")
    if not isinstance(runs, list) or not all(
            isinstance(e, dict) and isinstance(e.get("workdir"), str)
            and isinstance(e.get("grid", {}), dict) for e in runs):
        raise BadRunFile(f"{path} is damaged ('runs' is not a list of runs, each with a "
                         f"workdir and its grid)")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
