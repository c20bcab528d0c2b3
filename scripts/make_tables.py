"""Build the paper's tables from finished run directories: Markdown, CSV and LaTeX.

    python scripts/make_tables.py table1_cifar10               # -> results/table1_cifar10/
    python scripts/make_tables.py fmnist_n --relative          # differences to Val Set (10%)
    python scripts/make_tables.py table2 table3 table5 table4 --root runs/ --out results/
    python scripts/make_tables.py all

Rows Val Set (10%) / (1%) are the `val` selections of the 10% / 1% split runs; LabelWave, GD
and GWA come from the 0% split run; cells are the mean over seeds with (max - min), best in
bold, second best underlined. Table 1 style tables also get fig3_correlation.* (Pearson and
Spearman of max mean alignment vs final test accuracy), runs_overview.* (per 0%-split run:
epochs with undefined GWA, lowest kurtosis, each criterion's epoch, best epoch in hindsight)
and mislabel_auroc.* (AUROC of minus the alignment score at the GWA-selected epoch).
Table 4 is read from configs/ itself. A table without any finished run is not written: one
line names the sweep to run and the exit status is 1. Tables of your own configs' runs:
gwa-report.

For the tables the paper prints numbers for (table1_cifar10, table1_imagenet, table1, table2,
table3, table5) the output also gets paper_comparison.md, printed to stdout as well: per cell
ours, the paper's, |ours - paper| and whether that exceeds the paper's spread (max - min over
its 3 runs), so a finished sweep shows at once whether it reproduced (--no-paper: skip it).
gwa-report on the sweep root prints and writes the same comparison
(gwa_jax.experiments.paper_compare.paper_comparison).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gwa_jax.experiments.paper_compare import PAPER_FILE, paper_comparison, paper_table
from gwa_jax.experiments.reports import ALL_TABLES, make_table
from gwa_jax.experiments.run_table import NoFinishedRuns
from gwa_jax.run.integrity import DamagedRunError

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("tables", nargs="+", choices=[*ALL_TABLES, "all"], metavar="TABLE",
                   help=f"one or more of: {', '.join(ALL_TABLES)}, all")
    p.add_argument("--root", default="runs", help=(
        "a sweep root (<config>/<name> workdirs) or a folder of one study's run folders "
        "(<name>, as scripts/export_runs.py writes them)"))
    p.add_argument("--out", default="results", help="output directory (one folder per table)")
    p.add_argument("--configs", default=str(ROOT / "configs"), help="the configs/ directory")
    p.add_argument("--relative", action="store_true",
                   help="report rows as differences to the Val Set (10%%) row")
    p.add_argument("--gd", choices=("gd", "gd_up5"), default="gd",
                   help="GD stop rule: 5 consecutive increases (gd) or the 5th increase")
    p.add_argument("--no-paper", action="store_true",
                   help="do not print / write the comparison with the paper's numbers")
    args = p.parse_args(argv)
    names = ALL_TABLES if "all" in args.tables else list(dict.fromkeys(args.tables))
    command = shlex.join(["python", "scripts/make_tables.py", *(argv if argv is not None
                                                                 else sys.argv[1:])])
    status = 0
    for name in names:
        try:
            written = make_table(name, args.root, args.out, relative=args.relative, gd=args.gd,
                                 configs_dir=args.configs, command=command)
        except NoFinishedRuns as err:
            print(f"make_tables: error: {err}", file=sys.stderr)
            status = 1
            continue
        except DamagedRunError as err:  # A run file differs from its checksum: one line.
            print(f"make_tables: error: {err}", file=sys.stderr)
            return 2
        md = [w for w in written if w.suffix == ".md"]
        print(f"{name}: wrote {', '.join(str(w) for w in md)} (+ .csv, .tex)")
        if not args.no_paper and paper_table(name) is not None:
            text = paper_comparison(name, args.root, gd=args.gd, command=command)
            path = Path(args.out) / name / PAPER_FILE
            path.write_text(text)
            print(f"{name}: wrote {path}\n\n{text}")
    return status


if __name__ == "__main__":
    sys.exit(main())
