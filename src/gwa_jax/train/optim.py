"""Optimiser and learning-rate schedule from the ``optim`` config block (paper Table 4)."""

from __future__ import annotations

import ml_collections
import optax

from gwa_jax.train.grad_accum import multi_steps

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def schedule_length(requested_steps: int) -> int:
    """Steps the cosine spans: the *requested* ``config.total_steps`` + 1, as the authors'
    ``create_scheduler`` (``decay_steps=n_iterations + 1``). The run itself stops at whole
    epochs (<= the requested steps), so the last learning rate is small but not 0."""
    return int(requested_steps) + 1


def make_schedule(cfg: ml_collections.ConfigDict, requested_steps: int) -> optax.Schedule:
    """Learning rate as a function of the optimiser step (0-based).

    Args:
      cfg: the ``optim`` config block (``schedule``, ``lr``, ``warmup_steps``).
      requested_steps: ``config.total_steps`` n as requested (not the whole-epoch count).

    ``"cosine"``: ``lr * 0.5 * (1 + cos(pi * t / (n + 1)))``; ``"warmup_cosine"``: linear
    0 -> lr over w steps, then ``lr * 0.5 * (1 + cos(pi * (t - w) / (n + 1 - w)))`` (optax's
    ``decay_steps = n + 1`` includes the warm-up, as the authors' hydra call);
    ``"constant"``: lr. Every one is 0 from step n + 1 on (never reached).
    """
    length = schedule_length(requested_steps)
    if cfg.schedule == "constant":
        return optax.constant_schedule(cfg.lr)
    if cfg.schedule == "cosine":
        return optax.cosine_decay_schedule(cfg.lr, decay_steps=length)
    if cfg.schedule == "warmup_cosine":
        warmup = min(int(cfg.warmup_steps), max(length - 1, 0))
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=cfg.lr, warmup_steps=warmup, decay_steps=length)
    raise ValueError(f"unknown optim.schedule {cfg.schedule!r}; choose one of {SCHEDULES}.")


def make_optimizer(cfg: ml_collections.ConfigDict,
                   requested_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Returns (optimizer, schedule); global-norm clipping first when ``grad_clip_norm`` set.

    ``requested_steps`` is ``config.total_steps`` as requested (see :func:`make_schedule`).

    With ``accumulate_steps`` k > 1 the optimizer is ``optax.MultiSteps`` over k micro-batches
    (the schedule still counts optimiser steps).
    """
    schedule = make_schedule(cfg, requested_steps)
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
