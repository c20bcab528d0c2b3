"""Per-run facts of the GWA and accuracy curves (one row a run), as the write-ups quote them.

:func:`facts` reads one finished run: the number of epochs, the training and test accuracy at
the last epoch, the best test epoch in hindsight, GWA at the first epoch, GWA's minimum (and
its epoch), GWA at the last epoch, the plain GWA stop (epoch, GWA there and test accuracy) and
the fine-tuning-rule stop (epoch and test accuracy), how many epochs lie within one bootstrap
standard error of the selected GWA (``gwa_se``), LabelWave's count of changed predictions as a
share of the epoch's scored ids (``labelwave / align_seen``: min, max and last), the validation
split's stop (epoch and test accuracy) and the sum of the logged epoch times [s].
:func:`table` lays rows out as Markdown with a min-max range line (``scripts/curve_facts.py``).
"""

from __future__ import annotations

import math

import numpy as np

from gwa_jax.experiments.results import RunResult
from gwa_jax.uncertainty import epochs_within_se

#: (key, column title, format) of every fact, in table order.
COLUMNS = (
    ("epochs", "epochs", "{:d}"),
    ("train_last", "train acc. last [%]", "{:.1f}"),
    ("test_last", "test acc. last [%]", "{:.2f}"),
    ("best_epoch", "best test epoch", "{:d}"),
    ("test_best", "best test acc. [%]", "{:.2f}"),
    ("gwa_first", "GWA epoch 1", "{:.3f}"),
    ("gwa_min", "GWA min", "{:.3f}"),
    ("gwa_min_epoch", "GWA min epoch", "{:d}"),
    ("gwa_last", "GWA last", "{:.3f}"),
    ("gwa_epoch", "GWA stop", "{:d}"),
    ("gwa_at_stop", "GWA at stop", "{:.3f}"),
    ("gwa_test", "test acc. at GWA stop [%]", "{:.2f}"),
    ("gwa_finetune_epoch", "gwa_finetune stop", "{:d}"),
    ("gwa_finetune_test", "test acc. at gwa_finetune stop [%]", "{:.2f}"),
    ("within_se", "epochs within 1 SE of GWA stop", "{:d}"),
    ("labelwave_min", "LabelWave changes min [% of ids]", "{:.1f}"),
    ("labelwave_max", "LabelWave changes max [% of ids]", "{:.1f}"),
    ("labelwave_last", "LabelWave changes last [% of ids]", "{:.1f}"),
    ("val_epoch", "validation stop", "{:d}"),
    ("val_test", "test acc. at validation stop [%]", "{:.2f}"),
    ("time_s", "sum of epoch times [s]", "{:.0f}"),
)


def facts(result: RunResult) -> dict[str, float | int | None]:
    """The row of one run (accuracies in percent; None where undefined); keys are
    :data:`COLUMNS`' first entries."""
    epochs, test = result.column("test_acc")
    _, train = result.column("train_acc")
    _, gwa = result.column("gwa")
    _, se = result.column("gwa_se")
    out: dict[str, float | int | None] = {"epochs": int(epochs[-1]) if len(epochs) else None}
    out["train_last"] = 100 * float(train[-1]) if len(train) else None
    out["test_last"] = 100 * float(test[-1]) if len(test) else None
    if np.isfinite(test).any():
        i = int(np.nanargmax(test))
        out["best_epoch"], out["test_best"] = int(epochs[i]), 100 * float(test[i])
    finite = np.isfinite(gwa)
    out["gwa_first"] = float(gwa[0]) if len(gwa) and finite[0] else None
    if finite.any():
        i = int(np.nanargmin(gwa))
        out["gwa_min"], out["gwa_min_epoch"] = float(gwa[i]), int(epochs[i])
    out["gwa_last"] = float(gwa[-1]) if len(gwa) and finite[-1] else None
    selected = result.summary.get("selected", {})
    for name in ("gwa", "gwa_finetune", "val"):
        stop = selected.get(name) or {}
        epoch, acc = stop.get("epoch"), stop.get("test_acc")
        out[f"{name}_epoch"] = epoch
        out[f"{name}_test"] = None if acc is None else 100 * float(acc)
    stop_epoch = out["gwa_epoch"]
    out["gwa_at_stop"] = out["within_se"] = None
    if stop_epoch is not None:
        index = int(np.flatnonzero(epochs == stop_epoch)[0])
        out["gwa_at_stop"] = float(gwa[index])
        if np.isfinite(se).any():
            out["within_se"] = epochs_within_se(gwa, se, index)
    _, changes = result.column("labelwave")
    _, seen = result.column("align_seen")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = 100 * changes / seen  # Prediction changes per epoch, % of the scored ids.
    if np.isfinite(share).any():
        out["labelwave_min"] = float(np.nanmin(share))
        out["labelwave_max"] = float(np.nanmax(share))
    out["labelwave_last"] = float(share[-1]) if len(share) and np.isfinite(share[-1]) else None
    _, times = result.column("epoch_time_s")
    out["time_s"] = float(np.nansum(times)) if np.isfinite(times).any() else None
    return out


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def table(rows: dict[str, dict]) -> str:
    """Markdown table of the rows plus a min-max range line."""
    head = "| run | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in rows.items():
        cells = [_cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    ranges = []
    for key, _, fmt in COLUMNS:
        values = [row[key] for row in rows.values() if row.get(key) is not None]
        ranges.append(f"{_cell(min(values), fmt)}-{_cell(max(values), fmt)}" if values else "–")
    lines.append("| range | " + " | ".join(ranges) + " |")
    return "\n".join(lines)
