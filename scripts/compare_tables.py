"""Cell-by-cell comparison of two versions of a table CSV written by make_tables.py.

    python scripts/compare_tables.py results/fmnist_n/table1_v1.csv results/fmnist_n/table1.csv \\
        --threshold 0.5 --out results/fmnist_n/table1_changes.md

A cell is identified by (row, model, column group, column); its value is the ``mean`` field.
Writes a Markdown table of every cell present in both files (old, new, new - old), the cells
that moved by more than ``--threshold`` points in bold, and the cells found in only one file.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path

Key = tuple[str, str, str, str]


def read_cells(path: str | Path) -> dict[Key, float]:
    """``{(row, model, column_group, column): mean}`` of a make_tables CSV (empty means
    skipped)."""
    out = {}
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            if rec.get("mean"):
                key = (rec["row"], rec["model"], rec["column_group"], rec["column"])
                out[key] = float(rec["mean"])
    return out


def compare(old: dict[Key, float], new: dict[Key, float], threshold: float
            ) -> tuple[list[tuple[Key, float, float, float]], list[Key], list[Key]]:
    """(cells in both with (old, new, diff), keys only in old, keys only in new)."""
    both = [(k, old[k], new[k], new[k] - old[k]) for k in old if k in new]
    return both, [k for k in old if k not in new], [k for k in new if k not in old]


def markdown(both, only_old, only_new, threshold: float, command: str) -> str:
    moved = sum(abs(d) > threshold for *_, d in both)
    lines = [f"### Table cells, previous vs current protocol ({moved} of {len(both)} moved by "
             f"more than {threshold:g} points)", "", f"`{command}`", "",
             "| row | model | column | previous | current | change |", "|---|---|---|---|---|---|"]
    for (row, model, group, col), a, b, d in both:
        text = f"{d:+.2f}"
        lines.append(f"| {row} | {model} | {group} {col} | {a:.2f} | {b:.2f} | "
                     f"{f'**{text}**' if abs(d) > threshold else text} |")
    for label, keys in (("only in the previous table", only_old),
                        ("only in the current table", only_new)):
        if keys:
            lines += ["", f"Cells {label}: " + ", ".join(" ".join(k) for k in keys)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--out", help="Markdown file to write (default: print)")
    args = p.parse_args(argv)
    command = shlex.join(["python", "scripts/compare_tables.py",
                          *(argv if argv is not None else sys.argv[1:])])
    text = markdown(*compare(read_cells(args.old), read_cells(args.new), args.threshold),
                    args.threshold, command)
    if args.out:
        Path(args.out).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
