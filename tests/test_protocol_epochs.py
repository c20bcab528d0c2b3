"""Every training id scored once per epoch, and validation on clean labels (configs/PROTOCOL.md).

The last batch of an epoch is padded to B with masked copies; these tests check that the
padding reaches nothing: not the loss or the gradient (against the step on the real rows
alone), not the per-sample buffers, not the accuracy sums, not gradient accumulation, and that
the validation set is measured on clean, class-stratified labels while noise stays on the ids
it was put on.
"""

import json

import jax
import numpy as np
import optax
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, validate
from gwa_jax.data import build_data
from gwa_jax.data.splits import TRAIN, UNUSED, VAL
from gwa_jax.data.train import padded_positions
from gwa_jax.train.grad_accum import accumulating_step, multi_steps
from gwa_jax.train.step import EpochBuffers, batch_gradient, create_train_state, make_train_step


def _digits_config(**dataset):
    c = default_config()
    c.dataset.name = "digits"
    c.batch_size = 64
    c.eval_batch_size = 100
    for key, value in dataset.items():
        c.dataset[key] = value
    return c


def test_padded_positions_by_hand():
    rows, valid = padded_positions(10, 4)  # Batches [0-3], [4-7], [8, 9, pad, pad].
    np.testing.assert_array_equal(rows, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 9])
    np.testing.assert_array_equal(valid, [True] * 10 + [False] * 2)
    rows, valid = padded_positions(8, 4)  # Divisible: no padding.
    np.testing.assert_array_equal(rows, np.arange(8))
    assert valid.all()
    rows, valid = padded_positions(9, 4)  # One real row in the last batch, 3 copies of it.
    np.testing.assert_array_equal(rows[8:], [8, 8, 8, 8])
    np.testing.assert_array_equal(valid[8:], [True, False, False, False])


@pytest.mark.parametrize("vectorized", [True, False])
def test_every_id_of_a_non_divisible_set_once_per_epoch(vectorized):
    c = _digits_config(train_subset=203)  # 203 = 3 * 64 + 11: the last batch has 11 ids.
    if not vectorized:  # RandAugment makes the per-example path.
        c.augment.randaug_num_ops, c.augment.randaug_magnitude = 1, 1
    data = build_data(c)
    assert data.info.steps_per_epoch == 4 and data.info.num_train == 203
    for epoch in (1, 2):
        batches = list(data.train.epoch(epoch))
        assert len(batches) == 4
        assert all(b["image"].shape[0] == 64 and b["mask"].shape == (64,) for b in batches)
        ids = np.concatenate([b["id"][b["mask"]] for b in batches])
        np.testing.assert_array_equal(np.sort(ids), data.meta["ids"])  # Each id exactly once.
        last = batches[-1]
        assert last["mask"].sum() == 11 and last["mask"][:11].all()
        # Padding rows repeat the batch's own first (real) rows.
        np.testing.assert_array_equal(last["id"][11:], last["id"][np.arange(11, 64) % 11])
        assert all(b["mask"].all() for b in batches[:-1])
    # A resumed epoch yields the same last batch.
    resumed = next(iter(data.train.epoch(2, start_step=3)))
    for key in ("id", "mask", "label"):
        np.testing.assert_array_equal(resumed[key], batches[-1][key])


def _model_and_batch(rng, n_real, batch_size=8, classes=3):
    import flax.linen as nn

    class Linear(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            z = x.reshape(x.shape[0], -1)
            self.sow("latent_embeddings", "x", z)
            return nn.Dense(classes, name="head")(z)

    labels = rng.integers(0, classes, batch_size).astype(np.int32)
    ids = np.arange(batch_size, dtype=np.int32)
    ids[n_real:] = ids[: batch_size - n_real] % max(n_real, 1)  # Padding duplicates real ids.
    batch = {
        "image": rng.normal(size=(batch_size, 2, 2, 1)).astype(np.float32),
        "label": labels,
        "target": np.eye(classes, dtype=np.float32)[labels],
        "id": ids,
        "mask": np.arange(batch_size) < n_real,
    }
    # Padding rows get other images and labels than the rows they copy: if they leaked into
    # any sum or buffer, the comparison with the real rows alone would show it.
    return Linear(), batch


def _real_rows(batch):
    keep = batch["mask"]
    return {k: v[keep] for k, v in batch.items() if k != "mask"}


def test_padding_adds_nothing_to_loss_gradient_buffers_or_accuracy():
    rng = np.random.default_rng(0)
    model, batch = _model_and_batch(rng, n_real=5)
    tx = optax.sgd(0.5)
    step = jax.jit(make_train_step())
    state0 = create_train_state(model, tx, (2, 2, 1), seed=0)
    padded_state, padded_buf = step(state0, EpochBuffers.create(8), batch)
    real_state, real_buf = step(state0, EpochBuffers.create(8), _real_rows(batch))
    for a, b in zip(jax.tree.leaves(padded_state.params), jax.tree.leaves(real_state.params),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    for field in ("loss_sum", "correct", "count"):
        assert float(getattr(padded_buf, field)) == pytest.approx(
            float(getattr(real_buf, field)), rel=1e-6)
    assert float(padded_buf.count) == 5
    for name in ("scores", "preds"):
        pad, real = getattr(padded_buf, name), getattr(real_buf, name)
        np.testing.assert_array_equal(np.asarray(pad.seen), np.asarray(real.seen))
        np.testing.assert_allclose(np.asarray(pad.values)[:5], np.asarray(real.values)[:5],
                                   atol=1e-6)
    assert np.asarray(padded_buf.scores.seen).sum() == 5


@pytest.mark.parametrize("n_real", [8, 5, 3])
def test_accumulated_steps_equal_one_step_over_the_valid_rows(n_real):
    """k = 2 micro-batches of 4 with padding (all in the second micro-batch for n_real = 3):
    one update equal to the plain step's on the real rows."""
    rng = np.random.default_rng(1)
    model, batch = _model_and_batch(rng, n_real=n_real)
    tx = optax.sgd(0.5)
    plain = jax.jit(make_train_step())
    state = create_train_state(model, tx, (2, 2, 1), seed=0)
    want, want_buf = plain(state, EpochBuffers.create(8), _real_rows(batch))
    acc = jax.jit(accumulating_step(make_train_step(), 2))
    acc_state = create_train_state(model, multi_steps(tx, 2), (2, 2, 1), seed=0)
    got, got_buf = acc(acc_state, EpochBuffers.create(8), batch)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert float(got_buf.count) == n_real
    assert float(got_buf.loss_sum) == pytest.approx(float(want_buf.loss_sum), rel=1e-5)


def test_gradient_disparity_batch_gradient_ignores_padding():
    rng = np.random.default_rng(2)
    model, batch = _model_and_batch(rng, n_real=6)
    params = model.init(jax.random.key(0), batch["image"])["params"]
    key = jax.random.key(3)
    padded = batch_gradient(model.apply, params, batch, key)
    real = batch_gradient(model.apply, params, _real_rows(batch), key)
    for a, b in zip(jax.tree.leaves(padded), jax.tree.leaves(real), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_validation_uses_clean_stratified_labels_and_noise_stays_on_its_ids():
    c = _digits_config(val_fraction=0.2)
    c.dataset.label_noise.kind, c.dataset.label_noise.rate = "symmetric", 0.4
    data = build_data(c)
    meta = data.meta
    split, true, noisy = meta["split"], meta["true_labels"], meta["train_labels"]
    val_ids = np.flatnonzero(split == VAL)
    # Stratified: each class holds round(0.2 * its size) validation ids (+-1 from rounding).
    counts = np.bincount(true, minlength=10)
    np.testing.assert_allclose(np.bincount(true[val_ids], minlength=10), 0.2 * counts, atol=1)
    assert len(val_ids) == round(0.2 * len(true))
    # Noise never touches unused ids; the training stream carries the noisy labels.
    assert not np.any(meta["noise_mask"][split == UNUSED])
    assert meta["noise_mask"][split == TRAIN].mean() == pytest.approx(0.4, abs=0.05)
    batch = next(iter(data.train.epoch(1)))
    np.testing.assert_array_equal(batch["label"], noisy[batch["id"]])
    # The validation set is labelled clean; the noisy labels come along as alt_label.
    rows = list(data.val)
    got_ids = np.concatenate([b["id"][b["mask"]] for b in rows])
    np.testing.assert_array_equal(np.sort(got_ids), val_ids)
    labels = np.concatenate([b["label"][b["mask"]] for b in rows])
    alt = np.concatenate([b["alt_label"][b["mask"]] for b in rows])
    np.testing.assert_array_equal(labels, true[got_ids])
    np.testing.assert_array_equal(alt, noisy[got_ids])
    assert np.any(labels != alt)
    # "noisy": the training labels, the clean ones as alt_label.
    c.dataset.val_labels = "noisy"
    rows = list(build_data(c).val)
    labels = np.concatenate([b["label"][b["mask"]] for b in rows])
    np.testing.assert_array_equal(labels, noisy[got_ids])


def test_without_noise_the_validation_set_has_one_label():
    data = build_data(_digits_config(val_fraction=0.1))
    assert "alt_label" not in next(iter(data.val))


@pytest.mark.parametrize("value", ["Clean", "true", ""])
def test_bad_val_labels_is_one_line_naming_the_key_and_choices(value):
    c = _digits_config(val_fraction=0.1)
    c.dataset.val_labels = value
    with pytest.raises(ConfigError) as err:
        validate(c, 1, check_files=False)
    msg = str(err.value)
    assert "\n" not in msg and "config.dataset.val_labels" in msg
    assert "'clean'" in msg and "'noisy'" in msg


def test_clean_validation_on_a_dataset_without_clean_labels_is_refused(monkeypatch):
    import dataclasses

    from gwa_jax.data import registry

    spec = dataclasses.replace(registry.DATASETS["digits"], clean_labels_known=False)
    monkeypatch.setitem(registry.DATASETS, "digits", spec)
    c = _digits_config(val_fraction=0.1)
    with pytest.raises(ConfigError, match="val_labels='noisy'") as err:
        validate(c, 1, check_files=False)
    assert "\n" not in str(err.value)
    c.dataset.val_labels = "noisy"
    validate(c, 1, check_files=False)


def test_gwa_train_logs_both_validation_accuracies_and_scores_every_id(tmp_path):
    """End to end on digits: 150 training ids in batches of 64 (the last one padded)."""
    from gwa_jax.train.trainer import train_and_evaluate

    c = _digits_config(val_fraction=0.2, train_subset=150)  # 150 = 2 * 64 + 22.
    c.dataset.label_noise.kind, c.dataset.label_noise.rate = "symmetric", 0.4
    c.model.name, c.model.stem_stride = "convnext_fmnist_tiny", 1
    c.total_steps = 9
    c.checkpoint_every = 10
    train_and_evaluate(c, str(tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["step"] == 9
    assert all(r["align_seen"] == 150 for r in rows)
    assert all(0 <= r["val_acc"] <= 1 and 0 <= r["val_acc_noisy"] <= 1 for r in rows)
    scores = np.load(tmp_path / "alignment" / "epoch_0003.npy")
    assert np.isfinite(scores).sum() == 150


@pytest.mark.parametrize("fraction,per_class", [(0.1, 500), (0.01, 50)])
def test_balanced_classes_get_exactly_the_authors_count_per_class(fraction, per_class):
    """CIFAR-10's 10 x 5,000 training images: the authors' train_val_split takes
    int(f * N / C) validation ids from every class; so does the stratified split."""
    from gwa_jax.data.splits import assign_splits

    labels = np.repeat(np.arange(10), 5000)
    np.random.default_rng(0).shuffle(labels)
    split = assign_splits(labels, 10, val_fraction=fraction, split_seed=0)
    assert per_class == int(fraction * 50000 / 10)
    np.testing.assert_array_equal(np.bincount(labels[split == VAL], minlength=10),
                                  [per_class] * 10)
