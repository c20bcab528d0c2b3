"""Unit checks of the jitted steps against hand-computed values."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.optim import make_optimizer, make_schedule
from gwa_jax.train import (
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
    sched = make_schedule(cfg, 110)
    assert float(sched(0)) == 0.0 and float(sched(10)) == pytest.approx(1.0)
    assert float(sched(60)) == pytest.approx(0.5, abs=1e-6) and float(sched(110)) < 1e-6
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
