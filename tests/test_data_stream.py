"""The Grain training stream and evaluation sets: batches (ids, labels, targets, mask, keys) step
by step, every id once per epoch, replay, resumption from a start step and from Grain's
iterator state, per-process shares of a batch, worker processes, keys equal to augment_jax's,
device finishing, padded evaluation batches, and no TensorFlow anywhere on the path."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax.data import augment_jax
from gwa_jax.data.batches import padded_positions
from gwa_jax.data.host_image import resize_bilinear
from gwa_jax.data.keys import batch_key_data, example_key_data, fold_in_data
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.sources import array_eval_set
from gwa_jax.data.splits import TRAIN, UNUSED, VAL
from gwa_jax.data.train import ArrayTrainStream, EpochReader

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


def _pre(**augment_cfg):
    cfg = dict(native_shape=(8, 8, 1), fixed_size=True, size=8, label_smoothing=0.1)
    cfg.update(augment_cfg)
    return Preprocess(**cfg)


def _grain(seed=3, pre=None, **overrides):
    images, kwargs = _common(seed, **overrides)
    return ArrayTrainStream(images, preprocess=pre or _pre(), **kwargs)


FIELDS = ("label", "target", "id", "mask")


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for key in FIELDS:
            assert x[key].dtype == y[key].dtype, key
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_batches_follow_the_seeded_order_with_labels_and_targets():
    stream = _grain(pre=_pre(crop="pad_crop", flip=True))
    images = _common()[0]
    assert stream.steps_per_epoch == -(-stream.num_train // B)
    for epoch in (0, 1, 4):
        order = np.random.default_rng([3, epoch]).permutation(stream.train_ids)
        batches = list(stream.epoch(epoch))
        ids = np.concatenate([b["id"] for b in batches])[:stream.num_train]
        np.testing.assert_array_equal(ids, order)
        for b in batches:
            assert b["image"].dtype == np.uint8 and b["image"].shape == (B, 8, 8, 1)
            np.testing.assert_array_equal(b["image"], images[b["id"]])
            np.testing.assert_array_equal(b["label"], stream.train_labels[b["id"]])
            hot = np.eye(NUM_CLASSES, dtype=np.float32)[b["label"]]
            np.testing.assert_allclose(b["target"], 0.9 * hot + 0.1 / NUM_CLASSES, rtol=1e-6)


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
    pre = _pre(crop="pad_crop", flip=True, mixup=0.4)
    a, b = _grain(pre=pre), _grain(pre=pre)
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
    other = list(_grain(seed=4, pre=pre).epoch(1))
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
    stream = _grain(pre=_pre(flip=True))
    batch = next(stream.epoch(2, start_step=1))
    np.testing.assert_array_equal(batch["aug_key"], example_key_data(3, 2, batch["id"]))


@pytest.mark.parametrize("aug", [
    dict(crop="pad_crop", flip=True, randaug_num_ops=2, randaug_magnitude=9.0, mixup=0.8),
    dict(crop="pad_crop", flip=True, randaug_num_ops=2, randaug_magnitude=9.0,
         randaug_ops="authors"),
    dict(flip=True, size=12),
])
def test_device_finish(aug):
    pre = _pre(**{"randaug_ops": "timm14", **aug})
    stream = _grain(pre=pre)
    finish = jax.jit(stream.device_finish())
    batches = list(stream.epoch(0))
    out = finish(batches[-1])
    size = pre.size
    assert out["image"].shape == (B, size, size, 1) and out["image"].dtype == jnp.float32
    assert -1 - 1e-5 <= float(out["image"].min()) <= float(out["image"].max()) <= 1 + 1e-5
    assert set(out) == {*FIELDS, "image"}
    np.testing.assert_array_equal(out["id"], batches[-1]["id"])
    np.testing.assert_allclose(np.asarray(out["target"]).sum(-1), 1.0, rtol=1e-5)
    if pre.mixup:  # Padding rows are never mixed into real ones: they stay as they were.
        mask = batches[-1]["mask"]
        np.testing.assert_allclose(out["target"][~mask], batches[-1]["target"][~mask])


def test_eval_subsets_carry_the_chosen_labels():
    stream = _grain()
    images = _common()[0]
    for part, name, labels in ((TRAIN, "train", "train"), (VAL, "val", "clean"),
                               (VAL, "val", "train")):
        batches = list(stream.eval_subset(part, name, labels=labels))
        rows = np.flatnonzero(stream.split == part)
        assert len(batches) == -(-len(rows) // 50)
        ids = np.concatenate([b["id"][b["mask"]] for b in batches])
        np.testing.assert_array_equal(ids, rows)
        first = stream.true_labels if labels == "clean" else stream.train_labels
        other = stream.train_labels if labels == "clean" else stream.true_labels
        for b in batches:
            m = b["mask"]
            np.testing.assert_array_equal(b["label"][m], first[b["id"][m]])
            np.testing.assert_array_equal(b["alt_label"][m], other[b["id"][m]])
            np.testing.assert_array_equal(b["true_label"][m], stream.true_labels[b["id"][m]])
            np.testing.assert_allclose(b["image"][m], images[b["id"][m]] / 127.5 - 1.0,
                                       atol=1e-6)
            assert not b["image"][~m].any() and not b["label"][~m].any()
    assert "alt_label" in next(iter(stream.eval_stream()))


def test_eval_resize_is_augment_jax_resize():
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 2)).astype(np.float32)
    for size in (5, 12):
        ref = jax.vmap(lambda im, s=size: augment_jax.resize_bilinear(im, s))(jnp.asarray(x))
        ours = np.stack([resize_bilinear(im, size) for im in x])
        np.testing.assert_allclose(ours, np.asarray(ref), atol=1e-4)
    images, _ = _common()
    labels = np.zeros(NUM_IDS, np.int32)
    pre = Preprocess(native_shape=(8, 8, 1), fixed_size=True, size=12)
    batches = list(array_eval_set("t", images, labels, pre, 100))
    assert len(batches) == 4 and batches[-1]["image"].shape == (100, 12, 12, 1)
    assert batches[-1]["mask"].sum() == NUM_IDS - 300 and "id" not in batches[0]


def test_no_tensorflow_on_the_training_path():
    """build_data, the stream, the device finish and the evaluation sets with TensorFlow made
    impossible to import."""
    script = textwrap.dedent("""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "tensorflow":
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        import jax
        from gwa_jax.config_base import default_config
        from gwa_jax.data import build_data

        c = default_config()
        c.dataset.name, c.batch_size, c.dataset.val_fraction = "digits", 200, 0.1
        c.augment.crop, c.augment.flip, c.augment.mixup = "pad_crop", True, 0.2
        c.augment.randaug_magnitude, c.augment.randaug_ops = 9, "authors"
        data = build_data(c)
        finish = jax.jit(data.train.device_finish())
        for batch in data.train.epoch(0):
            finish(batch)["image"].block_until_ready()
        n = sum(int(b["mask"].sum()) for b in data.train.eval_stream())
        assert n == data.info.num_train, n
        assert sum(int(b["mask"].sum()) for b in data.tests["test"]) == 359
        bad = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
        assert not bad, bad
        print("OK")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")


def _same(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_iterator_state_resumes_the_remaining_batches_exactly():
    """EpochReader's state after k batches (a reader that read further ahead) restores the
    batches k, k + 1, ... (ids, keys, images); so does a state taken after a resume."""
    stream = _grain(pre=_pre(crop="pad_crop", flip=True, mixup=0.3))
    full = list(stream.epoch(2))
    reader = EpochReader(stream, 2)
    read = list(reader)  # Read to the end, as a prefetching loop reads ahead.
    _same(read, full)
    for k in (1, 4, len(full) - 1):
        state = reader.state_after(k)
        _same(list(EpochReader(stream, 2, state=state)), full[k:])
    again = EpochReader(stream, 2, start_step=3)
    first = [next(iter_) for iter_ in [iter(again)] for _ in range(2)]
    _same(first, full[3:5])
    _same(list(EpochReader(stream, 2, state=again.state_after(2))), full[5:])


def test_processes_read_disjoint_shares_of_every_batch():
    stream = _grain(pre=_pre(flip=True))
    parts = [list(_grain(pre=_pre(flip=True), process_index=p, process_count=4).epoch(1))
             for p in range(4)]
    for step, batch in enumerate(stream.epoch(1)):
        for key in batch:
            joined = np.concatenate([part[step][key] for part in parts])
            np.testing.assert_array_equal(joined, batch[key], err_msg=key)
    with pytest.raises(ValueError, match="divisible"):
        _grain(process_count=3)


def test_worker_processes_give_the_same_batches_as_threads():
    threads = list(_grain(pre=_pre(flip=True)).epoch(0))
    workers = list(_grain(pre=_pre(flip=True), worker_processes=2).epoch(0))
    _same(workers, threads)


def test_too_small_dataset_is_one_line():
    with pytest.raises(ValueError, match="fewer than batch_size=32; lower config.batch_size"):
        _grain(split=np.full(NUM_IDS, UNUSED, np.int8))
