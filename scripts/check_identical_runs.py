"""Are two finished runs the same numbers? Compares two gwa-train workdirs bit for bit.

    python scripts/check_identical_runs.py RUN_A RUN_B

Compared: every line of ``metrics.jsonl`` (timing keys, those ending in ``_s``, aside), the
selections of ``summary.json`` (each criterion's epoch, step, accuracies and GWA) and its other
numbers (``num_epochs``, ``total_steps``, ``requested_total_steps``, ``max_align_mean``,
``final_eval``), and every array under ``alignment/`` (``epoch_NNNN.npy``, ``meta.npz``): same
names, dtypes, shapes and bytes. Prints one report; exit status 0 when all is identical, 1 when
anything differs, 2 on bad arguments.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

SUMMARY_KEYS = ("selected", "num_epochs", "total_steps", "requested_total_steps",
                "max_align_mean", "final_eval")


def _same(a: object, b: object) -> bool:
    """Exact equality of JSON values; NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.endswith("_s")}


def compare_metrics(a: Path, b: Path) -> list[str]:
    rows_a = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    problems = []
    if len(rows_a) != len(rows_b):
        problems.append(f"metrics.jsonl: {len(rows_a)} vs {len(rows_b)} lines")
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=False), 1):
        ra, rb = _untimed(ra), _untimed(rb)
        if ra.keys() != rb.keys():
            problems.append(f"metrics.jsonl line {i}: keys differ: "
                            f"{sorted(ra.keys() ^ rb.keys())}")
        for key in sorted(ra.keys() & rb.keys()):
            if not _same(ra[key], rb[key]):
                problems.append(f"metrics.jsonl line {i} {key}: {ra[key]!r} vs {rb[key]!r}")
    return problems


def compare_summary(a: Path, b: Path) -> list[str]:
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    return [f"summary.json {key}: {sa.get(key)!r} vs {sb.get(key)!r}"
            for key in SUMMARY_KEYS if not _same(sa.get(key), sb.get(key))]


def _arrays(run: Path) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted((run / "alignment").glob("*.np[yz]")):
        if path.suffix == ".npy":
            out[path.name] = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                out.update({f"{path.name}:{k}": npz[k] for k in npz.files})
    return out


def compare_arrays(a: Path, b: Path) -> tuple[list[str], int]:
    arr_a, arr_b = _arrays(a), _arrays(b)
    problems = [f"alignment/{name}: only in one run"
                for name in sorted(arr_a.keys() ^ arr_b.keys())]
    for name in sorted(arr_a.keys() & arr_b.keys()):
        x, y = arr_a[name], arr_b[name]
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            problems.append(f"alignment/{name}: differs ({x.dtype}{x.shape} vs "
                            f"{y.dtype}{y.shape})")
    return problems, len(arr_a.keys() & arr_b.keys())


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all((Path(p) / "summary.json").is_file() for p in argv):
        print("usage: check_identical_runs.py RUN_A RUN_B (two finished gwa-train workdirs)",
              file=sys.stderr)
        return 2
    a, b = map(Path, argv)
    metrics = compare_metrics(a, b)
    summary = compare_summary(a, b)
    arrays, num_arrays = compare_arrays(a, b)
    num_lines = len((a / "metrics.jsonl").read_text().splitlines())
    print(f"A: {a}\nB: {b}")
    print(f"metrics.jsonl: {num_lines} lines, timing keys (*_s) aside: "
          f"{'identical' if not metrics else f'{len(metrics)} differences'}")
    print(f"summary.json ({', '.join(SUMMARY_KEYS)}): "
          f"{'identical' if not summary else f'{len(summary)} differences'}")
    print(f"alignment/: {num_arrays} arrays compared bit for bit: "
          f"{'identical' if not arrays else f'{len(arrays)} differences'}")
    for line in metrics + summary + arrays:
        print("  " + line)
    same = not (metrics or summary or arrays)
    print("IDENTICAL" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
