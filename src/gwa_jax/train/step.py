"""Train state, the jitted train step with GWA inside, and the evaluation steps.

``train_step`` runs the forward pass with the ``latent_embeddings`` collection mutable, takes
the optimiser step, and writes into the on-device :class:`EpochBuffers`: the per-sample
alignment scores (computed with the head kernel the forward pass used), the per-sample argmax
predictions (LabelWave), and running loss/accuracy sums. Nothing is transferred to the host.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct
from flax.training import train_state

from gwa_jax.accumulator import SampleBuffer
from gwa_jax.alignment import head_alignment
from gwa_jax.latents import LATENT_COLLECTION, head_kernel, latent_from_collection
from gwa_jax.train.sharding import settle

Batch = dict[str, jax.Array]


class TrainState(train_state.TrainState):
    """Flax ``TrainState`` (step, params, opt_state) plus the dropout base key."""

    dropout_key: jax.Array = None


@struct.dataclass
class EpochBuffers:
    """Everything the train step accumulates during one epoch, on the device.

    Attributes:
      scores: (N,) float32 alignment scores by id. preds: (N,) int32 argmax predictions by id.
      loss_sum, correct, count: scalar float32 running sums over training samples.
      first_bad_step: int32 scalar, the first step with a non-finite loss or gradient (-1: none).
    """

    scores: SampleBuffer
    preds: SampleBuffer
    loss_sum: jax.Array
    correct: jax.Array
    count: jax.Array
    first_bad_step: jax.Array

    @classmethod
    def create(cls, num_ids: int) -> EpochBuffers:
        # Distinct arrays: the buffers are donated, and one buffer cannot be donated twice.
        zero = lambda: jnp.zeros((), jnp.float32)  # noqa: E731
        return cls(scores=SampleBuffer.create(num_ids, jnp.float32),
                   preds=SampleBuffer.create(num_ids, jnp.int32),
                   loss_sum=zero(), correct=zero(), count=zero(),
                   first_bad_step=jnp.full((), -1, jnp.int32))

    def reset(self) -> EpochBuffers:
        """Clears the seen-masks and sums; keeps ``first_bad_step`` and the values' storage."""
        zero = lambda: jnp.zeros((), jnp.float32)  # noqa: E731
        return self.replace(scores=self.scores.reset(), preds=self.preds.reset(),
                            loss_sum=zero(), correct=zero(), count=zero())


def create_train_state(model: nn.Module, tx: optax.GradientTransformation,
                       image_shape: tuple[int, int, int], seed: int,
                       params: Any | None = None) -> TrainState:
    """Initialises the model on a (1, H, W, C) dummy batch unless ``params`` are given."""
    init_key, dropout_key = jax.random.split(jax.random.key(seed))
    if params is None:
        dummy = jnp.zeros((1, *image_shape), jnp.float32)
        params = jax.jit(functools.partial(model.init, train=False))(init_key, dummy)["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                             dropout_key=jax.random.key_data(dropout_key))


def batch_weights(batch: Batch) -> tuple[jax.Array, jax.Array]:
    """``(valid, denominator)`` of a training batch.

    ``valid``: bool (B,), the batch's ``mask`` (False on the padding rows of an epoch's last
    batch), all True without one. ``denominator``: float32 scalar the summed per-sample loss
    is divided by: the number of valid rows, or the batch's ``loss_denominator`` (set by
    gradient accumulation so that the k micro-batch means average to the mean over the whole
    batch's valid rows); 1 where that is 0, so an all-padding micro-batch gives a zero loss.
    """
    valid = batch.get("mask")
    if valid is None:
        valid = jnp.ones(batch["target"].shape[:1], bool)
    denominator = batch.get("loss_denominator")
    if denominator is None:
        denominator = jnp.sum(valid).astype(jnp.float32)
    denominator = jnp.asarray(denominator, jnp.float32)
    return valid, jnp.where(denominator > 0, denominator, 1.0)


def make_train_step(*, gwa_enabled: bool = True, projection: jax.Array | None = None,
                    nan_at_step: int | None = None) -> Callable[..., tuple[TrainState,
                                                                          EpochBuffers]]:
    """Builds the (unjitted) train step; the caller jits it with state and buffers donated.

    Args:
      gwa_enabled: compute per-sample alignment scores (off only for overhead benchmarks).
      projection: optional (D, k) JLT matrix applied before the cosine.
      nan_at_step: test hook; the loss at this step is replaced by NaN.

    Returns:
      ``train_step(state, buffers, batch) -> (state, buffers)`` where ``batch`` holds
      ``image`` (B, H, W, C), ``label`` (B,), ``target`` (B, C), ``id`` (B,) and optionally
      ``mask`` (B,) bool: rows with ``mask`` False (padding) add nothing to the loss, the
      gradient, the scores, the LabelWave predictions or the accuracy sums.
    """

    def train_step(state: TrainState, buffers: EpochBuffers,
                   batch: Batch) -> tuple[TrainState, EpochBuffers]:
        dropout_rng = jax.random.fold_in(jax.random.wrap_key_data(state.dropout_key), state.step)
        valid, denominator = batch_weights(batch)

        def loss_fn(params):
            logits, mutables = state.apply_fn(
                {"params": params}, batch["image"], train=True,
                rngs={"dropout": dropout_rng}, mutable=[LATENT_COLLECTION])
            per_sample = optax.softmax_cross_entropy(logits, batch["target"])
            loss = jnp.sum(jnp.where(valid, per_sample, 0.0)) / denominator
            if nan_at_step is not None:
                loss = jnp.where(state.step == nan_at_step, jnp.nan, loss)
            return loss, (logits, latent_from_collection(mutables))

        (loss, (logits, latents)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params)
        finite = jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(grads))
        new_state = state.apply_gradients(grads=grads)
        # A non-finite step leaves the state untouched and is reported at the epoch's end.
        new_state = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new_state, state)

        preds = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        count = jnp.sum(valid).astype(jnp.float32)
        new_buffers = buffers.replace(
            preds=buffers.preds.update(batch["id"], preds, valid),
            loss_sum=buffers.loss_sum + loss * denominator,
            correct=buffers.correct + jnp.sum((preds == batch["label"]) & valid).astype(
                jnp.float32),
            count=buffers.count + count,
            first_bad_step=jnp.where((buffers.first_bad_step < 0) & ~finite,
                                     state.step.astype(jnp.int32), buffers.first_bad_step),
        )
        if gwa_enabled:
            scores = head_alignment(head_kernel(state.params), logits, latents, batch["target"],
                                    projection=projection)
            new_buffers = new_buffers.replace(
                scores=new_buffers.scores.update(batch["id"], scores, valid))
        return new_state, new_buffers

    return train_step


def eval_step(apply_fn: Callable[..., jax.Array], params: Any,
              batch: Batch) -> dict[str, jax.Array]:
    """Summed top-1 hits over the valid (``mask``) rows of a padded batch.

    Returns ``correct`` and ``count``; with ``alt_label`` (B,) in the batch also
    ``alt_correct`` (hits on those labels); with ``real_labels`` (B, C) multi-hot in the batch,
    also ``real_correct`` and ``real_count`` (ImageNet-ReaL: a hit when the argmax is any of
    the ReaL labels; rows without ReaL labels are excluded).
    """
    logits = apply_fn({"params": params}, batch["image"], train=False)
    preds = jnp.argmax(logits, axis=-1)
    mask = batch.get("mask", jnp.ones(preds.shape, bool))
    out = {"correct": jnp.sum((preds == batch["label"]) & mask).astype(jnp.float32),
           "count": jnp.sum(mask).astype(jnp.float32)}
    if "alt_label" in batch:  # The validation set's other labels (clean vs noisy).
        out["alt_correct"] = jnp.sum((preds == batch["alt_label"]) & mask).astype(jnp.float32)
    if "real_labels" in batch:
        real = batch["real_labels"].astype(bool)
        has_real = mask & jnp.any(real, axis=-1)
        hit = jnp.take_along_axis(real, preds[:, None], axis=-1)[:, 0]
        out["real_correct"] = jnp.sum(hit & has_real).astype(jnp.float32)
        out["real_count"] = jnp.sum(has_real).astype(jnp.float32)
    return out


def offline_alignment_step(apply_fn: Callable[..., Any], params: Any, buffer: SampleBuffer,
                           batch: Batch, projection: jax.Array | None = None,
                           label_smoothing: float = 0.0) -> SampleBuffer:
    """Offline estimator (App. A.1): scores at fixed weights, no augmentation, by id.

    The targets are those of the train step without its per-batch augmentation: the batch's
    ``target`` when it has one, else the one-hot training label smoothed by
    ``label_smoothing`` (``(1 - s) * one_hot + s / C``, as the input pipeline builds them).
    """
    logits, mutables = apply_fn({"params": params}, batch["image"], train=False,
                                mutable=[LATENT_COLLECTION])
    targets = batch.get("target")
    if targets is None:
        targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], logits.shape[-1]),
                                      label_smoothing)
    scores = head_alignment(head_kernel(params), logits, latent_from_collection(mutables),
                            targets, projection=projection)
    return buffer.update(batch["id"], scores, batch.get("mask"))


def batch_gradient(apply_fn: Callable[..., Any], params: Any, batch: Batch,
                   dropout_rng: jax.Array) -> Any:
    """Gradient of one batch for Gradient Disparity, as its authors compute it.

    Forouzesh & Thiran (2021), code ``mahf93/disparity_early_stopping``: the model in train
    mode (dropout / stochastic depth active, ``dropout_rng``), the per-sample losses rescaled
    by their standard deviation over the batch (unbiased, kept inside the differentiated
    function, no epsilon) and then averaged:
    ``grad_w mean_i(l_i / std(l))``, mean and standard deviation over the rows whose ``mask``
    is True (all rows without a mask). Returns a pytree like ``params``.
    """

    def loss_fn(p):
        logits = apply_fn({"params": p}, batch["image"], train=True,
                          rngs={"dropout": dropout_rng})
        losses = optax.softmax_cross_entropy(logits, batch["target"])
        valid, _ = batch_weights(batch)  # A padded last batch: statistics of its real rows.
        n = jnp.sum(valid).astype(jnp.float32)
        mean = jnp.sum(jnp.where(valid, losses, 0.0)) / n
        std = jnp.sqrt(jnp.sum(jnp.where(valid, (losses - mean) ** 2, 0.0)) / (n - 1.0))
        return jnp.sum(jnp.where(valid, losses / std, 0.0)) / n

    return jax.grad(loss_fn)(params)


def gradient_disparity(grads: list[Any]) -> jax.Array:
    """Gradient Disparity: the mean over all s (s - 1) / 2 pairs of the l2 distance between
    the flattened whole-model gradients of s >= 2 batches (:func:`batch_gradient`)."""
    flat = [jnp.concatenate([g.ravel() for g in jax.tree.leaves(t)]) for t in grads]
    dists = [jnp.linalg.norm(flat[i] - flat[j])
             for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return jnp.mean(jnp.stack(dists))


GD_STREAM_OFFSET = 1_000_000  # Gradient Disparity's shuffles: epoch keys 10^6 + e.


def epoch_gradient_disparity(grad_fn: Callable[..., Any], state: Any, train: Any, epoch: int,
                             num_batches: int, sharding: Any) -> float:
    """Gradient Disparity at the end of ``epoch`` (Forouzesh & Thiran 2021, authors' code).

    ``train``: anything whose ``epoch(key)`` yields training batches for an epoch key
    (``gwa_jax.data.TrainStream``, or an own loop's batches of the same form);
    ``grad_fn``: jitted :func:`batch_gradient` with the model's ``apply``.

    The s = ``num_batches`` batches are the first s of a fresh shuffle of the training set,
    drawn like training batches (same size and pipeline) from a stream of its own, keyed by
    (seed, ``GD_STREAM_OFFSET + epoch``), so training batches and their order are untouched
    and a resumed run draws the same ones. Each batch's gradient is taken in train mode with
    a dropout key of its own (see :func:`gwa_jax.train.step.batch_gradient`); the weights are those
    after the epoch's last step and are not changed.
    """
    base = jax.random.fold_in(jax.random.wrap_key_data(state.dropout_key), GD_STREAM_OFFSET + epoch)
    grads = []
    for i, batch in enumerate(itertools.islice(train.epoch(GD_STREAM_OFFSET + epoch),
                                               num_batches)):
        grads.append(settle(grad_fn(state.params, jax.device_put(batch, sharding),
                                    jax.random.fold_in(base, i))))
    return float(gradient_disparity(grads))


def finish_then(fn: Callable[..., Any], finish: Callable[[Batch], Batch], *,
                batch_arg: int) -> Callable[..., Any]:
    """``fn`` with its positional argument ``batch_arg`` (a batch) passed through ``finish``
    first, e.g. a train step whose batches are finished on the device
    (:meth:`gwa_jax.data.TrainStream.device_finish`): ``finish_then(step, finish, batch_arg=2)``
    for ``step(state, buffers, batch)``. Jit the result."""

    def wrapped(*args: Any) -> Any:
        args = list(args)
        args[batch_arg] = finish(args[batch_arg])
        return fn(*args)

    return wrapped


def model_overrides(model_cfg: ml_collections.ConfigDict) -> dict[str, Any]:
    """Registry overrides from the ``model`` block (only the ones that differ from defaults)."""
    out: dict[str, Any] = {"dtype": model_cfg.dtype}
    if model_cfg.dropout:
        out["dropout"] = model_cfg.dropout
    if model_cfg.drop_path:
        out["drop_path"] = model_cfg.drop_path
    if model_cfg.stem_stride is not None:
        out["stem_stride"] = model_cfg.stem_stride
    out.update(dict(model_cfg.get("kwargs") or {}))  # Architecture hyperparameters.
    return out
