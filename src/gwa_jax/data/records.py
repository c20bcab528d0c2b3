"""Random access to one split of a TFDS dataset prepared in the array_record format, without
TensorFlow.

:func:`open_record_split` opens ``tfds.builder(name, data_dir).as_data_source(split)`` with
the image feature left encoded (``tfds.decode.SkipDecoding``; TFDS parses the examples with
its numpy parser, so neither this module nor TFDS imports TensorFlow here) and checks the
files first, so that a dataset that is not prepared, prepared as TFRecord only, or whose shards
are missing or damaged raises :class:`~gwa_jax.data.errors.DatasetNotFoundError` with one line
naming the command that fixes it.

Example ids. Row ``i`` of a :class:`RecordSplit` is the ``i``-th example of the split in its
canonical order: shards in file order, records in file order within a shard, so
``id = shard_offset[shard] + index_in_shard`` with ``shard_offset`` the cumulative shard
lengths. This is the id rule of :mod:`gwa_jax.data.tfds_io` (which parses the same two numbers
from the ``tfds_id`` of a ``tf.data`` read), and a dataset converted from TFRecord by
``data_prep/convert_array_record.py`` keeps every record's shard and position, so both
readers give every example the same id (``tests/test_records.py`` checks it against ids
computed by ``tfds_io`` from the TFRecord files).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from gwa_jax.data import host_image
from gwa_jax.data.errors import DatasetNotFoundError

INDEX_ENV = "GWA_INDEX_DIR"
FORMAT = "array_record"
CONVERT = "python data_prep/convert_array_record.py --data_dir {data_dir} {name}"
IMAGE_KEY = "image"
_CHUNK = 1024  # Rows per read in one pass over a split (array_record reads them in parallel).
_MIN_SHARD_BYTES = 1 << 16  # An array_record file is at least one 64 KiB block.


def index_dir(data_dir: str | None) -> Path:
    """Cached label indices live in ``$GWA_INDEX_DIR`` or ``<tfds data_dir>/gwa_jax_index``
    (the directory and file layout of :func:`gwa_jax.data.tfds_io.label_index`, whose files
    hold the same labels in the same id order)."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV])
    return Path(_data_root(data_dir)) / "gwa_jax_index"


class RecordSplit:
    """One split of a TFDS dataset in the array_record format, read by row (= example id).

    Build it with :func:`open_record_split`. Reads go through TFDS's ``ArrayRecordDataSource``
    (thread-safe, picklable, so Grain workers can share it).
    """

    def __init__(
        self,
        builder: tfds.core.DatasetBuilder,
        split: str,
        prepare: str,
        cache_dir: Path | None,
        image_key: str = IMAGE_KEY,
    ) -> None:
        """Use :func:`open_record_split`; arguments as there (``builder`` already checked)."""
        self.builder = builder
        self.split = split
        self.prepare = prepare
        self.cache_dir = cache_dir
        self.image_key = image_key
        self.source = builder.as_data_source(
            split, decoders={image_key: tfds.decode.SkipDecoding()}, file_format=FORMAT
        )
        self.shard_lengths = np.asarray(builder.info.splits[split].shard_lengths, np.int64)

    def __len__(self) -> int:
        """Number of examples of the split."""
        return len(self.source)

    @property
    def description(self) -> str:
        """E.g. ``tfds:imagenet2012:5.1.0 (array_record)``."""
        return f"tfds:{_full_name(self.builder)}:{self.builder.version} ({FORMAT})"

    @property
    def shard_offsets(self) -> np.ndarray:
        """int64 (num_shards,): id of the first example of each shard."""
        return np.concatenate([[0], np.cumsum(self.shard_lengths)[:-1]]).astype(np.int64)

    def examples(self, rows: Sequence[int] | np.ndarray) -> list[dict]:
        """The examples of ``rows`` (ids), the image feature encoded (bytes)."""
        rows = [int(r) for r in np.asarray(rows, np.int64).reshape(-1)]
        if rows and not 0 <= min(rows) <= max(rows) < len(self):
            raise IndexError(f"Rows outside [0, {len(self)}) in {self.description}.")
        try:
            return list(self.source.__getitems__(rows)) if len(rows) > 1 else [
                self.source[r] for r in rows]
        except RuntimeError as e:  # array_record reports missing / damaged files here.
            raise DatasetNotFoundError(self._damaged(str(e).splitlines()[0])) from e

    def encoded(self, rows: Sequence[int] | np.ndarray) -> list[bytes]:
        """The encoded image (JPEG/PNG bytes as stored) of each row, in the order of ``rows``."""
        return [ex[self.image_key] for ex in self.examples(rows)]

    def labels(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """``{key: int32 (N,)}`` for integer features ``keys``, row i = id i.

        Read in one pass over the split (images not decoded) and cached with the other indexed
        features in ``<cache_dir>/<name>/<config>/<version>/<split>.npz`` (see
        :func:`index_dir`); a cache without these keys or whose length disagrees with the
        split is rebuilt.
        """
        index = self._index(tuple(keys), ())
        return {k: index[k] for k in keys}

    def multi_hot(self, key: str, num_classes: int) -> np.ndarray:
        """bool (N, num_classes): the class sets of sequence feature ``key`` (e.g. ImageNet
        ReaL's ``real_label``; an empty set gives an all-False row). Cached like
        :meth:`labels`, as flat values + offsets."""
        index = self._index((), (key,))
        values, offsets = index[f"{key}.values"], index[f"{key}.offsets"]
        out = np.zeros((len(offsets) - 1, num_classes), bool)
        out[np.repeat(np.arange(len(offsets) - 1), np.diff(offsets)), values] = True
        return out

    def load_arrays(self, keys: Sequence[str] = ("label",)) -> dict[str, np.ndarray]:
        """The whole split in memory for small fixed-size datasets (CIFAR-10, Fashion-MNIST):
        ``{"image": uint8 (N, H, W, C), key: int32 (N,) for key in keys}``, row i = id i.

        Raises:
          ValueError: the images do not all have the same shape.
        """
        channels = int(self.builder.info.features[self.image_key].shape[-1] or 3)
        images, labels = [], {k: [] for k in keys}
        for start in range(0, len(self), _CHUNK):
            for ex in self.examples(range(start, min(start + _CHUNK, len(self)))):
                images.append(host_image.decode_image(ex[self.image_key], channels))
                for k in keys:
                    labels[k].append(ex[k])
        if len({im.shape for im in images}) > 1:
            raise ValueError(f"{self.description}: images of different shapes; use encoded().")
        out = {"image": np.stack(images) if images else np.zeros((0, 0, 0, channels), np.uint8)}
        out.update({k: np.asarray(v, np.int32) for k, v in labels.items()})
        return out

    # --- label index --------------------------------------------------------------------------

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        config = self.builder.builder_config.name if self.builder.builder_config else "default"
        return (Path(self.cache_dir) / self.builder.name / config / str(self.builder.version)
                / f"{self.split}.npz")

    def _index(self, keys: tuple[str, ...], seq_keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The cached index holding ``keys`` and ``seq_keys`` (read and written as needed)."""
        path = self._cache_path()
        cached = _read_cache(path, len(self)) if path is not None else {}
        wanted = [*keys, *(f"{k}.values" for k in seq_keys)]
        if all(k in cached for k in wanted):
            return cached
        keep_keys = {k for k in cached if "." not in k and k != "shard_offsets"}
        keep_seq = {k.split(".")[0] for k in cached if k.endswith(".values")}
        out = self._read_index(sorted(keep_keys | set(keys)), sorted(keep_seq | set(seq_keys)))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **out)
            os.replace(tmp, path)
        return out

    def _read_index(self, keys: list[str], seq_keys: list[str]) -> dict[str, np.ndarray]:
        """One pass over the split: int32 (N,) per key, values + offsets per sequence key."""
        scalars = {k: np.empty(len(self), np.int32) for k in keys}
        seqs: dict[str, list] = {k: [] for k in seq_keys}
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            for i, ex in zip(range(start, stop), self.examples(range(start, stop)), strict=True):
                for k in keys:
                    scalars[k][i] = ex[k]
                for k in seq_keys:
                    seqs[k].append(np.asarray(ex[k], np.int32).reshape(-1))
        out: dict[str, np.ndarray] = {**scalars, "shard_offsets": self.shard_offsets}
        for k, rows in seqs.items():
            sizes = [len(r) for r in rows]
            out[f"{k}.values"] = np.concatenate(rows) if rows else np.zeros(0, np.int32)
            out[f"{k}.offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return out

    def _damaged(self, detail: str) -> str:
        return (f"{self.description} split {self.split!r} under {self.builder.data_dir} is "
                f"damaged ({detail}); delete {self.builder.data_dir} and prepare it again with: "
                f"{self.prepare}")


def _read_cache(path: Path, num_examples: int) -> dict[str, np.ndarray]:
    """The cached index at ``path``, or {} when missing or stale (wrong length)."""
    if not path.is_file():
        return {}
    with np.load(path) as cached:
        out = {k: cached[k] for k in cached.files}
    lengths = {len(v) for k, v in out.items() if "." not in k and k != "shard_offsets"}
    lengths |= {len(v) - 1 for k, v in out.items() if k.endswith(".offsets")}
    if lengths and lengths != {num_examples}:
        logging.warning("Label index %s is stale; rebuilding it.", path)
        return {}
    return out


def _full_name(builder: tfds.core.DatasetBuilder) -> str:
    config = builder.builder_config.name if builder.builder_config else ""
    return f"{builder.name}/{config}" if config else builder.name


def open_record_split(
    tfds_name: str,
    split: str,
    data_dir: str | None,
    prepare: str,
    *,
    cache_dir: Path | str | None = None,
    image_key: str = IMAGE_KEY,
) -> RecordSplit:
    """Opens ``split`` of the TFDS dataset ``tfds_name`` ("dataset", "dataset/config",
    optionally ":version") prepared under ``data_dir`` in the array_record format.

    Args:
      tfds_name: TFDS name.
      split: split name (``"train"``, ``"validation"``, ...).
      data_dir: TFDS data dir (None: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      prepare: the command that prepares the dataset, named in every error.
      cache_dir: where :meth:`RecordSplit.labels` caches label indices (default
        :func:`index_dir`).
      image_key: the encoded image feature.

    Raises:
      DatasetNotFoundError: (one line naming the command to run) TFDS does not know the
        builder and ``data_dir`` holds no prepared copy; the dataset or split is not prepared
        under ``data_dir``; it is prepared as TFRecord only (names
        ``data_prep/convert_array_record.py``); an array_record shard is missing, too small
        or unreadable (its last record is read here). Damage found later, when a record is
        read, raises the same error.

    Only whole splits (no TFDS slicing such as ``"train[:10%]"``): row = example id.
    """
    builder = _builder(tfds_name, data_dir, prepare)
    _check_prepared(builder, split, prepare, _data_root(data_dir))
    cache = Path(cache_dir) if cache_dir is not None else index_dir(data_dir)
    records = RecordSplit(builder, split, prepare, cache, image_key)
    _check_shards(records)
    _check_last_records(records)
    return records


def _builder(tfds_name: str, data_dir: str | None, prepare: str) -> tfds.core.DatasetBuilder:
    try:
        return tfds.builder(tfds_name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DatasetNotFoundError(
            f"TFDS has no builder {tfds_name!r} and {data_dir or 'the TFDS data dir'} holds no "
            f"prepared copy; prepare it with: {prepare}"
        ) from e


def _data_root(data_dir: str | None) -> str:
    """The TFDS data dir that ``tfds.builder(name, data_dir)`` searches."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return os.path.expanduser(root)


def _check_prepared(builder: tfds.core.DatasetBuilder, split: str, prepare: str, root: str
                    ) -> None:
    """Raises when the dataset or split is missing, or has no array_record files."""
    where = f"{_full_name(builder)} under {root}"
    if not builder.is_prepared():
        raise DatasetNotFoundError(f"{where} is not prepared; prepare it with: {prepare}")
    if split not in builder.info.splits:
        raise DatasetNotFoundError(
            f"{where} has no split {split!r} (has {sorted(builder.info.splits)}); prepare it "
            f"with: {prepare}")
    formats = {f.value for f in builder.info.available_file_formats()}
    if FORMAT not in formats:
        command = CONVERT.format(data_dir=root, name=_full_name(builder))
        raise DatasetNotFoundError(
            f"{where} is prepared as {'/'.join(sorted(formats))}, not {FORMAT}; convert it "
            f"with: {command}")


def _check_shards(records: RecordSplit) -> None:
    """Raises when an array_record shard of the split is missing or smaller than one block."""
    # as_data_source switched the builder's info to the array_record file names.
    for instruction in records.builder.info.splits[records.split].file_instructions:
        path = Path(instruction.filename)
        if not path.is_file():
            raise DatasetNotFoundError(records._damaged(f"shard {path.name} is missing"))
        if path.stat().st_size < _MIN_SHARD_BYTES:
            raise DatasetNotFoundError(records._damaged(f"shard {path.name} is truncated"))


def _check_last_records(records: RecordSplit) -> None:
    """Reads the last record of every shard (opens each file and checks its index)."""
    last = np.cumsum(records.shard_lengths) - 1
    records.examples(last[records.shard_lengths > 0])
