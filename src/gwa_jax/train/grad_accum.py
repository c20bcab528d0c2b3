"""Gradient accumulation: one optimiser step over ``k`` micro-batches (``optax.MultiSteps``).

The optimiser is wrapped in ``optax.MultiSteps(tx, k)``: it averages the gradients of ``k``
consecutive updates and applies the wrapped optimiser once, returning zero updates (the
parameters stay bit-identical) in between. :func:`accumulating_step` turns a train step into
one that splits its (B, ...) batch into ``k`` micro-batches of B / k and runs the step on each
inside a ``lax.scan``, so only one micro-batch's activations are alive at a time. Every
micro-batch's alignment scores are computed inside the wrapped step, at the weights its
forward pass used: the same weights for all ``k``, as with one (B, ...) batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax


def multi_steps(tx: optax.GradientTransformation,
                accumulate_steps: int) -> optax.GradientTransformation:
    """``tx`` unchanged for ``accumulate_steps == 1``, else ``optax.MultiSteps(tx, k)``."""
    if accumulate_steps < 1:
        raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}.")
    if accumulate_steps == 1:
        return tx
    return optax.MultiSteps(tx, every_k_schedule=accumulate_steps).gradient_transformation()


def split_microbatches(batch: dict[str, jax.Array], k: int) -> dict[str, jax.Array]:
    """(B, ...) arrays become (k, B / k, ...); micro-batch j holds rows j, j + k, j + 2k, ...

    The strided split keeps the (B / k) axis aligned with a batch sharded along its leading
    axis, so no data moves between devices.
    """
    def split(x: jax.Array) -> jax.Array:
        if x.shape[0] % k:
            raise ValueError(f"batch of {x.shape[0]} is not divisible into {k} micro-batches.")
        return jnp.swapaxes(x.reshape(x.shape[0] // k, k, *x.shape[1:]), 0, 1)

    return jax.tree.map(split, batch)


def accumulating_step(train_step: Callable[..., tuple[Any, Any]],
                      accumulate_steps: int) -> Callable[..., tuple[Any, Any]]:
    """Wraps ``train_step(state, buffers, batch) -> (state, buffers)`` for accumulation.

    ``state.tx`` must be :func:`multi_steps` with the same ``accumulate_steps``. The wrapped
    step takes a (B, ...) batch, runs ``train_step`` on its ``k`` micro-batches in a scan and
    returns after exactly one optimiser update; with a ``mask`` in the batch, the update is that
    of the mean loss over the valid rows (padding rows weigh nothing, whichever micro-batch
    they fall in). ``state.step`` still counts optimiser steps
    (micro-step ``j`` of step ``s`` runs with ``state.step = s * k + j``, which keeps dropout
    keys distinct), and a non-finite micro-step is reported at its optimiser step (the
    ``nan_at_step`` test hook of ``make_train_step`` therefore counts micro-steps).
    """
    k = int(accumulate_steps)
    if k == 1:
        return train_step

    def step(state, buffers, batch):
        micro = split_microbatches(batch, k)
        if "mask" in batch:
            # Each micro-batch's summed loss is divided by (valid rows of the batch) / k, so
            # the average of the k gradients is that of the mean over all valid rows.
            total = jnp.sum(batch["mask"]).astype(jnp.float32)
            micro["loss_denominator"] = jnp.full((k,), total / k)
        step0, bad0 = state.step, buffers.first_bad_step

        def body(carry, micro_batch):
            return train_step(*carry, micro_batch), None

        (state, buffers), _ = jax.lax.scan(body, (state.replace(step=step0 * k), buffers),
                                           micro)
        new_bad = (bad0 < 0) & (buffers.first_bad_step >= 0)
        buffers = buffers.replace(first_bad_step=jnp.where(
            new_bad, buffers.first_bad_step // k, buffers.first_bad_step))
        return state.replace(step=step0 + 1), buffers

    return step
