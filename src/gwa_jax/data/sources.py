"""Raw data sources: the id space of a train split (labels, images or records) and tests.

* ``fashion_mnist``: the Debian idx files (``config.dataset.data_dir``, ``$GWA_FMNIST_DIR`` or
  ``/usr/share/datasets/fashion-mnist``); ids = row in ``train-images-idx3-ubyte``. Without the
  files, TFDS ``fashion_mnist`` (ids in TFDS canonical order, see ``records``).
* ``digits``: scikit-learn's 1797 8x8 digits, pixel values 0-16 rescaled to uint8 0-255
  (``round(v * 255 / 16)``). A fixed test part is split off once: 20% of the samples
  (``round(0.2 * 1797) = 359``), stratified, chosen by :func:`gwa_jax.data.splits.assign_splits`
  with split_seed 0 (independent of ``config.dataset.split_seed``). The remaining 1438 samples,
  in their original order, form the train split; ids index that order.
* small TFDS datasets (cifar10, cifar10_n): array_record files decoded into memory in
  canonical id order.
* large TFDS datasets (imagenet2012, i_naturalist2018, places365_small): labels from a cached
  label index, encoded images read by id from the array_record files
  (:class:`gwa_jax.data.records.RecordSplit`) and decoded on the host every epoch.

Every TFDS dataset is read through ``tfds.data_source`` without TensorFlow; ``data_prep/``
prepares them in the array_record format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.eval import EvalSet
from gwa_jax.data.idx import find_fmnist_dir, load_fmnist_idx
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.registry import DatasetSpec
from gwa_jax.data.splits import VAL, assign_splits

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
      records: the random-access source of encoded images of record datasets
        (:class:`gwa_jax.data.records.RecordSplit`, row = id), else ``None``.
      description: where the data came from (idx directory, TFDS name and version, ...).
      make_test: ``(key, preprocess, batch_size) -> EvalSet`` of the main test set.
      test_arrays: (uint8 images, int32 labels) of the main test set for in-memory
        datasets, else ``None``.
    """

    true_labels: np.ndarray
    labels: np.ndarray
    images: np.ndarray | None
    records: object | None
    description: str
    make_test: TestFactory
    test_arrays: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def num_ids(self) -> int:
        """Size of the full train split."""
        return len(self.true_labels)


def array_eval_set(
    key: str,
    images: np.ndarray,
    labels: np.ndarray,
    preprocess: Preprocess,
    batch_size: int,
    *,
    ids: np.ndarray | None = None,
    extras: dict[str, np.ndarray] | None = None,
) -> EvalSet:
    """EvalSet over in-memory fixed-size images.

    Args:
      key: the set's name.
      images: uint8 (N, H, W, C) (not copied).
      labels: int (N,).
      preprocess: eval preprocessing (:meth:`Preprocess.eval_images`).
      batch_size: B.
      ids: optional int (M,) rows to evaluate, in this order; batches then carry ``"id"``
        int32. Default: all N rows, no ``"id"``.
      extras: optional ``{name: (N,)}`` gathered like the labels.
    """
    images = np.asarray(images)
    labels = np.asarray(labels, np.int32)
    extras = {k: np.asarray(v) for k, v in (extras or {}).items()}

    def load(rows: np.ndarray) -> dict[str, np.ndarray]:
        batch = {"image": preprocess.eval_images(images[rows]), "label": labels[rows]}
        batch.update({k: v[rows] for k, v in extras.items()})
        if ids is not None:
            batch["id"] = rows.astype(np.int32)
        return batch

    rows = np.arange(len(labels)) if ids is None else np.asarray(ids, np.int64)
    return EvalSet(key, load, rows, batch_size)


def record_eval_set(
    key: str,
    records,
    label_key: str,
    preprocess: Preprocess,
    batch_size: int,
    num_classes: int,
    real_labels: bool = False,
) -> EvalSet:
    """EvalSet over a record split (:class:`gwa_jax.data.records.RecordSplit`): fixed-size
    images are decoded as stored, variable-size ones resized and center-cropped
    (:meth:`Preprocess.host_eval_image`). For ImageNet-ReaL (``real_labels=True``) batches
    also carry ``real_labels`` bool (B, C) from the ``real_label`` sequence feature."""
    labels = records.labels((label_key,))[label_key]
    multi_hot = records.multi_hot("real_label", num_classes) if real_labels else None

    def image(data: bytes) -> np.ndarray:
        if preprocess.fixed_size:
            # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only
            # when it is used.
            from gwa_jax.data.host_image import decode_image

            return decode_image(data, preprocess.native_shape[2])
        return preprocess.host_eval_image(data)

    def load(rows: np.ndarray) -> dict[str, np.ndarray]:
        images = np.stack([image(data) for data in records.encoded(rows)])
        batch = {"image": preprocess.eval_images(images), "label": labels[rows]}
        if multi_hot is not None:
            batch["real_labels"] = multi_hot[rows]
        return batch

    return EvalSet(key, load, np.arange(len(labels)), batch_size)


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
        records=None,
        description=description,
        make_test=make_test,
        test_arrays=(test_images, test_labels),
    )


def load_digits_source(spec: DatasetSpec) -> TrainSource:
    """scikit-learn digits with the fixed 20% stratified test part (module docstring)."""
    # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when it
    # is used.
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
    """A small TFDS dataset (array_record) decoded into memory: train split in canonical id
    order + test split."""
    # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when it
    # is used.
    from gwa_jax.data.records import open_record_split

    keys = tuple(dict.fromkeys((spec.clean_label_key, label_key)))
    train = open_record_split(spec.tfds_name, spec.train_split, data_dir, spec.prepare)
    test = open_record_split(spec.tfds_name, spec.test_split, data_dir, spec.prepare)
    train_arrays = train.load_arrays(keys)
    test_arrays = test.load_arrays((spec.test_label_key,))
    test_images, test_labels = test_arrays["image"], test_arrays[spec.test_label_key]

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        return array_eval_set(key, test_images, test_labels, preprocess, batch_size)

    return TrainSource(
        true_labels=train_arrays[spec.clean_label_key],
        labels=train_arrays[label_key],
        images=train_arrays["image"],
        records=None,
        description=train.description,
        make_test=make_test,
        test_arrays=(test_images, test_labels),
    )


def load_tfds_records(spec: DatasetSpec, data_dir: str | None, label_key: str
                      ) -> TrainSource:
    """A large TFDS dataset (array_record): cached label index now, images read by id."""
    # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when it
    # is used.
    from gwa_jax.data.records import open_record_split

    train = open_record_split(spec.tfds_name, spec.train_split, data_dir, spec.prepare)
    labels = train.labels(tuple(dict.fromkeys((spec.clean_label_key, label_key))))

    def make_test(key: str, preprocess: Preprocess, batch_size: int) -> EvalSet:
        test = open_record_split(spec.tfds_name, spec.test_split, data_dir, spec.prepare)
        return record_eval_set(key, test, spec.test_label_key, preprocess, batch_size,
                               spec.num_classes)

    return TrainSource(
        true_labels=labels[spec.clean_label_key],
        labels=labels[label_key],
        images=None,
        records=train,
        description=train.description,
        make_test=make_test,
    )


def load_train_source(spec: DatasetSpec, data_dir: str | None, label_key: str) -> TrainSource:
    """Dispatches on ``spec.source`` / ``spec.streaming``."""
    if spec.source == "fmnist":
        return load_fmnist(spec, data_dir)
    if spec.source == "digits":
        return load_digits_source(spec)
    if spec.streaming:
        return load_tfds_records(spec, data_dir, label_key)
    return load_tfds_memory(spec, data_dir, label_key)
