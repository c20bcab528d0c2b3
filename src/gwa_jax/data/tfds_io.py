"""TFDS access: opening splits, stable example ids, in-memory loads and cached label indices.

Example ids. The id of a TFDS example is its index in the *canonical* order of the split:
shards in file order, examples in file order within a shard, i.e.
``id = shard_offset[shard] + index_in_shard`` with both parts parsed from the ``tfds_id``
TFDS attaches with ``ReadConfig(add_tfds_id=True)``
(``"<name>-<split>.tfrecord-00012-of-01024__345"``) and ``shard_offset`` the cumulative shard
lengths. This id does not depend on file shuffling,
interleaving or parallel reads, so the same example has the same id in every epoch, run and
process. Shard lengths are counted in one pass over the split (never taken on trust from
metadata) and cached for streaming datasets in the label index file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.tf_setup import tf

_TFDS_ID = re.compile(rb"-(\d+)-of-\d+__(\d+)$")
_LOAD_BATCH = 2048
INDEX_ENV = "GWA_INDEX_DIR"


def open_builder(name: str, data_dir: str | None, prepare: str) -> tfds.core.DatasetBuilder:
    """Returns the TFDS builder ``name`` (``"dataset"`` or ``"dataset/config"``).

    Raises:
      DatasetNotFoundError: TFDS does not know the builder (one line naming ``prepare``).
    """
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DatasetNotFoundError(
            f"TFDS has no builder {name!r} in this installation; prepare it with: {prepare}"
        ) from e


def open_split(
    builder: tfds.core.DatasetBuilder,
    split: str,
    prepare: str,
    *,
    shuffle_files: bool = False,
    read_config: tfds.ReadConfig | None = None,
    decoders: dict | None = None,
) -> tf.data.Dataset:
    """``builder.as_dataset`` that raises one clear error when the split is not prepared.

    Raises:
      DatasetNotFoundError: the data of ``builder`` is not found under its data_dir.
    """
    try:
        return builder.as_dataset(
            split=split, shuffle_files=shuffle_files, read_config=read_config, decoders=decoders
        )
    except (AssertionError, FileNotFoundError, tf.errors.NotFoundError) as e:
        raise DatasetNotFoundError(
            f"{builder.name}/{builder.builder_config.name if builder.builder_config else ''}"
            .rstrip("/")
            + f" split {split!r} is not prepared under {builder.data_dir_root}; "
            f"prepare it with: {prepare}"
        ) from e
    except (KeyError, ValueError) as e:
        raise DatasetNotFoundError(
            f"{builder.name} has no split {split!r} ({e}); prepare it with: {prepare}"
        ) from e


def parse_tfds_ids(tfds_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Splits ``tfds_id`` byte strings into (shard index, index in shard), both int64 (N,)."""
    shard = np.empty(len(tfds_ids), np.int64)
    index = np.empty(len(tfds_ids), np.int64)
    for i, tid in enumerate(tfds_ids):
        match = _TFDS_ID.search(tid)
        if match is None:
            raise ValueError(f"Unexpected tfds_id {tid!r}.")
        shard[i], index[i] = int(match.group(1)), int(match.group(2))
    return shard, index


def canonical_ids(tfds_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical ids of a complete split read in any order.

    Args:
      tfds_ids: bytes (N,) holding every ``tfds_id`` of the split exactly once.

    Returns:
      ``(ids, shard_offsets)``: int64 (N,) ids forming a permutation of ``range(N)``, and
      int64 (num_shards,) offsets such that ``id = shard_offsets[shard] + index_in_shard``.
    """
    shard, index = parse_tfds_ids(tfds_ids)
    num_shards = int(shard.max()) + 1 if len(shard) else 0
    lengths = np.zeros(num_shards, np.int64)
    np.maximum.at(lengths, shard, index + 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ids = offsets[shard] + index
    if len(ids) != int(lengths.sum()) or len(np.unique(ids)) != len(ids):
        raise ValueError("tfds_ids do not cover the split exactly once (partial read?).")
    return ids, offsets


def global_ids_tf(tfds_id: tf.Tensor, shard_offsets: tf.Tensor) -> tf.Tensor:
    """Graph version of the canonical id for one example: int64 scalar."""
    prefix_and_index = tf.strings.split(tfds_id, "__")
    index = tf.strings.to_number(prefix_and_index[-1], tf.int64)
    shard = tf.strings.to_number(
        tf.strings.regex_replace(prefix_and_index[0], r"^.*-(\d+)-of-\d+$", r"\1"), tf.int64
    )
    return tf.gather(shard_offsets, shard) + index


def load_split(
    builder: tfds.core.DatasetBuilder, split: str, keys: tuple[str, ...], prepare: str
) -> dict[str, np.ndarray]:
    """Loads a whole split into memory, rows in canonical id order.

    Returns:
      ``{key: array (N, ...)}`` for each feature in ``keys`` (images uint8 (N, H, W, C), labels
      int32 (N,)), plus ``"shard_offsets"`` int64.
    """
    read_config = tfds.ReadConfig(add_tfds_id=True)
    ds = open_split(builder, split, prepare, read_config=read_config)
    ds = ds.map(lambda ex: {k: ex[k] for k in (*keys, "tfds_id")}).batch(_LOAD_BATCH)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in (*keys, "tfds_id")}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            chunks[k].append(v)
    if not chunks["tfds_id"]:
        raise DatasetNotFoundError(f"{builder.name} split {split!r} is empty; prepare: {prepare}")
    arrays = {k: np.concatenate(v) for k, v in chunks.items()}
    ids, offsets = canonical_ids(arrays.pop("tfds_id"))
    order = np.argsort(ids)
    out = {}
    for k, v in arrays.items():
        v = v[order]
        out[k] = v.astype(np.int32) if np.issubdtype(v.dtype, np.integer) and v.ndim == 1 else v
    out["shard_offsets"] = offsets
    return out


def index_dir(data_dir: str | None) -> Path:
    """Cached label indices live in ``$GWA_INDEX_DIR`` or ``<tfds data_dir>/gwa_jax_index``."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV])
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    root = os.path.expanduser(root)
    return Path(root) / "gwa_jax_index"


def label_index(
    builder: tfds.core.DatasetBuilder,
    split: str,
    keys: tuple[str, ...],
    prepare: str,
    cache_dir: Path | None,
) -> dict[str, np.ndarray]:
    """Labels of a (large) split in canonical id order, without decoding images; cached.

    The first call reads the split once (images skipped) and writes
    ``<cache_dir>/<builder name>/<config>/<version>/<split>.npz``; later calls load that file.
    A cache whose size disagrees with the builder's split metadata is rebuilt.

    Returns:
      ``{key: int32 (N,)}`` for each label key, plus ``"shard_offsets"`` int64 (num_shards,).
    """
    config = builder.builder_config.name if builder.builder_config else "default"
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / builder.name / config / str(builder.version) / f"{split}.npz"
        if path.is_file():
            with np.load(path) as cached:
                out = {k: cached[k] for k in cached.files}
            expected = _split_size(builder, split)
            if all(k in out for k in keys) and (
                expected is None or expected == len(out[keys[0]])
            ):
                return out
            logging.warning("Label index %s is stale; rebuilding it.", path)
    read_config = tfds.ReadConfig(add_tfds_id=True)
    ds = open_split(
        builder,
        split,
        prepare,
        read_config=read_config,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    ds = ds.map(lambda ex: {k: ex[k] for k in (*keys, "tfds_id")}).batch(8192)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in (*keys, "tfds_id")}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            chunks[k].append(v)
    arrays = {k: np.concatenate(v) for k, v in chunks.items()}
    ids, offsets = canonical_ids(arrays.pop("tfds_id"))
    out = {}
    for k in keys:
        labels = np.empty(len(ids), np.int32)
        labels[ids] = arrays[k]
        out[k] = labels
    out["shard_offsets"] = offsets
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **out)
        os.replace(tmp, path)
    return out


def _split_size(builder: tfds.core.DatasetBuilder, split: str) -> int | None:
    try:
        return int(builder.info.splits[split].num_examples) or None
    except (KeyError, ValueError, TypeError):
        return None
