"""Training streams: deterministic (seed, epoch) -> batches, prefetched with tf.data.

Determinism contract. For a given config, ``stream.epoch(e)`` yields the same batches in every
process:

* order: in-memory datasets use ``np.random.default_rng([seed, e]).permutation`` of the
  trained ids; streaming datasets read TFDS files in an order shuffled with a seed derived from
  (seed, e), interleave deterministically and shuffle examples in a buffer with a seed derived
  from (seed, e) (tf.data shuffling is deterministic for a fixed seed and input order);
* every trained id exactly once per epoch: ``steps_per_epoch = ceil(num_train / B)``; the
  last batch of an epoch is filled up to B with copies of its own first examples whose
  ``mask`` is False (:func:`pad_last_batch`), so shapes stay static and the padded rows can be
  excluded from the loss, the per-sample buffers and the accuracies;
* per-example augmentation: stateless ops seeded by ``fold_in([seed, e], id)``;
* batch-level ops (vectorised crop / flip of the fast path, mixup): stateless ops seeded by
  ``fold_in([seed, e], step)``.

All maps run in parallel with ``deterministic=True``. A run resumed inside an epoch can call
``epoch(e, start_step=k)`` to get exactly the batches k, k + 1, ... of that epoch.

Batch format (numpy): ``image`` float32 (B, H, W, C) in [-1, 1], ``label`` int32 (B,)
training label (noisy under label noise; position i's under mixup), ``target`` float32 (B, C)
soft targets (one-hot, label-smoothed), ``id`` int32 (B,) index in the full train split,
``mask`` bool (B,) False on the padding rows of an epoch's last batch. B = ``batch_size``
always. With ``augment.on_device`` (implied by the authors' chain) the images are float32 in
[0, 255] before RandAugment and the batch carries ``aug_key`` or ``ra_ops`` / ``ra_positive``;
with mixup it carries ``mixup_key`` and ``target`` is not mixed yet.
:meth:`TrainStream.device_finish` gives the jittable function that finishes such a batch on
the accelerator (mixup pairs only valid rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow_datasets as tfds

from gwa_jax.data import augment
from gwa_jax.data.batches import padded_positions
from gwa_jax.data.eval import EvalSet
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.sources import array_eval_set
from gwa_jax.data.splits import TRAIN
from gwa_jax.data.tf_setup import tf
from gwa_jax.data.tfds_io import global_ids_tf, open_split

AUTOTUNE = tf.data.AUTOTUNE
STREAM_SHUFFLE_BUFFER = 10_000  # Augmented uint8 examples (~1.5 GB at 224 px).
_EXAMPLE_STREAM, _BATCH_STREAM = 0, 1


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    return options


def pad_last_batch(batch: dict[str, tf.Tensor], batch_size: int) -> dict[str, tf.Tensor]:
    """Fills a batch of n <= B examples up to B rows and adds ``mask`` bool (B,).

    Row i >= n is a copy of row ``i mod n`` (a real example, so nothing downstream sees an
    empty image or an out-of-range id) with ``mask`` False; a full batch is returned as it is
    with an all-True mask. Every array of ``batch`` has the examples on its leading axis.
    """
    n = tf.shape(batch["id"])[0]

    def pad() -> dict[str, tf.Tensor]:
        rows = tf.range(batch_size) % n
        return {key: tf.gather(value, rows) for key, value in batch.items()}

    out = tf.cond(n < batch_size, pad, lambda: dict(batch))  # Only the last batch pads.
    out = {key: tf.ensure_shape(value, [batch_size, *value.shape[1:]])
           for key, value in out.items()}
    out["mask"] = tf.range(batch_size) < n
    return out


def epoch_key(seed: int, epoch: int, stream: int) -> tf.Tensor:
    """The stateless seed of one (seed, epoch) and stream (example- or batch-level)."""
    return augment.fold_in(tf.constant([seed, epoch], tf.int64), stream)


class TrainStream:
    """Base class: a per-epoch deterministic stream of training batches."""

    #: Whether the augmented images are rounded to uint8 before batching (the streaming
    #: source's shuffle buffer holds uint8 images).
    quantized_images = False

    def __init__(
        self,
        *,
        split: np.ndarray,
        train_labels: np.ndarray,
        true_labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        preprocess: Preprocess,
    ) -> None:
        if seed < 0:
            raise ValueError("config.seed must be non-negative.")
        self.split = np.asarray(split, np.int8)
        self.train_ids = np.flatnonzero(self.split == TRAIN).astype(np.int64)
        self.train_labels = np.asarray(train_labels, np.int32)
        self.true_labels = np.asarray(true_labels, np.int32)
        self.num_classes = int(num_classes)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.seed = int(seed)
        self.preprocess = preprocess
        self.steps_per_epoch = -(-len(self.train_ids) // self.batch_size)
        if len(self.train_ids) < self.batch_size:
            raise ValueError(
                f"{len(self.train_ids)} training examples are fewer than batch_size="
                f"{self.batch_size}."
            )

    @property
    def num_train(self) -> int:
        """Number of trained ids."""
        return len(self.train_ids)

    def dataset(self, epoch: int, start_step: int = 0) -> tf.data.Dataset:
        """The tf.data pipeline of one epoch (batched, prefetched); see :meth:`epoch`."""
        raise NotImplementedError

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yields the batches ``start_step, ..., steps_per_epoch - 1`` of ``epoch``.

        Batches: ``image`` float32 (B, H, W, C), ``label`` int32 (B,), ``target`` float32
        (B, C), ``id`` int32 (B,), ``mask`` bool (B,) (False only on the padding rows of the
        epoch's last batch).
        """
        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(f"start_step must be in [0, {self.steps_per_epoch}].")
        return self.dataset(epoch, start_step).as_numpy_iterator()

    def device_finish(self) -> Callable[[dict], dict] | None:
        """The jittable function that finishes this stream's batches on the device (the
        authors' chain, ``augment.on_device``, mixup: :meth:`Preprocess.device_finish`;
        apply it to every training batch before the model sees it); None when the batches
        are finished on the host."""
        return self.preprocess.device_finish(quantize=self.quantized_images)

    def eval_stream(self, batch_size: int | None = None) -> EvalSet:
        """The trained ids without augmentation, fixed order, padded batches.

        Batches carry ``image``, ``label`` (training label), ``true_label``, ``id`` and
        ``mask``; for the offline GWA estimator and LabelWave's forward passes.
        """
        return self.eval_subset(TRAIN, "train", batch_size)

    def eval_subset(self, part: int, name: str, batch_size: int | None = None, *,
                    labels: str = "train") -> EvalSet:
        """Like :meth:`eval_stream` for the ids with split code ``part`` (1 = validation).

        ``labels``: which labels the batches' ``label`` holds, ``"train"`` (the training
        labels, noisy under label noise) or ``"clean"``. When the two differ on some id of
        the subset, batches also carry ``alt_label`` int32 (B,), the other one (for the
        second validation accuracy).
        """
        raise NotImplementedError

    def _subset_labels(self, part: int, labels: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(label int32 (num_ids,), alt_label or None) of :meth:`eval_subset`."""
        if labels not in ("clean", "train"):
            raise ValueError(f"labels must be 'clean' or 'train', got {labels!r}.")
        first, other = ((self.true_labels, self.train_labels) if labels == "clean"
                        else (self.train_labels, self.true_labels))
        rows = self.split == part
        return first, (other if np.any(first[rows] != other[rows]) else None)

    def _finish(self, step: tf.Tensor, batch: dict, key: tf.Tensor) -> dict:
        if "mask" not in batch:  # Padded here unless the source padded it (in-memory).
            batch = pad_last_batch(batch, self.batch_size)
        out = self.preprocess.finish_batch(batch, self.num_classes, augment.fold_in(key, step))
        out["id"] = tf.cast(out["id"], tf.int32)
        return out

    def _finish_batches(self, ds: tf.data.Dataset, batch_key: tf.Tensor) -> tf.data.Dataset:
        """Per-batch work after batching ``(step, batch)`` pairs (targets, mixup), then
        prefetch; shared by the in-memory and the streaming source."""
        ds = ds.map(
            lambda step, batch: self._finish(step, batch, batch_key),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
        return ds.prefetch(AUTOTUNE).with_options(_options())


class ArrayTrainStream(TrainStream):
    """Training stream over images held in memory (uint8 array indexed by id)."""

    def __init__(self, images: np.ndarray, **kwargs) -> None:
        """``images``: uint8 (num_ids, H, W, C), row i = id i; other args as TrainStream."""
        super().__init__(**kwargs)
        self._images = tf.constant(images)
        self._labels = tf.constant(self.train_labels)
        self._true = tf.constant(self.true_labels)

    def order(self, epoch: int) -> np.ndarray:
        """int64 (num_train,) the trained ids of ``epoch`` in batch order (batch k holds
        positions ``k * B .. (k + 1) * B - 1``; the last one is padded)."""
        rng = np.random.default_rng([self.seed, epoch])
        return rng.permutation(self.train_ids)

    def padded_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, valid)``: int64 and bool (steps_per_epoch * B,), :meth:`order` with the
        last batch padded (see :func:`padded_positions`)."""
        rows, valid = padded_positions(self.num_train, self.batch_size)
        return self.order(epoch)[rows], valid

    def dataset(self, epoch: int, start_step: int = 0) -> tf.data.Dataset:
        b = self.batch_size
        ids, valid = (a[start_step * b :] for a in self.padded_order(epoch))
        steps = np.arange(start_step, self.steps_per_epoch, dtype=np.int64)
        example_key = epoch_key(self.seed, epoch, _EXAMPLE_STREAM)
        batch_key = epoch_key(self.seed, epoch, _BATCH_STREAM)
        images, labels, pre = self._images, self._labels, self.preprocess

        if pre.vectorized:

            def load_batch(step, batch_ids, batch_valid):
                batch = {
                    "image": tf.gather(images, batch_ids),
                    "label": tf.gather(labels, batch_ids),
                    "id": batch_ids,
                    "mask": batch_valid,
                }
                seed = augment.fold_in(augment.fold_in(batch_key, step), 1)
                batch["image"] = pre.train_batch_images(batch["image"], seed)
                return step, batch

            ds = tf.data.Dataset.from_tensor_slices(
                (steps, ids.reshape(-1, b), valid.reshape(-1, b)))
            ds = ds.map(load_batch, num_parallel_calls=AUTOTUNE, deterministic=True)
        else:

            def load_example(i, is_valid):
                seed = augment.fold_in(example_key, i)
                image = pre.train_example(tf.gather(images, i), seed)
                return {"image": image, "label": tf.gather(labels, i), "id": i,
                        "mask": is_valid, **pre.device_fields(seed)}

            ds = tf.data.Dataset.from_tensor_slices((ids, valid))
            ds = ds.map(load_example, num_parallel_calls=AUTOTUNE, deterministic=True)
            ds = ds.batch(b, drop_remainder=True)
            ds = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(steps), ds))
        return self._finish_batches(ds, batch_key)

    def eval_subset(self, part: int, name: str, batch_size: int | None = None, *,
                    labels: str = "train") -> EvalSet:
        first, alt = self._subset_labels(part, labels)
        extras = {"true_label": self._true}
        if alt is not None:
            extras["alt_label"] = alt
        return array_eval_set(
            name,
            self._images,
            first,
            self.preprocess,
            batch_size or self.eval_batch_size,
            ids=np.flatnonzero(self.split == part),
            extras=extras,
        )


class TfdsTrainStream(TrainStream):
    """Training stream read from TFDS files every epoch (ImageNet-scale datasets)."""

    quantized_images = True

    def __init__(
        self,
        builder: tfds.core.DatasetBuilder,
        split_name: str,
        shard_offsets: np.ndarray,
        prepare: str,
        **kwargs,
    ) -> None:
        """Args beyond TrainStream's: the TFDS builder and split name, the canonical shard
        offsets and the prepare command."""
        super().__init__(**kwargs)
        self.builder = builder
        self.split_name = split_name
        self.prepare = prepare
        self._split = tf.constant(self.split)
        self._offsets = tf.constant(np.asarray(shard_offsets, np.int64))
        self._labels = tf.constant(self.train_labels)
        self._true = tf.constant(self.true_labels)

    def _read(
        self, shuffle_seed: int | None, part: int = TRAIN, decode: bool = True
    ) -> tf.data.Dataset:
        """(id int64, image uint8) of the ids with split code ``part``, in file order (or
        with files shuffled by ``shuffle_seed``); the encoded image (string) if not
        ``decode``."""
        read_config = tfds.ReadConfig(
            add_tfds_id=True, shuffle_seed=shuffle_seed, options=_options()
        )
        ds = open_split(
            self.builder,
            self.split_name,
            self.prepare,
            shuffle_files=shuffle_seed is not None,
            read_config=read_config,
            decoders=None if decode else {"image": tfds.decode.SkipDecoding()},
        )
        offsets, split = self._offsets, self._split
        ds = ds.map(
            lambda ex: (global_ids_tf(ex["tfds_id"], offsets), ex["image"]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
        return ds.filter(lambda i, image: tf.gather(split, i) == part)

    def dataset(self, epoch: int, start_step: int = 0) -> tf.data.Dataset:
        rng = np.random.default_rng([self.seed, epoch])
        file_seed, buffer_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
        example_key = epoch_key(self.seed, epoch, _EXAMPLE_STREAM)
        batch_key = epoch_key(self.seed, epoch, _BATCH_STREAM)
        labels, pre = self._labels, self.preprocess

        def load_example(i, image):
            seed = augment.fold_in(example_key, i)
            if pre.reference:
                image = pre.train_example(image, seed)
            else:  # Encoded: JPEGs are decoded inside the crop window only.
                image = pre.train_example_encoded(image, seed)
            if not pre.on_device:
                # uint8 in the shuffle buffer: 4x less memory (150 KB per 224 px image).
                # With on_device the device rounds after RandAugment (finish_on_device).
                image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
            return {
                "image": image,
                "label": tf.gather(labels, i),
                "id": i,
                **pre.device_fields(seed),
            }

        def shuffle(ds: tf.data.Dataset) -> tf.data.Dataset:
            return ds.shuffle(STREAM_SHUFFLE_BUFFER, seed=buffer_seed,
                              reshuffle_each_iteration=False)

        ds = self._read(file_seed, decode=pre.reference)
        if pre.on_device:
            # The buffer holds the encoded images (the float32 images before RandAugment would
            # take 600 KB each). A shuffle's order depends only on its seed and the input
            # order, and each example's augmentation only on its id, so shuffling before the
            # map yields the same batches as shuffling after it.
            ds = shuffle(ds)
        ds = ds.map(load_example, num_parallel_calls=AUTOTUNE, deterministic=True)
        if not pre.on_device:
            ds = shuffle(ds)
        ds = ds.batch(self.batch_size).take(self.steps_per_epoch)
        ds = ds.enumerate().skip(start_step)
        return self._finish_batches(ds, batch_key)

    def eval_subset(self, part: int, name: str, batch_size: int | None = None, *,
                    labels: str = "train") -> EvalSet:
        first, alt = self._subset_labels(part, labels)
        first_t, true, pre = tf.constant(first), self._true, self.preprocess
        alt_t = None if alt is None else tf.constant(alt)

        def load(i, encoded):
            out = {
                "image": pre.eval_example(pre.decode(encoded)),
                "label": tf.gather(first_t, i),
                "true_label": tf.gather(true, i),
                "id": tf.cast(i, tf.int32),
            }
            if alt_t is not None:
                out["alt_label"] = tf.gather(alt_t, i)
            return out

        def make(b: int) -> tf.data.Dataset:
            ds = self._read(None, part, decode=False)  # Read as the training stream reads.
            return ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).batch(b)

        num = int(np.sum(self.split == part))
        return EvalSet(name, make, num, batch_size or self.eval_batch_size)
