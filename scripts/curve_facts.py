"""Per-run facts of the GWA and accuracy curves, as quoted in the results write-ups.

For every finished run at or below each path (a workdir or a sweep root), one row of
:func:`gwa_jax.experiments.curve_facts.facts` (its module docstring lists the columns), and a
last line with the range (min-max) of every numeric column over the rows.

    python scripts/curve_facts.py results/finetune_fmnist/runs_format2 --match split0_ \\
        --out results/finetune_fmnist/curve_facts.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gwa_jax.experiments.curve_facts import facts, table
from gwa_jax.experiments.run_table import load_runs_or_fail
from gwa_jax.run.integrity import DamagedRunError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run workdirs or sweep roots")
    parser.add_argument("--match", nargs="*", default=[],
                        help="keep runs whose name contains every one of these strings")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    rows: dict[str, dict] = {}
    for path in args.paths:
        try:
            runs = load_runs_or_fail(path)  # Each run's files verified against checksums.json.
        except DamagedRunError as err:
            print(f"curve_facts: error: {err}", file=sys.stderr)
            return 2
        except LookupError as err:
            print(f"curve_facts: error: {err}", file=sys.stderr)
            return 1
        for run in runs:
            name = Path(run.name).name if run.name != "." else Path(path).name
            if all(m in name for m in args.match):
                rows[name] = facts(run.result)
    if not rows:
        print("curve_facts: error: no run matches --match", file=sys.stderr)
        return 1
    argv_text = sys.argv[1:] if argv is None else argv
    text = (f"`{shlex.join(['python', 'scripts/curve_facts.py', *argv_text])}`\n\n"
            f"{table(rows)}\n")
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
