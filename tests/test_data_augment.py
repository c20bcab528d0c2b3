"""The training augmentation through build_data on digits: what the host hands over (uint8
images and key data), what the train step's finish makes of it, and the config's one-line
errors. The JAX ops themselves are checked in test_augment_jax.py / test_randaugment_jax.py."""

import itertools

import jax
import numpy as np
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.data import augment_jax, build_data
from gwa_jax.data.keys import example_key_data


def digits_config(**augment_keys):
    """Digits with the timm14 RandAugment list unless overridden."""
    c = default_config()
    c.dataset.name = "digits"
    c.batch_size = 32
    c.eval_batch_size = 100
    c.augment.randaug_ops = "timm14"
    for key, value in augment_keys.items():
        c.augment[key] = value
    return c


def test_digits_source_has_a_fixed_stratified_test_part():
    data = build_data(digits_config())
    assert data.info.num_ids == 1797 - 359 and data.info.image_shape == (8, 8, 1)
    assert data.tests["test"].num_examples == 359
    labels = np.concatenate([b["label"][b["mask"]] for b in data.tests["test"]])
    counts = np.bincount(labels, minlength=10)
    assert np.all(np.abs(counts - 0.2 * 179.7) <= 2)


def _finish(data, batch):
    return jax.device_get(jax.jit(data.train.device_finish())(batch))


def test_augmented_batches_replay_across_builds_and_differ_across_epochs():
    c = digits_config(crop="pad_crop", flip=True, randaug_magnitude=9, mixup=0.2)
    data = build_data(c)
    a = list(itertools.islice(data.train.epoch(1), 3))
    b = list(itertools.islice(build_data(c).train.epoch(1), 3))
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
        np.testing.assert_array_equal(_finish(data, x)["image"], _finish(data, y)["image"])
    e0 = next(iter(data.train.epoch(0)))
    assert not np.array_equal(e0["id"], a[0]["id"])
    assert not np.array_equal(e0["aug_key"], a[0]["aug_key"])


def test_an_examples_augmentation_depends_on_its_id_not_on_its_batch():
    """The same id in two epochs' batches at different positions: its key is the (seed,
    epoch, id) key, and the device gives the image the same pixels as augmenting it alone."""
    c = digits_config(crop="pad_crop", flip=True, randaug_magnitude=5)
    data = build_data(c)
    batch = next(iter(data.train.epoch(3)))
    np.testing.assert_array_equal(batch["aug_key"], example_key_data(0, 3, batch["id"]))
    out = _finish(data, batch)["image"]
    keys = augment_jax.keys_from_data(batch["aug_key"][5:6])
    alone = augment_jax.augment_batch(batch["image"][5:6], keys, pad_crop=True, flip=True,
                                      randaug_num_ops=2, randaug_magnitude=5.0)
    np.testing.assert_allclose(out[5], np.asarray(alone[0]) / 127.5 - 1.0, atol=1e-5)


def test_authors_chain_stream_carries_keys_and_the_device_finishes_it():
    """randaug_ops='authors' + resize_crop: the host gathers the native images and each
    example's key data; the train step's finish resizes, augments, crops, flips and mixes."""
    c = digits_config(crop="resize_crop", resize_to=12, flip=True, randaug_ops="authors",
                      randaug_magnitude=1, mixup=0.2)
    data = build_data(c)
    assert data.train.preprocess.jax_chain and data.info.image_shape == (8, 8, 1)
    batch = next(iter(data.train.epoch(1)))
    assert batch["aug_key"].shape == (32, 2) and batch["aug_key"].dtype == np.uint32
    assert np.all(batch["mixup_key"] == batch["mixup_key"][0])
    assert batch["image"].shape == (32, 8, 8, 1) and batch["image"].dtype == np.uint8
    again = next(iter(build_data(c).train.epoch(1)))
    np.testing.assert_array_equal(batch["aug_key"], again["aug_key"])
    assert len({tuple(k) for k in batch["aug_key"].tolist()}) == 32
    out = _finish(data, batch)
    assert sorted(out) == ["id", "image", "label", "mask", "target"]
    assert out["image"].shape == (32, 8, 8, 1)
    assert out["image"].min() >= -1 and out["image"].max() <= 1
    np.testing.assert_allclose(out["target"].sum(1), 1.0, atol=1e-6)


def test_image_size_resizes_training_and_test_images():
    c = digits_config(crop="pad_crop", flip=True)
    c.dataset.image_size = 12
    data = build_data(c)
    assert data.info.image_shape == (12, 12, 1)
    batch = next(iter(data.train.epoch(0)))
    assert batch["image"].shape == (32, 8, 8, 1)  # The device resizes.
    assert _finish(data, batch)["image"].shape == (32, 12, 12, 1)
    assert next(iter(data.tests["test"]))["image"].shape == (100, 12, 12, 1)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("randaug_ops", "timm", "Unknown augment.randaug_ops 'timm'; valid: authors, timm14."),
    ("resize_to", 8, "augment.crop='resize_crop' needs fixed-size images and "
                     "augment.resize_to (8) > the image size (8)."),
    ("crop", "inception", "augment.crop='inception' needs a variable-size (JPEG) dataset; "
                          "use 'pad_crop' or 'resize_crop' for fixed-size images."),
])
def test_bad_augment_values_are_one_line_errors(key, value, message):
    c = digits_config(crop="resize_crop", randaug_magnitude=1)
    c.augment[key] = value
    with pytest.raises(ValueError) as err:
        build_data(c)
    assert str(err.value) == message
