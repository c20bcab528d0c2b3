"""Throughput of the Fashion-MNIST training stream (images/s), batch 128, on this machine.

Measures ``build_data(config).train.epoch(e)`` end to end (tf.data pipeline, prefetch, numpy
conversion), after a warm-up of a few batches (graph tracing), for three settings: no
augmentation, pad-crop + flip (the quickstart path), and pad-crop + flip + RandAugment
(2 ops, magnitude 1). Prints one line per setting and a final JSON line; ``--out`` also writes
the JSON to a file.

    python scripts/bench_loader.py --out results/bench/loader_fmnist.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from gwa_jax.config_base import default_config  # noqa: E402
from gwa_jax.data import build_data  # noqa: E402
from gwa_jax.run_files import emit_report  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--images", type=int, default=120_000, help="images per fast setting")
    parser.add_argument("--randaug_images", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=5, help="batches excluded (tracing)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    settings = [
        ("none", {}, args.images),
        ("crop+flip", {"crop": "pad_crop", "flip": True}, args.images),
        (
            "crop+flip+randaug(2, m=1)",
            {"crop": "pad_crop", "flip": True, "randaug_num_ops": 2, "randaug_magnitude": 1},
            args.randaug_images,
        ),
    ]
    print(f"Fashion-MNIST training stream, batch {args.batch_size}, {os.cpu_count()} CPU cores, "
          f"TF {tf.__version__}", flush=True)
    results = [measure(n, a, i, args.warmup, args.batch_size) for n, a, i in settings]
    report = {
        "benchmark": "loader_fmnist",
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
        "results": results,
    }
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
