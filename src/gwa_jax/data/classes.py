"""Training on a subset of a dataset's classes (``config.dataset.classes``).

``classes = (5, 6, 7, 8, 9)`` keeps the train and test images of those classes and relabels
them 0..k-1 in the given order, e.g. to pretrain on one half of Fashion-MNIST and fine-tune on
the other. The id space becomes the kept train rows in their original order (id ``i`` is row
``source_rows[i]`` of the full train split; ``meta["source_rows"]`` records it), so splits,
pools and label noise are drawn over the kept classes exactly as over a dataset of k classes.
Supported for in-memory datasets (Fashion-MNIST, digits, CIFAR-10).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from gwa_jax.data.eval import EvalSet
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.sources import TrainSource, array_eval_set


def check_classes(classes: Sequence[int], num_classes: int, dataset: str) -> tuple[int, ...]:
    """``classes`` as a tuple of ints; ValueError (one line) unless they are >= 2 distinct
    labels of the dataset."""
    try:
        out = tuple(int(c) for c in classes)
    except (TypeError, ValueError):
        raise ValueError(f"dataset.classes must be a tuple of class indices, got "
                         f"{classes!r}") from None
    if len(out) < 2 or len(set(out)) != len(out) or not all(0 <= c < num_classes for c in out):
        raise ValueError(f"dataset.classes must be at least 2 distinct class indices in [0, "
                         f"{num_classes}) of {dataset}, got {classes!r}")
    return out


def restrict_classes(source: TrainSource, classes: Sequence[int], num_classes: int,
                     dataset: str) -> tuple[TrainSource, np.ndarray]:
    """The source reduced to ``classes`` (relabelled 0..k-1 in that order).

    Args:
      source: an in-memory :class:`TrainSource` (``images`` and ``test_arrays`` set).
      classes: k distinct original class indices.
      num_classes: the dataset's C.

    Returns:
      ``(source, source_rows)``: the reduced source, and int64 (N_k,) the rows of the full
      train split that the new ids 0..N_k-1 stand for.
    """
    classes = check_classes(classes, num_classes, dataset)
    if source.images is None or source.test_arrays is None:
        raise ValueError(f"dataset.classes needs an in-memory dataset; {dataset} is streamed "
                         f"from TFDS files")
    if not np.array_equal(source.labels, source.true_labels):
        raise ValueError("dataset.classes cannot be combined with a human-noisy label_key")
    lut = np.full(num_classes, -1, np.int32)
    lut[list(classes)] = np.arange(len(classes), dtype=np.int32)
    rows = np.flatnonzero(lut[source.true_labels] >= 0).astype(np.int64)
    labels = lut[source.true_labels[rows]]
    test_images, test_labels = source.test_arrays
    test_labels = np.asarray(test_labels)
    test_rows = np.flatnonzero(lut[test_labels] >= 0)
    test_images, test_labels = np.asarray(test_images)[test_rows], lut[test_labels[test_rows]]

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        return array_eval_set(key, test_images, test_labels, preprocess, batch_size)

    reduced = dataclasses.replace(
        source, true_labels=labels, labels=labels, images=np.asarray(source.images)[rows],
        make_test=make_test, test_arrays=(test_images, test_labels),
        description=f"{source.description}, classes {list(classes)} as 0..{len(classes) - 1}")
    return reduced, rows
