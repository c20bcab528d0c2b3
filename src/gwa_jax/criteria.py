"""Early-stopping criteria: pure functions from a metric history to one selected epoch.

Every function takes per-epoch sequences (index i = the i-th logged epoch) and returns the
selected epoch index, or ``None`` when the history is empty / the criterion has no data.
Ties go to the earliest epoch. NaN values (GWA undefined, metric missing) are skipped.

========================  ============================================================
name                      rule
========================  ============================================================
``val``                   max validation accuracy
``gwa``                   max GWA after the warm-up (first 10% of total steps)
``gwa_finetune``          first local minimum of GWA, then max GWA after it (Sec. 4.4)
``labelwave``             first local minimum of the moving average of prediction changes
``gd``                    Gradient Disparity, 5 consecutive increases (patience rule)
``gd_up5``                Gradient Disparity, 5th inter-epoch increase (not necessarily
                          consecutive)
``last``                  final epoch
========================  ============================================================

Gradient Disparity convention (both rules alike): a rule that fires selects the epoch at which
it fires, i.e. the epoch whose GD value completes the increases and after which training
stops; the model kept is the one at hand when training stops (the GD authors' code keeps no
earlier model to roll back to). A rule that never fires selects the last epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

CRITERIA = ("val", "gwa", "gwa_finetune", "labelwave", "gd", "gd_up5", "last")
#: The criteria ``criteria.early_stop.criterion`` may name (see :func:`early_stop_epoch`).
EARLY_STOP_CRITERIA = ("gwa", "gwa_finetune")


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def argmax_earliest(values: Sequence[float | None], start: int = 0) -> int | None:
    """Index of the maximum over ``values[start:]`` ignoring NaN; earliest on ties."""
    x = _clean(values)
    best = None
    for i in range(max(start, 0), len(x)):
        if not math.isnan(x[i]) and (best is None or x[i] > x[best]):
            best = i
    return best


def select_val(val_acc: Sequence[float | None]) -> int | None:
    """Epoch of maximum validation accuracy."""
    return argmax_earliest(val_acc)


def warmup_epochs(steps: Sequence[int], total_steps: int, warmup_fraction: float) -> int:
    """Index of the first epoch whose last step lies beyond the warm-up."""
    threshold = warmup_fraction * total_steps
    for i, s in enumerate(steps):
        if s > threshold:
            return i
    return len(steps)


def select_gwa(gwa: Sequence[float | None], steps: Sequence[int], total_steps: int,
               warmup_fraction: float = 0.1) -> int | None:
    """Epoch of maximum GWA among epochs ending after ``warmup_fraction * total_steps``."""
    return argmax_earliest(gwa, warmup_epochs(steps, total_steps, warmup_fraction))


def first_local_min(values: Sequence[float | None], start: int = 0) -> int | None:
    """First index i >= start with x[i] < next finite value and x[i] <= previous one.

    NaN entries are skipped (compared across). A plateau resolves to its earliest index.
    Returns None when no finite value is followed by a larger one.
    """
    x = _clean(values)
    finite = [i for i in range(max(start, 0), len(x)) if not math.isnan(x[i])]
    for k in range(len(finite) - 1):
        i, nxt = finite[k], finite[k + 1]
        prev_ok = k == 0 or x[finite[k - 1]] >= x[i]
        if prev_ok and x[i] < x[nxt]:
            while k > 0 and x[finite[k - 1]] == x[i]:
                k -= 1
            return finite[k]
    return None


def select_gwa_finetune(gwa: Sequence[float | None], steps: Sequence[int], total_steps: int,
                        warmup_fraction: float = 0.0) -> int | None:
    """Fine-tuning rule: the first local minimum of GWA, then the max GWA after it.

    Without a local minimum yet (GWA still falling, or monotone), falls back to :func:`select_gwa`.
    """
    start = warmup_epochs(steps, total_steps, warmup_fraction)
    m = first_local_min(gwa, start)
    if m is None:
        return select_gwa(gwa, steps, total_steps, warmup_fraction)
    return argmax_earliest(gwa, m + 1)


def early_stop_epoch(gwa: Sequence[float | None], steps: Sequence[int], total_steps: int,
                     warmup_fraction: float = 0.1, patience: int = 0,
                     criterion: str = "gwa") -> int | None:
    """Index of the epoch after which training stops early, or None (train on).

    Counts the epochs without a new maximum of ``criterion``'s GWA; the first epoch whose count
    reaches ``patience`` is returned. For ``gwa`` the count starts at the first epoch after the
    warm-up (``warmup_fraction * total_steps``); for ``gwa_finetune`` at the epoch that shows its
    initial minimum (the first finite GWA after :func:`first_local_min`, searched from the first
    epoch as :func:`select_all` does), before which it never stops. An epoch with undefined GWA
    (NaN or None) counts as one without a new maximum. ``patience`` 0 never stops.
    """
    if criterion not in EARLY_STOP_CRITERIA:
        raise ValueError(f"unknown early-stopping criterion {criterion!r}; choose one of "
                         f"{', '.join(EARLY_STOP_CRITERIA)}.")
    if patience < 0:
        raise ValueError(f"patience must be >= 0 (0 = never stop), got {patience}.")
    x = _clean(gwa)
    if patience == 0:
        return None
    if criterion == "gwa":
        start = warmup_epochs(steps, total_steps, warmup_fraction)
    else:
        m = first_local_min(x)
        if m is None:
            return None
        start = next(i for i in range(m + 1, len(x)) if not math.isnan(x[i]))
    best, without = math.nan, 0
    for i in range(start, len(x)):
        if not math.isnan(x[i]) and (math.isnan(best) or x[i] > best):
            best, without = x[i], 0
        else:
            without += 1
            if without >= patience:
                return i
    return None


def moving_average(values: Sequence[float | None], window: int) -> np.ndarray:
    """Trailing moving average over the last ``window`` finite values (NaN stays NaN)."""
    x = _clean(values)
    out = np.full_like(x, math.nan)
    for i in range(len(x)):
        if math.isnan(x[i]):
            continue
        past = x[max(0, i - window + 1): i + 1]
        out[i] = np.nanmean(past)
    return out


def labelwave_changes(prev: tuple[np.ndarray, np.ndarray] | None, preds: np.ndarray,
                      seen: np.ndarray) -> float:
    """LabelWave's count for one epoch: ids seen in both epochs whose argmax prediction
    changed (NaN at the first epoch or when no id was seen in both).

    Args:
      prev: ``(preds, seen)`` of the previous epoch (int (N,), bool (N,)), or None.
      preds: int (N,) this epoch's training-time argmax predictions by id.
      seen: bool (N,) the ids trained on this epoch.
    """
    if prev is None:
        return math.nan
    prev_preds, prev_seen = prev
    both = seen & prev_seen
    if not both.any():
        return math.nan
    return float(np.sum(prev_preds[both] != preds[both]))


def select_labelwave(prediction_changes: Sequence[float | None], window: int = 3) -> int | None:
    """LabelWave (Yuan et al., ICLR 2024): first local minimum of the moving average of the
    per-epoch prediction changes; the last epoch when it never turns up. Epoch 0 (no previous
    predictions) carries NaN and is skipped."""
    x = _clean(prediction_changes)
    if not len(x):
        return None
    m = first_local_min(moving_average(x, window))
    return len(x) - 1 if m is None else m


def select_gd_consecutive(gd: Sequence[float | None], patience: int = 5) -> int | None:
    """Gradient Disparity, patience rule: stop once GD increased ``patience`` epochs in a row;
    selects that epoch (the one completing the run). Last epoch when never triggered."""
    x = _clean(gd)
    if not len(x):
        return None
    finite = [i for i in range(len(x)) if not math.isnan(x[i])]
    run = 0
    for k in range(1, len(finite)):
        run = run + 1 if x[finite[k]] > x[finite[k - 1]] else 0
        if run >= patience:
            return finite[k]
    return len(x) - 1


def select_gd_up(gd: Sequence[float | None], count: int = 5) -> int | None:
    """Gradient Disparity, counting rule: stop at the ``count``-th inter-epoch increase
    (not necessarily consecutive); selects that epoch. Last epoch when never triggered."""
    x = _clean(gd)
    if not len(x):
        return None
    finite = [i for i in range(len(x)) if not math.isnan(x[i])]
    ups = 0
    for k in range(1, len(finite)):
        if x[finite[k]] > x[finite[k - 1]]:
            ups += 1
            if ups >= count:
                return finite[k]
    return len(x) - 1


def select_all(history: Sequence[Mapping[str, float | int | None]], *, total_steps: int,
               warmup_fraction: float = 0.1, labelwave_window: int = 3,
               gd_patience: int = 5) -> dict[str, int]:
    """Selected history index for every criterion that has data in ``history``.

    ``history`` holds one dict per epoch with keys ``step``, ``gwa``, ``labelwave`` and,
    when present, ``val_acc`` and ``gd``.
    """
    if not history:
        return {}
    col = lambda k: [h.get(k) for h in history]  # noqa: E731
    steps = [int(h["step"]) for h in history]
    out: dict[str, int | None] = {
        "gwa": select_gwa(col("gwa"), steps, total_steps, warmup_fraction),
        "gwa_finetune": select_gwa_finetune(col("gwa"), steps, total_steps),
        "labelwave": select_labelwave(col("labelwave"), labelwave_window),
        "last": len(history) - 1,
    }
    if any(h.get("val_acc") is not None for h in history):
        out["val"] = select_val(col("val_acc"))
    if any(h.get("gd") is not None for h in history):
        out["gd"] = select_gd_consecutive(col("gd"), gd_patience)
        out["gd_up5"] = select_gd_up(col("gd"), gd_patience)
    return {k: v for k, v in out.items() if v is not None}
