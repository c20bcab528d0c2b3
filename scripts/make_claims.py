"""Rewrites the generated blocks of the write-ups from the committed run files.

    python scripts/make_claims.py            # rewrite every block of every README
    python scripts/make_claims.py --check    # list the blocks that differ; write nothing (exit 1)
    python scripts/make_claims.py results/regime/README.md

A block is the text between ``<!-- begin generated: NAME -->`` and ``<!-- end generated: NAME
-->``; its generator is ``gwa_jax.experiments.writeups.GENERATORS[NAME]``. Text outside the
blocks is never changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gwa_jax.experiments.claims import BlockError, changed_blocks, render_blocks
from gwa_jax.experiments.writeups import generators

ROOT = Path(__file__).resolve().parents[1]


def write_ups(root: Path) -> list[Path]:
    """README.md, results/README.md and every results/*/README.md under ``root``."""
    return [root / "README.md", root / "results" / "README.md",
            *sorted((root / "results").glob("*/README.md"))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("files", nargs="*", type=Path, help="write-ups (default: all)")
    p.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 on a difference")
    args = p.parse_args(argv)
    gens = generators(args.root)
    differ = 0
    for path in args.files or write_ups(args.root):
        try:
            old = path.read_text()
            new = render_blocks(old, gens)
        except (OSError, BlockError) as e:
            print(f"make_claims: {path}: {e}", file=sys.stderr)
            return 2
        for name in changed_blocks(old, new):
            differ += 1
            print(f"{path}: block {name} {'differs' if args.check else 'rewritten'}")
        if new != old and not args.check:
            path.write_text(new)
    return 1 if differ and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
