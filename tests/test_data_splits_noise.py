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
    pool = split != UNUSED  # Train and validation ids: one pool, one exact count.
    assert flipped[pool].sum() == round(rate * pool.sum())
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
    for c in range(10):
        members = (split != UNUSED) & (labels == c)
        expected = round(0.3 * members.sum()) if c in mapping else 0
        assert flipped[members].sum() == expected


@pytest.mark.parametrize("kind,rate", [("symmetric", 0.09), ("symmetric", 0.17),
                                       ("symmetric", 0.4), ("asymmetric", 0.2),
                                       ("asymmetric", 0.4)])
def test_noisy_labels_do_not_depend_on_the_validation_split(kind, rate):
    """The 0%, 1% and 10% splits of the fmnist_n protocol train on one set of noisy labels."""
    from gwa_jax.experiments.paper import load_config

    labels = np.repeat(np.arange(10, dtype=np.int32), 6000)  # Fashion-MNIST: 6000 per class.
    np.random.default_rng(3).shuffle(labels)
    by_split = {}
    for frac in (0.0, 0.01, 0.1):
        c = load_config("configs/fmnist_n.py",
                        f"noise={rate},noise_kind={kind},split={frac},seed={int(frac * 100)}")
        split = assign_splits(labels, 10, val_fraction=c.dataset.val_fraction,
                              train_subset=c.dataset.train_subset,
                              split_seed=c.dataset.split_seed)
        noisy = apply_label_noise(labels, split, kind=c.dataset.label_noise.kind,
                                  rate=c.dataset.label_noise.rate,
                                  seed=c.dataset.label_noise.seed, num_classes=10,
                                  asym_map=ASYMMETRIC_MAPS["fashion_mnist"])
        by_split[frac] = (split, noisy)
    pool0 = by_split[0.0][0] != UNUSED
    for frac, (split, noisy) in by_split.items():
        pool = split != UNUSED
        np.testing.assert_array_equal(pool, pool0)  # One pool of 2000 ids, split differently.
        np.testing.assert_array_equal(noisy[pool], by_split[0.0][1][pool0])
        assert (split == VAL).sum() == round(frac * 2000)
    assert (by_split[0.0][1] != labels).sum() > 0


def test_noise_is_nested_in_the_rate_and_per_id():
    labels = uneven_labels()
    split = assign_splits(labels, 10, val_fraction=0.1, train_subset=3000, split_seed=0)
    low = apply_label_noise(labels, split, kind="symmetric", rate=0.1, seed=2, num_classes=10)
    high = apply_label_noise(labels, split, kind="symmetric", rate=0.3, seed=2, num_classes=10)
    flipped_low = low != labels
    assert np.all((high != labels)[flipped_low])  # The 10% set lies inside the 30% set...
    np.testing.assert_array_equal(high[flipped_low], low[flipped_low])  # ...with equal labels.
    other = apply_label_noise(labels, split, kind="symmetric", rate=0.1, seed=3, num_classes=10)
    assert (other != low).any()  # The noise seed matters.


def test_noise_rejects_bad_arguments():
    labels = np.zeros(10, np.int32)
    split = np.zeros(10, np.int8)
    with pytest.raises(ValueError, match="kind"):
        apply_label_noise(labels, split, kind="pair", rate=0.1, seed=0, num_classes=10)
    with pytest.raises(ValueError, match="not defined"):
        apply_label_noise(labels, split, kind="asymmetric", rate=0.1, seed=0, num_classes=10)
