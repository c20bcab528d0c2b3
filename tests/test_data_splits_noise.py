"""Stratified splits and synthetic label noise (pure numpy, no TensorFlow work)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwa_jax.data.noise import ASYMMETRIC_MAPS, apply_label_noise
from gwa_jax.data.splits import TRAIN, UNUSED, VAL, allocate, assign_splits


def uneven_labels(n=5000, num_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    probs = np.linspace(1.0, 3.0, num_classes)
    return rng.choice(num_classes, size=n, p=probs / probs.sum()).astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=1, max_size=12),
    frac=st.floats(0.0, 1.0),
)
def test_allocate_sums_and_stays_within_floor_ceil(counts, frac):
    counts = np.array(counts)
    total = int(round(frac * counts.sum()))
    out = allocate(counts, total)
    assert out.sum() == total
    assert np.all(out <= counts) and np.all(out >= 0)
    if counts.sum():
        quota = counts * total / counts.sum()
        assert np.all(out >= np.floor(quota) - 1e-9) and np.all(out <= np.ceil(quota) + 1e-9)


@pytest.mark.parametrize("fraction", [0.01, 0.1])
def test_val_is_stratified_within_one_sample_per_class(fraction):
    labels = uneven_labels()
    split = assign_splits(labels, 10, val_fraction=fraction, split_seed=3)
    counts = np.bincount(labels, minlength=10)
    val_counts = np.bincount(labels[split == VAL], minlength=10)
    assert (split == VAL).sum() == round(fraction * len(labels))
    assert np.all(np.abs(val_counts - fraction * counts) <= 1.0)
    assert set(np.unique(split)) == {TRAIN, VAL}


def test_split_depends_on_split_seed_only_and_val_sets_are_nested():
    labels = uneven_labels()
    a = assign_splits(labels, 10, val_fraction=0.1, split_seed=1)
    b = assign_splits(labels, 10, val_fraction=0.1, split_seed=1)
    c = assign_splits(labels, 10, val_fraction=0.1, split_seed=2)
    small = assign_splits(labels, 10, val_fraction=0.01, split_seed=1)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    assert np.all(a[small == VAL] == VAL)
    assert np.all(assign_splits(labels, 10, val_fraction=0.0) == TRAIN)


@pytest.mark.parametrize("val_fraction", [0.0, 0.01, 0.1])
def test_fixed_train_fraction_trains_on_the_same_ids(val_fraction):
    labels = uneven_labels()
    reference = assign_splits(labels, 10, fixed_train_fraction=0.9, split_seed=0)
    split = assign_splits(
        labels, 10, val_fraction=val_fraction, fixed_train_fraction=0.9, split_seed=0
    )
    np.testing.assert_array_equal(split == TRAIN, reference == TRAIN)
    assert (split == TRAIN).sum() == round(0.9 * len(labels))
    assert (split == VAL).sum() == round(val_fraction * len(labels))
    assert not np.any((split == VAL) & (reference == TRAIN))
    counts = np.bincount(labels, minlength=10)
    train_counts = np.bincount(labels[split == TRAIN], minlength=10)
    assert np.all(np.abs(train_counts - 0.9 * counts) <= 1.0)
    if val_fraction == 0.01:
        assert (split == UNUSED).sum() == len(labels) - round(0.91 * len(labels))
    with pytest.raises(ValueError):
        assign_splits(labels, 10, val_fraction=0.2, fixed_train_fraction=0.9)


def test_train_subset_is_stratified_and_keeps_val():
    labels = uneven_labels()
    full = assign_splits(labels, 10, val_fraction=0.1, split_seed=0)
    split = assign_splits(labels, 10, val_fraction=0.1, train_subset=1000, split_seed=0)
    np.testing.assert_array_equal(split == VAL, full == VAL)
    assert (split == TRAIN).sum() == 1000
    assert np.all(full[split == TRAIN] == TRAIN)
    counts = np.bincount(labels[full == TRAIN], minlength=10)
    sub = np.bincount(labels[split == TRAIN], minlength=10)
    assert np.all(np.abs(sub - 1000 * counts / counts.sum()) <= 1.0)


@pytest.mark.parametrize("rate", [0.0, 0.17, 0.4, 0.8])
def test_symmetric_noise_has_the_exact_rate_and_changes_class(rate):
    labels = uneven_labels()
    split = assign_splits(labels, 10, val_fraction=0.1, train_subset=3000, split_seed=0)
    noisy = apply_label_noise(labels, split, kind="symmetric", rate=rate, seed=5, num_classes=10)
    flipped = noisy != labels
    for part in (TRAIN, VAL):
        n = (split == part).sum()
        assert abs(flipped[split == part].sum() - rate * n) <= 1
    assert not np.any(flipped[split == UNUSED])
    assert np.all((noisy >= 0) & (noisy < 10))
    again = apply_label_noise(labels, split, kind="symmetric", rate=rate, seed=5, num_classes=10)
    np.testing.assert_array_equal(noisy, again)


def test_symmetric_noise_targets_are_roughly_uniform_over_other_classes():
    labels = np.zeros(20000, np.int32)
    split = np.zeros(20000, np.int8)
    noisy = apply_label_noise(labels, split, kind="symmetric", rate=0.9, seed=0, num_classes=10)
    counts = np.bincount(noisy, minlength=10)
    assert counts[0] == 2000
    assert np.all(np.abs(counts[1:] - 18000 / 9) < 200)


@pytest.mark.parametrize("dataset", ["cifar10", "fashion_mnist"])
def test_asymmetric_noise_moves_only_along_the_map(dataset):
    mapping = ASYMMETRIC_MAPS[dataset]
    labels = uneven_labels(8000)
    split = assign_splits(labels, 10, val_fraction=0.1, split_seed=0)
    noisy = apply_label_noise(
        labels, split, kind="asymmetric", rate=0.3, seed=1, num_classes=10, asym_map=mapping
    )
    flipped = noisy != labels
    for source, target in zip(labels[flipped], noisy[flipped], strict=True):
        assert target in mapping[source]
    for part in (TRAIN, VAL):
        for c in range(10):
            members = (split == part) & (labels == c)
            expected = round(0.3 * members.sum()) if c in mapping else 0
            assert flipped[members].sum() == expected


def test_noise_rejects_bad_arguments():
    labels = np.zeros(10, np.int32)
    split = np.zeros(10, np.int8)
    with pytest.raises(ValueError, match="kind"):
        apply_label_noise(labels, split, kind="pair", rate=0.1, seed=0, num_classes=10)
    with pytest.raises(ValueError, match="not defined"):
        apply_label_noise(labels, split, kind="asymmetric", rate=0.1, seed=0, num_classes=10)
