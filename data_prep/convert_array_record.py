"""Add the array_record format to a TFDS dataset prepared as TFRecord: ``--help`` for steps.

gwa-jax's input pipeline reads TFDS datasets by random access (``tfds.data_source``), which
needs the array_record files. This script converts a dataset that an older gwa-jax (or a plain
``tfds build``) prepared as TFRecord, in place: next to every
``<name>-<split>.tfrecord-XXXXX-of-YYYYY`` shard it writes
``<name>-<split>.array_record-XXXXX-of-YYYYY`` with the same records in the same order (so the
example ids do not change), checks the record counts against ``dataset_info.json`` and then
lists ``array_record`` among the dataset's ``alternativeFileFormats``. The TFRecord files are
kept (delete them afterwards to save space). Reading the TFRecords needs TensorFlow (the
environment that built the dataset has it); a shard that already exists is not rewritten, so
an interrupted run can be restarted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import _tfds_prepare as prep

STEPS = """
Example (ImageNet prepared as TFRecord in ~/tensorflow_datasets, ~150 GB more disk):
  python data_prep/convert_array_record.py imagenet2012
  python data_prep/convert_array_record.py --data_dir DIR imagenet2012 imagenet_v2
NAME is "dataset" or "dataset/config" (every prepared version is converted), or a version
directory holding dataset_info.json. Equivalent TFDS command (needs `pip install apache-beam`
for the tfds CLI in tensorflow-datasets 4.9.10):
  tfds convert_format --dataset_dir DIR/imagenet2012 --out_file_format array_record
"""

INFO_FILE = "dataset_info.json"
FORMAT = "array_record"


def version_dirs(data_dir: str, name: str) -> list[Path]:
    """The prepared version directories (holding ``dataset_info.json``) of ``name``."""
    root = Path(name) if Path(name, INFO_FILE).is_file() else Path(data_dir, name)
    if (root / INFO_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.glob(f"*/{INFO_FILE}"))
    found += sorted(p.parent for p in root.glob(f"*/*/{INFO_FILE}") if p.parent not in found)
    return found


def tfrecord_records(path: Path) -> Iterator[bytes]:
    """The serialized examples of one TFRecord shard, in file order (CRCs checked by TF)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    yield from tf.data.TFRecordDataset(str(path)).as_numpy_iterator()


def write_shard(src: Path, dst: Path) -> int:
    """Writes the records of TFRecord ``src`` to array_record ``dst``; returns their count."""
    from array_record.python.array_record_module import ArrayRecordWriter

    tmp = dst.with_name(dst.name + ".incomplete")
    writer = ArrayRecordWriter(str(tmp), "group_size:1")  # The options TFDS writes with.
    count = 0
    for record in tfrecord_records(src):
        writer.write(record)
        count += 1
    writer.close()
    os.replace(tmp, dst)
    return count


def convert_version_dir(version_dir: Path, dry_run: bool = False) -> None:
    """Converts every TFRecord shard of one prepared dataset version and updates its info."""
    info_path = version_dir / INFO_FILE
    info = json.loads(info_path.read_text())
    formats = [info.get("fileFormat", "tfrecord"), *info.get("alternativeFileFormats", [])]
    if FORMAT in formats:
        print(f"[convert] {version_dir}: already has {FORMAT}", flush=True)
        return
    for split in info.get("splits", []):
        _convert_split(version_dir, info["name"], split, dry_run)
    if dry_run:
        return
    info["alternativeFileFormats"] = [*info.get("alternativeFileFormats", []), FORMAT]
    tmp = info_path.with_name(INFO_FILE + ".incomplete")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, info_path)
    print(f"[convert] {version_dir}: done", flush=True)


def _convert_split(version_dir: Path, name: str, split: dict, dry_run: bool) -> None:
    lengths = [int(n) for n in split.get("shardLengths", [])]
    for index, expected in enumerate(lengths):
        suffix = f"{index:05d}-of-{len(lengths):05d}"
        src = version_dir / f"{name}-{split['name']}.tfrecord-{suffix}"
        dst = version_dir / f"{name}-{split['name']}.{FORMAT}-{suffix}"
        if not src.is_file():
            sys.exit(f"Missing TFRecord shard {src}; prepare the dataset again.")
        print(f"[convert] {src.name} -> {dst.name}", flush=True)
        if dry_run or dst.is_file():
            continue
        count = write_shard(src, dst)
        if count != expected:
            dst.unlink()
            sys.exit(f"{src} holds {count} records, dataset_info.json says {expected}.")


def main() -> None:
    p = prep.parser("a TFRecord build in the array_record format",
                    "Converts its TFRecord shards in place.", STEPS)
    p.add_argument("names", nargs="+", help="dataset, dataset/config or a version directory")
    args = p.parse_args()
    for name in args.names:
        dirs = version_dirs(args.data_dir, name)
        if not dirs:
            sys.exit(f"No prepared {name} under {args.data_dir} (no {INFO_FILE} found).")
        for version_dir in dirs:
            convert_version_dir(version_dir, args.dry_run)


if __name__ == "__main__":
    main()
