"""Synthetic label noise (symmetric and class-dependent asymmetric) with exact rates.

Noise is applied separately to the training ids and to the validation ids of the train split
(split codes 0 and 1); unused ids and the test split are never touched. With ``rng`` drawn from
``np.random.default_rng([seed, part])`` (part 0 = train, 1 = val; ``seed`` is
``config.dataset.label_noise.seed``, independent of the training seed and of split_seed):

* ``symmetric``: exactly ``round(rate * n_part)`` ids of the part, chosen uniformly without
  replacement, get a label drawn uniformly from the C - 1 *other* classes. The realised rate
  is ``rate`` up to rounding (half a sample).
* ``asymmetric``: class-dependent flips along a fixed confusion map (below). For each source
  class s of the map, exactly ``round(rate * n_s)`` of the part's ids with clean label s are
  flipped (``rate`` is the per-source-class flip rate, the convention of Patrini et al. 2017;
  the rate over all ids is ``rate`` times the share of source-class ids). When a class has
  several targets, each flipped id draws one uniformly. Classes absent from the map stay clean.

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
    """Returns noisy training labels (see the module docstring for the exact procedure).

    Args:
      labels: int (N,) clean labels of the train split (id order).
      split: int8 (N,) split codes; only TRAIN and VAL ids are corrupted.
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
    for part in (TRAIN, VAL):
        ids = np.flatnonzero(split == part)
        rng = np.random.default_rng([seed, part])
        if kind == "symmetric":
            chosen = rng.choice(ids, size=int(round(rate * len(ids))), replace=False)
            shift = rng.integers(1, num_classes, size=len(chosen))
            noisy[chosen] = (noisy[chosen] + shift) % num_classes
        else:
            clean = noisy[ids].copy()
            for source in sorted(asym_map):
                members = ids[clean == source]
                chosen = rng.choice(members, size=int(round(rate * len(members))), replace=False)
                targets = np.asarray(asym_map[source], np.int32)
                noisy[chosen] = targets[rng.integers(0, len(targets), size=len(chosen))]
    return noisy
