"""Training streams on Grain: deterministic (seed, epoch) -> batches, no TensorFlow.

Determinism contract. For a given config, ``stream.epoch(e)`` yields the same batches in every
process and run:

* order: ``np.random.default_rng([seed, e]).permutation`` of the trained ids, for in-memory
  and record (array_record) sources alike (both are random access);
* every trained id exactly once per epoch: ``steps_per_epoch = ceil(num_train / B)``; the
  last batch of an epoch is filled up to B with copies of its own first examples whose
  ``mask`` is False (:func:`gwa_jax.data.batches.padded_positions`), so shapes stay static
  and the padded rows can be excluded from the loss, the per-sample buffers and the
  accuracies;
* augmentation keys: each example's key is ``fold_in(fold_in(key(seed), e), id)`` and the
  batch-level (mixup) key ``fold_in(fold_in(fold_in(key(seed), e), BATCH_STREAM), step)``
  (:mod:`gwa_jax.data.keys`), so the draws depend on (seed, epoch, id / step) only.

Each epoch is a :class:`grain.MapDataset` over its steps (element k = batch k, gathered by one
function call), read in order by Grain threads (``dataset.read_threads``) or, for sources that
decode images, worker processes (``dataset.worker_processes``; they ignore SIGINT and SIGTERM,
the main process handles them). ``epoch(e, start_step=k)`` gives exactly the batches
k, k + 1, ... of that epoch; :meth:`TrainStream.iterator` returns Grain's iterator, whose
``get_state()`` / ``set_state()`` the checkpoints keep.

With several processes (multi-host), each reads its own contiguous 1/P of every global batch
(``host_rows``): the process-local batches of one step together are the global batch.

Batch format (numpy): ``image`` uint8 (B, *host_shape) not augmented yet (fixed-size images at
their native size; variable-size ones decoded and cropped by the host), ``label`` int32 (B,)
training label (noisy under label noise), ``target`` float32 (B, C) one-hot / label-smoothed,
not mixed, ``id`` int32 (B,) index in the full train split, ``mask`` bool (B,) False on the
padding rows of an epoch's last batch, ``aug_key`` uint32 (B, 2) per-example key data (when
anything is drawn per example), ``mixup_key`` uint32 (B, 2) (with mixup). B = ``batch_size``
(per process: ``batch_size / P``). :meth:`TrainStream.device_finish` gives the jittable
function that finishes a batch on the accelerator (augmentation, [-1, 1], mixup).
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterator
from typing import Any

import grain
import numpy as np
from absl import flags

from gwa_jax.data.batches import padded_positions
from gwa_jax.data.eval import EvalSet, read_options
from gwa_jax.data.keys import batch_key_data, example_key_data, fold_in_data
from gwa_jax.data.preprocess import Preprocess, one_hot_targets
from gwa_jax.data.splits import TRAIN

#: Folded into an example's key for the host's own draws (the inception crop), so that they
#: are independent of the device's draws from the same key.
HOST_CROP_STREAM = 0x686F7374


def ignore_signals(worker_index: int = 0, worker_count: int = 1) -> None:
    """Grain worker-process initialiser: SIGINT and SIGTERM are the main process's."""
    del worker_index, worker_count
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class TrainStream:
    """Base class: a per-epoch deterministic stream of training batches (module docstring).

    Subclasses provide :meth:`_images` (the host's uint8 training images of some rows) and
    :meth:`_eval_images` (their evaluation images, float32 in [-1, 1]).
    """

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
        read_threads: int = 2,
        worker_processes: int = 0,
        prefetch: int = 4,
        process_index: int = 0,
        process_count: int = 1,
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
        self.read_threads = max(int(read_threads), 1)
        self.worker_processes = int(worker_processes)
        self.prefetch = int(prefetch)
        self.process_index, self.process_count = int(process_index), int(process_count)
        if self.batch_size % self.process_count:
            raise ValueError(f"batch_size={self.batch_size} is not divisible by the "
                             f"{self.process_count} processes.")
        self.steps_per_epoch = -(-len(self.train_ids) // self.batch_size)
        if len(self.train_ids) < self.batch_size:
            raise ValueError(
                f"{len(self.train_ids)} training examples are fewer than batch_size="
                f"{self.batch_size}; lower config.batch_size.")

    @property
    def num_train(self) -> int:
        """Number of trained ids."""
        return len(self.train_ids)

    @property
    def host_rows(self) -> slice:
        """The rows of every global batch this process reads."""
        per = self.batch_size // self.process_count
        return slice(self.process_index * per, (self.process_index + 1) * per)

    def order(self, epoch: int) -> np.ndarray:
        """int64 (num_train,): the trained ids of ``epoch`` in batch order (batch k holds
        positions ``k * B .. (k + 1) * B - 1``; the last one is padded)."""
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
        b, part = self.batch_size, self.host_rows
        ids, valid = (a.reshape(-1, b)[:, part] for a in self.padded_order(epoch))
        load = functools.partial(self._load_batch, epoch, ids, valid)
        return grain.MapDataset.range(start_step, self.steps_per_epoch).map(load)

    def _load_batch(self, epoch: int, ids: np.ndarray, valid: np.ndarray,
                    step: int) -> dict[str, np.ndarray]:
        rows = ids[step]
        label = self.train_labels[rows]
        pre = self.preprocess
        keys = example_key_data(self.seed, epoch, rows) if pre.random_per_example else None
        batch = {
            "image": self._images(rows, keys),
            "label": label,
            "target": one_hot_targets(label, self.num_classes, pre.label_smoothing),
            "id": rows.astype(np.int32),
            "mask": valid[step].copy(),
        }
        if keys is not None:
            batch["aug_key"] = keys
        if pre.mixup > 0:
            key = batch_key_data(self.seed, epoch, step)
            batch["mixup_key"] = np.broadcast_to(key, (len(rows), 2)).copy()
        return batch

    def _images(self, rows: np.ndarray, keys: np.ndarray | None) -> np.ndarray:
        """uint8 (n, *preprocess.host_shape): the host's training images of ``rows`` with
        their example key data ``keys`` uint32 (n, 2) (None: nothing drawn)."""
        raise NotImplementedError

    def dataset(self, epoch: int, start_step: int = 0) -> grain.IterDataset:
        """:meth:`map_dataset` read in order by threads (and worker processes), batches
        prefetched."""
        ds = self.map_dataset(epoch, start_step).to_iter_dataset(
            read_options(self.read_threads, self.prefetch))
        if self.worker_processes > 0:
            if not flags.FLAGS.is_parsed():  # Grain's workers read absl flags (defaults).
                flags.FLAGS.mark_as_parsed()
            options = grain.MultiprocessingOptions(num_workers=self.worker_processes,
                                                   per_worker_buffer_size=self.prefetch)
            ds = ds.mp_prefetch(options, worker_init_fn=ignore_signals)
        return ds

    def iterator(self, epoch: int, state: dict[str, Any] | None = None
                 ) -> grain.DatasetIterator:
        """Grain's iterator over the batches of ``epoch``, positioned by ``state`` (what
        ``get_state()`` of an iterator of the same epoch returned; None = the start)."""
        it = iter(self.dataset(epoch))
        if state is not None:
            it.set_state(state)
        return it

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yields the batches ``start_step, ..., steps_per_epoch - 1`` of ``epoch`` (module
        docstring's format). Apply :meth:`device_finish` before the model sees a batch."""
        return iter(self.dataset(epoch, start_step))

    def device_finish(self) -> Callable[[dict], dict]:
        """The jittable function that finishes this stream's batches on the device
        (:meth:`Preprocess.device_finish`)."""
        return self.preprocess.device_finish()

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
        if labels not in ("clean", "train"):
            raise ValueError(f"labels must be 'clean' or 'train', got {labels!r}.")
        first, other = ((self.true_labels, self.train_labels) if labels == "clean"
                        else (self.train_labels, self.true_labels))
        rows = np.flatnonzero(self.split == part)
        alt = other if np.any(first[rows] != other[rows]) else None

        def load(batch_rows: np.ndarray) -> dict[str, np.ndarray]:
            out = {"image": self._eval_images(batch_rows), "label": first[batch_rows],
                   "true_label": self.true_labels[batch_rows],
                   "id": batch_rows.astype(np.int32)}
            if alt is not None:
                out["alt_label"] = alt[batch_rows]
            return out

        return EvalSet(name, load, rows, batch_size or self.eval_batch_size,
                       num_threads=self.read_threads, prefetch=self.prefetch)

    def _eval_images(self, rows: np.ndarray) -> np.ndarray:
        """float32 (n, *preprocess.out_shape) in [-1, 1]: evaluation images of ``rows``."""
        raise NotImplementedError


class ArrayTrainStream(TrainStream):
    """Training stream over uint8 images held in memory (fixed-size datasets)."""

    def __init__(self, images: np.ndarray, **kwargs) -> None:
        """``images``: uint8 (num_ids, H, W, C), row i = id i (not copied); other args as
        :class:`TrainStream`."""
        super().__init__(**kwargs)
        self._array = np.asarray(images)
        if self._array.dtype != np.uint8 or self._array.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self._array.dtype} "
                             f"{self._array.shape}.")

    def _images(self, rows: np.ndarray, keys: np.ndarray | None) -> np.ndarray:
        return self._array[rows]

    def _eval_images(self, rows: np.ndarray) -> np.ndarray:
        return self.preprocess.eval_images(self._array[rows])


class RecordTrainStream(TrainStream):
    """Training stream over encoded images read by id from a random-access source (a TFDS
    split in array_record files, :class:`gwa_jax.data.records.RecordSplit`); the host
    decodes and crops each example (:meth:`Preprocess.host_train_image`)."""

    def __init__(self, source: Any, **kwargs) -> None:
        """``source``: anything with ``encoded(rows) -> list[bytes]`` over the id space;
        other args as :class:`TrainStream`."""
        super().__init__(**kwargs)
        self.source = source

    def _images(self, rows: np.ndarray, keys: np.ndarray | None) -> np.ndarray:
        pre = self.preprocess
        host_keys = (fold_in_data(keys, HOST_CROP_STREAM) if keys is not None
                     else np.zeros((len(rows), 2), np.uint32))
        images = [pre.host_train_image(data, key)
                  for data, key in zip(self.source.encoded(rows), host_keys, strict=True)]
        return np.stack(images)

    def _eval_images(self, rows: np.ndarray) -> np.ndarray:
        pre = self.preprocess
        images = np.stack([pre.host_eval_image(data) for data in self.source.encoded(rows)])
        return pre.eval_images(images)


class EpochReader:
    """The batches of one epoch from Grain's iterator, remembering the iterator's state after
    each batch, so that a loop that reads ahead (device prefetch) can checkpoint the state
    after the last batch it actually trained on (:meth:`state_after`).

    A saved state (``{"start_step": s, "grain": ...}``) resumes exactly: the remaining batches
    (ids, keys, images) are those the interrupted run would have read.
    """

    def __init__(self, stream: TrainStream, epoch: int, start_step: int = 0,
                 state: dict[str, Any] | None = None) -> None:
        """Reads ``epoch`` from ``start_step``, or from a :meth:`state_after` ``state``."""
        self.start_step = int(state["start_step"]) if state else int(start_step)
        self._it = iter(stream.dataset(epoch, self.start_step))
        if state:
            self._it.set_state(state["grain"])
        self._states: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for batch in self._it:
            self._states.append(self._it.get_state())
            yield batch

    def state_after(self, num_read: int) -> dict[str, Any]:
        """The state after the first ``num_read`` batches this reader yielded (> 0)."""
        return {"start_step": self.start_step, "grain": self._states[num_read - 1]}
