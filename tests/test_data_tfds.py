"""TFDS code paths with ``tfds.testing.mock_data`` (offline) and the missing-data errors."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gwa_jax.config_base import default_config
from gwa_jax.data import (
    CORRUPTION_GROUPS,
    CORRUPTIONS,
    DATASETS,
    DatasetNotFoundError,
    build_data,
    corrupted_test_sets,
)
from gwa_jax.data.splits import TRAIN, VAL
from gwa_jax.data.tfds_io import canonical_ids

N = 40  # Mock examples per split.


def config(name, tmp_path, **dataset):
    c = default_config()
    c.dataset.name = name
    c.dataset.data_dir = str(tmp_path)
    c.batch_size = 8
    c.eval_batch_size = 16
    for key, value in dataset.items():
        c.dataset[key] = value
    return c


def epoch_ids(stream, epoch):
    return np.concatenate([b["id"][b["mask"]] for b in stream.epoch(epoch)])


def check_train(data, num_classes, shape):
    info = data.info
    assert info.num_classes == num_classes and info.image_shape == shape
    assert info.steps_per_epoch == -(-info.num_train // 8)  # The last batch is padded.
    batch = next(iter(data.train.epoch(0)))
    assert batch["image"].shape == (8, *shape) and batch["image"].dtype == np.float32
    assert batch["target"].shape == (8, num_classes) and batch["target"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and batch["id"].dtype == np.int32
    ids0, ids1 = epoch_ids(data.train, 0), epoch_ids(data.train, 1)
    assert len(ids0) == len(np.unique(ids0)) == info.num_train  # Every id, once.
    assert set(ids0) == set(data.meta["ids"]) == set(ids1)
    assert not np.array_equal(ids0, ids1)
    np.testing.assert_array_equal(batch["label"], data.meta["train_labels"][batch["id"]])


def check_eval(eval_set, num_examples, shape):
    batches = list(eval_set)
    assert eval_set.num_examples == num_examples
    assert len(batches) == -(-num_examples // 16)
    for b in batches:
        assert b["image"].shape == (16, *shape) and b["image"].dtype == np.float32
        assert b["label"].dtype == np.int32 and b["mask"].dtype == bool
    assert sum(b["mask"].sum() for b in batches) == num_examples
    return batches


@pytest.fixture
def mock():
    with tfds.testing.mock_data(num_examples=N):
        yield


def test_canonical_ids_from_multi_shard_tfds_ids():
    names = [b"ds-train.tfrecord-00000-of-00002__%d" % i for i in range(3)]
    names += [b"ds-train.tfrecord-00001-of-00002__%d" % i for i in range(2)]
    order = np.array([4, 0, 3, 2, 1])
    ids, offsets = canonical_ids(np.array(names, dtype=object)[order])
    np.testing.assert_array_equal(offsets, [0, 3])
    np.testing.assert_array_equal(ids, order)
    with pytest.raises(ValueError):
        canonical_ids(np.array(names[1:], dtype=object))


def test_cifar10_in_memory_ids_match_tfds_ids(mock, tmp_path):
    data = build_data(config("cifar10", tmp_path, val_fraction=0.1))
    check_train(data, 10, (32, 32, 3))
    assert data.info.num_ids == N and data.info.num_train == N - 4
    assert (data.meta["split"] == VAL).sum() == 4
    check_eval(data.val, 4, (32, 32, 3))
    check_eval(data.tests["test"], N, (32, 32, 3))
    # id i is the i-th example of the canonical (unshuffled) TFDS order.
    ds = tfds.builder("cifar10", data_dir=str(tmp_path)).as_dataset(
        split="train", read_config=tfds.ReadConfig(add_tfds_id=True)
    )
    examples = {ex["tfds_id"].decode(): ex for ex in tfds.as_numpy(ds)}
    batch = next(iter(data.train.eval_stream()))
    for row, i in enumerate(batch["id"][batch["mask"]][:5]):
        ex = examples[f"cifar10-train.tfrecord-00000-of-00001__{i}"]
        np.testing.assert_allclose(batch["image"][row], ex["image"] / 127.5 - 1.0, atol=1e-6)
        assert batch["true_label"][row] == ex["label"]


@pytest.mark.parametrize("label_key", ["label", "aggre_label", "random_label1", "worse_label"])
def test_cifar10_n_label_keys(mock, tmp_path, label_key):
    data = build_data(config("cifar10_n", tmp_path, label_key=label_key))
    assert data.info.label_key == label_key
    meta = data.meta
    if label_key == "label":
        assert not meta["noise_mask"].any()
    else:
        assert meta["noise_mask"].any()  # Mock labels are random: keys disagree.
    np.testing.assert_array_equal(meta["noise_mask"], meta["train_labels"] != meta["true_labels"])
    batch = next(iter(data.train.epoch(0)))
    np.testing.assert_array_equal(batch["label"], meta["train_labels"][batch["id"]])


def test_cifar10_n_rejects_unknown_label_key_and_synthetic_noise_on_human_labels(tmp_path):
    with pytest.raises(ValueError, match="random_label1"):
        build_data(config("cifar10_n", tmp_path, label_key="noisy"))
    c = config("cifar10_n", tmp_path, label_key="worse_label")
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.2
    with pytest.raises(ValueError, match="human-noisy"):
        build_data(c)


def test_cifar10_corrupted_expands_to_75_sets_with_groups(mock, tmp_path):
    data = build_data(config("cifar10", tmp_path, test_sets=("cifar10_corrupted",)))
    corrupted = [k for k in data.tests if k.startswith("cifar10_corrupted/")]
    assert len(corrupted) == 75 and len(data.tests) == 76
    assert "cifar10_corrupted/gaussian_noise_3" in data.tests
    assert "cifar10_corrupted/glass_blur_5" in data.tests
    assert data.corruption_groups["cifar10_corrupted/glass_blur_5"] == "Blur"
    groups = {g: 0 for g in ("Noise", "Blur", "Weather", "Digital")}
    for key in corrupted:
        groups[data.corruption_groups[key]] += 1
    assert groups == {"Noise": 15, "Blur": 20, "Weather": 20, "Digital": 20}
    check_eval(data.tests["cifar10_corrupted/elastic_transform_2"], N, (32, 32, 3))


def test_corruption_registry():
    assert len(CORRUPTIONS) == 15 and set(CORRUPTIONS) == set(CORRUPTION_GROUPS)
    sets = corrupted_test_sets("cifar10_corrupted")
    assert sets["cifar10_corrupted/glass_blur_1"][0] == "cifar10_corrupted/frosted_glass_blur_1"
    assert sets["cifar10_corrupted/elastic_transform_4"][0] == "cifar10_corrupted/elastic_4"
    one = corrupted_test_sets("imagenet2012_corrupted/fog_2")
    assert one == {"imagenet2012_corrupted/fog_2": ("imagenet2012_corrupted/fog_2", "Weather")}
    with pytest.raises(ValueError):
        corrupted_test_sets("cifar10_corrupted/rain_1")


def test_imagenet2012_streams_with_stable_ids(mock, tmp_path):
    c = config("imagenet2012", tmp_path, val_fraction=0.1, image_size=24)
    c.dataset.test_sets = ("imagenet2012_corrupted/gaussian_noise_3",)
    data = build_data(c)
    assert data.info.num_ids == N and data.info.num_train == N - 4
    check_train(data, 1000, (24, 24, 3))
    # Without augmentation, an id has the same image in every epoch and in the eval stream.
    by_id = {}
    for epoch in (0, 1):
        for batch in data.train.epoch(epoch):
            for row, i in enumerate(batch["id"]):
                if i in by_id:
                    np.testing.assert_array_equal(by_id[i], batch["image"][row])
                by_id[i] = batch["image"][row]
    for batch in data.train.eval_stream():
        for row in np.flatnonzero(batch["mask"]):
            i = batch["id"][row]
            if i in by_id:
                # The stream rounds to uint8 before its shuffle buffer: half a grey level.
                np.testing.assert_allclose(by_id[i], batch["image"][row], atol=0.5 / 127.5 + 1e-6)
    val = check_eval(data.val, 4, (24, 24, 3))
    val_ids = np.concatenate([b["id"][b["mask"]] for b in val])
    np.testing.assert_array_equal(np.sort(val_ids), np.flatnonzero(data.meta["split"] == VAL))
    assert set(data.tests) == {
        "test", "imagenet_v2", "imagenet2012_real", "imagenet2012_corrupted/gaussian_noise_3",
    }
    check_eval(data.tests["test"], N, (24, 24, 3))
    check_eval(data.tests["imagenet_v2"], N, (24, 24, 3))
    real = check_eval(data.tests["imagenet2012_real"], N, (24, 24, 3))
    assert real[0]["real_labels"].shape == (16, 1000) and real[0]["real_labels"].dtype == bool
    np.testing.assert_array_equal(
        real[-1]["real_mask"], real[-1]["mask"] & real[-1]["real_labels"].any(-1)
    )
    # The label index was cached; a second build reads it and gives the same split.
    assert list((tmp_path / "gwa_jax_index" / "imagenet2012").rglob("train.npz"))
    again = build_data(c)
    np.testing.assert_array_equal(again.meta["split"], data.meta["split"])
    np.testing.assert_array_equal(epoch_ids(again.train, 0), epoch_ids(data.train, 0))


def test_imagenet2012_augmented_stream_is_deterministic(mock, tmp_path):
    c = config("imagenet2012", tmp_path, image_size=16)
    c.augment.crop = "inception"
    c.augment.flip = True
    c.augment.randaug_magnitude = 10
    c.augment.mixup = 0.5
    c.augment.label_smoothing = 0.1
    a = list(itertools.islice(build_data(c).train.epoch(0), 2))
    b = list(itertools.islice(build_data(c).train.epoch(0), 2))
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    np.testing.assert_allclose(a[0]["target"].sum(1), 1.0, atol=1e-5)
    resumed = next(iter(build_data(c).train.epoch(0, start_step=1)))
    np.testing.assert_array_equal(resumed["image"], a[1]["image"])


@pytest.mark.parametrize(
    "name,num_classes", [("i_naturalist2018", 8142), ("places365_small", 365)]
)
def test_other_streaming_datasets(mock, tmp_path, name, num_classes):
    data = build_data(config(name, tmp_path, image_size=16, train_subset=24))
    assert data.info.num_train == 24 and (data.meta["split"] == TRAIN).sum() == 24
    check_train(data, num_classes, (16, 16, 3))
    check_eval(data.tests["test"], N, (16, 16, 3))


def test_fashion_mnist_tfds_noise_never_touches_test(mock, tmp_path, monkeypatch):
    from gwa_jax.data import idx

    monkeypatch.setattr(idx, "DEFAULT_FMNIST_DIR", str(tmp_path / "missing"))
    monkeypatch.delenv(idx.FMNIST_ENV, raising=False)
    c = config("fashion_mnist", tmp_path)
    c.dataset.label_noise.kind = "asymmetric"
    c.dataset.label_noise.rate = 1.0
    data = build_data(c)
    meta = data.meta
    assert meta["noise_mask"].any()
    ds = tfds.builder("fashion_mnist", data_dir=str(tmp_path)).as_dataset(split="test")
    clean = np.array([ex["label"] for ex in tfds.as_numpy(ds)])
    labels = np.concatenate([b["label"][b["mask"]] for b in data.tests["test"]])
    np.testing.assert_array_equal(labels, clean)


def test_registry_entries_are_consistent():
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.prepare
        assert spec.test_only == (spec.train_split is None)
        for extra in spec.default_test_sets:
            assert DATASETS[extra].num_classes == spec.num_classes
    assert DATASETS["cifar10_n"].label_keys == (
        "label", "aggre_label", "random_label1", "worse_label",
    )


@pytest.mark.parametrize(
    "name,command",
    [
        ("cifar10", "tfds build cifar10"),
        ("cifar10_n", "python data_prep/cifar10_n.py --help"),
        ("imagenet2012", "python data_prep/imagenet2012.py --help"),
        ("i_naturalist2018", "python data_prep/i_naturalist2018.py --help"),
        ("places365_small", "python data_prep/places365_small.py --help"),
    ],
)
def test_missing_tfds_dataset_is_one_line_with_the_prepare_command(tmp_path, name, command):
    with pytest.raises(DatasetNotFoundError) as err:
        build_data(config(name, tmp_path))
    assert "\n" not in str(err.value) and command in str(err.value)


def test_missing_extra_test_set_names_its_script(tmp_path):
    def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False, **kw):
        if self.name == "cifar10_corrupted":  # The only dataset "not prepared".
            raise AssertionError(f"Dataset {self.name}: could not find data")
        n = 16
        return tf.data.Dataset.from_tensor_slices(
            {
                "image": np.zeros((n, 32, 32, 3), np.uint8),
                "label": np.arange(n) % 10,
                "tfds_id": [f"{self.name}-{split}.tfrecord-00000-of-00001__{i}" for i in range(n)],
            }
        )

    c = config("cifar10", tmp_path, test_sets=("cifar10_corrupted/fog_1",))
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        with pytest.raises(DatasetNotFoundError) as err:
            build_data(c)
        assert build_data(config("cifar10", tmp_path)).info.num_ids == 16
    assert "\n" not in str(err.value)
    assert "python data_prep/cifar10_corrupted.py --help" in str(err.value)


def test_test_only_dataset_cannot_be_trained_on(tmp_path):
    with pytest.raises(ValueError, match="test-only"):
        build_data(config("imagenet_v2", tmp_path))
