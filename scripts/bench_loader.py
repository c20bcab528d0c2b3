"""Throughput of the training input pipeline (images/s) on this machine.

``--preset fmnist`` (default): the Fashion-MNIST training stream, batch 128. Measures
``build_data(config).train.epoch(e)`` end to end (tf.data pipeline, prefetch, numpy
conversion), after a warm-up of a few batches (graph tracing), for three settings: no
augmentation, pad-crop + flip (the quickstart path), and pad-crop + flip + RandAugment
(2 ops, magnitude 1). Prints one line per setting and a final JSON line; ``--out`` also writes
the JSON to a file.

    python scripts/bench_loader.py --out results/bench/loader_fmnist.json

``--preset imagenet``: the ImageNet training stream as ``configs/table1_imagenet_vit.py``
builds it with ``augment.randaug_ops=timm14`` (TFDS read, JPEG decode, inception crop 224,
flip, the TensorFlow RandAugment(2, 10), mixup 0.2's per-batch key: the mix itself runs in
the train step; batch 1024) on synthetic 375x500 JPEGs written to a temporary TFDS dataset,
for the current implementation (``fast``) and the first one (``reference``, same pixels),
interleaved in one process: img/s, img/s per core (images per CPU second), each stage's
share, and a peer pipeline with ``keras.layers.RandAugment``. In the same run, the host part
of the same stream with ``augment.on_device`` (``device``: RandAugment, the [-1, 1] map and
mixup left to the accelerator's train step), its agreement with the host pipeline's batches,
and the XLA cost of the device part.

    python scripts/bench_loader.py --preset imagenet --out results/bench/loader_imagenet.json
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from gwa_jax.config_base import default_config  # noqa: E402
from gwa_jax.data import augment, build_data, tfds_io  # noqa: E402
from gwa_jax.data.preprocess import Preprocess, decode_inception_window  # noqa: E402
from gwa_jax.data.registry import get_spec  # noqa: E402
from gwa_jax.data.train import TfdsTrainStream  # noqa: E402
from gwa_jax.run_files import emit_report  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "configs"))
import table1_imagenet_vit  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
IMPLS = ("reference", "fast")
FULL = "+mixup (full preset)"


def measure(name: str, augment: dict, images: int, warmup: int, batch_size: int) -> dict:
    """Streams about ``images`` training images after ``warmup`` batches; returns stats."""
    config = default_config()
    config.batch_size = batch_size
    for key, value in augment.items():
        config.augment[key] = value
    data = build_data(config)
    steps = data.info.steps_per_epoch
    target = max(1, images // batch_size)
    seen, epoch, start, shape = 0, 0, None, None
    while seen < target:
        for i, batch in enumerate(data.train.epoch(epoch)):
            shape = batch["image"].shape
            if start is None and i + 1 == warmup:
                start = time.perf_counter()
                continue
            if start is not None:
                seen += 1
                if seen >= target:
                    break
        epoch += 1
    seconds = time.perf_counter() - start
    rate = seen * batch_size / seconds
    assert shape == (batch_size, 28, 28, 1)
    print(f"{name:<28s} {rate:10.0f} img/s  ({seen} batches of {batch_size}, {seconds:.2f} s, "
          f"{steps} steps/epoch)", flush=True)
    return {"setting": name, "augment": augment, "images_per_s": round(rate, 1),
            "batches": seen, "seconds": round(seconds, 3)}


# --- ImageNet preset ---------------------------------------------------------------------------

SYNTH_SHAPE = (375, 500)  # The most common ImageNet training image size (H, W).


def _synthetic_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct 375x500 RGB JPEGs (quality 90, 4:2:0): smooth waves plus noise, about
    the size (~75 kB) and entropy of ImageNet photos."""
    rng = np.random.default_rng(seed)
    h, w = SYNTH_SHAPE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(count):
        f = rng.uniform(0.005, 0.05, (3, 2)).astype(np.float32)
        image = np.stack([127 + 100 * np.sin(f[c, 0] * x + f[c, 1] * y + i) for c in range(3)], -1)
        image += rng.normal(0, 12, image.shape).astype(np.float32)
        out.append(tf.io.encode_jpeg(np.clip(image, 0, 255).astype(np.uint8), quality=90).numpy())
    return out


class GwaBenchJpegs(tfds.core.GeneratorBasedBuilder):
    """Synthetic ImageNet-like TFDS dataset: JPEG images stored as they are (no re-encoding)."""

    VERSION = tfds.core.Version("1.0.0")
    NUM_EXAMPLES = 1024
    JPEGS: list[bytes] = []

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(num_classes=1000),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(self.NUM_EXAMPLES):
            yield i, {"image": io.BytesIO(self.JPEGS[i % len(self.JPEGS)]), "label": i % 1000}


def _imagenet_stream(builder, config, preprocess) -> TfdsTrainStream:
    index = tfds_io.label_index(builder, "train", ("label",), "n/a", None)
    n = len(index["label"])
    return TfdsTrainStream(
        builder, "train", index["shard_offsets"], "n/a",
        split=np.zeros(n, np.int8), train_labels=index["label"], true_labels=index["label"],
        num_classes=1000, batch_size=config.batch_size, eval_batch_size=config.batch_size,
        seed=0, preprocess=preprocess,
    )


def _time_epoch(stream: TfdsTrainStream, epoch: int) -> dict:
    """Builds (traces) and then runs one epoch; the rates count the run only.

    ``cpu_s`` is the CPU time of this process while the epoch runs (all tf.data threads):
    images / cpu_s is the rate per core, little affected by other jobs on the machine.
    """
    ds = stream.dataset(epoch)  # Traces the map functions (a one-off per epoch).
    w0, c0 = time.perf_counter(), time.process_time()
    images = 0
    for batch in ds.as_numpy_iterator():
        images += batch["image"].shape[0]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"images": images, "wall_s": wall, "cpu_s": cpu}


def _keras_peer(builder, config, images: int, batch: int) -> dict:
    """Fused decode_and_crop_jpeg + inception crop + flip per example, keras.layers.RandAugment
    (2 ops, factor 1.0 = strength drawn in [0, 1], value_range 0-255) per batch (its intended
    use; one op choice per batch), no mixup (the project mixes in the train step); same
    synthetic files."""
    import keras  # noqa: PLC0415

    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=1.0, seed=0)
    size = config.dataset.image_size
    key = tf.constant([0, 0], tf.int64)

    def crop(example):
        encoded = example["image"]
        seed = augment.fold_in(key, example["label"])
        shape = tf.concat([tf.image.extract_jpeg_shape(encoded)[:2], [3]], 0)
        begin, window = augment.inception_window(shape, seed)
        image = tf.image.decode_and_crop_jpeg(
            encoded, tf.concat([begin[:2], window[:2]], 0), channels=3
        )
        image = augment.resize_crop(tf.ensure_shape(image, [None, None, 3]), size)
        return augment.flip(image, seed), example["label"]

    def finish(x, label):
        x = layer(x, training=True)
        return augment.to_model_range(x), augment.smooth_one_hot(label, 1000, 0.0)

    ds = builder.as_dataset(split="train", decoders={"image": tfds.decode.SkipDecoding()})
    ds = ds.take(images).map(crop, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch, drop_remainder=True).map(finish, num_parallel_calls=AUTOTUNE)
    ds = ds.prefetch(AUTOTUNE)
    for _ in ds.take(1):  # Warm-up: graph and layer build.
        pass
    w0, c0 = time.perf_counter(), time.process_time()
    count = 0
    for x, _ in ds.as_numpy_iterator():
        count += x.shape[0]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"images": count, "wall_s": wall, "cpu_s": cpu}


def _floor_stream(builder, config, stage: str) -> tf.data.Dataset:
    """The fixed cost under any pipeline with the same pixels: read + parse (``read``), plus
    the fast path's window decode (``decode``: ``preprocess.decode_inception_window``), plus
    the bilinear resize to 224 (``resize``). Each image is reduced to one of its values (not
    its shape, which graph optimisation would compute without running the decode), so the
    decode and the resize run in full."""
    size = config.dataset.image_size
    key = tf.constant([0, 0], tf.int64)

    def one(example):
        encoded = example["image"]
        if stage == "read":
            return tf.cast(tf.strings.length(encoded), tf.float32)
        seed = augment.fold_in(key, example["label"])
        crop = decode_inception_window(encoded, seed, 3)
        if stage == "decode":
            return tf.cast(crop[0, 0, 0], tf.float32)
        out = augment.resize_crop(tf.ensure_shape(crop, [None, None, 3]), size)
        return out[size // 2, size // 2, 0]

    ds = builder.as_dataset(split="train", decoders={"image": tfds.decode.SkipDecoding()})
    return ds.map(one, num_parallel_calls=AUTOTUNE).batch(256).prefetch(AUTOTUNE)


FLOOR_STAGES = ("read", "decode", "resize")


def _time_floor(builder, config, stage: str) -> dict:
    ds = _floor_stream(builder, config, stage)
    for _ in ds.take(1):  # Warm-up: tracing.
        pass
    w0, c0 = time.perf_counter(), time.process_time()
    images = sum(int(b.shape[0]) for b in ds.as_numpy_iterator())
    return {"images": images, "wall_s": time.perf_counter() - w0,
            "cpu_s": time.process_time() - c0}


def _device_agreement(builder, config, full: Preprocess, batch_size: int, batches: int) -> dict:
    """The host pipeline's batches (``fast``) against the ``on_device`` host part finished by
    ``device_finish`` (jitted, here on the CPU) for the first ``batches`` batches of epoch 0,
    and the XLA cost of the device part per image."""
    import jax  # noqa: PLC0415

    cfg = config.copy_and_resolve_references()
    cfg.batch_size = batch_size
    host = _imagenet_stream(builder, cfg, full)
    dev = _imagenet_stream(builder, cfg, dataclasses.replace(full, on_device=True))
    finish = jax.jit(dev.device_finish())
    host_finish = host.device_finish()  # Mixup runs on the device in both.
    host_finish = jax.jit(host_finish) if host_finish else None
    diffs, levels, elements, first = [], 0, 0, None
    for x, raw in zip(host.epoch(0), dev.epoch(0), strict=False):  # Stops at `batches`.
        first = first or raw
        x = jax.device_get(host_finish(x)) if host_finish else x
        z = jax.device_get(finish(raw))
        diff = np.abs(z["image"] - x["image"])
        diffs.append(diff)
        levels += int(np.sum(diff > 1.0 / 127.5 / 2))  # Half a level of [0, 255].
        elements += diff.size
        assert np.array_equal(z["id"], x["id"]) and np.allclose(z["target"], x["target"])
        if len(diffs) == batches:
            break
    diff = np.concatenate([d.ravel() for d in diffs])
    cost = finish.lower(first).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return {
        "batches": len(diffs),
        "batch_size": batch_size,
        "elements": elements,
        "max_abs_diff_model_range": float(diff.max()),
        "fraction_within_2.5e-7": float(np.mean(diff <= 2.5e-7)),
        "fraction_off_by_half_a_level_or_more": levels / elements,
        "xla_flops_per_image": float(cost.get("flops", float("nan"))) / batch_size,
        "xla_bytes_accessed_per_image": float(cost.get("bytes accessed", float("nan")))
        / batch_size,
        "note": "|device - host| on the model's [-1, 1] inputs; a level is 1/127.5. XLA cost "
                "of device_finish compiled for this machine's CPU (an estimate of the work, "
                "not a GPU measurement)",
    }


def _rates(runs: list[dict]) -> dict:
    images = sum(r["images"] for r in runs)
    wall = sum(r["wall_s"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return {
        "images": images,
        "images_per_s": round(images / wall, 1),
        "images_per_cpu_s": round(images / cpu, 1),
        "cpu_ms_per_image": round(1e3 * cpu / images, 3),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
    }


def bench_imagenet(args) -> dict:
    """Old (reference) vs new implementation of the Table 1 ImageNet stream, interleaved."""
    config = table1_imagenet_vit.get_config()
    # The TensorFlow RandAugment (timm14) is what the host implementations below run; the
    # authors' RandAugment exists in JAX only (train step).
    config.augment.randaug_ops = "timm14"
    if args.batch_size:
        config.batch_size = args.batch_size
    full = Preprocess.from_config(get_spec("imagenet2012"), config)
    stages = {  # Cumulative: each adds one stage to the previous one.
        "decode+crop+flip": dataclasses.replace(full, randaug_num_ops=0, mixup=0.0),
        "+randaugment": dataclasses.replace(full, mixup=0.0),
        "+mixup (full preset)": full,
    }
    GwaBenchJpegs.JPEGS = _synthetic_jpegs(args.distinct_jpegs)
    GwaBenchJpegs.NUM_EXAMPLES = args.epoch_images
    with tempfile.TemporaryDirectory() as data_dir:
        builder = GwaBenchJpegs(data_dir=data_dir)
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=4))
        runs = {(impl, name): [] for impl in IMPLS for name in stages}
        runs[("device", FULL)] = []
        floor_runs: dict[str, list[dict]] = {}
        for epoch in range(args.warmup_epochs):  # Untimed: one-off costs of a process.
            for impl in (*IMPLS, "device"):
                pre_impl = dataclasses.replace(full, reference=impl == "reference",
                                               on_device=impl == "device")
                _time_epoch(_imagenet_stream(builder, config, pre_impl), 1000 + epoch)
        for rep in range(args.reps):
            for name, pre in stages.items():
                impls = IMPLS + (("device",) if name == FULL else ())
                for impl in impls if rep % 2 == 0 else impls[::-1]:
                    pre_impl = dataclasses.replace(pre, reference=impl == "reference",
                                                   on_device=impl == "device")
                    stream = _imagenet_stream(builder, config, pre_impl)
                    r = _time_epoch(stream, rep)
                    runs[(impl, name)].append(r)
                    print(f"rep {rep} {impl:<9s} {name:<22s} {r['images'] / r['wall_s']:7.1f} "
                          f"img/s  {r['images'] / r['cpu_s']:7.1f} img/cpu-s", flush=True)
            for stage in FLOOR_STAGES:
                floor_runs.setdefault(stage, []).append(_time_floor(builder, config, stage))
        agreement = _device_agreement(builder, config, full, args.agreement_batch,
                                      args.agreement_batches)
        print(f"on_device agreement: {agreement}", flush=True)
        peer = None
        if args.peer_images:
            peer = _rates([_keras_peer(builder, config, args.peer_images, args.peer_batch)])
            print(f"keras peer {peer['images_per_s']:.1f} img/s", flush=True)
    results = {}
    for impl in IMPLS:
        rates = {name: _rates(runs[(impl, name)]) for name in stages}
        ms = [rates[name]["cpu_ms_per_image"] for name in stages]
        shares = np.diff([0.0, *ms]) / ms[-1]
        results[impl] = {
            "stages": rates,
            "stage_share_of_cpu_time": {
                "decode/crop/flip (with read, shuffle, batching)": round(float(shares[0]), 3),
                "randaugment": round(float(shares[1]), 3),
                "mixup": round(float(shares[2]), 3),
            },
            "full_images_per_cpu_s": rates["+mixup (full preset)"]["images_per_cpu_s"],
        }

    def paired(a: str, b: str) -> list[float]:
        return [round((r["cpu_s"] / r["images"]) / (f["cpu_s"] / f["images"]), 3)
                for r, f in zip(runs[(a, FULL)], runs[(b, FULL)], strict=True)]

    device = _rates(runs[("device", FULL)])
    device_rate = device["images_per_cpu_s"]
    ref_rate = results["reference"]["full_images_per_cpu_s"]
    cores = os.cpu_count()
    fast_rate = results["fast"]["full_images_per_cpu_s"]
    floor = {stage: _rates(r) for stage, r in floor_runs.items()}
    ref_ms = results["reference"]["stages"]["+mixup (full preset)"]["cpu_ms_per_image"]
    fast_ms = results["fast"]["stages"]["+mixup (full preset)"]["cpu_ms_per_image"]
    floor_ms = floor["resize"]["cpu_ms_per_image"]
    return {
        "benchmark": "loader_imagenet",
        "config": "configs/table1_imagenet_vit.py (also table1_imagenet_convnext.py: same augment)",
        "batch_size": config.batch_size,
        "augment": config.augment.to_dict(),
        "images": f"{args.distinct_jpegs} distinct synthetic {SYNTH_SHAPE[0]}x{SYNTH_SHAPE[1]} "
                  f"JPEGs (quality 90, 4:2:0) cycled to {args.epoch_images} examples in a "
                  "4-shard TFDS dataset read by TfdsTrainStream",
        "reps": args.reps,
        "warmup_epochs": args.warmup_epochs,
        "cpu_count": cores,
        "machine": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
        "per_core_note": "images_per_cpu_s = images / CPU seconds of the process (all tf.data "
                         "threads) while the epoch runs; graph tracing excluded",
        "results": results,
        "speedup_full_preset_per_core": round(fast_rate / ref_rate, 3),
        "speedup_paired_per_rep": paired("reference", "fast"),
        "on_device": {
            "note": "host part of the full preset with augment.on_device (RandAugment, the "
                    "[-1, 1] map and mixup run in the accelerator's train step): same stream, "
                    "same run, interleaved with the two host implementations",
            "host_part": device,
            "speedup_per_core_vs_reference": round(device_rate / ref_rate, 3),
            "speedup_per_core_vs_fast": round(device_rate / fast_rate, 3),
            "paired_per_rep_vs_reference": paired("reference", "device"),
            "paired_per_rep_vs_fast": paired("fast", "device"),
            "agreement_with_host_pipeline": agreement,
        },
        "h100_feed": {
            "assumed_h100_vit_s16_images_per_s": args.h100_rate,
            "host_cores": 16,
            "needed_images_per_core_s": round(args.h100_rate / 16, 1),
            "fast_images_per_core_s": fast_rate,
            "cores_needed_at_fast_rate": round(args.h100_rate / fast_rate, 1),
            "on_device_images_per_core_s": device_rate,
            "cores_needed_on_device": round(args.h100_rate / device_rate, 1),
        },
        "floor": {
            "note": "CPU ms per image of what every pipeline with the same pixels must do: "
                    "read + parse, + window decode (decode_and_crop_jpeg), + bilinear resize "
                    "to 224; measured in the same run",
            "stages": floor,
            "reference_ms": ref_ms,
            "fast_ms": fast_ms,
            "budget_ms_for_2x": round(ref_ms / 2, 3),
            "decode_resize_floor_ms": floor_ms,
            "left_for_flip_randaug_mixup_batching_ms": round(ref_ms / 2 - floor_ms, 3),
            "fast_spends_there_ms": round(fast_ms - floor_ms, 3),
        },
        "peer_keras_randaugment": peer,
        "peer_batch_size": args.peer_batch,
        "skipped_peers": {
            "torchvision/timm RandAugment (PIL)": "needs torch, which gwa-jax does not depend on",
        },
    }


# --- Command line ------------------------------------------------------------------------------


def bench_fmnist(args) -> dict:
    batch_size = args.batch_size or 128
    settings = [
        ("none", {}, args.images),
        ("crop+flip", {"crop": "pad_crop", "flip": True}, args.images),
        (
            "crop+flip+randaug(2, m=1)",
            {"crop": "pad_crop", "flip": True, "randaug_ops": "timm14", "randaug_num_ops": 2,
             "randaug_magnitude": 1},
            args.randaug_images,
        ),
    ]
    print(f"Fashion-MNIST training stream, batch {batch_size}, {os.cpu_count()} CPU cores, "
          f"TF {tf.__version__}", flush=True)
    results = [measure(n, a, i, args.warmup, batch_size) for n, a, i in settings]
    return {
        "benchmark": "loader_fmnist",
        "batch_size": batch_size,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("fmnist", "imagenet"), default="fmnist")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="default: 128 (fmnist), the config's 1024 (imagenet)")
    parser.add_argument("--images", type=int, default=120_000,
                        help="fmnist: images per fast setting")
    parser.add_argument("--randaug_images", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=5, help="fmnist: batches excluded (tracing)")
    parser.add_argument("--reps", type=int, default=3, help="imagenet: interleaved repetitions")
    parser.add_argument("--warmup_epochs", type=int, default=1,
                        help="imagenet: untimed epochs of each full-preset stream first (the "
                             "first epoch in a process pays one-off costs)")
    parser.add_argument("--epoch_images", type=int, default=1024,
                        help="imagenet: examples in the synthetic dataset (one epoch)")
    parser.add_argument("--distinct_jpegs", type=int, default=256)
    parser.add_argument("--peer_images", type=int, default=256,
                        help="imagenet: images for the Keras peer (0 skips it)")
    parser.add_argument("--peer_batch", type=int, default=64)
    parser.add_argument("--agreement_batch", type=int, default=64,
                        help="imagenet: batch size of the on_device agreement check")
    parser.add_argument("--agreement_batches", type=int, default=4)
    parser.add_argument("--h100_rate", type=float, default=6000.0,
                        help="imagenet: ViT/S-16 train-step img/s of one H100 (estimate)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    report = bench_imagenet(args) if args.preset == "imagenet" else bench_fmnist(args)
    report["command"] = "python " + " ".join(sys.argv)
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
