"""Gradient accumulation: k micro-batches through optax.MultiSteps equal one big batch."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, validate
from gwa_jax.train.grad_accum import accumulating_step, multi_steps, split_microbatches
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.step import EpochBuffers, create_train_state, make_train_step


class _TinyNet(nn.Module):
    """(B, 4, 4, 1) -> (B, 3); sows its (B, 8) latent, like the registry models."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        z = nn.tanh(nn.Dense(8)(x.reshape(x.shape[0], -1)))
        self.sow("latent_embeddings", "x", z)
        return nn.Dense(3, name="head")(z)


def _batches(num_steps, batch, num_ids=64):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(num_steps):
        labels = rng.integers(0, 3, batch).astype(np.int32)
        out.append({"image": rng.normal(size=(batch, 4, 4, 1)).astype(np.float32),
                    "label": labels, "target": np.eye(3, dtype=np.float32)[labels],
                    "id": rng.permutation(num_ids)[:batch].astype(np.int32)})
    return out


def _run(k, batches, tx=None, nan_at_step=None, num_ids=64):
    tx = multi_steps(tx or optax.adam(1e-2), k)
    state = create_train_state(_TinyNet(), tx, (4, 4, 1), seed=0)
    buffers = EpochBuffers.create(num_ids)
    step = jax.jit(accumulating_step(make_train_step(nan_at_step=nan_at_step), k))
    scores = []
    for b in batches:
        state, buffers = step(state, buffers, b)
        scores.append(np.asarray(buffers.scores.values[b["id"]]))
    return state, buffers, scores


def test_four_micro_batches_equal_one_batch():
    batches = _batches(3, 1024, num_ids=4096)  # 4 x 256 accumulated vs 1 x 1024.
    big, big_buf, big_scores = _run(1, batches, num_ids=4096)
    acc, acc_buf, acc_scores = _run(4, batches, num_ids=4096)
    assert int(acc.step) == int(big.step) == 3  # Optimiser steps, not micro-steps.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 acc.params, big.params)
    for a, b in zip(acc_scores, big_scores, strict=True):  # Every step's scores, by id.
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(acc_buf.preds.values),
                                  np.asarray(big_buf.preds.values))
    np.testing.assert_allclose(float(acc_buf.loss_sum), float(big_buf.loss_sum), rtol=1e-5)
    assert float(acc_buf.count) == float(big_buf.count) == 3 * 1024
    # The parameters did move: the comparison above is not between two initial states.
    init = create_train_state(_TinyNet(), optax.adam(1e-2), (4, 4, 1), seed=0)
    assert not np.allclose(init.params["head"]["kernel"], acc.params["head"]["kernel"])


def test_micro_batch_scores_use_the_weights_of_their_forward_pass():
    # Within one optimiser step the weights do not change: with SGD the k-th micro-batch is
    # scored before the update, so scores of step 0 equal a direct computation at init.
    from gwa_jax import head_alignment, head_kernel, latent_from_collection

    (batch,) = _batches(1, 8)
    state0 = create_train_state(_TinyNet(), optax.sgd(0.5), (4, 4, 1), seed=0)
    logits, mut = state0.apply_fn({"params": state0.params}, batch["image"],
                                  mutable=["latent_embeddings"])
    want = head_alignment(head_kernel(state0.params), logits, latent_from_collection(mut),
                          batch["target"])
    _, _, (got,) = _run(4, [batch], tx=optax.sgd(0.5))
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


def test_non_finite_micro_step_is_reported_at_its_optimiser_step():
    # Micro-step 6 of k = 4 belongs to optimiser step 1.
    _, buffers, _ = _run(4, _batches(3, 16), nan_at_step=6)
    assert int(buffers.first_bad_step) == 1


def test_split_is_strided_and_checks_divisibility():
    x = {"a": jnp.arange(8)}
    np.testing.assert_array_equal(split_microbatches(x, 4)["a"],
                                  [[0, 4], [1, 5], [2, 6], [3, 7]])
    with pytest.raises(ValueError, match="not divisible"):
        split_microbatches({"a": jnp.arange(6)}, 4)


def test_config_key_is_validated_and_wraps_the_optimizer():
    c = default_config()
    c.optim.accumulate_steps = 4
    c.batch_size = 128
    validate(c)
    tx, _ = make_optimizer(c.optim, 100)
    params = {"w": jnp.ones(3)}
    assert type(tx.init(params)).__name__ == "MultiStepsState"
    c.batch_size = 130
    with pytest.raises(ConfigError, match="accumulate_steps=4 micro-batches"):
        validate(c)
    c.optim.accumulate_steps = 0
    with pytest.raises(ConfigError, match="accumulate_steps must be >= 1"):
        validate(c)
