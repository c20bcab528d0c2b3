"""The Grain input pipeline for in-memory datasets: no TensorFlow, augmentation on the device.

:class:`ArrayGrainStream` yields the batches of :class:`gwa_jax.data.train.ArrayTrainStream`'s
contract (``train.py``'s module docstring) from uint8 images held in memory (Fashion-MNIST,
scikit-learn digits, CIFAR): the same ids, labels, targets and ``mask`` at every step of every
(seed, epoch), the same ``steps_per_epoch = ceil(num_train / B)``, the same padding of the
last batch (:func:`gwa_jax.data.batches.padded_positions`), the same resumption at
``epoch(e, start_step=k)``. The order of an epoch is
``np.random.default_rng([seed, epoch]).permutation(train_ids)``.

What differs is where the images are augmented. The host only gathers rows: ``image`` stays
uint8 (B, H, W, C) at the native size, and every batch carries the key data of its
augmentation,

* ``aug_key`` uint32 (B, 2): each example's key, ``fold_in(fold_in(key(seed), epoch), id)``
  (exactly :func:`gwa_jax.data.augment_jax.example_keys`, computed with a numpy threefry,
  :func:`example_key_data`);
* ``mixup_key`` uint32 (B, 2) (with mixup): the batch's key, ``fold_in(fold_in(fold_in(
  key(seed), epoch), BATCH_STREAM), step)``, the same in every row;

and :meth:`ArrayGrainStream.device_finish` gives the jittable function (run inside the train
step) that crops, flips, applies RandAugment (timm14, :func:`augment_jax.augment_batch`; or
the authors' chain, :func:`augment_jax.authors_train_chain`), resizes, maps to [-1, 1] and
mixes up (:func:`augment_jax.finish_on_device`). The draws come from ``jax.random`` instead
of TensorFlow's stateless generators, so an example is augmented differently than under
``ArrayTrainStream``, from the same distribution (as ``scripts/offline_full_size.py``).

Each batch is one element of a :class:`grain.MapDataset` over the steps of the epoch (a step's
rows are gathered with one numpy fancy index, which is faster than batching single examples
in Python); :meth:`ArrayGrainStream.dataset` turns it into a :class:`grain.IterDataset` read by
``num_threads`` threads with ``prefetch`` batches buffered, in step order.

:class:`ArrayGrainEvalSet` is the evaluation counterpart of ``sources.array_eval_set``:
fixed-size padded numpy batches (``image`` float32 in [-1, 1], zeros and ``mask`` False on
padding rows) in a fixed order.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

import grain
import jax
import jax.numpy as jnp
import numpy as np

from gwa_jax.data import augment_jax
from gwa_jax.data.batches import pad_batch, padded_positions
from gwa_jax.data.splits import TRAIN

#: The value folded into an epoch's key before the step for the batch-level (mixup) keys;
#: never an example id (ids are int32, non-negative).
BATCH_STREAM = 0xFFFFFFFF
_U32 = np.uint32
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))

# --- Threefry key data in numpy ----------------------------------------------------------------


def _threefry2x32(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 (20 rounds) of the counters (x0, x1) under the key (k0, k1), uint32,
    broadcasting; the hash ``jax.random`` uses for ``threefry2x32`` keys."""
    k0, k1, x0, x1 = (np.asarray(a, _U32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ _U32(0x1BD11BDA))
    with np.errstate(over="ignore"):
        x0, x1 = x0 + k0, x1 + k1
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                x0 = x0 + x1
                x1 = x0 ^ ((x1 << _U32(r)) | (x1 >> _U32(32 - r)))
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + _U32(i + 1)
    return x0, x1


def fold_in_data(key_data: np.ndarray, data: int | np.ndarray) -> np.ndarray:
    """``jax.random.key_data(jax.random.fold_in(key, data))`` for threefry key data uint32
    (..., 2) and uint32 ``data`` (broadcast against the leading axes), in numpy."""
    key_data = np.asarray(key_data, _U32)
    data = np.asarray(data, _U32)
    return np.stack(_threefry2x32(key_data[..., 0], key_data[..., 1], np.zeros_like(data),
                                  data), axis=-1)


def seed_key_data(seed: int) -> np.ndarray:
    """uint32 (2,): ``jax.random.key_data(jax.random.key(seed))`` (threefry) in numpy."""
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be non-negative.")
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], _U32)


def epoch_key_data(seed: int, epoch: int) -> np.ndarray:
    """uint32 (2,): the key data of ``fold_in(key(seed), epoch)``."""
    return fold_in_data(seed_key_data(seed), epoch)


def example_key_data(seed: int, epoch: int, ids: np.ndarray) -> np.ndarray:
    """uint32 (N, 2): the key data of :func:`gwa_jax.data.augment_jax.example_keys`
    ``(key(seed), epoch, ids)``, one key per id."""
    return fold_in_data(epoch_key_data(seed, epoch)[None], np.asarray(ids, np.int64))


def batch_key_data(seed: int, epoch: int, step: int) -> np.ndarray:
    """uint32 (2,): the key of the batch-level draws (mixup) of ``step`` of ``epoch``."""
    return fold_in_data(fold_in_data(epoch_key_data(seed, epoch), BATCH_STREAM), step)


# --- Augmentation settings (the device part) ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeviceAugment:
    """The training augmentation :meth:`ArrayGrainStream.device_finish` applies.

    Attributes:
      pad_crop / flip: 4-pixel pad-crop / random horizontal flip (timm14 order: crop, flip,
        RandAugment).
      randaug_num_ops / randaug_magnitude: timm14 RandAugment; none when either is 0.
      chain: the authors' chain instead of the timm14 ops (it crops and flips itself).
      size: output side; the training images are resized (bilinear, as ``tf.image.resize``)
        after the ops when it differs from the native side (``chain`` sizes its own output),
        the evaluation images always. 0 = native.
      mixup: Beta concentration of mixup (0 = none).
      label_smoothing: targets ``(1 - s) one_hot + s / C``.
    """

    pad_crop: bool = False
    flip: bool = False
    randaug_num_ops: int = 0
    randaug_magnitude: float = 0.0
    chain: augment_jax.AuthorsChain | None = None
    size: int = 0
    mixup: float = 0.0
    label_smoothing: float = 0.0

    @classmethod
    def from_preprocess(cls, pre: Any) -> DeviceAugment:
        """The settings of a :class:`gwa_jax.data.preprocess.Preprocess` for in-memory
        fixed-size images (duck-typed: this module does not import TensorFlow)."""
        if not pre.fixed_size or pre.crop == "inception":
            raise ValueError("The Grain in-memory stream supports fixed-size images with "
                             f"crop 'none', 'pad_crop' or 'resize_crop' (got {pre.crop!r}).")
        chain = pre.authors_chain() if pre.jax_chain else None
        return cls(
            pad_crop=pre.crop == "pad_crop" and chain is None,
            flip=bool(pre.flip) and chain is None,
            randaug_num_ops=0 if chain is not None else int(pre.randaug_num_ops),
            randaug_magnitude=float(pre.randaug_magnitude),
            chain=chain,
            size=int(pre.size),
            mixup=float(pre.mixup),
            label_smoothing=float(pre.label_smoothing),
        )

    @property
    def per_example(self) -> bool:
        """Whether the examples need their own keys (any random op before mixup)."""
        return bool(self.chain is not None or self.pad_crop or self.flip
                    or (self.randaug_num_ops and self.randaug_magnitude))


def finish_grain_batch(batch: dict[str, jax.Array], aug: DeviceAugment) -> dict[str, jax.Array]:
    """Jittable: a batch of :class:`ArrayGrainStream` (uint8 images, ``aug_key``,
    ``mixup_key``) -> the model's batch: ``image`` float32 (B, H', W', C) in [-1, 1], mixed
    ``target``, without the key fields; ``label``, ``id``, ``mask`` pass through."""
    batch = dict(batch)
    images = batch["image"].astype(jnp.float32)
    key_data = batch.pop("aug_key", None)
    if key_data is not None:
        keys = augment_jax.keys_from_data(key_data)
        if aug.chain is not None:
            images = augment_jax.authors_train_chain(images, keys, aug.chain)
        else:
            images = augment_jax.augment_batch(
                images, keys, pad_crop=aug.pad_crop, flip=aug.flip,
                randaug_num_ops=aug.randaug_num_ops, randaug_magnitude=aug.randaug_magnitude)
    if aug.chain is None and aug.size and aug.size != images.shape[1]:
        images = jax.vmap(lambda x: augment_jax.resize_bilinear(x, aug.size))(images)
    batch["image"] = images
    return augment_jax.finish_on_device(batch, mixup_alpha=aug.mixup)


def one_hot_targets(labels: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
    """int (B,) -> float32 (B, C) ``(1 - s) * one_hot + s / C`` (as ``augment.smooth_one_hot``)."""
    out = np.zeros((len(labels), num_classes), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    if smoothing:
        out = out * np.float32(1.0 - smoothing) + np.float32(smoothing / num_classes)
    return out


# --- Training stream ---------------------------------------------------------------------------


def _read_options(num_threads: int, prefetch: int) -> grain.ReadOptions:
    return grain.ReadOptions(num_threads=int(num_threads), prefetch_buffer_size=int(prefetch))


class ArrayGrainStream:
    """Training stream over uint8 images held in memory, on Grain (see module docstring).

    Same constructor arguments as :class:`gwa_jax.data.train.ArrayTrainStream` except
    ``augment`` (a :class:`DeviceAugment`) in place of ``preprocess``
    (:meth:`DeviceAugment.from_preprocess` converts one), plus the reading threads and the
    number of batches prefetched.
    """

    def __init__(
        self,
        images: np.ndarray,
        *,
        split: np.ndarray,
        train_labels: np.ndarray,
        true_labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        augment: DeviceAugment,
        num_threads: int = 2,
        prefetch: int = 4,
    ) -> None:
        """``images``: uint8 (num_ids, H, W, C), row i = id i (not copied)."""
        if seed < 0:
            raise ValueError("config.seed must be non-negative.")
        self._images = np.asarray(images)
        if self._images.dtype != np.uint8 or self._images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self._images.dtype} "
                             f"{self._images.shape}.")
        self.split = np.asarray(split, np.int8)
        self.train_ids = np.flatnonzero(self.split == TRAIN).astype(np.int64)
        self.train_labels = np.asarray(train_labels, np.int32)
        self.true_labels = np.asarray(true_labels, np.int32)
        self.num_classes = int(num_classes)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.seed = int(seed)
        self.augment = augment
        self.num_threads = int(num_threads)
        self.prefetch = int(prefetch)
        self.steps_per_epoch = -(-len(self.train_ids) // self.batch_size)
        if len(self.train_ids) < self.batch_size:
            raise ValueError(f"{len(self.train_ids)} training examples are fewer than "
                             f"batch_size={self.batch_size}.")

    @property
    def num_train(self) -> int:
        """Number of trained ids."""
        return len(self.train_ids)

    def order(self, epoch: int) -> np.ndarray:
        """int64 (num_train,): the trained ids of ``epoch`` in batch order (as
        ``ArrayTrainStream.order``)."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.train_ids)

    def padded_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, valid)``: int64 and bool (steps_per_epoch * B,), :meth:`order` with the
        last batch padded (:func:`gwa_jax.data.batches.padded_positions`)."""
        rows, valid = padded_positions(self.num_train, self.batch_size)
        return self.order(epoch)[rows], valid

    def map_dataset(self, epoch: int, start_step: int = 0) -> grain.MapDataset:
        """The batches ``start_step, ..., steps_per_epoch - 1`` of ``epoch`` as a
        random-access :class:`grain.MapDataset` (element k = batch ``start_step + k``)."""
        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(f"start_step must be in [0, {self.steps_per_epoch}].")
        b = self.batch_size
        ids, valid = (a.reshape(-1, b) for a in self.padded_order(epoch))
        keys = (example_key_data(self.seed, epoch, ids) if self.augment.per_example
                else None)
        load = functools.partial(self._load_batch, epoch, ids, valid, keys)
        return grain.MapDataset.range(start_step, self.steps_per_epoch).map(load)

    def _load_batch(self, epoch: int, ids: np.ndarray, valid: np.ndarray,
                    keys: np.ndarray | None, step: int) -> dict[str, np.ndarray]:
        rows = ids[step]
        label = self.train_labels[rows]
        batch = {
            "image": self._images[rows],
            "label": label,
            "target": one_hot_targets(label, self.num_classes, self.augment.label_smoothing),
            "id": rows.astype(np.int32),
            "mask": valid[step].copy(),
        }
        if keys is not None:
            batch["aug_key"] = keys[step]
        if self.augment.mixup > 0:
            key = batch_key_data(self.seed, epoch, step)
            batch["mixup_key"] = np.broadcast_to(key, (self.batch_size, 2)).copy()
        return batch

    def dataset(self, epoch: int, start_step: int = 0) -> grain.IterDataset:
        """:meth:`map_dataset` read in order by ``num_threads`` threads, ``prefetch`` batches
        ahead."""
        return self.map_dataset(epoch, start_step).to_iter_dataset(
            _read_options(self.num_threads, self.prefetch))

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yields the batches ``start_step, ..., steps_per_epoch - 1`` of ``epoch``:
        ``image`` uint8 (B, H, W, C) (native size, not augmented), ``label`` int32 (B,),
        ``target`` float32 (B, C) (not mixed), ``id`` int32 (B,), ``mask`` bool (B,), and
        ``aug_key`` / ``mixup_key`` uint32 (B, 2) when the augmentation draws anything.
        Apply :meth:`device_finish` before the model sees a batch."""
        return iter(self.dataset(epoch, start_step))

    def device_finish(self) -> Callable[[dict], dict]:
        """The jittable function that finishes this stream's batches on the device
        (:func:`finish_grain_batch`); never None, the images are always raw here."""
        return functools.partial(finish_grain_batch, aug=self.augment)

    def eval_stream(self, batch_size: int | None = None) -> ArrayGrainEvalSet:
        """The trained ids without augmentation, fixed order, padded batches (``image``,
        ``label`` (training label), ``true_label``, ``id``, ``mask``)."""
        return self.eval_subset(TRAIN, "train", batch_size)

    def eval_subset(self, part: int, name: str, batch_size: int | None = None, *,
                    labels: str = "train") -> ArrayGrainEvalSet:
        """As ``TrainStream.eval_subset``: the ids with split code ``part``; ``labels``
        ``"train"`` or ``"clean"``; ``alt_label`` (the other labels) when they differ."""
        if labels not in ("clean", "train"):
            raise ValueError(f"labels must be 'clean' or 'train', got {labels!r}.")
        first, other = ((self.true_labels, self.train_labels) if labels == "clean"
                        else (self.train_labels, self.true_labels))
        rows = self.split == part
        extras = {"true_label": self.true_labels}
        if np.any(first[rows] != other[rows]):
            extras["alt_label"] = other
        return ArrayGrainEvalSet(
            name, self._images, first, batch_size or self.eval_batch_size,
            ids=np.flatnonzero(rows), extras=extras, size=self.augment.size,
            num_threads=self.num_threads, prefetch=self.prefetch)


# --- Evaluation sets ---------------------------------------------------------------------------


def resize_bilinear_np(images: np.ndarray, size: int) -> np.ndarray:
    """float32 (B, H, W, C) -> (B, size, size, C): the arithmetic of
    :func:`gwa_jax.data.augment_jax.resize_bilinear` (``tf.image.resize`` bilinear) in numpy."""

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(n_in / size)
        src = src - np.float32(0.5)
        lower = np.floor(src)
        lo = np.clip(lower, 0, n_in - 1).astype(np.int64)
        hi = np.clip(np.ceil(src), 0, n_in - 1).astype(np.int64)
        return lo, hi, (src - lower).astype(np.float32)

    y_lo, y_hi, y_lerp = axis(images.shape[1])
    x_lo, x_hi, x_lerp = axis(images.shape[2])
    xl = x_lerp[None, None, :, None]
    rows_lo, rows_hi = images[:, y_lo], images[:, y_hi]
    top = rows_lo[:, :, x_lo] + (rows_lo[:, :, x_hi] - rows_lo[:, :, x_lo]) * xl
    bottom = rows_hi[:, :, x_lo] + (rows_hi[:, :, x_hi] - rows_hi[:, :, x_lo]) * xl
    return top + (bottom - top) * y_lerp[None, :, None, None]


class ArrayGrainEvalSet:
    """An evaluation set over in-memory fixed-size images; iterating yields fixed-size padded
    numpy batches (the :class:`gwa_jax.data.eval.EvalSet` format) read with Grain.

    Batches: ``image`` float32 (B, H', W', C) in [-1, 1] (zeros on padding rows), ``label``
    int32 (B,) (0 on padding rows), ``mask`` bool (B,), ``id`` int32 (B,) when ``ids`` is
    given, and the ``extras`` gathered like the labels. Iterating twice gives the same batches.
    """

    def __init__(
        self,
        name: str,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        *,
        ids: np.ndarray | None = None,
        extras: dict[str, np.ndarray] | None = None,
        size: int = 0,
        num_threads: int = 2,
        prefetch: int = 4,
    ) -> None:
        """Args as ``sources.array_eval_set``: ``images`` uint8 (N, H, W, C), ``labels`` int
        (N,), ``ids`` optional rows to evaluate in this order (batches then carry ``id``),
        ``extras`` ``{name: (N,)}``; ``size``: output side (bilinear resize when it differs
        from the native side; 0 = native)."""
        self.name = name
        self.batch_size = int(batch_size)
        self._images = np.asarray(images)
        self._labels = np.asarray(labels, np.int32)
        self._extras = {k: np.asarray(v) for k, v in (extras or {}).items()}
        self._with_ids = ids is not None
        self._rows = (np.arange(len(self._labels)) if ids is None
                      else np.asarray(ids, np.int64))
        self.num_examples = len(self._rows)
        self.size = int(size)
        self.num_threads = int(num_threads)
        self.prefetch = int(prefetch)

    def __len__(self) -> int:
        """Number of batches."""
        return -(-self.num_examples // self.batch_size)

    def __repr__(self) -> str:
        return (f"ArrayGrainEvalSet({self.name!r}, num_examples={self.num_examples}, "
                f"B={self.batch_size})")

    def _load(self, k: int) -> dict[str, np.ndarray]:
        rows = self._rows[k * self.batch_size:(k + 1) * self.batch_size]
        x = self._images[rows].astype(np.float32)
        if self.size and self.size != x.shape[1]:
            x = resize_bilinear_np(x, self.size)
        batch = {"image": x / np.float32(127.5) - np.float32(1.0),
                 "label": self._labels[rows]}
        batch.update({k_: v[rows] for k_, v in self._extras.items()})
        if self._with_ids:
            batch["id"] = rows.astype(np.int32)
        return pad_batch(batch, self.batch_size)

    def map_dataset(self) -> grain.MapDataset:
        """The padded batches as a random-access :class:`grain.MapDataset`."""
        return grain.MapDataset.range(len(self)).map(self._load)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        ds = self.map_dataset().to_iter_dataset(_read_options(self.num_threads, self.prefetch))
        return iter(ds)
