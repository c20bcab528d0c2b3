"""The offline Fashion-MNIST path (Debian idx files) and the full build_data contract on it."""

import itertools

import numpy as np
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.data import DatasetNotFoundError, build_data, idx
from gwa_jax.data.splits import TRAIN, VAL

FMNIST = idx.DEFAULT_FMNIST_DIR
needs_fmnist = pytest.mark.skipif(
    not idx.has_fmnist_files(FMNIST), reason="apt-get install -y dataset-fashion-mnist"
)


def config(**augment):
    c = default_config()
    c.batch_size = 128
    c.eval_batch_size = 500
    for key, value in augment.items():
        c.augment[key] = value
    return c


def take(stream, epoch, n=3, start_step=0):
    return list(itertools.islice(stream.epoch(epoch, start_step=start_step), n))


@pytest.fixture(autouse=True)
def _no_env_dir(monkeypatch):
    monkeypatch.delenv(idx.FMNIST_ENV, raising=False)


@needs_fmnist
def test_idx_files_have_the_published_sizes_and_first_labels():
    splits = idx.load_fmnist_idx(FMNIST)
    images, labels = splits["train"]
    test_images, test_labels = splits["test"]
    assert images.shape == (60000, 28, 28, 1) and images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28, 1)
    assert labels.dtype == np.int32 and set(np.unique(labels)) == set(range(10))
    np.testing.assert_array_equal(labels[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)


@needs_fmnist
def test_default_build_batches_and_info():
    data = build_data(config(crop="pad_crop", flip=True))
    info = data.info
    assert (info.name, info.num_classes, info.num_ids, info.num_train) == (
        "fashion_mnist", 10, 60000, 60000,
    )
    assert info.image_shape == (28, 28, 1) and info.steps_per_epoch == -(-60000 // 128)
    assert info.source.startswith("idx:")
    batch = take(data.train, 0, 1)[0]
    assert batch["image"].shape == (128, 28, 28, 1) and batch["image"].dtype == np.uint8
    assert batch["aug_key"].shape == (128, 2) and batch["aug_key"].dtype == np.uint32
    import jax

    finished = jax.device_get(jax.jit(data.train.device_finish())(batch))
    assert finished["image"].shape == (128, 28, 28, 1) and finished["image"].dtype == np.float32
    assert finished["image"].min() >= -1.0 - 1e-6 and finished["image"].max() <= 1.0 + 1e-6
    assert batch["label"].dtype == np.int32 and batch["id"].dtype == np.int32
    assert batch["target"].shape == (128, 10) and batch["target"].dtype == np.float32
    np.testing.assert_array_equal(batch["target"].argmax(1), batch["label"])
    np.testing.assert_array_equal(batch["label"], data.meta["train_labels"][batch["id"]])
    assert data.val is None and list(data.tests) == ["test"]


@needs_fmnist
def test_epoch_covers_ids_once_and_order_is_a_function_of_seed_and_epoch():
    data = build_data(config())
    batches = list(data.train.epoch(0))
    assert len(batches) == data.info.steps_per_epoch == 469  # 468 full + one of 96 ids.
    ids = np.concatenate([b["id"][b["mask"]] for b in batches])
    assert len(ids) == 60000 and len(np.unique(ids)) == len(ids)
    expected = np.random.default_rng([0, 0]).permutation(60000)
    np.testing.assert_array_equal(ids, expected)
    assert batches[-1]["mask"].sum() == 60000 - 468 * 128
    # The image of an id is the idx row (no augmentation).
    batch = take(data.train, 0, 1)[0]
    images, _ = idx.load_fmnist_idx(FMNIST)["train"]
    np.testing.assert_array_equal(batch["image"], images[batch["id"]])


@needs_fmnist
def test_two_builds_give_identical_augmented_batches_and_epochs_differ():
    kwargs = dict(crop="pad_crop", flip=True, mixup=0.4, label_smoothing=0.1)
    a = take(build_data(config(**kwargs)).train, 2)
    b = take(build_data(config(**kwargs)).train, 2)
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    other = take(build_data(config(**kwargs)).train, 3)
    assert not np.array_equal(a[0]["id"], other[0]["id"])
    assert not np.array_equal(a[0]["aug_key"], other[0]["aug_key"])


@needs_fmnist
def test_resume_inside_an_epoch_replays_the_same_batches():
    data = build_data(config(crop="pad_crop", flip=True, mixup=0.2))
    full = take(data.train, 1, 5)
    resumed = take(data.train, 1, 2, start_step=3)
    for x, y in zip(full[3:], resumed, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


@needs_fmnist
def test_same_order_with_different_augmentation_seed_streams():
    plain = take(build_data(config()).train, 0, 1)[0]
    augmented = take(build_data(config(crop="pad_crop", flip=True)).train, 0, 1)[0]
    np.testing.assert_array_equal(plain["id"], augmented["id"])
    np.testing.assert_array_equal(plain["image"], augmented["image"])  # The device augments.
    data = build_data(config(crop="pad_crop", flip=True))
    finished = data.train.device_finish()(augmented)["image"]
    assert not np.allclose(np.asarray(finished), plain["image"] / 127.5 - 1.0)


@needs_fmnist
def test_mixup_targets_are_convex_combinations_of_two_smoothed_one_hots():
    """Mixup in the train step (the authors' rule): one weight per batch, any in [0, 1], the
    partner a permutation of the batch drawn from the batch's key."""
    import jax

    from gwa_jax.data import augment_jax

    smoothing = 0.1
    data = build_data(config(mixup=1.0, label_smoothing=smoothing))
    finish = jax.jit(data.train.device_finish())
    for raw in take(data.train, 0, 3):
        batch = jax.device_get(finish(raw))
        target, label = batch["target"], batch["label"]
        np.testing.assert_allclose(target.sum(1), 1.0, atol=1e-5)
        assert target.min() >= smoothing / 10 - 1e-6
        base = np.full((128, 10), smoothing / 10, np.float32)
        one_hot = base + (1 - smoothing) * np.eye(10, dtype=np.float32)[label]
        key = augment_jax.keys_from_data(raw["mixup_key"][0])
        perm = augment_jax.mixup_partners(jax.random.split(key)[1], np.ones(128, bool))
        partner = one_hot[np.asarray(perm)]
        diff = one_hot - partner
        rows = np.abs(diff).sum(1) > 0
        lam = ((target - partner)[rows] * diff[rows]).sum() / (diff[rows] ** 2).sum()
        assert -1e-5 <= lam <= 1.0 + 1e-5
        np.testing.assert_allclose(target, lam * one_hot + (1 - lam) * partner, atol=1e-5)


@needs_fmnist
def test_val_split_noise_and_meta():
    c = config()
    c.dataset.val_fraction = 0.1
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.2
    c.dataset.label_noise.seed = 7
    data = build_data(c)
    meta = data.meta
    split = meta["split"]
    assert data.info.num_train == 54000 == (split == TRAIN).sum() == len(meta["ids"])
    assert np.all(np.bincount(meta["true_labels"][split == VAL]) == 600)
    # One draw over the whole pool (train + val): the count is exact there, and each
    # split gets its hypergeometric share (sd ~ 29 images in train).
    assert meta["noise_mask"].sum() == round(0.2 * 60000)
    assert abs(int(meta["noise_mask"][split == TRAIN].sum()) - round(0.2 * 54000)) < 150
    np.testing.assert_array_equal(
        meta["noise_mask"], meta["train_labels"] != meta["true_labels"]
    )
    # Validation batches carry the clean labels (dataset.val_labels="clean"), the noisy
    # training labels as alt_label, and the ids.
    val = data.val
    assert val.num_examples == 6000 and len(val) == 12
    seen = []
    for batch in val:
        ids = batch["id"][batch["mask"]]
        seen.append(ids)
        np.testing.assert_array_equal(batch["label"][batch["mask"]], meta["true_labels"][ids])
        np.testing.assert_array_equal(batch["alt_label"][batch["mask"]],
                                      meta["train_labels"][ids])
        np.testing.assert_array_equal(
            batch["true_label"][batch["mask"]], meta["true_labels"][ids]
        )
    assert np.array_equal(np.sort(np.concatenate(seen)), np.flatnonzero(split == VAL))
    # The test split is never corrupted.
    _, test_labels = idx.load_fmnist_idx(FMNIST)["test"]
    labels = np.concatenate([b["label"][b["mask"]] for b in data.tests["test"]])
    np.testing.assert_array_equal(labels, test_labels)


@needs_fmnist
def test_eval_sets_are_padded_with_a_mask():
    c = config()
    c.eval_batch_size = 384
    c.dataset.train_subset = 1000
    data = build_data(c)
    test = data.tests["test"]
    batches = list(test)
    assert test.num_examples == 10000 and len(batches) == len(test) == 27
    assert all(b["image"].shape == (384, 28, 28, 1) for b in batches)
    assert batches[-1]["mask"].sum() == 10000 - 26 * 384
    assert not batches[-1]["mask"][-1] and batches[-1]["label"][-1] == 0
    train_eval = data.train.eval_stream(batch_size=300)
    ids = np.concatenate([b["id"][b["mask"]] for b in train_eval])
    np.testing.assert_array_equal(ids, data.meta["ids"])
    assert data.info.num_train == 1000 and data.info.steps_per_epoch == 8  # ceil(1000 / 128)
    assert data.info.num_ids == 60000


def test_unknown_dataset_lists_valid_names():
    c = default_config()
    c.dataset.name = "mnist"
    with pytest.raises(ValueError, match="valid names: .*cifar10.*fashion_mnist"):
        build_data(c)


def test_fashion_mnist_falls_back_to_tfds(monkeypatch, tmp_path, tfds_dir, tfds_expected):
    # No idx files anywhere: the TFDS fashion_mnist of the data_dir (tests/fixtures/tfds).
    monkeypatch.setattr(idx, "DEFAULT_FMNIST_DIR", str(tmp_path / "missing"))
    c = config()
    c.batch_size = 4
    c.dataset.data_dir = str(tfds_dir)
    data = build_data(c)
    batches = take(data.train, 0, 5)
    test = list(data.tests["test"])
    assert data.info.source == "tfds:fashion_mnist:3.0.1 (array_record)"
    assert data.info.num_ids == 20 and data.info.steps_per_epoch == 5
    np.testing.assert_array_equal(data.meta["true_labels"],
                                  tfds_expected["fashion_mnist:train:label"])
    assert all(b["image"].shape == (4, 28, 28, 1) and b["image"].dtype == np.uint8
               for b in batches)
    images = {int(i): image for b in batches for i, image in zip(b["id"], b["image"], strict=True)}
    assert sorted(images) == list(range(20))
    for i in tfds_expected["fashion_mnist:train:pixel_ids"]:
        np.testing.assert_array_equal(images[i], tfds_expected[f"fashion_mnist:train:pixels:{i}"])
    assert test[0]["image"].shape == (500, 28, 28, 1) and test[0]["image"].dtype == np.float32
    labels = np.concatenate([b["label"][b["mask"]] for b in test])
    np.testing.assert_array_equal(labels, tfds_expected["fashion_mnist:test:label"])
    first = tfds_expected["fashion_mnist:test:pixels:0"]
    np.testing.assert_allclose(test[0]["image"][0], first / 127.5 - 1.0, atol=1e-6)


def test_missing_fashion_mnist_is_one_line_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(idx, "DEFAULT_FMNIST_DIR", str(tmp_path / "missing"))
    c = config()
    c.dataset.data_dir = str(tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        build_data(c)
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install -y dataset-fashion-mnist" in message


def test_env_var_points_to_the_idx_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(idx, "DEFAULT_FMNIST_DIR", str(tmp_path / "missing"))
    assert idx.find_fmnist_dir(None) is None
    if idx.has_fmnist_files(FMNIST):
        monkeypatch.setenv(idx.FMNIST_ENV, FMNIST)
        assert str(idx.find_fmnist_dir(None)) == FMNIST
