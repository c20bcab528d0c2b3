"""Stratified train / validation / unused assignment of the ids of a train split.

Every id gets a split code: ``TRAIN`` (0), ``VAL`` (1) or ``UNUSED`` (2). The assignment is a
function of the clean labels and ``split_seed`` only (never of the training seed, of the label
key or of the label noise), so every run with the same split_seed sees the same split.

Per class c (n_c ids), the ids are put in one random order pi_c drawn from
``np.random.default_rng([split_seed, 1])`` (classes in increasing order). Then:

* default mode (``fixed_train_fraction=None``): val = the first ``v_c`` ids of pi_c, where
  the ``v_c`` are the largest-remainder rounding of ``val_fraction * n_c`` with
  ``sum(v_c) = round(val_fraction * N)``; train = the rest. Validation sets are nested
  (the 1% set is inside the 10% set for the same split_seed).
* Table 5 mode (``fixed_train_fraction=p``): train = the *last* ``t_c`` ids of pi_c, with
  ``t_c`` the largest-remainder rounding of ``p * n_c`` (``sum = round(p * N)``), whatever
  ``val_fraction`` is. Val = the first ``v_c`` ids of pi_c, ``v_c`` the largest-remainder
  allocation of ``round(val_fraction * N)`` ids proportional to the remaining ``n_c - t_c``
  (so val is ``val_fraction`` of the *full* train split, e.g. 10% or 1% with p = 0.9).
  The ids in neither part are UNUSED. ``val_fraction`` larger than ``1 - p`` is an error.
* ``train_subset=k``: keep a stratified subset of k training ids (the first ``k_c`` of each
  class's training ids in pi_c order, largest-remainder allocation); the other training ids
  become UNUSED. Validation is unchanged.
"""

from __future__ import annotations

import numpy as np

TRAIN, VAL, UNUSED = 0, 1, 2


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder allocation of ``total`` items proportionally to ``counts``.

    Args:
      counts: int (K,) non-negative capacities.
      total: number of items to allocate, ``0 <= total <= counts.sum()``.

    Returns:
      int64 (K,) with ``sum == total``, each entry the floor or ceiling of its exact quota
      ``counts * total / counts.sum()`` and at most its count. Ties go to the lower index.
    """
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    if not 0 <= total <= n:
        raise ValueError(f"Cannot allocate {total} items over {n}.")
    if n == 0:
        return np.zeros_like(counts)
    quota = counts * total
    base = quota // n
    remainder = quota - base * n
    missing = total - int(base.sum())
    order = np.lexsort((np.arange(len(counts)), -remainder))
    base[order[:missing]] += 1
    return base


def class_orders(labels: np.ndarray, num_classes: int, split_seed: int) -> list[np.ndarray]:
    """The random order pi_c of the ids of each class (int64 arrays), fixed by split_seed."""
    rng = np.random.default_rng([split_seed, 1])
    return [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]


def assign_splits(
    labels: np.ndarray,
    num_classes: int,
    *,
    val_fraction: float = 0.0,
    fixed_train_fraction: float | None = None,
    train_subset: int | None = None,
    split_seed: int = 0,
) -> np.ndarray:
    """Assigns every id of the train split to train / val / unused (see module docstring).

    Args:
      labels: int (N,) clean labels in ``[0, num_classes)``.
      num_classes: C.
      val_fraction: fraction of the full split held out for validation.
      fixed_train_fraction: Table 5 mode, fraction of the full split trained on.
      train_subset: keep only this many (stratified) training ids.
      split_seed: seed of the assignment.

    Returns:
      int8 (N,) split codes (0 train, 1 val, 2 unused).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError("Labels must lie in [0, num_classes) to stratify.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    orders = class_orders(labels, num_classes, split_seed)
    counts = np.array([len(o) for o in orders], np.int64)
    split = np.full(n, TRAIN, np.int8)
    n_val = int(round(val_fraction * n))
    if fixed_train_fraction is None:
        val_counts = allocate(counts, n_val)
        for order, v in zip(orders, val_counts, strict=True):
            split[order[:v]] = VAL
    else:
        p = float(fixed_train_fraction)
        if not 0.0 < p <= 1.0:
            raise ValueError(f"fixed_train_fraction must be in (0, 1], got {p}.")
        train_counts = allocate(counts, int(round(p * n)))
        rest = counts - train_counts
        if n_val > rest.sum():
            raise ValueError(
                f"val_fraction={val_fraction} needs {n_val} ids but fixed_train_fraction={p} "
                f"leaves {int(rest.sum())}."
            )
        val_counts = allocate(rest, n_val)
        split[:] = UNUSED
        for order, t, v in zip(orders, train_counts, val_counts, strict=True):
            split[order[len(order) - t :]] = TRAIN
            split[order[:v]] = VAL
    if train_subset is not None:
        train_orders = [o[split[o] == TRAIN] for o in orders]
        train_counts = np.array([len(o) for o in train_orders], np.int64)
        if not 0 < train_subset <= train_counts.sum():
            raise ValueError(
                f"train_subset={train_subset} must be in [1, {int(train_counts.sum())}]."
            )
        keep = allocate(train_counts, int(train_subset))
        for order, k in zip(train_orders, keep, strict=True):
            split[order[k:]] = UNUSED
    return split
