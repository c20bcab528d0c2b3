"""Where the quickstart's wall time goes: step compute, input pipeline, eval, epoch end, ckpt.

Measures, with the quickstart config (or another, via --config):
  step_only     train steps on one batch already on the device (pure compute)
  with_loader   one epoch through the real input pipeline + device prefetch
  eval          the test-set evaluation of one epoch
  epoch_end     the per-epoch fetch of the buffers + GWA + writing scores and metrics
  gwa_se        GWA's bootstrap standard error from the epoch's scores (--resamples)
  checkpoint    starting the async `latest` save, and waiting for it

    python scripts/profile_quickstart.py --out results/bench/profile_quickstart.json

Input-pipeline stall per step = with_loader - step_only (what makes the device wait).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time

import jax
import numpy as np

from gwa_jax import models
from gwa_jax.accumulator import summarize_scores
from gwa_jax.data import build_data
from gwa_jax.run.checkpoints import RunCheckpoints
from gwa_jax.run.run_files import (
    MetricsLog,
    emit_report,
    save_npy,
)
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.sharding import make_mesh, prefetch_to_mesh, put_batch, replicated
from gwa_jax.train.step import (
    EpochBuffers,
    create_train_state,
    eval_step,
    finish_then,
    make_train_step,
    model_overrides,
)
from gwa_jax.train.trainer import evaluate_accuracy
from gwa_jax.uncertainty import gwa_standard_error


def _load_config(path: str):
    spec = importlib.util.spec_from_file_location("cfg", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/quickstart.py")
    p.add_argument("--epochs", type=int, default=3, help="epochs to average over")
    p.add_argument("--resamples", type=int, default=None,
                   help="bootstrap resamples for gwa_se (default: the config's)")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    config = _load_config(args.config)
    resamples = args.resamples or config.gwa.bootstrap_resamples
    t = time.perf_counter()
    data = build_data(config)
    t_build = time.perf_counter() - t
    info = data.info
    mesh = make_mesh()
    repl = replicated(mesh)
    model = models.create(config.model.name, info.num_classes, **model_overrides(config.model))
    tx, _ = make_optimizer(config.optim, config.total_steps)
    state = jax.device_put(create_train_state(model, tx, tuple(info.image_shape), 0), repl)
    buffers = jax.device_put(EpochBuffers.create(info.num_ids), repl)
    step = jax.jit(finish_then(make_train_step(), data.train.device_finish(), batch_arg=2),
                   donate_argnums=(0, 1), out_shardings=(repl, repl))
    eval_fn = jax.jit(lambda params, b: eval_step(model.apply, params, b))
    n = info.steps_per_epoch

    first = put_batch(next(iter(data.train.epoch(0))), mesh)
    t = time.perf_counter()
    state, buffers = step(state, buffers, first)
    jax.block_until_ready(buffers)
    t_compile = time.perf_counter() - t
    evaluate_accuracy(eval_fn, state.params, data.tests["test"], mesh)  # Compile eval.

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpts = RunCheckpoints(tmp, ("latest",))
        log = MetricsLog(os.path.join(tmp, "metrics.jsonl"))
        for epoch in range(1, args.epochs + 1):
            t = time.perf_counter()
            for _ in range(n):
                state, buffers = step(state, buffers, first)
            jax.block_until_ready(buffers)
            step_only = time.perf_counter() - t

            t = time.perf_counter()
            for batch in prefetch_to_mesh(data.train.epoch(epoch), mesh):
                state, buffers = step(state, buffers, batch)
            jax.block_until_ready(buffers)
            with_loader = time.perf_counter() - t

            t = time.perf_counter()
            evaluate_accuracy(eval_fn, state.params, data.tests["test"], mesh)
            t_eval = time.perf_counter() - t

            t = time.perf_counter()
            host = jax.device_get(buffers)
            ep = summarize_scores(host.scores.values, host.scores.seen)
            save_npy(os.path.join(tmp, f"epoch_{epoch:04d}.npy"), ep.scores)
            log.append({"epoch": epoch, "gwa": ep.gwa})
            t_end = time.perf_counter() - t

            t = time.perf_counter()
            gwa_standard_error(ep.scores, num_resamples=resamples, seed=0, epoch=epoch)
            t_se = time.perf_counter() - t

            t = time.perf_counter()
            ckpts.save("latest", epoch, {"state": state}, {"epoch": epoch})
            t_ckpt_start = time.perf_counter() - t
            ckpts.wait()
            t_ckpt_total = time.perf_counter() - t
            rows.append(dict(step_only=step_only, with_loader=with_loader, eval=t_eval,
                             epoch_end=t_end, gwa_se=t_se, ckpt_start=t_ckpt_start,
                             ckpt_total=t_ckpt_total))
        ckpts.close()

    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    imgs = n * config.batch_size
    out = {
        "config": args.config,
        "device": f"{jax.devices()[0].platform} x{jax.device_count()}",
        "steps_per_epoch": n,
        "batch_size": config.batch_size,
        "build_data_s": round(t_build, 3),
        "first_step_compile_s": round(t_compile, 3),
        "median_epoch_s": {k: round(v, 4) for k, v in med.items()},
        "img_per_s_step_only": round(imgs / med["step_only"], 1),
        "img_per_s_with_loader": round(imgs / med["with_loader"], 1),
        "loader_stall_pct": round(100 * (med["with_loader"] - med["step_only"])
                                  / med["step_only"], 2),
        "eval_test_images": data.tests["test"].num_examples,
        "gwa_se_resamples": resamples,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    parts = ("with_loader", "eval", "epoch_end", "gwa_se", "ckpt_start")
    total = sum(med[k] for k in parts)
    out["gwa_se_pct_of_epoch"] = round(100 * med["gwa_se"] / total, 3)
    for k in parts:
        print(f"{k:>12}: {med[k]:8.3f} s/epoch ({100 * med[k] / total:5.1f}%)")
    print(f"input-pipeline stall: {out['loader_stall_pct']:+.2f}% of step time; async ckpt "
          f"start {med['ckpt_start']:.3f}s vs {med['ckpt_total']:.3f}s to finish")
    emit_report(out, args.out)


if __name__ == "__main__":
    main()
