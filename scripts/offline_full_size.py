"""The offline Fashion-MNIST experiment at any pool size, with the data on the accelerator.

``gwa-train`` feeds batches through tf.data; this loop needs no TensorFlow (for GPU hosts
without it) and keeps the whole Fashion-MNIST train and test sets on the device. It trains
with the library's own pieces (model registry, ``make_optimizer``, ``create_train_state``,
``make_train_step``, ``eval_step``, ``summarize_scores``, ``gwa_standard_error``,
``EpochTracker``) on exactly the ids and noisy labels ``gwa-train`` uses for the same config
(``gwa_jax.data.labels.split_and_labels``). It differs from ``gwa-train`` in: the batch order
(a numpy permutation per (seed, epoch) instead of tf.data's shuffle), the augmentation's random
draws (pad-crop, flip and RandAugment run on the device, :mod:`gwa_jax.data.augment_jax`: the
same ops, keyed by (seed, epoch, id) with ``jax.random``; only the timm14 RandAugment), the
epochs (``floor(N / B)`` steps, the last ``N mod B`` ids of each epoch's order skipped, where
``gwa-train`` pads the last batch and scores every id), no checkpoints, and only configs
without mixup, inception crop or validation split (0% split), which it refuses otherwise.
Each epoch is one compiled loop over its steps. Gradient Disparity (when
``criteria.gd.enabled``) is ``gwa-train``'s function on batches drawn as in training from a
stream of their own (:func:`gwa_jax.train.epoch_gradient_disparity`).

    python scripts/offline_full_size.py \\
        --config configs/fmnist_n.py:model=vit,noise=0.17,pool=60000 --epochs 32 \\
        --config configs/fmnist_n.py:model=convnext,noise=0.17,pool=60000 --epochs 19 \\
        --out results/bench/gpu/offline_full_size.json

``--summarize FILE`` prints (``--out``: also writes) a Markdown table of a report instead:
per run the epochs, the median training img/s after the first (compiling) epoch, the wall
time, each criterion's stop and test accuracy, the best epoch in hindsight and the regrets.

    python scripts/offline_full_size.py --summarize results/bench/gpu/offline_full_size.json \
        --out results/bench/gpu/offline_full_size.md

Each ``--config`` is one run; ``--epochs`` (once, or once per ``--config``) sets the epoch
count (default: the config's ``total_steps`` rounded down to whole epochs). The JSON (written
after every run, so a stopped command keeps its finished runs) holds per run the per-epoch
rows (loss, accuracies, GWA and its bootstrap SE, LabelWave's count, timings, img/s), each
criterion's stop with its test accuracy, and the best test epoch in hindsight.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gwa_jax import models
from gwa_jax.accumulator import summarize_scores
from gwa_jax.config_check import whole_epochs
from gwa_jax.criteria import labelwave_changes
from gwa_jax.data import augment_jax
from gwa_jax.data.idx import find_fmnist_dir, load_fmnist_idx
from gwa_jax.data.labels import split_and_labels
from gwa_jax.data.registry import get_spec
from gwa_jax.data.splits import TRAIN
from gwa_jax.experiments.paper import load_config
from gwa_jax.optim import make_optimizer
from gwa_jax.run_files import emit_report, write_json
from gwa_jax.tracker import EpochTracker
from gwa_jax.train import (
    EpochBuffers,
    batch_gradient,
    create_train_state,
    epoch_gradient_disparity,
    eval_step,
    make_train_step,
    model_overrides,
)
from gwa_jax.uncertainty import gwa_standard_error


class UnsupportedConfig(ValueError):
    """A config this loop cannot run as gwa-train would; the message is one line."""


def check_supported(config) -> None:
    """Refuses what this loop does not implement (mixup, validation split, ...)."""
    aug = config.augment
    problems = []
    if config.dataset.name != "fashion_mnist":
        problems.append(f"dataset {config.dataset.name!r} (only fashion_mnist)")
    if aug.crop not in ("none", "pad_crop") or aug.mixup:
        problems.append("augment.crop other than none/pad_crop, or mixup")
    if aug.randaug_num_ops and aug.randaug_magnitude and aug.get("randaug_ops") != "timm14":
        problems.append("the authors' RandAugment (only augment.randaug_ops='timm14')")
    if config.dataset.val_fraction:
        problems.append("a validation split (use split=0)")
    if config.dataset.image_size not in (None, 0, 28):
        problems.append("dataset.image_size other than 28")
    if config.gwa.jlt_dim or config.optim.accumulate_steps > 1 or config.model.init_from:
        problems.append("gwa.jlt_dim / optim.accumulate_steps / model.init_from")
    if problems:
        raise UnsupportedConfig("offline_full_size.py cannot run " + "; ".join(problems)
                                + ": use gwa-train for this config")


def _to_model_range(images: jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1]: ``gwa_jax.data.augment.to_model_range`` in JAX."""
    return images.astype(jnp.float32) / 127.5 - 1.0


def epoch_order(train_ids: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """int32 (N,): the epoch's batch order, a numpy permutation of the training ids."""
    return np.random.default_rng([int(seed), epoch]).permutation(train_ids).astype(np.int32)


def batch_fn(config, images: jax.Array, labels: jax.Array, num_classes: int):
    """``make_batch(order, i, epoch) -> batch dict``: the i-th batch of ``order`` (int32
    (N,) ids) from the device-resident ``images`` (uint8 (60000, 28, 28, 1)) and ``labels``,
    augmented as the config says (pad-crop, flip, RandAugment, keyed by (config.seed, epoch,
    id)), in the model's [-1, 1] range; traceable (called inside the compiled epoch)."""
    aug, batch = config.augment, int(config.batch_size)
    smoothing = float(aug.label_smoothing)
    augmenting = aug.crop == "pad_crop" or aug.flip or aug.randaug_magnitude
    base_key = jax.random.key(int(config.seed))

    def make_batch(order: jax.Array, i: jax.Array, epoch: jax.Array) -> dict:
        ids = jax.lax.dynamic_slice_in_dim(order, i * batch, batch)
        label = labels[ids]
        target = jax.nn.one_hot(label, num_classes, dtype=jnp.float32)
        if smoothing:
            target = target * (1.0 - smoothing) + smoothing / num_classes
        image = images[ids]
        if augmenting:
            image = augment_jax.augment_batch(
                image, augment_jax.example_keys(base_key, epoch, ids),
                pad_crop=aug.crop == "pad_crop", flip=bool(aug.flip),
                randaug_num_ops=int(aug.randaug_num_ops),
                randaug_magnitude=float(aug.randaug_magnitude))
        return {"image": _to_model_range(image), "label": label, "target": target, "id": ids}

    return make_batch


class DeviceBatches:
    """The training batches of an epoch key, on the device: ``epoch(e)`` yields the batches
    of the permutation :func:`epoch_order` draws for ``e`` (the interface of
    ``gwa_jax.data.TrainStream`` that :func:`gwa_jax.train.epoch_gradient_disparity` uses)."""

    def __init__(self, make_batch, train_ids: np.ndarray, seed: int, steps_per_epoch: int):
        self._make_batch = jax.jit(make_batch)
        self._train_ids, self._seed, self._steps = train_ids, int(seed), steps_per_epoch

    def epoch(self, key: int):
        order = jax.device_put(epoch_order(self._train_ids, self._seed, key))
        for i in range(self._steps):
            yield self._make_batch(order, jnp.int32(i), jnp.int32(key))


def run(config, epochs: int | None, fmnist: dict, eval_batch: int) -> dict:
    """Trains one config; returns its record (see the module docstring)."""
    check_supported(config)
    spec = get_spec("fashion_mnist")
    train_images, true_labels = fmnist["train"]
    test_images, test_labels = fmnist["test"]
    num_classes = spec.num_classes
    split, train_labels = split_and_labels(config.dataset, spec, true_labels, true_labels,
                                           num_classes)
    train_ids = np.flatnonzero(split == TRAIN)
    batch = int(config.batch_size)
    steps_per_epoch = len(train_ids) // batch
    if epochs:
        config.total_steps = epochs * steps_per_epoch
    num_epochs, total_steps = whole_epochs(int(config.total_steps), steps_per_epoch)

    model = models.create(config.model.name, num_classes, **model_overrides(config.model))
    tx, schedule = make_optimizer(config.optim, int(config.total_steps))
    state = create_train_state(model, tx, tuple(train_images.shape[1:]), config.seed)
    buffers = EpochBuffers.create(len(true_labels))
    step_fn = make_train_step(gwa_enabled=config.gwa.enabled)
    reset_fn = jax.jit(lambda b: b.reset(), donate_argnums=0)
    eval_fn = jax.jit(functools.partial(eval_step, model.apply))
    make_batch = batch_fn(config, jax.device_put(train_images),
                          jax.device_put(train_labels.astype(np.int32)), num_classes)

    gd = config.criteria.gd
    if gd.enabled:
        grad_fn = jax.jit(functools.partial(batch_gradient, model.apply))
        gd_batches = DeviceBatches(make_batch, train_ids, config.seed, steps_per_epoch)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_epoch(state, buffers, order: jax.Array, epoch: jax.Array):
        def body(i, carry):
            return step_fn(*carry, make_batch(order, i, epoch))
        return jax.lax.fori_loop(0, steps_per_epoch, body, (state, buffers))

    test_x = jax.device_put(test_images)
    test_y = jax.device_put(test_labels.astype(np.int32))

    def test_accuracy(params) -> float:
        correct = 0.0
        for start in range(0, len(test_labels), eval_batch):
            b = {"image": _to_model_range(test_x[start:start + eval_batch]),
                 "label": test_y[start:start + eval_batch]}
            correct = correct + eval_fn(params, b)["correct"]
        return float(correct) / len(test_labels)

    tracker = EpochTracker.from_config(config, total_steps)
    rows, prev = tracker.history, None  # The tracker keeps the rows (as gwa-train's history).
    compile_s = None
    for epoch in range(1, num_epochs + 1):
        t0 = time.perf_counter()
        order = jax.device_put(epoch_order(train_ids, config.seed, epoch))
        buffers = reset_fn(buffers)
        state, buffers = train_epoch(state, buffers, order, jnp.int32(epoch))
        host = jax.device_get(buffers)  # The epoch's one transfer of the per-sample buffers.
        if compile_s is None:
            compile_s = time.perf_counter() - t0
        train_s = time.perf_counter() - t0
        ep = summarize_scores(host.scores.values, host.scores.seen, beta=config.gwa.beta,
                              eps=config.gwa.min_denominator, epoch=epoch)
        se = gwa_standard_error(ep.scores, num_resamples=config.gwa.bootstrap_resamples,
                                seed=config.seed, epoch=epoch, beta=config.gwa.beta,
                                eps=config.gwa.min_denominator)
        preds, seen = np.asarray(host.preds.values), np.asarray(host.preds.seen)
        t_eval = time.perf_counter()
        test_acc = test_accuracy(state.params)
        extra = {}
        if gd.enabled:
            extra["gd"] = epoch_gradient_disparity(grad_fn, state, gd_batches, epoch,
                                                   gd.num_batches, None)
        row = {
            "epoch": epoch, "step": epoch * steps_per_epoch,
            "lr": float(schedule(epoch * steps_per_epoch)),
            "train_loss": float(host.loss_sum / max(host.count, 1.0)),
            "train_acc": float(host.correct / max(host.count, 1.0)),
            "gwa": ep.gwa, "gwa_se": se, "align_mean": ep.mean, "align_kurtosis": ep.kurtosis,
            "labelwave": labelwave_changes(prev, preds, seen), **extra, "test_acc": test_acc,
            "train_time_s": round(train_s, 3),
            "eval_time_s": round(time.perf_counter() - t_eval, 3),
            "train_images_per_s": round(steps_per_epoch * batch / train_s, 1),
        }
        prev = (preds, seen)
        tracker.append(row)
        print(f"  epoch {epoch}/{num_epochs} loss {row['train_loss']:.4f} train "
              f"{row['train_acc']:.4f} test {test_acc:.4f} GWA {ep.gwa:.4f} "
              f"({row['train_images_per_s']:.0f} img/s)", flush=True)
    selections = {name: {"epoch": rows[i]["epoch"], "test_acc": rows[i]["test_acc"],
                         "gwa": rows[i]["gwa"]}
                  for name, i in tracker.selections().items() if i is not None}
    best = int(np.argmax([r["test_acc"] for r in rows]))
    return {
        "num_train": int(len(train_ids)),
        "num_mislabelled": int(np.sum(train_labels[train_ids] != true_labels[train_ids])),
        "batch_size": batch, "steps_per_epoch": steps_per_epoch, "epochs": num_epochs,
        "total_steps": total_steps, "first_epoch_with_compile_s": round(compile_s or 0.0, 2),
        "selected": selections,
        "best_in_hindsight": {"epoch": rows[best]["epoch"], "test_acc": rows[best]["test_acc"]},
        "regret_pts": {name: round(100 * (rows[best]["test_acc"] - s["test_acc"]), 2)
                       for name, s in selections.items()},
        "metrics": rows,
    }


def summary_table(report: dict, command: str) -> str:
    """Markdown table of a report (see the module docstring)."""
    names = ("gwa", "gwa_finetune", "labelwave", "gd", "last")
    head = ["config", "train ids (mislabelled)", "epochs", "img/s (median)", "wall [s]",
            *[f"{n} epoch (test %)" for n in names], "best epoch (test %)",
            *[f"{n} regret" for n in names]]
    lines = [f"{report['device']}; `{command}`", "", "| " + " | ".join(head) + " |",
             "|---" * len(head) + "|"]
    for r in report["runs"]:
        rate = float(np.median([m["train_images_per_s"] for m in r["metrics"][1:]]
                               or [r["metrics"][0]["train_images_per_s"]]))
        cells = [f"`{r['config'].split('/')[-1]}`", f"{r['num_train']} ({r['num_mislabelled']})",
                 str(r["epochs"]), f"{rate:,.0f}", f"{r['wall_s']:.0f}"]
        for n in names:
            stop = r["selected"].get(n)
            cells.append("–" if stop is None else f"{stop['epoch']} ({100 * stop['test_acc']:.2f})")
        best = r["best_in_hindsight"]
        cells.append(f"{best['epoch']} ({100 * best['test_acc']:.2f})")
        cells += [f"{r['regret_pts'][n]:.2f}" if n in r["regret_pts"] else "–" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", metavar="FILE[:ARG]",
                        help="a config file with its argument; repeat for more runs")
    parser.add_argument("--summarize", default=None, metavar="FILE",
                        help="print a Markdown table of this report instead of training")
    parser.add_argument("--epochs", action="append", type=int, default=[],
                        help="epochs: once for every run or once per --config")
    parser.add_argument("--eval_batch", type=int, default=1000)
    parser.add_argument("--data_dir", default=None,
                        help="Fashion-MNIST idx directory (default: $GWA_FMNIST_DIR, Debian path)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    argv_text = sys.argv[1:] if argv is None else argv
    if args.summarize:
        command = "python scripts/offline_full_size.py " + " ".join(argv_text)
        text = summary_table(json.loads(Path(args.summarize).read_text()), command)
        print(text, end="")
        if args.out:
            Path(args.out).write_text(text)
        return 0
    if not args.config:
        parser.error("give at least one --config (or --summarize FILE)")
    if args.epochs and len(args.epochs) not in (1, len(args.config)):
        parser.error("give --epochs once or once per --config")
    epochs = args.epochs * len(args.config) if len(args.epochs) == 1 else args.epochs
    directory = find_fmnist_dir(args.data_dir)
    if directory is None:
        print("offline_full_size.py: error: Fashion-MNIST idx files not found; install "
              "dataset-fashion-mnist or pass --data_dir", file=sys.stderr)
        return 2
    fmnist = load_fmnist_idx(str(directory))
    report = {
        "benchmark": "offline_full_size",
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind} "
                  f"x{jax.device_count()}",
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
        "data": str(directory),
        "command": "python scripts/offline_full_size.py " + " ".join(argv_text),
        "runs": [],
    }
    for i, spec in enumerate(args.config):
        path, _, arg = spec.partition(":")
        try:
            config = load_config(path, arg or None)
            print(f"[{i + 1}/{len(args.config)}] {spec}", flush=True)
            t0 = time.perf_counter()
            record = run(config, epochs[i] if epochs else None, fmnist, args.eval_batch)
        except UnsupportedConfig as err:
            print(f"offline_full_size.py: error: {err}", file=sys.stderr)
            return 2
        record = {"config": spec, "wall_s": round(time.perf_counter() - t0, 1), **record}
        report["runs"].append(record)
        sel = ", ".join(f"{k} {v['epoch']} ({100 * v['test_acc']:.2f}%)"
                        for k, v in record["selected"].items())
        print(f"  done in {record['wall_s']} s: {sel}; best {record['best_in_hindsight']}",
              flush=True)
        if args.out:  # After every run: a stopped command keeps what it finished.
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            write_json(args.out, report)
    emit_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
