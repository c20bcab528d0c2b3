"""The streaming path on real (tiny, locally generated) multi-shard TFRecord files.

``mock_data`` always yields a single shard read in order; here a small TFDS builder is written
to disk with 4 shards, so file shuffling, parallel interleaving and the shard-offset ids are
exercised as with ImageNet.
"""

import dataclasses
import io

import jax
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gwa_jax.config_base import default_config
from gwa_jax.data import tfds_io
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.registry import DatasetSpec
from gwa_jax.data.splits import TRAIN, VAL, assign_splits
from gwa_jax.data.train import TfdsTrainStream

NUM = 96


class GwaTinyStream(tfds.core.GeneratorBasedBuilder):
    """Variable-size RGB images whose pixels encode the generation index i as 2 i + 1 (the
    evaluation resize truncates to uint8, which may lower a constant level by one)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(num_classes=4),
                    "index": np.int64,
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(NUM):
            h, w = 20 + i % 7, 24 + i % 5
            image = np.full((h, w, 3), 2 * i + 1, np.uint8)
            yield i, {"image": image, "label": i % 4, "index": i}


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    b = GwaTinyStream(data_dir=data_dir)
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=4))
    assert len(b.info.splits["train"].shard_lengths) == 4
    return b


def stream(builder, index, split, **augment):
    c = default_config()
    c.augment.randaug_ops = "timm14"  # The TensorFlow RandAugment, host and device.
    for key, value in augment.items():
        c.augment[key] = value
    c.dataset.image_size = 16
    spec = DatasetSpec(
        name="tiny", num_classes=4, image_shape=(16, 16, 3), source="tfds",
        tfds_name="gwa_tiny_stream", train_split="train", test_split="train",
        streaming=True, fixed_size=False, prepare="n/a",
    )
    return TfdsTrainStream(
        builder, "train", index["shard_offsets"], "n/a",
        split=split, train_labels=index["label"], true_labels=index["label"], num_classes=4,
        batch_size=8, eval_batch_size=10, seed=3, preprocess=Preprocess.from_config(spec, c),
    )


def test_label_index_matches_the_files_and_is_cached(builder, tmp_path):
    index = tfds_io.label_index(builder, "train", ("label",), "n/a", tmp_path)
    np.testing.assert_array_equal(
        index["shard_offsets"], np.cumsum([0, *builder.info.splits["train"].shard_lengths[:-1]])
    )
    assert sorted(np.bincount(index["label"])) == [NUM // 4] * 4
    cached = tfds_io.label_index(builder, "train", ("label",), "n/a", tmp_path)
    np.testing.assert_array_equal(cached["label"], index["label"])
    assert list(tmp_path.rglob("train.npz"))
    loaded = tfds_io.load_split(builder, "train", ("label", "index"), "n/a")
    np.testing.assert_array_equal(loaded["label"], index["label"])
    assert sorted(loaded["index"]) == list(range(NUM))


def test_stream_ids_are_stable_with_shuffled_parallel_reads(builder, tmp_path):
    index = tfds_io.label_index(builder, "train", ("label",), "n/a", None)
    loaded = tfds_io.load_split(builder, "train", ("index",), "n/a")
    split = assign_splits(index["label"], 4, val_fraction=0.25, split_seed=0)
    s = stream(builder, index, split)
    assert s.steps_per_epoch == 72 // 8
    epochs = []
    for epoch in (0, 0, 1):
        ids = []
        for batch in s.epoch(epoch):
            # Pixel level // 2 = generation index: the id -> example mapping is canonical.
            pixel = np.round((batch["image"][:, 8, 8, 0] + 1.0) * 127.5).astype(int)
            np.testing.assert_array_equal(pixel // 2, loaded["index"][batch["id"]])
            np.testing.assert_array_equal(batch["label"], index["label"][batch["id"]])
            ids.append(batch["id"])
        epochs.append(np.concatenate(ids))
    np.testing.assert_array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[0], epochs[2])
    assert len(np.unique(epochs[0])) == 72 and np.all(split[epochs[0]] == TRAIN)
    val = s.eval_subset(VAL, "val")
    val_ids = np.concatenate([b["id"][b["mask"]] for b in val])
    np.testing.assert_array_equal(np.sort(val_ids), np.flatnonzero(split == VAL))


def test_augmented_stream_replays_exactly(builder):
    index = tfds_io.label_index(builder, "train", ("label",), "n/a", None)
    split = np.zeros(NUM, np.int8)
    kwargs = dict(crop="inception", flip=True, randaug_magnitude=9, mixup=0.3)
    a = list(stream(builder, index, split, **kwargs).epoch(2))
    b = list(stream(builder, index, split, **kwargs).epoch(2))
    c = list(stream(builder, index, split, **kwargs).epoch(2, start_step=4))
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    for x, y in zip(a[4:], c, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])


class GwaTinyJpegs(tfds.core.GeneratorBasedBuilder):
    """JPEGs of odd sizes (4:2:0 and 4:4:4 colour, greyscale) and one PNG, 2 shards."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(num_classes=4),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        rng = np.random.default_rng(0)
        for i in range(32):
            h, w = 37 + 13 * (i % 5), 45 + 17 * (i % 3)
            y, x = np.mgrid[0:h, 0:w]
            image = 127 + 90 * np.sin(0.2 * x[..., None] + 0.3 * y[..., None] + np.arange(3) + i)
            image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
            if i == 5:
                encoded = tf.io.encode_png(image).numpy()
            elif i % 8 == 3:
                encoded = tf.io.encode_jpeg(image[..., :1], quality=90).numpy()
            else:
                encoded = tf.io.encode_jpeg(image, quality=90, chroma_downsampling=i % 2 == 0)
                encoded = encoded.numpy()
            yield i, {"image": io.BytesIO(encoded), "label": i % 4}


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    b = GwaTinyJpegs(data_dir=str(tmp_path_factory.mktemp("jpegs")))
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=2))
    return b, tfds_io.label_index(b, "train", ("label",), "n/a", None)


def test_fast_stream_matches_the_reference_implementation(jpegs):
    """The default path (JPEGs decoded inside the crop window, fast RandAugment) gives the
    same batches, bit for bit, as the reference path (TFDS decode, float32 crop, reference
    RandAugment) for the full Table 1 augmentation; resuming mid-epoch replays them."""
    b, index = jpegs
    kwargs = dict(crop="inception", flip=True, randaug_magnitude=10, mixup=0.2)
    fast = stream(b, index, np.zeros(32, np.int8), **kwargs)
    ref = stream(b, index, np.zeros(32, np.int8), **kwargs)
    ref.preprocess = dataclasses.replace(ref.preprocess, reference=True)
    assert not fast.preprocess.reference
    for epoch in (0, 1):
        a, r = list(fast.epoch(epoch)), list(ref.epoch(epoch))
        assert len(a) == 4
        for x, y in zip(a, r, strict=True):
            for key in x:
                np.testing.assert_array_equal(x[key].view(np.uint8), y[key].view(np.uint8))
    resumed = list(fast.epoch(1, start_step=2))
    for x, y in zip(a[2:], resumed, strict=True):
        np.testing.assert_array_equal(x["image"], y["image"])


def _finished_on_device(stream_, epoch, start_step=0):
    finish = jax.jit(stream_.device_finish())
    return [jax.device_get(finish(batch)) for batch in stream_.epoch(epoch, start_step)]


@pytest.mark.parametrize("mixup", [0.0, 0.2])
def test_on_device_stream_matches_the_host_pipeline(jpegs, mixup):
    """augment.on_device: the host's batches (cropped, flipped, with RandAugment's draws and
    the mixup weight) finished by ``device_finish`` on the device equal the host pipeline's
    batches: model inputs within 2 float32 ulps (XLA's division differs from TensorFlow's in
    the last bit), the same targets, labels and ids, in every batch of two epochs and after a
    mid-epoch resume. RandAugment's colour / contrast / sharpness sum in another order in XLA
    (~1e-4 of 255), so a value that lands that close to a rounding boundary (uint8 storage,
    posterize, equalize) may round the other way: allowed in under 0.5% of the pixels."""
    b, index = jpegs
    kwargs = dict(crop="inception", flip=True, randaug_magnitude=10, mixup=mixup)
    host = stream(b, index, np.zeros(32, np.int8), **kwargs)
    dev = stream(b, index, np.zeros(32, np.int8), on_device=True, **kwargs)
    assert (host.device_finish() is None) == (not mixup)  # Mixup: on the device for both.
    host_finish = jax.jit(host.device_finish()) if mixup else None
    ops_seen = set()
    for epoch in (0, 1):
        raw = list(dev.epoch(epoch))
        ops_seen |= {int(o) for batch in raw for o in batch["ra_ops"].ravel()}
        assert all(batch["image"].min() >= 0 and batch["image"].max() <= 255 for batch in raw)
        finished = _finished_on_device(dev, epoch)
        expected = list(host.epoch(epoch))
        if host_finish is not None:
            expected = [jax.device_get(host_finish(x)) for x in expected]
        assert len(finished) == len(expected) == 4
        for x, z in zip(expected, finished, strict=True):
            assert sorted(z) == sorted(x)
            for key in ("id", "label"):
                np.testing.assert_array_equal(z[key], x[key])
            np.testing.assert_allclose(z["target"], x["target"], rtol=0, atol=1e-7)
            assert np.mean(np.abs(z["image"] - x["image"]) > 2.5e-7) < 0.005
            if not mixup:  # Pixel levels: (x + 1) * 127.5 is an integer up to the ulps.
                levels = [np.round((v["image"] + 1) * 127.5) for v in (z, x)]
                np.testing.assert_allclose(levels[0] / 127.5, z["image"] + 1, atol=3e-7)
                assert np.mean(levels[0] != levels[1]) < 0.005
    assert len(ops_seen) == 14  # Every RandAugment op was exercised.
    for z, r in zip(finished[2:], _finished_on_device(dev, 1, start_step=2), strict=True):
        np.testing.assert_array_equal(z["image"], r["image"])


def test_on_device_refuses_the_reference_path_and_a_resize_after_randaugment():
    with pytest.raises(ValueError, match="reference=False"):
        Preprocess((16, 16, 3), False, 16, randaug_num_ops=2, randaug_magnitude=5,
                   on_device=True, reference=True)
    c = default_config()
    c.augment.update(randaug_magnitude=5, on_device=True, randaug_ops="timm14")
    c.dataset.image_size = 32
    spec = DatasetSpec(name="tiny", num_classes=4, image_shape=(16, 16, 3), source="tfds",
                       tfds_name="x", train_split="train", test_split="train", fixed_size=True)
    with pytest.raises(ValueError, match="on_device=False or train at the native size"):
        Preprocess.from_config(spec, c)
