"""TFDS datasets through build_data on the tiny prepared array_record copies of
tests/fixtures/tfds (read without TensorFlow), and the missing-data errors.

Example ids are positions in the split, shards in order: the fixture's ``cifar10`` and
``imagenet2012`` train splits have two shards, and ``tfds_expected.npz`` holds the labels of
every id and the pixels of the first and last id of every shard as the fixture script wrote them.
"""

import itertools

import jax
import numpy as np
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.data import (
    CORRUPTION_GROUPS,
    CORRUPTIONS,
    DATASETS,
    DatasetNotFoundError,
    build_data,
    corrupted_test_sets,
)
from gwa_jax.data.host_image import resize_center_crop
from gwa_jax.data.preprocess import to_model_range
from gwa_jax.data.splits import TRAIN, VAL, assign_splits

B, EVAL_B = 8, 16


def config(name, data_dir, **dataset):
    c = default_config()
    c.dataset.name = name
    c.dataset.data_dir = str(data_dir)
    c.batch_size = B
    c.eval_batch_size = EVAL_B
    for key, value in dataset.items():
        c.dataset[key] = value
    return c


def epoch_ids(stream, epoch):
    return np.concatenate([b["id"][b["mask"]] for b in stream.epoch(epoch)])


def finish(data, batch):
    """The train step's device part of the input pipeline, jitted."""
    return jax.device_get(jax.jit(data.train.device_finish())(batch))


def check_train(data, num_classes, shape, host_shape):
    """Host batches (uint8, per-example fields), their device finish, ids once per epoch."""
    info = data.info
    assert info.num_classes == num_classes and info.image_shape == shape
    assert info.steps_per_epoch == -(-info.num_train // B)  # The last batch is padded.
    batch = next(iter(data.train.epoch(0)))
    assert batch["image"].shape == (B, *host_shape) and batch["image"].dtype == np.uint8
    assert batch["target"].shape == (B, num_classes) and batch["target"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and batch["id"].dtype == np.int32
    assert batch["mask"].dtype == bool
    out = finish(data, batch)
    assert out["image"].shape == (B, *shape) and out["image"].dtype == np.float32
    assert -1.0 - 1e-6 <= out["image"].min() and out["image"].max() <= 1.0 + 1e-6
    assert "aug_key" not in out and "mixup_key" not in out
    np.testing.assert_array_equal(out["id"], batch["id"])
    ids0, ids1 = epoch_ids(data.train, 0), epoch_ids(data.train, 1)
    assert len(ids0) == len(np.unique(ids0)) == info.num_train  # Every id, once.
    assert set(ids0) == set(data.meta["ids"]) == set(ids1)
    assert not np.array_equal(ids0, ids1)
    np.testing.assert_array_equal(batch["label"], data.meta["train_labels"][batch["id"]])
    return batch, out


def check_eval(eval_set, num_examples, shape):
    batches = list(eval_set)
    assert eval_set.num_examples == num_examples
    assert len(batches) == -(-num_examples // EVAL_B)
    for b in batches:
        assert b["image"].shape == (EVAL_B, *shape) and b["image"].dtype == np.float32
        assert -1.0 <= b["image"].min() and b["image"].max() <= 1.0
        assert b["label"].dtype == np.int32 and b["mask"].dtype == bool
    assert sum(b["mask"].sum() for b in batches) == num_examples
    return batches


def masked(batches, key):
    return np.concatenate([b[key][b["mask"]] for b in batches])


def pixel_ids(expected, prefix):
    return [int(i) for i in expected[f"{prefix}:pixel_ids"]]


def train_images_by_id(stream, epoch=0):
    """{id: uint8 host image} over one epoch of a training stream."""
    out = {}
    for batch in stream.epoch(epoch):
        for row in np.flatnonzero(batch["mask"]):
            out[int(batch["id"][row])] = batch["image"][row]
    return out


def eval_images_by_id(eval_set):
    return {int(b["id"][r]): b["image"][r] for b in eval_set for r in np.flatnonzero(b["mask"])}


def test_cifar10_in_memory_ids_are_positions_across_shards(tfds_dir, tfds_expected):
    exp = tfds_expected
    data = build_data(config("cifar10", tfds_dir, val_fraction=0.1))
    n = len(exp["cifar10:train:label"])
    assert list(exp["cifar10:train:shard_lengths"]) == [22, 18] and data.info.num_ids == n
    batch, out = check_train(data, 10, (32, 32, 3), (32, 32, 3))
    assert "aug_key" not in batch  # Nothing drawn: the device only maps to [-1, 1].
    np.testing.assert_allclose(out["image"], to_model_range(batch["image"]), atol=1e-6)
    assert data.info.source == "tfds:cifar10:3.0.2 (array_record)"
    np.testing.assert_array_equal(data.meta["true_labels"], exp["cifar10:train:label"])
    expected_split = assign_splits(exp["cifar10:train:label"], 10, val_fraction=0.1)
    np.testing.assert_array_equal(data.meta["split"], expected_split)
    num_val = int((expected_split == VAL).sum())
    assert num_val == 4 and data.info.num_train == n - num_val
    check_eval(data.val, num_val, (32, 32, 3))
    test = check_eval(data.tests["test"], 20, (32, 32, 3))
    np.testing.assert_array_equal(masked(test, "label"), exp["cifar10:test:label"])
    for i in pixel_ids(exp, "cifar10:test"):
        np.testing.assert_allclose(masked(test, "image")[i],
                                   to_model_range(exp[f"cifar10:test:pixels:{i}"]), atol=1e-6)
    # id i is the i-th record of the split (shards in order): the first and last of each shard.
    train = train_images_by_id(data.train)
    evals = {**eval_images_by_id(data.train.eval_stream()), **eval_images_by_id(data.val)}
    ids = pixel_ids(exp, "cifar10:train")
    assert ids == [0, 21, 22, 39] and set(ids) <= set(evals)
    for i in ids:
        pixels = exp[f"cifar10:train:pixels:{i}"]
        np.testing.assert_allclose(evals[i], to_model_range(pixels), atol=1e-6)
        if i in train:
            np.testing.assert_array_equal(train[i], pixels)
    assert set(train) == set(data.meta["ids"])


@pytest.mark.parametrize("label_key", ["label", "aggre_label", "random_label1", "worse_label"])
def test_cifar10_n_label_keys(tfds_dir, tfds_expected, label_key):
    data = build_data(config("cifar10_n", tfds_dir, label_key=label_key))
    assert data.info.label_key == label_key
    meta = data.meta
    np.testing.assert_array_equal(meta["true_labels"], tfds_expected["cifar10_n:train:label"])
    np.testing.assert_array_equal(meta["train_labels"],
                                  tfds_expected[f"cifar10_n:train:{label_key}"])
    if label_key == "label":
        assert not meta["noise_mask"].any()
    else:
        assert meta["noise_mask"].any()  # The fixture's human labels disagree on some ids.
    np.testing.assert_array_equal(meta["noise_mask"], meta["train_labels"] != meta["true_labels"])
    batch = next(iter(data.train.epoch(0)))
    np.testing.assert_array_equal(batch["label"], meta["train_labels"][batch["id"]])
    test = list(data.tests["test"])
    np.testing.assert_array_equal(masked(test, "label"), tfds_expected["cifar10_n:test:label"])


def test_cifar10_n_rejects_unknown_label_key_and_synthetic_noise_on_human_labels(tmp_path):
    with pytest.raises(ValueError, match="random_label1"):
        build_data(config("cifar10_n", tmp_path, label_key="noisy"))
    c = config("cifar10_n", tmp_path, label_key="worse_label")
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.2
    with pytest.raises(ValueError, match="human-noisy"):
        build_data(c)


def test_cifar10_corrupted_expands_to_75_sets_with_groups():
    sets = corrupted_test_sets("cifar10_corrupted")
    assert len(sets) == 75 and len(set(v[0] for v in sets.values())) == 75
    assert "cifar10_corrupted/gaussian_noise_3" in sets
    assert sets["cifar10_corrupted/glass_blur_5"] == ("cifar10_corrupted/frosted_glass_blur_5",
                                                      "Blur")
    groups = {g: 0 for g in ("Noise", "Blur", "Weather", "Digital")}
    for _, group in sets.values():
        groups[group] += 1
    assert groups == {"Noise": 15, "Blur": 20, "Weather": 20, "Digital": 20}


def test_cifar10_corrupted_sets_read_their_tfds_configs(tfds_dir, tfds_expected,
                                                        fixture_corruptions):
    # build_data expands "cifar10_corrupted" to the 75 sets; the fixture holds four of the
    # configs (one per group, two with TFDS's own names), and the expansion is cut to those.
    assert set(fixture_corruptions) == {
        "cifar10_corrupted/gaussian_noise_3", "cifar10_corrupted/glass_blur_5",
        "cifar10_corrupted/snow_2", "cifar10_corrupted/elastic_transform_2"}
    data = build_data(config("cifar10", tfds_dir, test_sets=("cifar10_corrupted",)))
    assert set(data.tests) == {"test", *fixture_corruptions}
    assert data.corruption_groups == {k: g for k, (_, g) in fixture_corruptions.items()}
    assert set(data.corruption_groups.values()) == {"Noise", "Blur", "Weather", "Digital"}
    for key, (tfds_name, _) in fixture_corruptions.items():
        batches = check_eval(data.tests[key], 6, (32, 32, 3))
        prefix = f"{tfds_name}:test"
        np.testing.assert_array_equal(masked(batches, "label"), tfds_expected[f"{prefix}:label"])
        for i in pixel_ids(tfds_expected, prefix):
            np.testing.assert_allclose(masked(batches, "image")[i],
                                       to_model_range(tfds_expected[f"{prefix}:pixels:{i}"]),
                                       atol=1e-6)


def test_one_corrupted_set_by_its_canonical_name(tfds_dir, tfds_expected):
    c = config("cifar10", tfds_dir, test_sets=("cifar10_corrupted/elastic_transform_2",))
    data = build_data(c)
    assert set(data.tests) == {"test", "cifar10_corrupted/elastic_transform_2"}
    assert data.corruption_groups == {"cifar10_corrupted/elastic_transform_2": "Digital"}
    batches = check_eval(data.tests["cifar10_corrupted/elastic_transform_2"], 6, (32, 32, 3))
    np.testing.assert_array_equal(masked(batches, "label"),
                                  tfds_expected["cifar10_corrupted/elastic_2:test:label"])


def test_corruption_registry():
    assert len(CORRUPTIONS) == 15 and set(CORRUPTIONS) == set(CORRUPTION_GROUPS)
    sets = corrupted_test_sets("cifar10_corrupted")
    assert sets["cifar10_corrupted/glass_blur_1"][0] == "cifar10_corrupted/frosted_glass_blur_1"
    assert sets["cifar10_corrupted/elastic_transform_4"][0] == "cifar10_corrupted/elastic_4"
    one = corrupted_test_sets("imagenet2012_corrupted/fog_2")
    assert one == {"imagenet2012_corrupted/fog_2": ("imagenet2012_corrupted/fog_2", "Weather")}
    with pytest.raises(ValueError):
        corrupted_test_sets("cifar10_corrupted/rain_1")


def test_imagenet2012_streams_with_stable_ids(tfds_dir, tfds_expected):
    exp = tfds_expected
    c = config("imagenet2012", tfds_dir, val_fraction=0.1, image_size=24)
    c.dataset.test_sets = ("imagenet2012_corrupted/gaussian_noise_3",)
    data = build_data(c)
    n = len(exp["imagenet2012:train:label"])
    assert list(exp["imagenet2012:train:shard_lengths"]) == [23, 17] and data.info.num_ids == n
    assert data.info.source == "tfds:imagenet2012:5.1.0 (array_record)"
    np.testing.assert_array_equal(data.meta["true_labels"], exp["imagenet2012:train:label"])
    num_val = int((data.meta["split"] == VAL).sum())
    assert num_val > 0 and data.info.num_train == n - num_val
    check_train(data, 1000, (24, 24, 3), (24, 24, 3))
    # Without augmentation, an id has the same image in every epoch and in the eval stream,
    # the evaluation resize + center crop of the id-th record of the split.
    by_id = train_images_by_id(data.train, 0)
    for i, image in train_images_by_id(data.train, 1).items():
        np.testing.assert_array_equal(by_id[i], image)
    evals = eval_images_by_id(data.train.eval_stream())
    assert set(evals) == set(by_id) == set(data.meta["ids"])
    for i, image in by_id.items():
        np.testing.assert_allclose(evals[i], to_model_range(image), atol=1e-6)
    evals.update(eval_images_by_id(data.val))
    ids = pixel_ids(exp, "imagenet2012:train")
    assert ids == [0, 22, 23, 39]
    for i in ids:
        pixels = exp[f"imagenet2012:train:pixels:{i}"]
        assert pixels.shape[:2] == tuple(exp["imagenet2012:train:hw"][i])
        np.testing.assert_allclose(evals[i], to_model_range(resize_center_crop(pixels, 24)),
                                   atol=1e-6)
    # id 1 is a greyscale JPEG: decoded to RGB by repeating the plane.
    np.testing.assert_array_equal(evals[1][..., 0], evals[1][..., 1])
    np.testing.assert_array_equal(evals[1][..., 0], evals[1][..., 2])
    val = check_eval(data.val, num_val, (24, 24, 3))
    np.testing.assert_array_equal(np.sort(masked(val, "id")),
                                  np.flatnonzero(data.meta["split"] == VAL))
    assert set(data.tests) == {
        "test", "imagenet_v2", "imagenet2012_real", "imagenet2012_corrupted/gaussian_noise_3",
    }
    test = check_eval(data.tests["test"], 20, (24, 24, 3))
    np.testing.assert_array_equal(masked(test, "label"), exp["imagenet2012:validation:label"])
    v2 = check_eval(data.tests["imagenet_v2"], 12, (24, 24, 3))
    np.testing.assert_array_equal(masked(v2, "label"), exp["imagenet_v2:test:label"])
    corrupted = check_eval(data.tests["imagenet2012_corrupted/gaussian_noise_3"], 6, (24, 24, 3))
    np.testing.assert_array_equal(
        masked(corrupted, "label"), exp["imagenet2012_corrupted/gaussian_noise_3:validation:label"])
    real = check_eval(data.tests["imagenet2012_real"], 20, (24, 24, 3))
    assert real[0]["real_labels"].shape == (EVAL_B, 1000) and real[0]["real_labels"].dtype == bool
    np.testing.assert_array_equal(masked(real, "label"),
                                  exp["imagenet2012_real:validation:original_label"])
    values = exp["imagenet2012_real:validation:real_label.values"]
    offsets = exp["imagenet2012_real:validation:real_label.offsets"]
    multi_hot = masked(real, "real_labels")
    for i in range(20):
        assert set(np.flatnonzero(multi_hot[i])) == set(values[offsets[i]:offsets[i + 1]])
    assert not multi_hot.any(-1).all()  # Some sets are empty: not in ReaL's accuracy.
    for b in real:
        np.testing.assert_array_equal(b["real_mask"], b["mask"] & b["real_labels"].any(-1))
    # The label index was cached; a second build reads it and gives the same split.
    (cache,) = (tfds_dir / "gwa_jax_index" / "imagenet2012").rglob("train.npz")
    with np.load(cache) as index:
        np.testing.assert_array_equal(index["label"], exp["imagenet2012:train:label"])
    again = build_data(c)
    np.testing.assert_array_equal(again.meta["split"], data.meta["split"])
    np.testing.assert_array_equal(epoch_ids(again.train, 0), epoch_ids(data.train, 0))


def test_imagenet2012_augmented_stream_is_deterministic(tfds_dir):
    c = config("imagenet2012", tfds_dir, image_size=16)
    c.augment.crop = "inception"
    c.augment.flip = True
    c.augment.randaug_magnitude = 10
    c.augment.mixup = 0.5
    c.augment.label_smoothing = 0.1
    data = build_data(c)
    a = list(itertools.islice(data.train.epoch(0), 2))
    b = list(itertools.islice(build_data(c).train.epoch(0), 2))
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys() >= {"image", "aug_key", "mixup_key", "target"}
        assert x["image"].shape == (B, 16, 16, 3) and x["image"].dtype == np.uint8
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    # The host's inception crops depend on the example keys: another epoch, other crops.
    other = next(iter(data.train.epoch(1)))
    assert not np.array_equal(other["aug_key"], a[0]["aug_key"])
    step = jax.jit(data.train.device_finish())  # One compilation for both.
    fa, fb = jax.device_get(step(a[0])), jax.device_get(step(b[0]))
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key])
    assert fa["image"].shape == (B, 16, 16, 3) and fa["image"].dtype == np.float32
    np.testing.assert_allclose(fa["target"].sum(1), 1.0, atol=1e-5)
    assert not np.allclose(fa["target"], a[0]["target"])  # Mixed in the step.
    resumed = next(iter(build_data(c).train.epoch(0, start_step=1)))
    for key in resumed:
        np.testing.assert_array_equal(resumed[key], a[1][key])


@pytest.mark.parametrize(
    "name,num_classes", [("i_naturalist2018", 8142), ("places365_small", 365)]
)
def test_other_streaming_datasets(tfds_dir, tfds_expected, name, num_classes):
    data = build_data(config(name, tfds_dir, image_size=16, train_subset=24))
    assert data.info.num_ids == 30
    assert data.info.num_train == 24 and (data.meta["split"] == TRAIN).sum() == 24
    np.testing.assert_array_equal(data.meta["true_labels"], tfds_expected[f"{name}:train:label"])
    check_train(data, num_classes, (16, 16, 3), (16, 16, 3))
    test = check_eval(data.tests["test"], 12, (16, 16, 3))
    np.testing.assert_array_equal(masked(test, "label"),
                                  tfds_expected[f"{name}:validation:label"])


def test_fashion_mnist_tfds_noise_never_touches_test(tfds_dir, tfds_expected, monkeypatch):
    from gwa_jax.data import idx

    monkeypatch.setattr(idx, "DEFAULT_FMNIST_DIR", str(tfds_dir / "missing"))
    monkeypatch.delenv(idx.FMNIST_ENV, raising=False)
    c = config("fashion_mnist", tfds_dir)
    c.dataset.label_noise.kind = "asymmetric"
    c.dataset.label_noise.rate = 1.0
    data = build_data(c)
    meta = data.meta
    assert data.info.source.startswith("tfds:fashion_mnist")
    assert meta["noise_mask"].any()
    np.testing.assert_array_equal(meta["true_labels"], tfds_expected["fashion_mnist:train:label"])
    labels = masked(list(data.tests["test"]), "label")
    np.testing.assert_array_equal(labels, tfds_expected["fashion_mnist:test:label"])


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
        ("cifar10", "python data_prep/tfds_build.py cifar10"),
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


def test_missing_extra_test_set_names_its_script(tfds_dir):
    # The fixture holds cifar10 but not the CIFAR-10-C config fog_1.
    assert not (tfds_dir / "cifar10_corrupted" / "fog_1").exists()
    c = config("cifar10", tfds_dir, test_sets=("cifar10_corrupted/fog_1",))
    with pytest.raises(DatasetNotFoundError) as err:
        build_data(c)
    assert "\n" not in str(err.value)
    assert "python data_prep/cifar10_corrupted.py --help" in str(err.value)
    assert build_data(config("cifar10", tfds_dir)).info.num_ids == 40


def test_test_only_dataset_cannot_be_trained_on(tmp_path):
    with pytest.raises(ValueError, match="test-only"):
        build_data(config("imagenet_v2", tmp_path))
