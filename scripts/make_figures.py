"""Draw the paper's figures (PNG) from finished run directories.

    python scripts/make_figures.py fmnist_n                     # -> results/fmnist_n/fig*.png
    python scripts/make_figures.py table1_cifar10 --model convnext --variant noise0.17
    python scripts/make_figures.py fmnist_n --only fig4 fig16 --classes 0 6 --seed 1
    python scripts/make_figures.py fmnist_n --run runs/x --val-run runs/y --offline-run runs/z

Fig. 2 (validation accuracy / LabelWave / GWA over training, stops marked), Fig. 3 (max mean
alignment vs final test accuracy), Fig. 4 (most / least aligned training images), Fig. 5 (GWA
of every 0%-split run over training with the gwa and gwa_finetune stops), Fig. 6
(online vs offline GWA; needs a run with gwa.offline_every=1, e.g. the fmnist_n sweep's
offline=1 runs) and Fig. 16 (clean vs mislabelled score histograms). A figure whose input is
missing is skipped with a one-line message; when none can be drawn the exit status is 1.
Figures of your own configs' runs: gwa-report.
"""

from __future__ import annotations

import argparse
import sys

from gwa_jax.experiments.figures import make_figures
from gwa_jax.experiments.plan import PLANS
from gwa_jax.run.integrity import DamagedRunError

FIGURES = ("fig2", "fig3", "fig4", "fig5", "fig6", "fig16")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("table", choices=list(PLANS), help="the sweep whose runs are drawn")
    p.add_argument("--root", default="runs", help=(
        "a sweep root (<config>/<name> workdirs) or a folder of one study's run folders "
        "(<name>, as scripts/export_runs.py writes them)"))
    p.add_argument("--out", default="results", help="output directory (one folder per table)")
    p.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES))
    p.add_argument("--model", help="model of the single-run figures (vit, convnext)")
    p.add_argument("--variant", help="data variant of the single-run figures, e.g. noise0.17 "
                                     "(default: the noisiest one with a finished run)")
    p.add_argument("--seed", type=int, default=0, help="seed of the single-run figures")
    p.add_argument("--run", help="workdir of a 0%%-split run for Fig. 2, 4 and 16")
    p.add_argument("--val-run", help="workdir of its 10%%-split twin (Fig. 2)")
    p.add_argument("--offline-run", nargs="+", default=[], help="workdirs for Fig. 6")
    p.add_argument("--classes", nargs=2, type=int, help="the two classes of Fig. 4")
    args = p.parse_args(argv)
    try:
        written = make_figures(args.table, args.root, args.out, only=args.only,
                               model=args.model, variant=args.variant, seed=args.seed,
                               run_dir=args.run, val_run_dir=args.val_run,
                               offline_dirs=args.offline_run, classes=args.classes)
    except DamagedRunError as err:  # A run file differs from its checksum: one line.
        print(f"make_figures: error: {err}", file=sys.stderr)
        return 2
    if not written:
        print(f"make_figures: error: no figure of {args.table} could be drawn from {args.root} "
              f"(see above; for runs of your own config use gwa-report)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
