"""Packs the per-sample scores of finished runs into the exported run folders (scores.npz).

    python scripts/pack_scores.py runs/fmnist_n/* --out results/fmnist_n/runs_format2
    python scripts/pack_scores.py runs/regime/RUN --out results/regime/runs --epochs all
    python scripts/pack_scores.py runs/fmnist_n/RUN --out results/fmnist_n/runs_format2 --epochs 5,9
    python scripts/pack_scores.py runs/fmnist_n/RUN --out results/fmnist_n/runs_format2 --force

Each SRC_RUN (a gwa-train workdir with summary.json, alignment/meta.npz and
alignment/epoch_NNNN.npy) is packed into DEST/<name of SRC_RUN>/scores.npz: the trained ids
only, their labels, noise flags and splits in small integer dtypes, and float16 scores at the
kept epochs. ``--epochs default`` keeps the epochs the tables and figures read (each
criterion's selected epoch, and Fig. 2 / 4 / 16's early, GWA-selected and last epochs);
``--epochs all`` every saved epoch; or a comma-separated list. The table and figure code
reads scores.npz when a run folder has no alignment/. When the destination folder has a
checksums.json, the file is recorded there; otherwise run scripts/seal_runs.py on it. An
existing scores.npz is never replaced without --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gwa_jax.experiments.scores_pack import PackError, pack_run


def parse_epochs(text: str) -> str | list[int]:
    """``default`` / ``all`` / ``5,11,30`` -> what :func:`pack_run` takes."""
    text = text.strip()
    if text in ("default", "all"):
        return text
    try:
        epochs = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        epochs = []
    if not epochs or min(epochs) < 0:
        raise PackError(f"--epochs must be 'default', 'all' or a comma-separated list of "
                        f"epochs, not {text!r}")
    return epochs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("runs", nargs="+", metavar="SRC_RUN", help="gwa-train run folders")
    p.add_argument("--out", required=True, metavar="DEST",
                   help="directory of the exported run folders (DEST/<run name>/scores.npz)")
    p.add_argument("--epochs", default="default",
                   help="default | all | a comma-separated list (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing scores.npz")
    args = p.parse_args(argv)
    dest = Path(args.out)
    try:
        epochs = parse_epochs(args.epochs)
        if dest.exists() and not dest.is_dir():
            raise PackError(f"--out {dest} is not a directory")
        sources = [Path(r) for r in args.runs]
        for src in sources:
            if not src.is_dir():
                raise PackError(f"{src} is not a directory")
        names = [src.resolve().name for src in sources]
        if len(set(names)) != len(names):
            raise PackError("two SRC_RUNs share a folder name; pack them into different DESTs")
        existing = [dest / n / "scores.npz" for n in names if (dest / n / "scores.npz").exists()]
        if existing and not args.force:
            raise PackError(f"{existing[0]} exists; pass --force to replace it")
        for src, name in zip(sources, names, strict=True):
            path = pack_run(src, dest / name, epochs=epochs, force=args.force)
            print(f"pack_scores: wrote {path} ({path.stat().st_size} bytes)")
    except PackError as err:
        print(f"pack_scores: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
