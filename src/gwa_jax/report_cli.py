"""``gwa-report``: tables and figures of any run folder (a sweep root or one workdir).

    gwa-report runs/my --out results/my --by noise          # runs.md, by_noise.md, figures/
    gwa-report runs/my/my/noise0.2 --out results/one        # one run
    gwa-report runs/my --out results/my --by config.optim.lr seed --no-figures

Per run and criterion (gwa, labelwave, last, val, ...): the selected epoch, the test
accuracy there, the best epoch in hindsight and the regret, in Markdown, CSV and LaTeX;
``--by`` groups by any grid key of ``gwa-sweep`` or any config.json key (mean ± std over
runs). Figures: training curves with each stop (Fig. 2) and, for noisy runs, clean vs
mislabelled score histograms (Fig. 16) per run, max mean alignment vs test accuracy across
runs (Fig. 3). Exits 1 with one line when no finished run is found.
"""

from __future__ import annotations

import argparse
import shlex
import sys

PROG = "gwa-report"


def main(argv: list[str] | None = None) -> int:
    """Writes the report; returns the exit status (0 ok, 1 no finished run, 2 bad input)."""
    from gwa_jax.experiments.run_report import make_report
    from gwa_jax.experiments.run_table import NoFinishedRuns

    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog=PROG, description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(doc.split("\n\n")[1:]))
    p.add_argument("path", help="a sweep root (searched recursively) or one run's workdir")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--by", nargs="+", default=[], metavar="KEY",
                   help="group by grid keys or config.json keys")
    p.add_argument("--metric", default="test_acc",
                   help="metrics.jsonl / summary key to report (default test_acc)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    args = p.parse_args(argv)
    argv_text = sys.argv[1:] if argv is None else argv
    command = shlex.join([PROG, *argv_text])
    try:
        make_report(args.path, args.out, by=args.by, figures=not args.no_figures,
                    metric=args.metric, command=command)
    except NoFinishedRuns as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyError as err:
        print(f"{PROG}: error: {err.args[0]}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
