"""The Grain in-memory pipeline: ArrayTrainStream's batches (ids, labels, targets, mask) step by
step, every id once per epoch, replay and resumption, keys equal to augment_jax's, device
finishing, padded evaluation batches, and no TensorFlow anywhere on its path."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax.data import augment_jax
from gwa_jax.data.batches import padded_positions
from gwa_jax.data.grain_pipeline import (
    ArrayGrainEvalSet,
    ArrayGrainStream,
    DeviceAugment,
    batch_key_data,
    example_key_data,
    fold_in_data,
    resize_bilinear_np,
)
from gwa_jax.data.splits import TRAIN, UNUSED, VAL

NUM_IDS, NUM_CLASSES, B = 331, 7, 32


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (NUM_IDS, 8, 8, 1), dtype=np.uint8)
    true = rng.integers(0, NUM_CLASSES, NUM_IDS).astype(np.int32)
    train = true.copy()
    noisy = rng.random(NUM_IDS) < 0.2
    train[noisy] = (true[noisy] + 1) % NUM_CLASSES
    split = np.full(NUM_IDS, TRAIN, np.int8)
    split[rng.random(NUM_IDS) < 0.15] = VAL
    split[:5] = UNUSED
    return images, split, train, true


def _common(seed=3, **overrides):
    images, split, train, true = _arrays()
    kwargs = dict(split=split, train_labels=train, true_labels=true, num_classes=NUM_CLASSES,
                  batch_size=B, eval_batch_size=50, seed=seed)
    kwargs.update(overrides)
    return images, kwargs


def _grain(seed=3, augment=None, **overrides):
    images, kwargs = _common(seed, **overrides)
    return ArrayGrainStream(images, augment=augment or DeviceAugment(label_smoothing=0.1),
                            **kwargs)


def _tf_stream(seed=3, **augment_cfg):
    from gwa_jax.data.preprocess import Preprocess
    from gwa_jax.data.train import ArrayTrainStream

    images, kwargs = _common(seed)
    pre = Preprocess(native_shape=(8, 8, 1), fixed_size=True, size=8, label_smoothing=0.1,
                     **augment_cfg)
    return ArrayTrainStream(images, preprocess=pre, **kwargs), pre


FIELDS = ("label", "target", "id", "mask")


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for key in FIELDS:
            assert x[key].dtype == y[key].dtype, key
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


@pytest.mark.parametrize("augment_cfg", [dict(crop="pad_crop", flip=True),
                                         dict(randaug_num_ops=2, randaug_magnitude=5.0)])
def test_same_batches_as_array_train_stream(augment_cfg):
    tf_stream, pre = _tf_stream(**augment_cfg)
    stream = ArrayGrainStream(tf_stream._images.numpy(), augment=DeviceAugment.from_preprocess(pre),
                              **_common()[1])
    assert stream.steps_per_epoch == tf_stream.steps_per_epoch == -(-stream.num_train // B)
    for epoch in (0, 1, 4):
        ours, theirs = list(stream.epoch(epoch)), list(tf_stream.epoch(epoch))
        _assert_same_batches(ours, theirs)
        assert ours[0]["image"].dtype == np.uint8 and ours[0]["image"].shape == (B, 8, 8, 1)
        np.testing.assert_array_equal(ours[0]["image"], tf_stream._images.numpy()[ours[0]["id"]])
    for start in (1, stream.steps_per_epoch - 1, stream.steps_per_epoch):
        _assert_same_batches(list(stream.epoch(2, start_step=start)),
                             list(tf_stream.epoch(2, start_step=start)))


def test_every_id_once_per_epoch_and_padding():
    stream = _grain()
    assert stream.num_train % B  # The last batch is padded.
    for epoch in range(3):
        batches = list(stream.epoch(epoch))
        assert len(batches) == stream.steps_per_epoch
        assert all(b["id"].shape == (B,) and b["mask"].shape == (B,) for b in batches)
        ids = np.concatenate([b["id"][b["mask"]] for b in batches])
        np.testing.assert_array_equal(np.sort(ids), stream.train_ids)
        assert all(b["mask"].all() for b in batches[:-1])
        last = batches[-1]
        n = stream.num_train - (stream.steps_per_epoch - 1) * B
        rows, _ = padded_positions(stream.num_train, B)
        np.testing.assert_array_equal(last["id"], last["id"][rows[-B:] - rows[-B]])
        assert last["mask"].sum() == n and not last["mask"][n:].any()
        np.testing.assert_array_equal(last["label"], stream.train_labels[last["id"]])
    with pytest.raises(ValueError, match="start_step"):
        stream.epoch(0, start_step=stream.steps_per_epoch + 1)


def test_two_builds_replay_and_resume():
    aug = DeviceAugment(pad_crop=True, flip=True, mixup=0.4)
    a, b = _grain(augment=aug), _grain(augment=aug)
    first = list(a.epoch(1))
    again = list(b.epoch(1))
    for x, y in zip(first, again, strict=True):
        assert x.keys() == y.keys() == {*FIELDS, "image", "aug_key", "mixup_key"}
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    resumed = list(b.epoch(1, start_step=3))
    for x, y in zip(first[3:], resumed, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    other = list(_grain(seed=4, augment=aug).epoch(1))
    assert not np.array_equal(first[0]["id"], other[0]["id"])


def test_key_data_is_augment_jax_example_keys():
    ids = np.array([0, 1, 7, 2**31 - 1, 12345])
    for seed, epoch in ((0, 0), (3, 5), (2**40 + 9, 2)):
        ours = example_key_data(seed, epoch, ids)
        ref = jax.random.key_data(augment_jax.example_keys(
            jax.random.wrap_key_data(jnp.asarray(
                [(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], jnp.uint32)), epoch,
            jnp.asarray(ids, jnp.uint32)))
        np.testing.assert_array_equal(ours, np.asarray(ref))
    key = jax.random.key(11)
    np.testing.assert_array_equal(
        fold_in_data(np.asarray(jax.random.key_data(key)), 99),
        np.asarray(jax.random.key_data(jax.random.fold_in(key, 99))))
    assert not np.array_equal(batch_key_data(3, 1, 0), batch_key_data(3, 1, 1))
    stream = _grain(augment=DeviceAugment(flip=True))
    batch = next(stream.epoch(2, start_step=1))
    np.testing.assert_array_equal(batch["aug_key"], example_key_data(3, 2, batch["id"]))


@pytest.mark.parametrize("aug", [
    DeviceAugment(pad_crop=True, flip=True, randaug_num_ops=2, randaug_magnitude=9.0,
                  mixup=0.8),
    DeviceAugment(chain=augment_jax.AuthorsChain(num_layers=2, magnitude=9.0, crop="pad_crop",
                                                 flip=True)),
    DeviceAugment(flip=True, size=12),
])
def test_device_finish(aug):
    stream = _grain(augment=aug)
    finish = jax.jit(stream.device_finish())
    batches = list(stream.epoch(0))
    out = finish(batches[-1])
    size = aug.size or 8
    assert out["image"].shape == (B, size, size, 1) and out["image"].dtype == jnp.float32
    assert -1 - 1e-5 <= float(out["image"].min()) <= float(out["image"].max()) <= 1 + 1e-5
    assert set(out) == {*FIELDS, "image"}
    np.testing.assert_array_equal(out["id"], batches[-1]["id"])
    np.testing.assert_allclose(np.asarray(out["target"]).sum(-1), 1.0, rtol=1e-5)
    if aug.mixup:  # Padding rows are never mixed into real ones: they stay as they were.
        mask = batches[-1]["mask"]
        np.testing.assert_allclose(out["target"][~mask], batches[-1]["target"][~mask])


def test_eval_sets_match_array_eval_set():
    tf_stream, _ = _tf_stream()
    stream = _grain()
    for part, name, labels in ((TRAIN, "train", "train"), (VAL, "val", "clean"),
                               (VAL, "val", "train")):
        ours = list(stream.eval_subset(part, name, labels=labels))
        theirs = list(tf_stream.eval_subset(part, name, labels=labels))
        assert len(ours) == len(theirs)
        for x, y in zip(ours, theirs, strict=True):
            assert x.keys() == y.keys()
            for key in x:
                assert x[key].dtype == y[key].dtype, key
                np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    assert "alt_label" in next(iter(stream.eval_stream()))


def test_eval_resize_is_augment_jax_resize():
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 2)).astype(np.float32)
    for size in (5, 12):
        ref = jax.vmap(lambda im, s=size: augment_jax.resize_bilinear(im, s))(jnp.asarray(x))
        np.testing.assert_allclose(resize_bilinear_np(x, size), np.asarray(ref), atol=1e-4)
    images, _ = _common()
    labels = np.zeros(NUM_IDS, np.int32)
    batches = list(ArrayGrainEvalSet("t", images, labels, 100, size=12))
    assert len(batches) == 4 and batches[-1]["image"].shape == (100, 12, 12, 1)
    assert batches[-1]["mask"].sum() == NUM_IDS - 300 and "id" not in batches[0]


def test_no_tensorflow_on_the_grain_path():
    script = textwrap.dedent("""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        import jax
        import numpy as np
        from gwa_jax.data.grain_pipeline import ArrayGrainStream, DeviceAugment

        rng = np.random.default_rng(0)
        n = 100
        stream = ArrayGrainStream(
            rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), split=np.zeros(n, np.int8),
            train_labels=np.arange(n) % 10, true_labels=np.arange(n) % 10, num_classes=10,
            batch_size=16, eval_batch_size=30, seed=1,
            augment=DeviceAugment(pad_crop=True, flip=True, randaug_num_ops=2,
                                  randaug_magnitude=9.0, mixup=0.2))
        finish = jax.jit(stream.device_finish())
        for batch in stream.epoch(0):
            finish(batch)["image"].block_until_ready()
        assert sum(int(b["mask"].sum()) for b in stream.eval_stream()) == n
        bad = sorted(m for m in sys.modules if m.split(".")[0].startswith("tensorflow"))
        assert not bad, bad
        print("OK")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
