"""Train-step throughput with GWA on and off (same code path), plus a naive host-pull variant.

The primary figure times single steps of ``off`` and ``on``, each blocked, in random
alternating order, and compares the per-variant medians (robust to other processes on the
machine). Streaming repetitions (async dispatch, as in training) follow, with the naive
variant. Variants, all in one process so drift hits all alike:
  off    the train step with ``gwa_enabled=False`` (everything else identical)
  on     the train step with per-sample scores written into the on-device buffer
  naive  ``on``, plus the batch's scores pulled to the host after every step (what a typical
         training script does with a per-step metric)

    python scripts/bench_overhead.py --quick
    python scripts/bench_overhead.py --model vit_s16 --image-size 224 --batch-size 128
    python scripts/bench_overhead.py --quick --accumulate-steps 4   # 4 micro-batches per step

With ``--accumulate-steps K`` every variant uses ``optax.MultiSteps`` and splits each batch
into K micro-batches inside the step (``optim.accumulate_steps``), so the overhead is measured
on the accumulating step; throughput stays in images per optimiser-step batch.

Prints one line per repetition, a summary, and as its last line one JSON object with
``model``, ``device``, ``img_per_s_off``, ``img_per_s_on``, ``img_per_s_naive``,
``overhead_pct`` (from the median single-step times), ``naive_overhead_pct`` (streaming),
and the compiled step's FLOP count with and without GWA (XLA cost analysis).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import jax
import numpy as np
import optax

from gwa_jax import models
from gwa_jax.run.run_files import emit_report
from gwa_jax.train.grad_accum import accumulating_step, multi_steps
from gwa_jax.train.sharding import make_mesh, put_batch, replicated
from gwa_jax.train.step import EpochBuffers, create_train_state, make_train_step

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
    p.add_argument("--alt-steps", type=int, default=300,
                   help="steps per variant timed one by one in alternating order")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--accumulate-steps", type=int, default=1,
                   help="micro-batches per optimiser step (optax.MultiSteps)")
    p.add_argument("--quick", action="store_true", help="< 60 s on 2 CPU cores")
    p.add_argument("--out", default=None, help="also write the JSON line to this file")
    return p.parse_args()


def main() -> None:
    args = _parse()
    size, channels, classes, batch = PRESETS.get(args.model, (32, 3, 10, 128))
    size = args.image_size or size
    batch = args.batch_size or batch
    if args.quick:
        args.steps, args.reps, args.alt_steps = 6, 3, 160

    mesh = make_mesh()
    repl = replicated(mesh)
    overrides = {"stem_stride": 1} if args.model.startswith("convnext") and size <= 64 else {}
    model = models.create(args.model, classes, dtype=args.dtype, **overrides)
    accum = args.accumulate_steps
    if accum < 1 or batch % accum:
        raise SystemExit(f"bench_overhead.py: error: --accumulate-steps {accum} must be >= 1 "
                         f"and divide the batch size {batch}")
    tx = multi_steps(optax.adam(1e-4), accum)
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

    on_fn = accumulating_step(make_train_step(gwa_enabled=True), accum)
    carries = {name: fresh() for name in ("off", "on", "naive")}
    # Compile once; the compiled executables are both timed and asked for their FLOP count.
    steps, flops = {}, {}
    for name, fn in (("off", accumulating_step(make_train_step(gwa_enabled=False), accum)),
                     ("on", on_fn)):
        compiled = jax.jit(fn, donate_argnums=(0, 1)).lower(*carries[name], device_batch).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        flops[name] = float(cost.get("flops", float("nan"))) if cost else float("nan")
        steps[name] = compiled

    def naive(state, buffers, b):
        state, buffers = on_fn(state, buffers, b)
        return state, buffers, buffers.scores.values[b["id"]]

    naive_jit = jax.jit(naive, donate_argnums=(0, 1))

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

    for name in carries:  # Compile (naive) and warm up.
        run(name, 2)
    device = f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind} x{jax.device_count()}"
    print(f"model {args.model} {size}px batch {batch} (x{accum} micro-batches) on {device}; "
          f"{args.reps} reps x "
          f"{args.steps} steps, interleaved")
    # Primary estimate: single steps, each blocked, off/on in random alternating order; the
    # per-variant median step time is robust to interference from other processes.
    step_times: dict[str, list[float]] = {"off": [], "on": []}
    pair = ["off", "on"]
    for i in range(args.alt_steps):
        random.Random(1000 + i).shuffle(pair)
        for name in pair:
            st, bufs = carries[name]
            t0 = time.perf_counter()
            st, bufs = steps[name](st, bufs, device_batch)
            jax.block_until_ready(bufs)
            step_times[name].append(time.perf_counter() - t0)
            carries[name] = (st, bufs)
    med_step = {k: statistics.median(v) for k, v in step_times.items()}
    alt_overhead = 100.0 * (med_step["on"] - med_step["off"]) / med_step["off"]
    print(f"alternating single steps ({args.alt_steps} each): median off "
          f"{1e3 * med_step['off']:.2f} ms, on {1e3 * med_step['on']:.2f} ms -> "
          f"{alt_overhead:+.3f}%")

    # Secondary: streaming repetitions (async dispatch, as in training), with the naive variant.
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
    best = {k: max(v) for k, v in results.items()}
    spread = {k: (min(v), max(v)) for k, v in results.items()}
    out = {
        "model": args.model,
        "image_size": size,
        "batch_size": batch,
        "accumulate_steps": accum,
        "device": device,
        "reps": args.reps,
        "steps_per_rep": args.steps,
        "img_per_s_off": round(batch / med_step["off"], 2),
        "img_per_s_on": round(batch / med_step["on"], 2),
        "overhead_pct": round(alt_overhead, 3),
        "alt_steps": args.alt_steps,
        "stream_img_per_s_off": round(med["off"], 2),
        "stream_img_per_s_on": round(med["on"], 2),
        "img_per_s_naive": round(med["naive"], 2),
        "spread_off": [round(x, 2) for x in spread["off"]],
        "spread_on": [round(x, 2) for x in spread["on"]],
        "stream_overhead_pct_paired_median": round(statistics.median(paired), 3),
        "stream_overhead_pct_best_of_reps": round(
            100.0 * (best["off"] - best["on"]) / best["off"], 3),
        "flops_per_step_off": flops["off"],
        "flops_per_step_on": flops["on"],
        "flops_overhead_pct": round(100.0 * (flops["on"] - flops["off"]) / flops["off"], 4),
        "naive_overhead_pct": round(statistics.median(paired_naive), 3),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    print(f"GWA overhead {out['overhead_pct']:+.3f}% (median single-step times); streaming "
          f"img/s off {med['off']:.1f}, on {med['on']:.1f}, naive {med['naive']:.1f} (paired "
          f"{out['stream_overhead_pct_paired_median']:+.3f}%, naive host pull "
          f"{out['naive_overhead_pct']:+.3f}%); XLA flops +{out['flops_overhead_pct']:.4f}%")
    emit_report(out, args.out)


if __name__ == "__main__":
    main()
