"""The split and the training labels of a run, from its config (no TensorFlow).

``split_and_labels`` is the one place where ``config.dataset`` (validation fraction, train
subset, split seed, label noise) is applied to a train split's labels: ``build_data`` uses it,
and so can a loop that feeds its own arrays, which then trains on exactly the ids and noisy
labels ``gwa-train`` would.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from gwa_jax.data.noise import ASYMMETRIC_MAPS, apply_label_noise
from gwa_jax.data.registry import DatasetSpec
from gwa_jax.data.splits import assign_splits

#: ``config.dataset.val_labels``: what the validation accuracy (and the ``val`` criterion) is
#: measured on. ``"clean"``: the dataset's clean labels (the authors' protocol);
#: ``"noisy"``: the training labels (noisy under label noise or a CIFAR-10-N key).
VAL_LABELS = ("clean", "noisy")


def check_val_labels(dataset: ml_collections.ConfigDict, spec: DatasetSpec) -> str:
    """The validated ``dataset.val_labels``; raises ValueError (one line) otherwise."""
    value = dataset.get("val_labels", "clean")
    if value not in VAL_LABELS:
        raise ValueError(f"config.dataset.val_labels={value!r} is not valid; choose one of "
                         f"{', '.join(repr(v) for v in VAL_LABELS)}")
    if value == "clean" and not spec.clean_labels_known:
        raise ValueError(f"config.dataset.val_labels='clean' needs clean labels, which "
                         f"{spec.name} does not have; set config.dataset.val_labels='noisy'")
    return value


def split_and_labels(
    dataset: ml_collections.ConfigDict,
    spec: DatasetSpec,
    true_labels: np.ndarray,
    source_labels: np.ndarray,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Applies ``config.dataset``'s split and label noise to one train split.

    Args:
      dataset: ``config.dataset``.
      spec: the dataset's registry entry.
      true_labels: int (N,) clean labels of the train split.
      source_labels: int (N,) labels of ``dataset.label_key`` (equal to ``true_labels`` unless
        the key names human-noisy labels, which are used as they are).
      num_classes: C.

    Returns:
      ``(split, train_labels)``: int8 (N,) 0 train / 1 val / 2 unused, and int32 (N,) the
      labels trained on (noisy under ``dataset.label_noise``).
    """
    split = assign_splits(
        true_labels,
        num_classes,
        val_fraction=float(dataset.val_fraction),
        fixed_train_fraction=dataset.fixed_train_fraction,
        train_subset=dataset.train_subset,
        split_seed=int(dataset.split_seed),
    )
    if dataset.label_key != spec.clean_label_key:
        return split, np.asarray(source_labels, np.int32).copy()
    noise = dataset.label_noise
    train_labels = apply_label_noise(
        true_labels,
        split,
        kind=noise.kind,
        rate=float(noise.rate),
        seed=int(noise.seed),
        num_classes=num_classes,
        asym_map=ASYMMETRIC_MAPS.get(spec.noise_map or ""),
    )
    return split, train_labels
