"""Optimiser and learning-rate schedule from the ``optim`` config block (paper Table 4)."""

from __future__ import annotations

import ml_collections
import optax

from gwa_jax.grad_accum import multi_steps

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def make_schedule(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Learning rate as a function of the step: constant, cosine, or linear warm-up + cosine."""
    if cfg.schedule == "constant":
        return optax.constant_schedule(cfg.lr)
    if cfg.schedule == "cosine":
        return optax.cosine_decay_schedule(cfg.lr, decay_steps=total_steps)
    if cfg.schedule == "warmup_cosine":
        warmup = min(int(cfg.warmup_steps), max(total_steps - 1, 0))
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=cfg.lr, warmup_steps=warmup, decay_steps=total_steps)
    raise ValueError(f"unknown optim.schedule {cfg.schedule!r}; choose one of {SCHEDULES}.")


def make_optimizer(cfg: ml_collections.ConfigDict,
                   total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Returns (optimizer, schedule); global-norm clipping first when ``grad_clip_norm`` set.

    With ``accumulate_steps`` k > 1 the optimizer is ``optax.MultiSteps`` over k micro-batches
    (the schedule still counts optimiser steps).
    """
    schedule = make_schedule(cfg, total_steps)
    if cfg.name == "adam":
        opt = optax.adam(schedule, b1=0.9, b2=0.999)
    elif cfg.name == "adamw":
        opt = optax.adamw(schedule, b1=0.9, b2=0.999, weight_decay=cfg.weight_decay)
    elif cfg.name == "sgd":
        opt = optax.sgd(schedule, momentum=cfg.momentum or None)
    else:
        raise ValueError(f"unknown optim.name {cfg.name!r}; choose one of {OPTIMIZERS}.")
    if cfg.name != "adamw" and cfg.weight_decay:
        opt = optax.chain(optax.add_decayed_weights(cfg.weight_decay), opt)
    if cfg.grad_clip_norm:
        opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), opt)
    return multi_steps(opt, cfg.get("accumulate_steps", 1)), schedule
