"""Writes or refreshes ``checksums.json`` of exported run folders (or checks them).

    python scripts/seal_runs.py results                     # every run folder under results/
    python scripts/seal_runs.py results/quickstart --check  # verify only, write nothing
    python scripts/seal_runs.py runs/old_run --accept       # record damaged files as they are

A run folder is a directory with ``summary.json`` or ``config.json``. Its manifest lists the
SHA-256 of the run files it keeps (``config.json``, ``metrics.jsonl``, ``summary.json``,
``alignment/meta.npz``, ``alignment/epoch_NNNN.npy``, ``scores.npz``); gwa-report,
gwa-inspect and the table and figure scripts verify them. Entries that already match are
kept, new files are added and files that are gone are dropped; a file that differs from its
entry is left as damaged (exit 1, one line each) unless ``--accept``. Nothing but
``checksums.json`` is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gwa_jax.run import integrity


def run_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a run folder, else every run folder below it, sorted."""
    if (path / "summary.json").is_file() or (path / "config.json").is_file():
        return [path]
    found = {p.parent for name in ("summary.json", "config.json") for p in path.rglob(name)}
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("paths", nargs="+", help="run folders or directories holding them")
    p.add_argument("--check", action="store_true", help="verify only; write nothing")
    p.add_argument("--accept", action="store_true",
                   help="record files that differ from their entry as they are")
    args = p.parse_args(argv)
    folders = []
    for path in map(Path, args.paths):
        if not path.is_dir():
            print(f"seal_runs: error: {path} is not a directory", file=sys.stderr)
            return 2
        folders += run_folders(path)
    if not folders:
        print(f"seal_runs: error: no run folder (summary.json or config.json) under "
              f"{', '.join(args.paths)}", file=sys.stderr)
        return 2
    problems = []
    for folder in folders:
        if args.check:
            problems += integrity.check_files(folder, repair=False).lines()
        else:
            problems += integrity.seal_run(folder, accept=args.accept)
    for line in problems:
        print(line, file=sys.stderr)
    verb = "checked" if args.check else "sealed"
    print(f"seal_runs: {verb} {len(folders)} run folder(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
