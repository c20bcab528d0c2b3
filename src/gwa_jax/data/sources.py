"""Raw data sources: the id space of a train split (labels, images or a TFDS stream) and tests.

* ``fashion_mnist``: the Debian idx files (``config.dataset.data_dir``, ``$GWA_FMNIST_DIR`` or
  ``/usr/share/datasets/fashion-mnist``); ids = row in ``train-images-idx3-ubyte``. Without the
  files, TFDS ``fashion_mnist`` (ids in TFDS canonical order, see ``tfds_io``).
* ``digits``: scikit-learn's 1797 8x8 digits, pixel values 0-16 rescaled to uint8 0-255
  (``round(v * 255 / 16)``). A fixed test part is split off once: 20% of the samples
  (``round(0.2 * 1797) = 359``), stratified, chosen by :func:`gwa_jax.data.splits.assign_splits`
  with split_seed 0 (independent of ``config.dataset.split_seed``). The remaining 1438 samples,
  in their original order, form the train split; ids index that order.
* small TFDS datasets (cifar10, cifar10_n): loaded into memory in canonical id order.
* large TFDS datasets (imagenet2012, i_naturalist2018, places365_small): labels from a cached
  label index, images streamed from the TFDS files every epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow_datasets as tfds

from gwa_jax.data import tfds_io
from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.eval import EvalSet
from gwa_jax.data.idx import find_fmnist_dir, load_fmnist_idx
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.registry import DatasetSpec
from gwa_jax.data.splits import VAL, assign_splits
from gwa_jax.data.tf_setup import tf

AUTOTUNE = tf.data.AUTOTUNE
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0

TestFactory = Callable[[str, Preprocess, int], EvalSet]


@dataclasses.dataclass
class TrainSource:
    """The id space of one train split.

    Attributes:
      true_labels: int32 (num_ids,) clean labels.
      labels: int32 (num_ids,) labels of ``config.dataset.label_key`` (human-noisy for
        cifar10_n's noisy keys, else equal to ``true_labels``).
      images: uint8 (num_ids, H, W, C) for in-memory datasets, else ``None``.
      builder: TFDS builder of streaming datasets, else ``None``.
      shard_offsets: int64 canonical shard offsets of streaming datasets.
      description: where the data came from (idx directory, TFDS name and version, ...).
      make_test: ``(key, preprocess, batch_size) -> EvalSet`` of the main test set.
      test_arrays: (uint8 images, int32 labels) of the main test set for in-memory
        datasets, else ``None``.
    """

    true_labels: np.ndarray
    labels: np.ndarray
    images: np.ndarray | None
    builder: tfds.core.DatasetBuilder | None
    shard_offsets: np.ndarray | None
    description: str
    make_test: TestFactory
    test_arrays: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def num_ids(self) -> int:
        """Size of the full train split."""
        return len(self.true_labels)


def array_eval_set(
    key: str,
    images: np.ndarray | tf.Tensor,
    labels: np.ndarray | tf.Tensor,
    preprocess: Preprocess,
    batch_size: int,
    *,
    ids: np.ndarray | None = None,
    extras: dict[str, np.ndarray | tf.Tensor] | None = None,
) -> EvalSet:
    """EvalSet over in-memory fixed-size images.

    Args:
      key: the set's name.
      images: uint8 (N, H, W, C) (numpy or an existing tensor, not copied).
      labels: int32 (N,).
      preprocess: eval preprocessing (``eval_batch``).
      batch_size: B.
      ids: optional int (M,) rows to evaluate, in this order; batches then carry ``"id"``
        int32. Default: all N rows, no ``"id"``.
      extras: optional ``{name: int32 (N,)}`` gathered like the labels.
    """
    images_t = tf.convert_to_tensor(images)
    labels_t = tf.cast(tf.convert_to_tensor(labels), tf.int32)
    extras_t = {k: tf.convert_to_tensor(v) for k, v in (extras or {}).items()}
    rows = np.arange(int(labels_t.shape[0])) if ids is None else np.asarray(ids)

    def load(i):
        batch = {
            "image": preprocess.eval_batch(tf.gather(images_t, i)),
            "label": tf.gather(labels_t, i),
        }
        batch.update({k: tf.gather(v, i) for k, v in extras_t.items()})
        if ids is not None:
            batch["id"] = tf.cast(i, tf.int32)
        return batch

    def make(b: int) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(rows.astype(np.int64)).batch(b)
        return ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)

    return EvalSet(key, make, len(rows), batch_size)


def tfds_eval_set(
    key: str,
    builder: tfds.core.DatasetBuilder,
    split: str,
    prepare: str,
    label_key: str,
    preprocess: Preprocess,
    batch_size: int,
    num_classes: int,
    real_labels: bool = False,
) -> EvalSet:
    """EvalSet streamed from a TFDS split (checked to exist now, read at iteration).

    For ImageNet-ReaL (``real_labels=True``) batches also carry ``real_labels`` bool (B, C)
    built from the ``real_label`` sequence feature.
    """
    # Variable-size images are decoded by ``preprocess.decode`` (the authors' precise JPEG
    # decoding) rather than by TFDS.
    decoders = None if preprocess.fixed_size else {"image": tfds.decode.SkipDecoding()}
    ds = tfds_io.open_split(builder, split, prepare, decoders=decoders)
    num_examples = int(ds.cardinality())
    if num_examples < 0:
        num_examples = int(ds.reduce(0, lambda n, _: n + 1))

    def features(ex):
        out = {"image": ex["image"], "label": tf.cast(ex[label_key], tf.int32)}
        if real_labels:
            hot = tf.one_hot(ex["real_label"], num_classes, dtype=tf.float32)
            out["real_labels"] = tf.reduce_max(hot, axis=0, keepdims=False) > 0
            out["real_labels"] = tf.ensure_shape(out["real_labels"], [num_classes])
        return out

    def per_example(ex):
        return {**ex, "image": preprocess.eval_example(preprocess.decode(ex["image"]))}

    def per_batch(batch):
        return {**batch, "image": preprocess.eval_batch(batch["image"])}

    def make(b: int) -> tf.data.Dataset:
        d = ds.map(features, num_parallel_calls=AUTOTUNE, deterministic=True)
        if preprocess.fixed_size:  # Vectorised: identity or one resize per batch.
            return d.batch(b).map(per_batch, num_parallel_calls=AUTOTUNE, deterministic=True)
        d = d.map(per_example, num_parallel_calls=AUTOTUNE, deterministic=True)
        return d.batch(b)

    return EvalSet(key, make, num_examples, batch_size)


def load_fmnist(spec: DatasetSpec, data_dir: str | None) -> TrainSource:
    """Fashion-MNIST from the idx files, falling back to TFDS ``fashion_mnist``."""
    directory = find_fmnist_dir(data_dir)
    if directory is None:
        try:
            return load_tfds_memory(spec, data_dir, "label")
        except DatasetNotFoundError as e:
            raise DatasetNotFoundError(
                f"Fashion-MNIST idx files not found (looked in "
                f"{data_dir or '$GWA_FMNIST_DIR, /usr/share/datasets/fashion-mnist'}) and TFDS "
                f"fashion_mnist is not prepared there; install them with: {spec.prepare}"
            ) from e
    splits = load_fmnist_idx(str(directory))
    return _array_source(*splits["train"], *splits["test"], description=f"idx:{directory}")


def _array_source(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray,
                  test_labels: np.ndarray, description: str) -> TrainSource:
    """An in-memory train split (uint8 images, int labels) with its in-memory test split."""

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        return array_eval_set(key, test_images, test_labels, preprocess, batch_size)

    return TrainSource(
        true_labels=labels,
        labels=labels,
        images=images,
        builder=None,
        shard_offsets=None,
        description=description,
        make_test=make_test,
        test_arrays=(test_images, test_labels),
    )


def load_digits_source(spec: DatasetSpec) -> TrainSource:
    """scikit-learn digits with the fixed 20% stratified test part (module docstring)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int32)
    part = assign_splits(
        labels,
        spec.num_classes,
        val_fraction=DIGITS_TEST_FRACTION,
        split_seed=DIGITS_SPLIT_SEED,
    )
    test = part == VAL
    return _array_source(images[~test], labels[~test], images[test], labels[test],
                         description="sklearn.datasets.load_digits (fixed 20% stratified "
                                     "test part)")


def load_tfds_memory(spec: DatasetSpec, data_dir: str | None, label_key: str) -> TrainSource:
    """A small TFDS dataset loaded into memory (train split in canonical id order + test)."""
    builder = tfds_io.open_builder(spec.tfds_name, data_dir, spec.prepare)
    keys = tuple(dict.fromkeys(("image", spec.clean_label_key, label_key)))
    train = tfds_io.load_split(builder, spec.train_split, keys, spec.prepare)
    test = tfds_io.load_split(
        builder, spec.test_split, ("image", spec.test_label_key), spec.prepare
    )

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        return array_eval_set(
            key, test["image"], test[spec.test_label_key], preprocess, batch_size
        )

    return TrainSource(
        true_labels=train[spec.clean_label_key],
        labels=train[label_key],
        images=train["image"],
        builder=builder,
        shard_offsets=train["shard_offsets"],
        description=f"tfds:{builder.name}:{builder.version}",
        make_test=make_test,
        test_arrays=(test["image"], test[spec.test_label_key]),
    )


def load_tfds_stream(spec: DatasetSpec, data_dir: str | None, label_key: str) -> TrainSource:
    """A large TFDS dataset: cached label index now, images streamed at iteration."""
    builder = tfds_io.open_builder(spec.tfds_name, data_dir, spec.prepare)
    keys = tuple(dict.fromkeys((spec.clean_label_key, label_key)))
    index = tfds_io.label_index(
        builder, spec.train_split, keys, spec.prepare, tfds_io.index_dir(data_dir)
    )

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        return tfds_eval_set(
            key,
            builder,
            spec.test_split,
            spec.prepare,
            spec.test_label_key,
            preprocess,
            batch_size,
            spec.num_classes,
        )

    return TrainSource(
        true_labels=index[spec.clean_label_key],
        labels=index[label_key],
        images=None,
        builder=builder,
        shard_offsets=index["shard_offsets"],
        description=f"tfds:{builder.name}:{builder.version} (streamed)",
        make_test=make_test,
    )


def load_train_source(spec: DatasetSpec, data_dir: str | None, label_key: str) -> TrainSource:
    """Dispatches on ``spec.source`` / ``spec.streaming``."""
    if spec.source == "fmnist":
        return load_fmnist(spec, data_dir)
    if spec.source == "digits":
        return load_digits_source(spec)
    if spec.streaming:
        return load_tfds_stream(spec, data_dir, label_key)
    return load_tfds_memory(spec, data_dir, label_key)
