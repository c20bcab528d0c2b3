"""Writes a synthetic JPEG dataset as TFDS array_record files under ImageNet's builder names.

The files are those ``tfds`` would prepare for ``imagenet2012`` (train and validation),
``imagenet_v2`` (its default config, test) and ``imagenet2012_real`` (validation): the same
builder names, versions and features (read from TFDS's own builders), examples serialised by
TFDS's example serialiser and written by array_record's writer, ``dataset_info.json`` written
by TFDS. So ``configs/table1_imagenet_vit.py`` (and the ConvNeXt one) trains on it unchanged:

    python scripts/make_jpeg_records.py --data_dir /tmp/jpeg_tfds --train 10240 --validation 256
    gwa-train --config configs/table1_imagenet_vit.py:corrupted=False \\
        --config.dataset.data_dir=/tmp/jpeg_tfds --workdir /tmp/run

No TensorFlow is needed (numpy, Pillow, tensorflow-datasets, array_record). The images are
``--min-side``-``--max-side`` px on each side (default 400-500, ImageNet's typical size),
RGB, JPEG quality 90 with 4:2:0 chroma (about 70 kB each; ImageNet's average is ~110 kB at
fewer pixels): colour gradients, a few ellipses and rectangles and pixel noise, so that
decoding costs about what a photograph of that size costs. Labels cycle through the 1,000
classes (``label = id % 1000``); the ReaL labels are the original label plus, for every third
image, its neighbour class. Everything is a function of ``--seed`` and the example's split and
index: the same command writes the same files.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

NUM_CLASSES = 1000
#: (builder, split, example kind): what the ImageNet configs read.
SPLITS = {
    "imagenet2012": {"train": "train", "validation": "validation"},
    "imagenet_v2": {"test": "validation"},
    "imagenet2012_real": {"validation": "real"},
}
_SPLIT_SEED = {"train": 0, "validation": 1, "test": 2, "real": 3}


def synthetic_image(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (height, width, 3): a two-colour gradient, 3-6 shapes, noise of sd 10."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (x * np.float32(rng.uniform(-1, 1)) + y * np.float32(rng.uniform(-1, 1))) / (height + width)
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    image = a + (b - a) * (t[..., None] - t.min()) / max(float(np.ptp(t)), 1e-6)
    for _ in range(int(rng.integers(3, 7))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.05, 0.3) * height, rng.uniform(0.05, 0.3) * width
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        box = (slice(max(int(cy - ry), 0), int(cy + ry) + 1),
               slice(max(int(cx - rx), 0), int(cx + rx) + 1))
        inside = np.ones(image[box].shape[:2], bool)
        if rng.random() < 0.5:
            inside = ((y[box] - cy) / ry) ** 2 + ((x[box] - cx) / rx) ** 2 < 1
        part = image[box]
        part[inside] = 0.3 * part[inside] + 0.7 * colour
    image += 10 * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def example(kind: str, index: int, seed: int, min_side: int, max_side: int,
            quality: int) -> dict:
    """The ``index``-th example of a split of ``kind`` (see SPLITS): a dict of features."""
    rng = np.random.default_rng([seed, _SPLIT_SEED[kind], index])
    height, width = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
    buf = io.BytesIO()
    Image.fromarray(synthetic_image(height, width, rng), "RGB").save(
        buf, "JPEG", quality=quality, subsampling=2)
    label = index % NUM_CLASSES
    row = {"image": buf.getvalue(), "file_name": f"synthetic_{kind}_{index:08d}.JPEG"}
    if kind == "real":
        row["original_label"] = label
        row["real_label"] = [label] + ([(label + 1) % NUM_CLASSES] if index % 3 == 0 else [])
    else:
        row["label"] = label
    return row


def _chunk(args: tuple) -> list[dict]:
    kind, start, stop, *rest = args
    return [example(kind, i, *rest) for i in range(start, stop)]


def write_builder(name: str, counts: dict[str, int], data_dir: Path, *, seed: int,
                  min_side: int, max_side: int, quality: int, shards: int,
                  pool: ProcessPoolExecutor | None, overwrite: bool = False) -> dict[str, int]:
    """Writes the splits of one builder; returns the bytes written per split. An existing
    copy of the builder's version directory is replaced with ``overwrite``, else refused."""
    import tensorflow_datasets as tfds
    from array_record.python.array_record_module import ArrayRecordWriter
    from tensorflow_datasets.core import example_serializer

    builder = tfds.builder(name, data_dir=str(data_dir))
    version_dir = Path(builder.data_dir)
    if version_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{version_dir} exists; pass --overwrite to replace it")
        shutil.rmtree(version_dir)
        builder = tfds.builder(name, data_dir=str(data_dir))  # Not prepared any more.
    version_dir.mkdir(parents=True, exist_ok=True)
    features = builder.info.features
    serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
    infos, sizes = [], {}
    for split, n in counts.items():
        kind = SPLITS[name][split]
        template = tfds.core.ShardedFileTemplate(
            data_dir=version_dir, dataset_name=builder.name, split=split,
            filetype_suffix="array_record")
        num_shards = max(1, min(shards, n))
        bounds = np.linspace(0, n, num_shards + 1).astype(int)
        lengths, total = [], 0
        for shard, path in enumerate(template.sharded_filepaths(num_shards)):
            start, stop = int(bounds[shard]), int(bounds[shard + 1])
            step = 64
            jobs = [(kind, i, min(i + step, stop), seed, min_side, max_side, quality)
                    for i in range(start, stop, step)]
            chunks = pool.map(_chunk, jobs) if pool is not None else map(_chunk, jobs)
            writer = ArrayRecordWriter(os.fspath(path), "group_size:1")
            for rows in chunks:
                for row in rows:
                    encoded = features.encode_example({**row, "image": io.BytesIO(row["image"])})
                    writer.write(serializer.serialize_example(encoded))
            writer.close()
            lengths.append(stop - start)
            total += Path(path).stat().st_size
        infos.append(tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=total,
                                         filename_template=template))
        sizes[split] = total
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.info.set_file_format("array_record", override=True)
    builder.info.write_to_directory(version_dir)
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--data_dir", required=True, help="TFDS data dir to write into")
    p.add_argument("--train", type=int, default=10240, help="imagenet2012 train examples")
    p.add_argument("--validation", type=int, default=256,
                   help="examples of imagenet2012 validation, imagenet_v2 test and "
                        "imagenet2012_real validation (each)")
    p.add_argument("--min-side", type=int, default=400)
    p.add_argument("--max-side", type=int, default=500)
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--shards", type=int, default=4, help="array_record files per split")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that draw and encode the images (1: this one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace datasets written before")
    args = p.parse_args(argv)
    if args.train < 1 or args.validation < 1 or not 0 < args.min_side <= args.max_side:
        p.error("--train and --validation must be positive and 0 < --min-side <= --max-side")
    data_dir = Path(args.data_dir)
    t0 = time.perf_counter()
    common = {"seed": args.seed, "min_side": args.min_side, "max_side": args.max_side,
              "quality": args.quality, "shards": args.shards}
    counts = {"imagenet2012": {"train": args.train, "validation": args.validation},
              "imagenet_v2": {"test": args.validation},
              "imagenet2012_real": {"validation": args.validation}}
    pool = ProcessPoolExecutor(args.workers) if args.workers > 1 else None
    try:
        sizes = {name: write_builder(name, c, data_dir, pool=pool, overwrite=args.overwrite,
                                     **common)
                 for name, c in counts.items()}
    except FileExistsError as err:
        print(f"make_jpeg_records.py: error: {err}", file=sys.stderr)
        return 2
    finally:
        if pool is not None:
            pool.shutdown()
    report = {"data_dir": str(data_dir), "examples": counts, "bytes": sizes,
              "mean_train_record_bytes": round(sizes["imagenet2012"]["train"] / args.train),
              "seconds": round(time.perf_counter() - t0, 1), **common}
    print("MADE " + json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
