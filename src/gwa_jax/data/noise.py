"""Synthetic label noise (symmetric and class-dependent asymmetric) with exact rates.

One noisy label per id, as with CIFAR-10-N's fixed human labels: the noisy labels are a
function of (dataset, noise kind, rate, noise seed) and of the *pool* (the ids with split code
TRAIN or VAL) alone, never of how the pool is split into training and validation ids, of the
training seed or of split fractions. Validation ids keep their noisy labels (a held-out part of
a noisy training set). Unused ids and the test split are never touched.

Every id i of the train split gets three fixed random draws, made once over all ``N`` ids
from ``np.random.default_rng([seed, k])`` (``seed`` is ``config.dataset.label_noise.seed``):
a priority ``u_i`` (k = 0, uniform in [0, 1)), a class shift ``s_i`` (k = 1, uniform in
1..C-1) and a target pick ``t_i`` (k = 2). Then:

* ``symmetric``: the ``round(rate * n)`` ids of the pool (n ids) with the smallest ``u_i``
  are flipped to ``(y_i + s_i) mod C``, a label drawn uniformly from the C - 1 *other*
  classes. The realised rate over the pool is ``rate`` up to rounding (half a sample).
* ``asymmetric``: class-dependent flips along a fixed confusion map (below). For each source
  class s of the map, the ``round(rate * n_s)`` pool ids of clean class s with the smallest
  ``u_i`` are flipped (``rate`` is the per-source-class flip rate, the convention of Patrini
  et al. 2017; the rate over all ids is ``rate`` times the share of source-class ids). When a
  class has several targets, the flipped id takes target ``t_i mod len(targets)``. Classes
  absent from the map stay clean.

Because the draws belong to the ids, two pools that share ids give those ids the same noisy
label whenever the flipped set is the same (pools of equal size and class counts), and the
flipped set of a larger rate contains that of a smaller one.

Asymmetric maps:

* CIFAR-10 (standard, Patrini et al. 2017): truck(9) -> automobile(1), bird(2) ->
  airplane(0), deer(4) -> horse(7), cat(3) <-> dog(5).
* Fashion-MNIST (human-like confusions of the classes that look alike): T-shirt/top(0) <->
  Shirt(6), Pullover(2) <-> Coat(4), Sneaker(7) <-> Ankle boot(9), Dress(3) -> Coat(4) or
  Shirt(6), Sandal(5) -> Sneaker(7); Trouser(1) and Bag(8) stay clean.
"""

from __future__ import annotations

import numpy as np

from gwa_jax.data.splits import TRAIN, VAL

NOISE_KINDS = ("none", "symmetric", "asymmetric")

ASYMMETRIC_MAPS: dict[str, dict[int, tuple[int, ...]]] = {
    "cifar10": {9: (1,), 2: (0,), 4: (7,), 3: (5,), 5: (3,)},
    "fashion_mnist": {0: (6,), 6: (0,), 2: (4,), 4: (2,), 7: (9,), 9: (7,), 3: (4, 6), 5: (7,)},
}


def apply_label_noise(
    labels: np.ndarray,
    split: np.ndarray,
    *,
    kind: str,
    rate: float,
    seed: int,
    num_classes: int,
    asym_map: dict[int, tuple[int, ...]] | None = None,
) -> np.ndarray:
    """Returns the noisy labels (see the module docstring for the exact procedure).

    Args:
      labels: int (N,) clean labels of the train split (id order).
      split: int8 (N,) split codes; only the pool (TRAIN and VAL ids) is corrupted.
      kind: ``"none"``, ``"symmetric"`` or ``"asymmetric"``.
      rate: flip rate in [0, 1].
      seed: noise seed.
      num_classes: C.
      asym_map: source class -> target classes, required for ``asymmetric``.

    Returns:
      int32 (N,) labels; ``labels != result`` is the noise mask.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"Unknown label noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}.")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"Label noise rate must be in [0, 1], got {rate}.")
    noisy = np.asarray(labels, np.int32).copy()
    if kind == "none" or rate == 0.0:
        return noisy
    if kind == "asymmetric" and not asym_map:
        raise ValueError("Asymmetric label noise is not defined for this dataset.")
    pool = np.flatnonzero((split == TRAIN) | (split == VAL))
    n = len(noisy)
    priority = np.random.default_rng([seed, 0]).random(n)
    shift = np.random.default_rng([seed, 1]).integers(1, num_classes, size=n)
    pick = np.random.default_rng([seed, 2]).integers(0, 2**31 - 1, size=n)
    clean = noisy.copy()
    groups = [pool] if kind == "symmetric" else [pool[clean[pool] == s] for s in sorted(asym_map)]
    for members in groups:
        count = int(round(rate * len(members)))
        # Smallest priorities first; ties (probability 0) go to the lower id.
        chosen = members[np.argsort(priority[members], kind="stable")[:count]]
        if kind == "symmetric":
            noisy[chosen] = (clean[chosen] + shift[chosen]) % num_classes
        elif len(chosen):
            targets = np.asarray(asym_map[int(clean[chosen[0]])], np.int32)
            noisy[chosen] = targets[pick[chosen] % len(targets)]
    return noisy
