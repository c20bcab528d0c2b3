"""Tables and figure of the regime study from its finished runs (nothing is trained).

    python scripts/regime_report.py                      # runs/regime -> results/regime/
    python scripts/regime_report.py --root runs --out results
    python scripts/regime_report.py --json results/regime/gpu_plain/*.json \
        --out results/regime/gpu_plain          # reports of the removed device-resident loop

Writes ``<out>/regime/``: ``runs.{md,csv}`` (per run: saturation epoch, each criterion's stop
and test accuracy, best epoch in hindsight, regrets), ``summary.{md,csv}`` (mean and max
regret over seeds per model, pool, recipe and noise; GWA's mean gain over the last epoch),
``regret_vs_pool.png`` (each criterion's regret per run and its mean over seeds against the
pool size: GWA, the last epoch and ``gwa_ma5`` (GWA's trailing 5-epoch mean, post hoc) on
top, LabelWave and GD below, one column per noise level) and
``command.txt``. Exits 1 when no run has finished.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gwa_jax.experiments import regime  # noqa: E402
from gwa_jax.experiments import tables as T  # noqa: E402
from gwa_jax.run.integrity import DamagedRunError  # noqa: E402

# Top row: GWA against training to the end, and GWA's smoothed peak (post hoc); bottom row:
# the other criteria (LabelWave's regrets are an order of magnitude larger under augmentation,
# so they get their own axes).
FIGURE_ROWS = (
    (("gwa", "-", "o"), ("last", ":", "s"), (regime.SMOOTHED, "--", "D")),
    (("labelwave", "--", "^"), ("gd", "-.", "v")),
)


def regret_figure(items: list[regime.RunRegret], path: Path) -> Path:
    """Regret (points) vs pool size, one column per noise level: each run as a faint point, the
    mean over seeds as a line; colour = (model, recipe), line style = criterion."""
    noises = sorted({regime.group_key(it.run)[3] for it in items})
    lines = sorted({(m, r) for m, _, r, _ in (regime.group_key(it.run) for it in items)})
    pool_sizes = sorted({regime.group_key(it.run)[1] for it in items})
    fig, axes = plt.subplots(len(FIGURE_ROWS), len(noises), figsize=(5.2 * len(noises), 7.0),
                             squeeze=False, layout="constrained")
    for row, criteria in zip(axes, FIGURE_ROWS, strict=True):
        points = {c: regime.regret_by_pool(items, c) for c, _, _ in criteria}
        for ax, noise in zip(row, noises, strict=True):
            for criterion, style, marker in criteria:
                for i, (model, recipe) in enumerate(lines):
                    pts = points[criterion].get((model, recipe, noise))
                    if not pts:
                        continue
                    pools = sorted(pts)
                    for pool in pools:
                        ax.scatter([pool] * len(pts[pool]), pts[pool], s=10, alpha=0.35,
                                   color=f"C{i}", marker=marker)
                    ax.plot(pools, [np.mean(pts[p]) for p in pools], style, marker=marker,
                            color=f"C{i}", label=f"{model}, {recipe}: {criterion}")
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_xscale("log")
            ax.set_xticks(pool_sizes, [f"{p:,}" for p in pool_sizes])
            ax.minorticks_off()
            ax.set_xlabel("training pool (images)")
            ax.set_ylabel("regret [points]: best test acc. - acc. at stop")
            ax.set_title(f"{round(100 * noise)}% symmetric noise: "
                         f"{' vs '.join(c for c, _, _ in criteria)}", fontsize=10)
            if ax.has_data():
                ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def curves_figure(items: list[regime.RunRegret], path: Path) -> Path:
    """One panel per (model, pool, recipe, noise): per seed, test accuracy (solid) and
    training accuracy (dotted) on the left axis, GWA (green) on its own right axis; a star
    marks GWA's stop, a circle the best test epoch."""
    groups: dict[tuple, list[regime.RunRegret]] = {}
    for it in items:
        groups.setdefault(regime.group_key(it.run), []).append(it)
    keys = sorted(groups)
    cols = min(4, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys, strict=False):
        model, pool, recipe, noise = key
        right = ax.twinx()
        for it in groups[key]:
            c, seed = it.curves, it.run.coordinates["seed"]
            color = f"C{int(seed)}"
            ax.plot(c["epoch"], 100 * c["test_acc"], "-", color=color, lw=1.2,
                    label=f"seed {seed}: test")
            ax.plot(c["epoch"], 100 * c["train_acc"], ":", color=color, lw=1.0)
            right.plot(c["epoch"], c["gwa"], "-", color="C2", alpha=0.5, lw=1.0)
            if it.best_epoch is not None:
                ax.plot(it.best_epoch, 100 * it.best_acc, "o", mfc="none", color=color, ms=7)
            stop, acc = it.stops["gwa"], it.accs["gwa"]
            if stop is not None and acc is not None:
                ax.plot(stop, 100 * acc, "*", color="C2", mec="k", ms=10)
        ax.set_title(f"{model}, {pool} images, {recipe}, {round(100 * noise)}% noise",
                     fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy [%] (test -, train :)")
        right.set_ylabel("GWA", color="C2")
        right.tick_params(axis="y", colors="C2")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Regime study: test/train accuracy, GWA (green), GWA stop (star), "
                 "best test epoch (circle)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--root", default="runs", help="directory of the run workdirs")
    p.add_argument("--out", default="results", help="output directory")
    p.add_argument("--json", nargs="+", default=[], metavar="FILE",
                   help="read the runs from JSON reports of the removed device-resident loop "
                        "(results/regime/gpu_plain/*.json) instead")
    args = p.parse_args(argv)
    command = shlex.join(["python", "scripts/regime_report.py",
                          *(argv if argv is not None else sys.argv[1:])])
    if args.json:
        missing = [path for path in args.json if not Path(path).is_file()]
        if missing:
            print(f"regime_report: error: no such report: {', '.join(missing)}; give JSON "
                  "reports such as results/regime/gpu_plain/*.json", file=sys.stderr)
            return 2
        items = [it for path in args.json for it in regime.from_offline_json(path)]
    else:
        try:
            items = regime.collect(args.root)
        except DamagedRunError as err:  # A run file differs from its checksum: one line.
            print(f"regime_report: error: {err}", file=sys.stderr)
            return 2
    if not items:
        print(f"regime_report: error: no finished run of the regime sweep under {args.root}; "
              f"run: python scripts/sweep.py regime --root {args.root}", file=sys.stderr)
        return 1
    out = Path(args.out) / "regime"
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"Saturation epoch: first epoch with training accuracy >= "
             f"{regime.SATURATION:.0%} of the final epoch's.",
             "Regret: best test accuracy over all epochs (hindsight) minus the test accuracy "
             "at the criterion's stop, in points; mean (max) over seeds in the summary.",
             "GWA - last: test accuracy at GWA's stop minus at the last epoch, mean over seeds "
             "(points); GWA ahead/level/behind: in how many runs that difference is positive, "
             "zero (within 0.005) or negative.",
             f"{regime.SMOOTHED} (post hoc, not a criterion of the paper): the epoch where "
             f"GWA's trailing {regime.SMOOTH_WINDOW}-epoch mean peaks after the warm-up."]
    for stem, (header, rows), title in (
            ("runs", regime.per_run_rows(items), "Regime study, per run (0% split)"),
            ("summary", regime.summary_rows(items), "Regime study, mean over seeds")):
        (out / f"{stem}.md").write_text(T.grid_markdown(title, header, rows, notes, command))
        (out / f"{stem}.csv").write_text(T.grid_csv(header, rows))
    regret_figure(items, out / "regret_vs_pool.png")
    curves_figure(items, out / "curves.png")
    (out / "command.txt").write_text(command + "\n")
    print(f"regime_report: {len(items)} runs -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
