"""Unit checks of the jitted steps against hand-computed values."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.train.optim import make_optimizer, make_schedule
from gwa_jax.train.step import (
    EpochBuffers,
    create_train_state,
    eval_step,
    gradient_disparity,
    make_train_step,
)


class _Linear(nn.Module):
    """Flattened pixels -> sown latent -> Dense head (enough for step-level checks)."""

    @nn.compact
    def __call__(self, x, train=False):
        z = x.reshape(x.shape[0], -1)
        self.sow("latent_embeddings", "x", z)
        return nn.Dense(3, name="head")(z)


def test_eval_step_top1_mask_and_real_labels():
    logits = jnp.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    apply_fn = lambda variables, images, train: logits  # noqa: E731
    batch = {
        "image": jnp.zeros((4, 1)),
        "label": jnp.array([0, 2, 2, 0]),
        "mask": jnp.array([True, True, True, False]),  # Last row is padding.
        "real_labels": jnp.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 0]], bool),
    }
    out = jax.device_get(eval_step(apply_fn, None, batch))
    assert out["correct"] == 2 and out["count"] == 3  # Rows 0 and 2 (row 3 is padding).
    # ReaL: row 0 hit, row 1 hit (argmax 1 is a ReaL label), row 2 has no ReaL labels.
    assert out["real_correct"] == 2 and out["real_count"] == 2


def test_gradient_disparity_is_mean_pairwise_distance():
    rng = np.random.default_rng(0)
    grads = [{"a": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=4))}
             for _ in range(4)]
    flat = [np.concatenate([np.ravel(g["a"]), np.ravel(g["b"])]) for g in grads]
    expected = np.mean([np.linalg.norm(flat[i] - flat[j])
                        for i in range(4) for j in range(i + 1, 4)])
    assert float(gradient_disparity(grads)) == pytest.approx(expected, rel=1e-6)


def _batch(rng, ids):
    labels = rng.integers(0, 3, len(ids)).astype(np.int32)
    return {"image": jnp.asarray(rng.normal(size=(len(ids), 2, 2, 1)), jnp.float32),
            "label": jnp.asarray(labels), "target": jax.nn.one_hot(labels, 3),
            "id": jnp.asarray(ids, jnp.int32)}


def test_train_step_buffers_and_nan_guard():
    rng = np.random.default_rng(1)
    state = create_train_state(_Linear(), optax.sgd(0.1), (2, 2, 1), seed=0)
    buffers = EpochBuffers.create(10)
    step = jax.jit(make_train_step(nan_at_step=1), donate_argnums=(0, 1))
    b0, b1 = _batch(rng, [3, 7]), _batch(rng, [1, 2])

    state, buffers = step(state, buffers, b0)  # Step 0: a normal update.
    params_after_0 = jax.device_get(state.params)
    assert int(buffers.first_bad_step) == -1
    state, buffers = step(state, buffers, b1)  # Step 1: NaN loss -> no update, step recorded.
    assert int(buffers.first_bad_step) == 1
    np.testing.assert_array_equal(jax.device_get(state.params)["head"]["kernel"],
                                  params_after_0["head"]["kernel"])
    assert np.asarray(buffers.scores.seen).nonzero()[0].tolist() == [1, 2, 3, 7]
    assert float(buffers.count) == 4


def test_warmup_cosine_schedule_and_clipping():
    cfg = default_config().optim
    cfg.lr, cfg.schedule, cfg.warmup_steps = 1.0, "warmup_cosine", 10
    sched = make_schedule(cfg, 110)  # 110 requested steps: the cosine spans 111 - 10
    assert float(sched(0)) == 0.0 and float(sched(10)) == pytest.approx(1.0)
    assert float(sched(60)) == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 101)), abs=1e-6)
    assert float(sched(111)) < 1e-6 < float(sched(110))
    cfg.grad_clip_norm, cfg.name, cfg.schedule = 1.0, "sgd", "constant"
    cfg.momentum = 0.0
    opt, _ = make_optimizer(cfg, 10)
    params = {"w": jnp.zeros(2)}
    updates, _ = opt.update({"w": jnp.array([30.0, 40.0])}, opt.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), [-0.6, -0.8], rtol=1e-6)


def test_unknown_optimizer_is_rejected():
    cfg = ml_collections.ConfigDict({"name": "lion", "lr": 1e-3, "weight_decay": 0.0,
                                     "momentum": 0.9, "grad_clip_norm": None,
                                     "schedule": "constant", "warmup_steps": 0})
    with pytest.raises(ValueError, match="unknown optim.name"):
        make_optimizer(cfg, 10)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_offline_estimator_uses_the_train_steps_smoothed_targets(smoothing):
    from gwa_jax import SampleBuffer, head_alignment
    from gwa_jax.train.step import offline_alignment_step

    model = _Linear()
    x = np.random.default_rng(0).normal(size=(6, 2, 2, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0], np.int32)
    params = model.init(jax.random.key(1), x)["params"]
    batch = {"image": x, "label": labels, "id": np.arange(6, dtype=np.int32)}
    buf = offline_alignment_step(model.apply, params, SampleBuffer.create(6), batch,
                                 label_smoothing=smoothing)
    targets = np.eye(3, dtype=np.float32)[labels] * (1 - smoothing) + smoothing / 3
    logits = model.apply({"params": params}, x)
    expected = head_alignment(params["head"]["kernel"], logits, x.reshape(6, -1), targets)
    np.testing.assert_allclose(np.asarray(buf.values), np.asarray(expected), atol=1e-6)
    if smoothing:  # Smoothing changes the scores: one-hot targets would fail the check.
        one_hot = head_alignment(params["head"]["kernel"], logits, x.reshape(6, -1),
                                 np.eye(3, dtype=np.float32)[labels])
        assert np.abs(np.asarray(one_hot) - np.asarray(buf.values)).max() > 1e-4


def test_gradient_disparity_matches_the_authors_definition_by_chain_rule():
    """GD of 3 batches against an independent implementation: per-sample gradients (vmap)
    combined by the chain rule of ``mean(l_i / std(l))`` (std unbiased and differentiated),
    then the mean pairwise l2 distance in numpy."""
    from gwa_jax.train.step import batch_gradient

    model = _Linear()
    rng = np.random.default_rng(4)
    params = model.init(jax.random.key(2), np.zeros((1, 2, 2, 1), np.float32))["params"]
    batches = []
    for _ in range(3):
        labels = rng.integers(0, 3, 8)
        batches.append({"image": rng.normal(size=(8, 2, 2, 1)).astype(np.float32),
                        "target": np.eye(3, dtype=np.float32)[labels]})
    key = jax.random.key(0)
    grads = [batch_gradient(model.apply, params, b, key) for b in batches]
    gd = float(gradient_disparity(grads))

    def per_sample_loss(p, x, t):
        logits = model.apply({"params": p}, x[None])[0]
        return optax.softmax_cross_entropy(logits, t)

    flat = []
    for b in batches:
        losses = np.asarray(jax.vmap(per_sample_loss, (None, 0, 0))(params, b["image"],
                                                                      b["target"]), np.float64)
        jac = jax.vmap(jax.grad(per_sample_loss), (None, 0, 0))(params, b["image"], b["target"])
        j = np.concatenate([np.asarray(x, np.float64).reshape(8, -1)
                            for x in jax.tree.leaves(jac)], axis=1)  # (B, P)
        n = len(losses)
        sigma = losses.std(ddof=1)
        dsigma = ((losses - losses.mean())[:, None] * j).sum(0) / ((n - 1) * sigma)
        grad = (j / sigma).mean(0) - losses.mean() * dsigma / sigma**2
        flat.append(grad)
    expected = np.mean([np.linalg.norm(flat[a] - flat[b]) for a in range(3)
                        for b in range(a + 1, 3)])
    assert gd == pytest.approx(expected, rel=1e-4)
    # The plain mean (no rescaling) is a different quantity.
    plain = [np.mean(np.concatenate([np.asarray(x, np.float64).reshape(8, -1) for x in
                                     jax.tree.leaves(jax.vmap(jax.grad(per_sample_loss),
                                                              (None, 0, 0))(params, b["image"],
                                                                            b["target"]))],
                                    axis=1), 0) for b in batches]
    plain_gd = np.mean([np.linalg.norm(plain[a] - plain[b]) for a in range(3)
                        for b in range(a + 1, 3)])
    assert abs(plain_gd - gd) > 1e-3 * gd
