"""Train-step throughput with GWA on and off (same code path), plus a naive host-pull variant.

Variants, timed interleaved in one process so drift hits all alike:
  off    the train step with ``gwa_enabled=False`` (everything else identical)
  on     the train step with per-sample scores written into the on-device buffer
  naive  ``on``, plus the batch's scores pulled to the host after every step (what a typical
         training script does with a per-step metric)

    python scripts/bench_overhead.py --quick
    python scripts/bench_overhead.py --model vit_s16 --image-size 224 --batch-size 128

Prints one line per repetition, a summary, and as its last line one JSON object with
``model``, ``device``, ``img_per_s_off``, ``img_per_s_on``, ``img_per_s_naive``,
``overhead_pct`` (median of the per-repetition paired overheads of ``on`` vs ``off``) and
``naive_overhead_pct``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from gwa_jax import models  # noqa: E402
from gwa_jax.sharding import make_mesh, put_batch, replicated  # noqa: E402
from gwa_jax.train import EpochBuffers, create_train_state, make_train_step  # noqa: E402

PRESETS = {  # model -> (image size, channels, classes, batch size)
    "vit_fmnist": (28, 1, 10, 128),
    "convnext_fmnist": (28, 1, 10, 128),
    "vit_cifar4": (32, 3, 10, 256),
    "convnext_pico": (32, 3, 10, 512),
    "vit_s16": (224, 3, 1000, 128),
}


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vit_fmnist", help=f"registry name; presets: {list(PRESETS)}")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--num-ids", type=int, default=60000, help="size of the per-sample buffers")
    p.add_argument("--steps", type=int, default=20, help="steps per timed measurement")
    p.add_argument("--reps", type=int, default=15, help="interleaved repetitions")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--quick", action="store_true", help="< 60 s on 2 CPU cores")
    p.add_argument("--out", default=None, help="also write the JSON line to this file")
    return p.parse_args()


def main() -> None:
    args = _parse()
    size, channels, classes, batch = PRESETS.get(args.model, (32, 3, 10, 128))
    size = args.image_size or size
    batch = args.batch_size or batch
    if args.quick:
        args.steps, args.reps = 8, 9

    mesh = make_mesh()
    repl = replicated(mesh)
    overrides = {"stem_stride": 1} if args.model.startswith("convnext") and size <= 64 else {}
    model = models.create(args.model, classes, dtype=args.dtype, **overrides)
    tx = optax.adam(1e-4)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    host_batch = {
        "image": rng.random((batch, size, size, channels), dtype=np.float32),
        "label": labels,
        "target": np.eye(classes, dtype=np.float32)[labels],
        "id": rng.permutation(args.num_ids)[:batch].astype(np.int32),
    }
    device_batch = put_batch(host_batch, mesh)

    def fresh():
        st = jax.device_put(create_train_state(model, tx, (size, size, channels), 0), repl)
        return st, jax.device_put(EpochBuffers.create(args.num_ids), repl)

    on_fn = make_train_step(gwa_enabled=True)
    steps = {
        "off": jax.jit(make_train_step(gwa_enabled=False), donate_argnums=(0, 1)),
        "on": jax.jit(on_fn, donate_argnums=(0, 1)),
    }

    def naive(state, buffers, b):
        state, buffers = on_fn(state, buffers, b)
        return state, buffers, buffers.scores.values[b["id"]]

    naive_jit = jax.jit(naive, donate_argnums=(0, 1))
    carries = {name: fresh() for name in ("off", "on", "naive")}

    def run(name: str, n: int) -> float:
        st, bufs = carries[name]
        t0 = time.perf_counter()
        for _ in range(n):
            if name == "naive":
                st, bufs, scores = naive_jit(st, bufs, device_batch)
                np.asarray(scores)  # Per-step device-to-host transfer (blocks).
            else:
                st, bufs = steps[name](st, bufs, device_batch)
        jax.block_until_ready((st, bufs))
        carries[name] = (st, bufs)
        return n * batch / (time.perf_counter() - t0)

    for name in carries:  # Compile and warm up.
        run(name, 2)
    device = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind} x{jax.device_count()}"
    print(f"model {args.model} {size}px batch {batch} on {device}; {args.reps} reps x "
          f"{args.steps} steps, interleaved")
    results: dict[str, list[float]] = {k: [] for k in carries}
    paired, paired_naive = [], []
    order = list(carries)
    for r in range(args.reps):
        random.Random(r).shuffle(order)
        rep = {name: run(name, args.steps) for name in order}
        for k, v in rep.items():
            results[k].append(v)
        paired.append(100.0 * (rep["off"] - rep["on"]) / rep["off"])
        paired_naive.append(100.0 * (rep["off"] - rep["naive"]) / rep["off"])
        print(f"rep {r:2d}: off {rep['off']:9.1f}  on {rep['on']:9.1f}  naive {rep['naive']:9.1f}"
              f" img/s  overhead {paired[-1]:+.2f}%  naive {paired_naive[-1]:+.2f}%")

    med = {k: statistics.median(v) for k, v in results.items()}
    spread = {k: (min(v), max(v)) for k, v in results.items()}
    out = {
        "model": args.model,
        "image_size": size,
        "batch_size": batch,
        "device": device,
        "reps": args.reps,
        "steps_per_rep": args.steps,
        "img_per_s_off": round(med["off"], 2),
        "img_per_s_on": round(med["on"], 2),
        "img_per_s_naive": round(med["naive"], 2),
        "spread_off": [round(x, 2) for x in spread["off"]],
        "spread_on": [round(x, 2) for x in spread["on"]],
        "overhead_pct": round(statistics.median(paired), 3),
        "overhead_pct_of_medians": round(100.0 * (med["off"] - med["on"]) / med["off"], 3),
        "naive_overhead_pct": round(statistics.median(paired_naive), 3),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    print(f"median img/s: off {med['off']:.1f}, on {med['on']:.1f}, naive {med['naive']:.1f}; "
          f"GWA overhead {out['overhead_pct']:+.3f}% (paired median), naive host pull "
          f"{out['naive_overhead_pct']:+.3f}%")
    line = json.dumps(out)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
