"""Exports finished gwa-train runs into results/: run files, checksums and scores.npz.

    python scripts/export_runs.py runs/fmnist_n/*split0_* --out results/fmnist_n/runs_format2
    python scripts/export_runs.py runs/quickstart --out results --force   # replace a folder

Each finished SRC_RUN becomes OUT/<name of SRC_RUN> with its config.json, metrics.jsonl and
summary.json (checked against the run's own checksums.json, whose entries are carried over),
and the packed per-sample scores (scores.npz, ``--epochs`` as in scripts/pack_scores.py).
Unfinished runs (no summary.json) are listed and skipped; an existing folder is skipped with
a note unless --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gwa_jax.experiments.scores_pack import PackError, export_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("runs", nargs="+", type=Path, help="gwa-train workdirs")
    p.add_argument("--out", required=True, type=Path, help="folder to export into")
    p.add_argument("--epochs", default="default", help="default, all or e.g. 5,11")
    p.add_argument("--force", action="store_true", help="replace existing exported folders")
    args = p.parse_args(argv)
    epochs = args.epochs if args.epochs in ("default", "all") else [
        int(e) for e in args.epochs.split(",")]
    done = skipped = 0
    for src in args.runs:
        if not (src / "summary.json").is_file():
            print(f"export_runs: {src}: not finished, skipped")
            skipped += 1
            continue
        if (args.out / src.name).exists() and not args.force:
            print(f"export_runs: {args.out / src.name} exists, skipped (--force replaces it)")
            skipped += 1
            continue
        try:
            export_run(src, args.out, epochs, force=args.force)
        except PackError as e:
            print(f"export_runs: error: {e}", file=sys.stderr)
            return 2
        done += 1
    print(f"export_runs: exported {done} run(s) to {args.out}, skipped {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
