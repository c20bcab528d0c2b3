"""The epoch loop: train with GWA online, evaluate, and select epochs by every criterion.

Per epoch the loop makes one device-to-host transfer of the epoch buffers (scores, LabelWave
predictions, loss sums), evaluates the validation split and every test set, appends one line
to ``metrics.jsonl``, writes ``alignment/epoch_NNNN.npy``, and saves the ``latest``
checkpoint plus the best-by-GWA (and best-by-validation) checkpoints when they change.
A restarted run resumes from ``latest`` and reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh
from tqdm import tqdm

from gwa_jax import models
from gwa_jax.accumulator import SampleBuffer, summarize_scores
from gwa_jax.alignment import jlt_projection
from gwa_jax.config_check import ConfigError, check_against_data, validate, whole_epochs
from gwa_jax.criteria import CRITERIA, labelwave_changes
from gwa_jax.data import build_data
from gwa_jax.data.train import EpochReader
from gwa_jax.run import interrupt
from gwa_jax.run.checkpoints import INTERRUPTED, RunCheckpoints
from gwa_jax.run.progress import StepProgress
from gwa_jax.run.resume import history_for_meta, restore_run, save_interrupted
from gwa_jax.run.run_files import MetricsLog, save_npy, save_npz, write_json
from gwa_jax.run.run_format import FORMAT_KEY, FORMAT_VERSION, stamped
from gwa_jax.run.tensorboard_writer import TensorBoardWriter
from gwa_jax.run.workdir import refuse_older_run
from gwa_jax.tracker import EpochTracker
from gwa_jax.train.grad_accum import accumulating_step
from gwa_jax.train.init_from import init_params
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.sharding import (
    make_mesh,
    one_program_at_a_time,
    prefetch_to_mesh,
    replicated,
    settle,
)
from gwa_jax.train.step import (
    EpochBuffers,
    batch_gradient,
    create_train_state,
    epoch_gradient_disparity,
    eval_step,
    finish_then,
    make_train_step,
    model_overrides,
    offline_alignment_step,
)
from gwa_jax.uncertainty import gwa_standard_error

MAIN_TEST = "test"
#: The second validation accuracy, on the labels ``dataset.val_labels`` does not select.
ALT_VAL_KEY = {"clean": "val_acc_noisy", "noisy": "val_acc_clean"}


class NonFiniteError(RuntimeError):
    """Training hit a non-finite loss or gradient; carries the step number."""

    def __init__(self, step: int, epoch: int, has_checkpoint: bool = True):
        kept = ("the last good checkpoint is kept" if has_checkpoint else
                "no checkpoint was saved yet (lower optim.lr or enable optim.grad_clip_norm)")
        super().__init__(f"non-finite loss or gradient at step {step} (epoch {epoch}); stopped, "
                         f"{kept}")
        self.step = step
        self.epoch = epoch


@jax.jit
def _done_marker(count: jax.Array) -> jax.Array:
    """A new scalar computed from a train step's output: ready once that step is done.

    The step's own outputs cannot be waited for later, they are donated to the next step."""
    return count.astype(jnp.int32)


def _final_only(name: str) -> bool:
    """Large robustness suites are evaluated once at the end, on the selected checkpoints."""
    return "corrupted" in name


def evaluate_accuracy(eval_fn: Callable[..., dict[str, jax.Array]], params: Any,
                      batches: Iterable[dict[str, np.ndarray]], mesh: Mesh) -> dict[str, float]:
    """Accuracy (``acc``; ``alt_acc`` on the batches' ``alt_label``; ``real_acc`` with ReaL
    labels) over padded eval batches.

    ``eval_fn(params, batch)`` returns summed hits (see ``train.step.eval_step``); the sums stay on
    the device until the last batch.
    """
    sums = None
    for batch in prefetch_to_mesh(batches, mesh):
        out = settle(eval_fn(params, batch))
        sums = out if sums is None else settle(jax.tree.map(jnp.add, sums, out))
    if sums is None:
        return {"acc": math.nan}
    host = jax.device_get(sums)
    res = {"acc": float(host["correct"] / max(host["count"], 1.0))}
    if "alt_correct" in host:
        res["alt_acc"] = float(host["alt_correct"] / max(host["count"], 1.0))
    if "real_correct" in host:
        res["real_acc"] = float(host["real_correct"] / max(host["real_count"], 1.0))
    return res


def _test_key(name: str) -> str:
    return "test_acc" if name == MAIN_TEST else f"test/{name}_acc"


@dataclasses.dataclass
class _Run:
    """What one run sets up once: data, model, jitted steps, checkpoints and logs."""

    config: ml_collections.ConfigDict
    workdir: Path
    main: bool  # Multi-host: only the first process writes the run's own files.
    data: Any
    mesh: Mesh
    repl: Any
    steps_per_epoch: int
    num_epochs: int
    total_steps: int
    schedule: Callable[[int], Any]
    step_fn: Callable[..., Any]
    reset_fn: Callable[..., Any]
    eval_fn: Callable[..., Any]
    offline_fn: Callable[..., Any]
    grad_fn: Callable[..., Any]
    ckpts: RunCheckpoints
    log: MetricsLog
    tb: TensorBoardWriter

    @property
    def has_val(self) -> bool:
        return self.data.val is not None


@dataclasses.dataclass
class _Loop:
    """What changes from epoch to epoch (besides the tracker)."""

    state: Any
    buffers: Any
    prev: Any  # The previous epoch's predictions and their seen mask (LabelWave).
    started: bool = False  # interrupt.defer() once this process's first train step is done.


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Runs (or resumes) one experiment in ``workdir`` and returns its summary dict."""
    run, state, buffers = _set_up(config, Path(workdir))
    # ---- Resume (newest intact checkpoint, mid-epoch included; metrics rebuilt) --------
    point = restore_run(run.ckpts, run.log, state, buffers, run.data.info.num_ids,
                        run.steps_per_epoch)
    del state, buffers  # Only the restored ones stay on the device.
    state, buffers = jax.device_put((point.state, point.buffers), run.repl)
    loop = _Loop(state, buffers, point.prev)
    tracker = EpochTracker.from_config(config, run.total_steps, point.history)
    progress = StepProgress(run.total_steps, config.batch_size, config.log_every_steps,
                            run.num_epochs)
    stopped = _stopped_early(config, tracker, run.num_epochs)
    if stopped is not None:
        logging.info("Already stopped early after epoch %d (%s); nothing to train",
                     stopped["epoch"], _stop_reason(stopped))
    try:
        for epoch in range(point.epoch, run.num_epochs + 1):
            if stopped is not None:
                break
            t0 = time.time()
            resume = point if epoch == point.epoch else None
            host, train_time = _train_epoch(run, loop, epoch, resume, progress, tracker.history)
            row, ep, preds_seen = _evaluate(run, loop, epoch, host)
            row["train_time_s"] = round(train_time, 3)
            stopped = _select_and_save(run, loop, tracker, epoch, row, ep, preds_seen, t0)
        return _finish(run, loop, tracker, stopped)
    except BaseException:
        run.ckpts.drain()  # A failing run (full disk, signal) leaves no save in flight.
        raise


def _stopped_early(config: ml_collections.ConfigDict, tracker: EpochTracker,
                   num_epochs: int) -> dict[str, Any] | None:
    """``summary.json``'s ``stopped_early`` (the last epoch trained, the criterion, the
    patience) when ``criteria.early_stop`` stops the run after the epochs in ``tracker``,
    before its last epoch ``num_epochs`` (a rule that fires at the last epoch stops nothing)."""
    stop = config.criteria.early_stop
    if not tracker.history or tracker.history[-1]["epoch"] >= num_epochs:
        return None
    if tracker.early_stop_index(int(stop.patience), stop.criterion) is None:
        return None
    return {"epoch": tracker.history[-1]["epoch"], "criterion": stop.criterion,
            "patience": int(stop.patience)}


def _stop_reason(stopped: dict[str, Any]) -> str:
    return (f"criteria.early_stop: {stopped['patience']} epoch(s) without a new maximum of "
            f"{stopped['criterion']}")


def _set_up(config: ml_collections.ConfigDict, workdir_path: Path) -> tuple[_Run, Any, Any]:
    """Checks the config, writes ``config.json``, builds the data, the model, its fresh
    train state and epoch buffers (returned beside the run) and the jitted steps."""
    validate(config, jax.device_count())  # The CLI's checks, for direct API callers too.
    workdir_path.mkdir(parents=True, exist_ok=True)
    # Multi-host: every process trains and saves checkpoints (orbax coordinates them), only
    # the first writes the run's own files into the shared workdir.
    main = jax.process_index() == 0
    refuse_older_run(workdir_path)  # Its checkpoints belong to another model or schedule.
    if main:
        write_json(workdir_path / "config.json", stamped(config.to_dict()))

    try:
        data = build_data(config)
    except ValueError as err:  # The data layer's checks of the config: one line for the CLI.
        raise ConfigError(" ".join(str(err).split())) from err
    info = data.info
    check_against_data(config, info.steps_per_epoch, info.num_train)
    mesh = make_mesh()
    repl = replicated(mesh)
    logging.info("Data parallel over %d device(s) (%s); %d process(es)", jax.device_count(),
                 jax.devices()[0].platform, jax.process_count())
    steps_per_epoch = info.steps_per_epoch
    # Whole epochs only (as the paper's code): every epoch a criterion can select is scored
    # from every training id. The GWA warm-up uses the effective step count; the learning-rate
    # schedule the requested one (see gwa_jax.train.optim.make_schedule).
    num_epochs, total_steps = whole_epochs(int(config.total_steps), steps_per_epoch)
    if total_steps != config.total_steps:
        logging.info("Training %d whole epochs of %d steps: %d steps (total_steps=%d rounded "
                     "down to whole epochs)", num_epochs, steps_per_epoch, total_steps,
                     config.total_steps)

    model = models.create(config.model.name, info.num_classes, **model_overrides(config.model))
    if models.is_user_model(config.model.name) or config.model.get("kwargs"):
        # One line if an own model breaks the GWA contract or a kwarg does not fit the model.
        models.check_contract(model, tuple(info.image_shape), info.num_classes, config.model.name)
    # The cosine spans the requested steps + 1 (the authors'), not the whole-epoch count.
    tx, schedule = make_optimizer(config.optim, int(config.total_steps))
    state = create_train_state(model, tx, tuple(info.image_shape), config.seed)
    if config.model.init_from:
        try:
            params = init_params(config, state.params, image_size=info.image_shape[0])
        except (ValueError, FileNotFoundError) as err:
            raise ConfigError(" ".join(str(err).split())) from err
        state = state.replace(params=params)
    state = jax.device_put(state, repl)
    buffers = jax.device_put(EpochBuffers.create(info.num_ids), repl)
    steps = _jit_steps(config, model, state, data, repl)

    kinds = ("latest", "best_gwa") + (("best_val",) if data.val is not None else ()) + (
        INTERRUPTED,)
    ckpts = RunCheckpoints(str(workdir_path), kinds)
    log = MetricsLog(workdir_path / "metrics.jsonl", writable=main)
    tb = TensorBoardWriter.for_workdir(workdir_path, enabled=main)
    if main:
        save_npz(workdir_path / "alignment" / "meta.npz", **data.meta)
    run = _Run(config=config, workdir=workdir_path, main=main, data=data, mesh=mesh,
               repl=repl, steps_per_epoch=steps_per_epoch, num_epochs=num_epochs,
               total_steps=total_steps, schedule=schedule, ckpts=ckpts, log=log, tb=tb,
               **steps)
    return run, state, buffers


def _jit_steps(config: ml_collections.ConfigDict, model: Any, state: Any, data: Any,
               repl: Any) -> dict[str, Callable[..., Any]]:
    """The jitted train step (device finish, then GWA scores into the buffers), the buffer
    reset, the evaluation, the offline GWA pass and the Gradient Disparity gradient."""
    projection = None
    if config.gwa.jlt_dim:
        latent_dim = state.params["head"]["kernel"].shape[0]
        if config.gwa.jlt_dim >= latent_dim:
            raise ConfigError(f"config.gwa.jlt_dim={config.gwa.jlt_dim} is not below the model's "
                              f"latent width {latent_dim}; lower it or set it to None")
        projection = jax.device_put(jlt_projection(latent_dim, config.gwa.jlt_dim,
                                                   config.gwa.jlt_seed), repl)
    train_step = accumulating_step(
        make_train_step(gwa_enabled=config.gwa.enabled, projection=projection,
                        nan_at_step=config.debug_nan_at_step), config.optim.accumulate_steps)
    gradient = functools.partial(batch_gradient, model.apply)
    finish = data.train.device_finish()  # Augmentation, [-1, 1] and mixup in the step.
    train_step = finish_then(train_step, finish, batch_arg=2)
    gradient = finish_then(gradient, finish, batch_arg=1)
    return {
        "step_fn": jax.jit(train_step, donate_argnums=(0, 1), out_shardings=(repl, repl)),
        "reset_fn": jax.jit(lambda b: b.reset(), donate_argnums=0, out_shardings=repl),
        "eval_fn": jax.jit(functools.partial(eval_step, model.apply)),
        "offline_fn": jax.jit(functools.partial(
            offline_alignment_step, model.apply, projection=projection,
            label_smoothing=float(config.augment.label_smoothing)), donate_argnums=1),
        "grad_fn": jax.jit(gradient),
    }


def _train_epoch(run: _Run, loop: _Loop, epoch: int, resume: Any, progress: StepProgress,
                 history: list[dict[str, Any]]) -> tuple[Any, float]:
    """One epoch of train steps (from the resume point's step when ``resume`` is given); the
    epoch's buffers on the host and the training time. A signal saves the epoch so far."""
    t0 = time.time()
    n_steps = run.steps_per_epoch
    first_step = (epoch - 1) * n_steps
    start = resume.start_step if resume is not None else 0
    if not start:
        loop.buffers = settle(run.reset_fn(loop.buffers))
    reader = EpochReader(run.data.train, epoch, start,
                         resume.data_state if resume is not None and start else None)
    batches = itertools.islice(reader, n_steps - start)
    bar = tqdm(total=n_steps, initial=start, desc=f"epoch {epoch}/{run.num_epochs}",
               leave=False, disable=None, unit="step")
    done = start
    in_flight: collections.deque[jax.Array] = collections.deque()
    for batch in prefetch_to_mesh(batches, run.mesh, process_local=True):
        if not loop.started:
            progress.compiling(first_step + done + 1)
        loop.state, loop.buffers = settle(run.step_fn(loop.state, loop.buffers, batch))
        if not one_program_at_a_time():
            in_flight.append(_done_marker(loop.buffers.count))
        bar.update(1)
        done += 1
        progress.update(first_step + done, epoch, loop.state, loop.buffers)
        if not loop.started:
            # The first step is done: from now on a signal stops the run after a step,
            # with a checkpoint (before, the process exits at once: nothing to keep).
            jax.block_until_ready((loop.state, loop.buffers))
            interrupt.defer()
            loop.started = True
        # JAX dispatches asynchronously: without a wait the loop would queue the whole
        # epoch ahead of the device and see a signal only at its end. Waiting for the
        # previous step keeps at most this one queued; only when Python waits changes.
        while len(in_flight) > 1:
            in_flight.popleft().block_until_ready()
        if interrupt.requested() and done < n_steps:
            break
    bar.close()
    if done < n_steps:  # Stopped by a signal: keep the epoch so far.
        save_interrupted(run.ckpts, epoch=epoch, step_in_epoch=done, step=first_step + done,
                         state=loop.state, buffers=loop.buffers, prev=loop.prev,
                         history=history,
                         data_state=reader.state_after(done - start) if done > start
                         else None)
        raise interrupt.Interrupted(interrupt.requested(), (
            f"interrupted by {interrupt.signal_name()} at step {first_step + done} (epoch "
            f"{epoch}); saved a checkpoint there, rerun the same command to resume"))
    # The epoch's single device-to-host transfer of the per-sample buffers.
    host = jax.device_get(loop.buffers)
    if int(host.first_bad_step) >= 0:
        run.ckpts.wait()
        raise NonFiniteError(int(host.first_bad_step), epoch,
                             run.ckpts.latest_epoch("latest") is not None)
    return host, time.time() - t0


def _evaluate(run: _Run, loop: _Loop, epoch: int, host: Any
              ) -> tuple[dict[str, Any], Any, tuple[np.ndarray, np.ndarray]]:
    """The epoch's metrics row: GWA and the score moments, LabelWave, validation and test
    accuracy, Gradient Disparity and the offline GWA pass when enabled."""
    config = run.config
    ep = summarize_scores(host.scores.values, host.scores.seen, beta=config.gwa.beta,
                          eps=config.gwa.min_denominator, epoch=epoch)
    gwa_se = gwa_standard_error(ep.scores, num_resamples=config.gwa.bootstrap_resamples,
                                seed=config.seed, epoch=epoch, beta=config.gwa.beta,
                                eps=config.gwa.min_denominator)  # NaN when resamples=0.
    preds, seen = np.asarray(host.preds.values), np.asarray(host.preds.seen)
    step = epoch * run.steps_per_epoch
    row: dict[str, Any] = {
        "epoch": epoch,
        "step": step,
        "lr": float(run.schedule(step)),
        "train_loss": float(host.loss_sum / max(host.count, 1.0)),
        "train_acc": float(host.correct / max(host.count, 1.0)),
        "gwa": ep.gwa,
        "gwa_se": gwa_se,
        "align_mean": ep.mean,
        "align_var": ep.variance,
        "align_kurtosis": ep.kurtosis,
        "gwa_denominator": ep.kurtosis + config.gwa.beta,
        "align_seen": ep.num_seen,
        "labelwave": labelwave_changes(loop.prev, preds, seen),
    }
    loop.prev = (preds, seen)
    logging.info("Epoch %d: evaluating", epoch)
    t_eval = time.time()
    params = loop.state.params
    if run.has_val:
        res = evaluate_accuracy(run.eval_fn, params, run.data.val, run.mesh)
        row["val_acc"] = res["acc"]
        if "alt_acc" in res:  # The validation labels differ from the training labels.
            row[ALT_VAL_KEY[config.dataset.val_labels]] = res["alt_acc"]
    for name, test_set in run.data.tests.items():
        if _final_only(name):
            continue
        res = evaluate_accuracy(run.eval_fn, params, test_set, run.mesh)
        row[_test_key(name)] = res.get("real_acc", res["acc"])
    gd_cfg = config.criteria.gd
    if gd_cfg.enabled:
        row["gd"] = epoch_gradient_disparity(run.grad_fn, loop.state, run.data.train, epoch,
                                             gd_cfg.num_batches, run.repl)
    if config.gwa.offline_every and epoch % config.gwa.offline_every == 0:
        buf = jax.device_put(SampleBuffer.create(run.data.info.num_ids), run.repl)
        for batch in prefetch_to_mesh(run.data.train.eval_stream(), run.mesh):
            buf = settle(run.offline_fn(params, buf, batch))
        off = summarize_scores(*jax.device_get((buf.values, buf.seen)),
                               beta=config.gwa.beta, eps=config.gwa.min_denominator,
                               epoch=epoch)
        row.update(gwa_offline=off.gwa, align_mean_offline=off.mean,
                   align_kurtosis_offline=off.kurtosis)
    row["eval_time_s"] = round(time.time() - t_eval, 3)
    return row, ep, (preds, seen)


def _select_and_save(run: _Run, loop: _Loop, tracker: EpochTracker, epoch: int,
                     row: dict[str, Any], ep: Any, preds_seen: tuple[np.ndarray, np.ndarray],
                     t0: float) -> dict[str, Any] | None:
    """Saves the epoch's scores, updates the criteria, saves the checkpoints they select,
    appends the metrics line; a signal ends the run here with a checkpoint. Returns
    ``stopped_early`` when ``criteria.early_stop`` ends the run after this epoch."""
    config, ckpts, num_epochs, step = run.config, run.ckpts, run.num_epochs, row["step"]
    every = config.gwa.save_scores_every
    if run.main and every and (epoch % every == 0 or epoch == num_epochs):
        save_npy(run.workdir / "alignment" / f"epoch_{epoch:04d}.npy", ep.scores)
    tracker.append(row)
    row = tracker.history[-1]  # The tracker keeps a copy; the timings below go into it too.
    stopped = _stopped_early(config, tracker, num_epochs)
    logging.info("Epoch %d: saving checkpoints", epoch)
    t_ckpt = time.time()
    meta_json = {"epoch": epoch, "step": step}
    if tracker.is_best("gwa"):
        ckpts.save("best_gwa", epoch, loop.state, meta_json)
    if run.has_val and tracker.is_best("val"):
        ckpts.save("best_val", epoch, loop.state, meta_json)
    row["ckpt_time_s"] = round(time.time() - t_ckpt, 3)
    row["epoch_time_s"] = round(time.time() - t0, 3)
    # The metrics line goes first: a `latest` checkpoint of epoch E implies E's line exists.
    run.log.append(row)
    run.tb.write_epoch(epoch, row, ep.scores, run.data.meta.get("noise_mask"))
    preds, seen = preds_seen
    latest = ("latest", epoch, {"state": loop.state, "prev_preds": preds, "prev_seen": seen},
              {**meta_json, "history": history_for_meta(tracker.history)})
    saved = (epoch % config.checkpoint_every == 0 or epoch == num_epochs or stopped is not None
             or interrupt.requested() is not None)
    if saved:
        ckpts.save(*latest)
    if ckpts.latest_epoch(INTERRUPTED) is not None:
        ckpts.delete_all(INTERRUPTED)
    logging.info(
        "epoch %d/%d step %d | loss %.4f train_acc %.4f | GWA %s mean %.4f kurt %.3f | "
        "labelwave %s | %s%s | %.1fs", epoch, num_epochs, step, row["train_loss"],
        row["train_acc"], _fmt(ep.gwa), ep.mean, ep.kurtosis, _fmt(row["labelwave"], 0),
        f"val_acc {row['val_acc']:.4f} " if run.has_val else "",
        f"test_acc {row.get('test_acc', math.nan):.4f}", row["epoch_time_s"])
    if stopped is not None:
        logging.info("Stopping early after epoch %d of %d: %s", epoch, num_epochs,
                     _stop_reason(stopped))
    if interrupt.requested() is not None and epoch < num_epochs and stopped is None:
        if not saved:  # A signal came during the save above: keep this epoch too.
            ckpts.save(*latest)
        ckpts.seal()
        raise interrupt.Interrupted(interrupt.requested(), (
            f"interrupted by {interrupt.signal_name()} after epoch {epoch}; saved a "
            f"checkpoint there, rerun the same command to resume"))
    return stopped


def _finish(run: _Run, loop: _Loop, tracker: EpochTracker,
            stopped: dict[str, Any] | None = None) -> dict[str, Any]:
    """Waits for the checkpoints, evaluates the robustness suites once, writes
    ``summary.json`` (every criterion's selected epoch; ``stopped_early`` when
    ``criteria.early_stop`` ended the run) and returns it."""
    run.ckpts.wait()
    run.tb.close()
    summary = _summarize(tracker, run.ckpts, run.total_steps, str(run.workdir))
    if stopped is not None:
        summary["stopped_early"] = stopped
    summary["requested_total_steps"] = int(run.config.total_steps)
    summary[FORMAT_KEY] = FORMAT_VERSION
    summary["final_eval"] = _final_evaluation(run.data, run.ckpts, loop.state, run.eval_fn,
                                              run.mesh)
    memory = device_memory(jax.local_devices())
    if memory is not None:
        summary["device_memory"] = memory
        logging.info("Device memory: peak %.2f GiB in use of %.2f GiB",
                     memory["peak_bytes_in_use"] / 2**30, memory["bytes_limit"] / 2**30)
    if run.main:
        write_json(run.workdir / "summary.json", summary)
    run.ckpts.close()
    return summary


def _fmt(value: float, digits: int = 4) -> str:
    return "undefined" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _summarize(tracker: EpochTracker, ckpts: RunCheckpoints, total_steps: int,
               workdir: str) -> dict[str, Any]:
    history = tracker.history
    sel = tracker.selections()
    selected = {}
    for name in CRITERIA:
        if name not in sel:
            continue
        row = history[sel[name]]
        entry = {"epoch": row["epoch"], "step": row["step"]}
        entry.update({k: v for k, v in row.items() if k.startswith("test") or k == "val_acc"})
        entry["gwa"] = row.get("gwa")
        selected[name] = entry
    return {
        "selected": selected,
        "checkpoints": {k: ckpts.path(k, relative_to=workdir) for k in ckpts.managers
                        if k != INTERRUPTED},
        "num_epochs": len(history),
        "total_steps": total_steps,
        "num_devices": jax.device_count(),
        "max_align_mean": max((h["align_mean"] for h in history
                               if h.get("align_mean") is not None
                               and not math.isnan(h["align_mean"])), default=None),
    }


def _final_evaluation(data, ckpts: RunCheckpoints, state, eval_fn, mesh) -> dict[str, Any]:
    """Robustness suites (e.g. CIFAR-10-C) evaluated on each kept checkpoint, once."""
    names = [n for n in data.tests if _final_only(n)]
    if not names:
        return {}
    out: dict[str, Any] = {}
    for kind in ckpts.managers:
        if kind in ("latest", INTERRUPTED) or ckpts.latest_epoch(kind) is None:
            continue
        restored, _ = ckpts.restore(kind, state)
        params = jax.device_put(restored, replicated(mesh)).params
        out[kind] = {n: evaluate_accuracy(eval_fn, params, data.tests[n], mesh)["acc"]
                     for n in names}
    return out


def device_memory(devices: Iterable[Any]) -> dict[str, int] | None:
    """The accelerators' memory as their ``memory_stats()`` report it: the largest
    ``peak_bytes_in_use`` (since the process started, so a resumed run's covers only its own
    part) and ``bytes_limit`` over ``devices``, in bytes, and how many devices reported; None
    where none reports (CPU). Written to ``summary.json`` as ``device_memory``."""
    stats = [s for s in (d.memory_stats() for d in devices) if s]
    if not stats:
        return None
    return {"peak_bytes_in_use": max(int(s.get("peak_bytes_in_use", 0)) for s in stats),
            "bytes_limit": max(int(s.get("bytes_limit", 0)) for s in stats),
            "num_devices": len(stats)}


def selection_table(summary: dict[str, Any]) -> str:
    """``summary.json``'s selections as the end-of-run table: criterion | selected epoch |
    test accuracy | GWA (the lines ``gwa-train`` prints and the README quotes)."""
    lines = [f"{'criterion':<14}{'epoch':>7}{'test_acc':>11}{'GWA':>10}", "-" * 42]
    for name, entry in summary["selected"].items():
        acc = entry.get("test_acc")
        lines.append(f"{name:<14}{entry['epoch']:>7}"
                     f"{'' if acc is None else f'{100 * acc:10.2f}%'}"
                     f"{_fmt(entry.get('gwa')):>10}")
    return "\n".join(lines)


def print_selection_table(summary: dict[str, Any], workdir: str) -> str:
    """The end-of-run table: criterion | selected epoch | test accuracy, and where the
    GWA-best checkpoint, metrics and summary are."""
    lines = ["", selection_table(summary)]
    best = summary["checkpoints"].get("best_gwa")
    lines.append("")
    lines.append(f"GWA-best checkpoint: {best and os.path.join(workdir, best)}")
    lines.append(f"metrics: {os.path.join(workdir, 'metrics.jsonl')}  "
                 f"summary: {os.path.join(workdir, 'summary.json')}")
    text = "\n".join(lines)
    print(text)
    return text
