"""Post-hoc early-stopping patience table: epochs saved and test-accuracy change per patience.

    python scripts/patience_table.py --root results --out results/early_stop

For every committed run under ``--root`` (a folder with ``config.json``, ``metrics.jsonl`` and
``summary.json`` whose metrics carry a ``gwa`` column; ``runs_v1/`` folders of the superseded
first protocol are skipped) and every patience p = 1..``--max-patience``, what
``criteria.early_stop.patience=p`` would have done to the run, computed from its recorded
history (nothing is trained):

* the stop epoch: :func:`gwa_jax.criteria.early_stop_epoch` with the run's
  ``gwa.warmup_fraction`` and the ``total_steps`` its tracker used (``summary.json``'s whole-epoch
  ``total_steps``, else ``config.json``'s); criterion ``gwa_finetune`` for runs that fine-tune a
  pretrained model (``model.init_from`` set), else ``gwa``. As in gwa-train, a rule that fires
  at the last epoch stops nothing (no stop epoch);
* the selection: :func:`gwa_jax.criteria.select_all` (the full run's rule) over the epochs up
  to the stop, the criterion's entry; the full-run selection is the same over all epochs;
* epochs saved = the full run's epochs - the stop epoch (0 without a stop), and its fraction;
* accuracy change = test accuracy at the early-stopped selection - test accuracy at the
  full-run selection, in points (empty when either has no selection: GWA undefined after the
  warm-up up to the stop).

Writes ``<out>/patience.csv`` (one row per run and patience), ``patience.md`` (per study, model
and criterion and patience: runs, runs stopped, runs without a selection, mean fraction saved,
mean and min accuracy change, runs losing more than 1 point), ``patience.png`` (mean fraction
saved and mean accuracy change against patience, one line per group) and ``command.txt``.
Exits 1 when no run is found, 2 on a damaged run file.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gwa_jax.criteria import early_stop_epoch, select_all  # noqa: E402
from gwa_jax.experiments.results import RunResult  # noqa: E402
from gwa_jax.run.integrity import DamagedRunError  # noqa: E402
from gwa_jax.run.run_format import FORMAT_VERSION, older_runs_note  # noqa: E402

#: Run folders of superseded protocols, skipped (their protocol's tables are kept as history).
SUPERSEDED = ("runs_v1",)
#: The folder that holds a study's runs; other folders between study and run name the subset.
RUNS_DIR = "runs"
LOSS_POINTS = 1.0  # A run "loses" when its accuracy change is below -LOSS_POINTS.
CSV_COLUMNS = ("study", "run", "model", "criterion", "format", "patience", "stop_epoch",
               "epochs", "epochs_saved", "fraction_saved", "selected_epoch",
               "full_selected_epoch", "acc_change")
MD_COLUMNS = ("study", "model", "criterion", "format", "patience", "runs", "stopped",
              "no selection", "mean fraction saved", "mean acc. change [pt]",
              "min acc. change [pt]", "runs losing > 1 pt")


def find_run_dirs(root: Path, studies: Sequence[str] | None = None) -> list[Path]:
    """Run folders (``metrics.jsonl`` + ``config.json`` + ``summary.json``) under ``root``,
    sorted, without :data:`SUPERSEDED` ones; only the first-level ``studies`` when given."""
    out = []
    for metrics in root.rglob("metrics.jsonl"):
        run = metrics.parent
        rel = run.relative_to(root)
        if any(part in SUPERSEDED for part in rel.parts):
            continue
        if studies and (not rel.parts or rel.parts[0] not in studies):
            continue
        if (run / "config.json").exists() and (run / "summary.json").exists():
            out.append(run)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def study_of(root: Path, run: Path) -> str:
    """``fmnist_n`` for ``root/fmnist_n/runs/<run>``, ``regime/calibration`` for
    ``root/regime/calibration/<run>``, ``quickstart`` for the run folder ``root/quickstart``."""
    parts = run.relative_to(root).parts
    if len(parts) <= 1:
        return parts[0] if parts else root.name
    middle = [p for p in parts[1:-1] if p != RUNS_DIR]
    return "/".join([parts[0], *middle])


def criterion_of(config: dict[str, Any] | None) -> str:
    """``gwa_finetune`` for a run that fine-tunes a pretrained model, else ``gwa``."""
    model = (config or {}).get("model") or {}
    return "gwa_finetune" if model.get("init_from") else "gwa"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def patience_rows(result: RunResult, study: str, name: str,
                  patiences: Sequence[int]) -> list[dict[str, Any]]:
    """One row per patience for one run (see the module docstring)."""
    config = result.config or {}
    history = result.metrics
    criterion = criterion_of(config)
    warmup = float(config.get("gwa", {}).get("warmup_fraction", 0.1))
    total_steps = int(result.summary.get("total_steps") or config["total_steps"])
    gwa = [row.get("gwa") for row in history]
    steps = [int(row["step"]) for row in history]
    epochs = len(history)

    def selection(rows: list[dict[str, Any]]) -> int | None:
        return select_all(rows, total_steps=total_steps, warmup_fraction=warmup).get(criterion)

    def test_acc(index: int | None) -> float | None:
        return None if index is None else _finite(history[index].get("test_acc"))

    full = selection(history)
    full_acc = test_acc(full)
    model = config.get("model", {}).get("name", "")
    out = []
    for p in patiences:
        stop = early_stop_epoch(gwa, steps, total_steps, warmup, p, criterion)
        if stop is not None and stop >= epochs - 1:
            stop = None  # Fires at the last epoch: gwa-train stops nothing.
        chosen = full if stop is None else selection(history[:stop + 1])
        acc = test_acc(chosen)
        change = None if acc is None or full_acc is None else 100.0 * (acc - full_acc)
        stop_epoch = None if stop is None else int(history[stop]["epoch"])
        saved = 0 if stop_epoch is None else int(history[-1]["epoch"]) - stop_epoch
        out.append({
            "study": study, "run": name, "model": model, "criterion": criterion,
            "format": result.format_version, "patience": p, "stop_epoch": stop_epoch,
            "epochs": epochs, "epochs_saved": saved, "fraction_saved": saved / epochs,
            "selected_epoch": None if chosen is None else int(history[chosen]["epoch"]),
            "full_selected_epoch": None if full is None else int(history[full]["epoch"]),
            "acc_change": change,
            "_summary_epoch": (result.summary.get("selected", {}).get(criterion) or {}).get(
                "epoch"),
        })
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """The CSV of the rows (fraction and change with 4 decimals; empty = undefined)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def group_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["study"], row["model"], row["criterion"]


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (study, model, criterion) and patience: the statistics of ``patience.md``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((*group_key(row), row["patience"]), []).append(row)
    out = []
    for (study, model, criterion, p), members in sorted(groups.items()):
        changes = [r["acc_change"] for r in members if r["acc_change"] is not None]
        formats = sorted({r["format"] for r in members})
        out.append({
            "study": study, "model": model, "criterion": criterion,
            "format": ",".join(str(f) for f in formats), "patience": p,
            "runs": len(members),
            "stopped": sum(1 for r in members if r["stop_epoch"] is not None),
            "no selection": len(members) - len(changes),
            "mean fraction saved": float(np.mean([r["fraction_saved"] for r in members])),
            "mean acc. change [pt]": float(np.mean(changes)) if changes else None,
            "min acc. change [pt]": float(min(changes)) if changes else None,
            "runs losing > 1 pt": sum(1 for c in changes if c < -LOSS_POINTS),
        })
    return out


def _md_cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "mean fraction saved":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:+.2f}"
    return f"`{value}`" if key == "model" else str(value)


def md_text(summary: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]],
            command: str) -> str:
    lines = [f"`{command}`", "",
             "| " + " | ".join(MD_COLUMNS) + " |", "|---" * len(MD_COLUMNS) + "|"]
    for s in summary:
        lines.append("| " + " | ".join(_md_cell(c, s[c]) for c in MD_COLUMNS) + " |")
    runs = {(r["study"], r["run"]): r for r in rows}
    notes = [f"{len(runs)} run(s); fraction saved = epochs saved / the full run's epochs; acc. "
             f"change = test accuracy at the early-stopped selection - at the full-run selection "
             f"of the same criterion (points); 'no selection' = runs without a defined change "
             f"(GWA undefined after the warm-up up to the stop); losing = change < "
             f"-{LOSS_POINTS:g} pt."]
    old = older_runs_note([r["format"] for r in runs.values()])
    if old:
        notes.append(old + f" (format column: 1 = older, {FORMAT_VERSION} = current).")
    mismatch = sorted(f"{s}/{n}" for (s, n), r in runs.items()
                      if r["_summary_epoch"] is not None
                      and r["_summary_epoch"] != r["full_selected_epoch"])
    if mismatch:
        notes.append("warning: the recomputed full-run selection differs from summary.json in "
                     + ", ".join(mismatch))
    return "\n".join(lines + [""] + notes) + "\n"


def figure(summary: Sequence[dict[str, Any]], path: Path) -> None:
    """Mean fraction saved (top) and mean accuracy change (bottom) against patience."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for s in summary:
        groups.setdefault(group_key(s), []).append(s)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11.0, 7.5), sharex=True,
                                      layout="constrained")
    markers = "osD^v<>ph*X"
    cmap = plt.get_cmap("tab20")
    for i, (key, members) in enumerate(sorted(groups.items())):
        members = sorted(members, key=lambda s: s["patience"])
        ps = [s["patience"] for s in members]
        label = f"{key[0]} · {key[1]} · {key[2]} ({members[0]['runs']})"
        style = dict(marker=markers[i % len(markers)], color=cmap(i % 20), label=label, ms=4)
        top.plot(ps, [s["mean fraction saved"] for s in members], **style)
        bottom.plot(ps, [np.nan if s["mean acc. change [pt]"] is None
                         else s["mean acc. change [pt]"] for s in members], **style)
    top.set_ylabel("mean fraction of epochs saved")
    bottom.set_ylabel("mean test-acc. change [points]")
    bottom.axhline(0.0, color="grey", lw=0.8)
    bottom.set_xlabel("patience [epochs]")
    bottom.set_xticks(range(1, max(s["patience"] for s in summary) + 1))
    top.set_title("Post-hoc GWA early stopping vs. the full-run GWA selection")
    fig.legend(*top.get_legend_handles_labels(), fontsize=8, loc="outside right upper",
               title="study · model · criterion (runs)", title_fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="results", help="folder searched for runs")
    parser.add_argument("--out", default="results/early_stop", help="output folder")
    parser.add_argument("--studies", nargs="*", default=None,
                        help="only these first-level folders of --root (default: all)")
    parser.add_argument("--max-patience", type=int, default=10,
                        help="patience 1..this (default 10)")
    args = parser.parse_args(argv)
    if args.max_patience < 1:
        parser.error(f"--max-patience must be >= 1, got {args.max_patience}")
    root, out = Path(args.root), Path(args.out)
    patiences = range(1, args.max_patience + 1)
    rows: list[dict[str, Any]] = []
    try:
        for run in find_run_dirs(root, args.studies):
            result = RunResult.load_verified(run)
            if result is None or not any("gwa" in r for r in result.metrics):
                continue
            name = run.relative_to(root).as_posix()
            rows.extend(patience_rows(result, study_of(root, run), name, patiences))
    except DamagedRunError as err:
        print(f"patience_table: error: {err}", file=sys.stderr)
        return 2
    if not rows:
        print(f"patience_table: error: no run with a gwa column under {root}", file=sys.stderr)
        return 1
    argv_text = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "scripts/patience_table.py", *argv_text])
    summary = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "patience.csv").write_text(csv_text(rows))
    (out / "patience.md").write_text(md_text(summary, rows, command))
    figure(summary, out / "patience.png")
    (out / "command.txt").write_text(command + "\n")
    print(f"patience_table: {len(rows) // len(patiences)} runs -> {out}/patience.{{csv,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
