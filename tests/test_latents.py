"""Reading the sown latent and the head kernel back from a Flax model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gwa_jax import head_alignment, head_kernel, latent_from_collection


class _TinyNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        z = nn.relu(nn.Dense(6)(x))
        self.sow("latent_embeddings", "x", z)
        return nn.Dense(3, name="head")(z)


def test_latent_and_kernel_round_trip():
    model = _TinyNet()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]
    logits, state = model.apply({"params": params}, x, mutable=["latent_embeddings"])
    z = latent_from_collection(state)
    assert z.shape == (5, 6)
    assert latent_from_collection(state["latent_embeddings"]).shape == (5, 6)
    recomputed = z @ head_kernel(params) + params["head"]["bias"]
    np.testing.assert_allclose(np.asarray(recomputed), np.asarray(logits), atol=1e-6)
    scores = head_alignment(head_kernel(params), logits, z, jnp.array([0, 1, 2, 0, 1]))
    assert scores.shape == (5,)


def test_missing_latent_and_head_raise_helpful_errors():
    with pytest.raises(KeyError, match="self.sow"):
        latent_from_collection({"latent_embeddings": {}})
    with pytest.raises(KeyError, match="Dense named 'head'"):
        head_kernel({"Dense_0": {"kernel": jnp.ones((2, 2))}})


class _TinyNNX(nnx.Module):
    """NNX twin of _TinyNet: sows an Intermediate named latent_embeddings, head is `head`."""

    def __init__(self, rngs: nnx.Rngs, latent_3d: bool = False):
        self.body = nnx.Linear(4, 6, rngs=rngs)
        self.head = nnx.Linear(6, 3, rngs=rngs)
        self.latent_3d = latent_3d

    def __call__(self, x):
        z = nnx.relu(self.body(x))
        self.sow(nnx.Intermediate, "latent_embeddings", z[None] if self.latent_3d else z)
        return self.head(z)


def _x():
    return jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)), jnp.float32)


def test_nnx_pop_capture_and_param_state():
    model, x = _TinyNNX(nnx.Rngs(0)), _x()
    logits, captured = nnx.capture(model, nnx.Intermediate)(x)
    z = latent_from_collection(captured)
    assert z.shape == (5, 6)
    model(x)
    z_pop = latent_from_collection(nnx.pop(model, nnx.Intermediate))
    np.testing.assert_array_equal(np.asarray(z_pop), np.asarray(z))
    kernel = head_kernel(nnx.state(model, nnx.Param))
    assert kernel.shape == (6, 3)
    np.testing.assert_array_equal(np.asarray(head_kernel(model)), np.asarray(kernel))
    recomputed = z @ kernel + model.head.bias[...]
    np.testing.assert_allclose(np.asarray(recomputed), np.asarray(logits), atol=1e-6)


def test_nnx_scores_match_brute_force_head_gradient():
    model, x = _TinyNNX(nnx.Rngs(1)), _x()
    labels = jnp.array([0, 1, 2, 0, 1])
    logits, captured = nnx.capture(model, nnx.Intermediate)(x)
    kernel = head_kernel(model)
    got = head_alignment(kernel, logits, latent_from_collection(captured), labels)
    z = model.body(x)
    z = jax.nn.relu(z)

    def loss(w, zi, yi):
        li = zi @ w + model.head.bias[...]
        return -jax.nn.log_softmax(li)[yi]

    g = -jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(kernel, z, labels)  # (B, D, C)
    want = jnp.sum(g * kernel, axis=(1, 2)) / (
        jnp.linalg.norm(g.reshape(5, -1), axis=1) * jnp.linalg.norm(kernel))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


def test_anything_else_is_a_clear_error():
    with pytest.raises(TypeError, match=r"nnx.pop\(model, nnx.Intermediate\)"):
        latent_from_collection(jnp.ones((5, 6)))
    with pytest.raises(TypeError, match="got tuple"):
        latent_from_collection((jnp.ones((5, 6)),))
    model = _TinyNNX(nnx.Rngs(0), latent_3d=True)
    _, captured = nnx.capture(model, nnx.Intermediate)(_x())
    with pytest.raises(ValueError, match=r"must be \(B, D\), got \(1, 5, 6\)"):
        latent_from_collection(captured)
    with pytest.raises(KeyError, match="nnx.Intermediate, 'latent_embeddings'"):
        latent_from_collection(nnx.State({}))
    with pytest.raises(KeyError, match="named 'head'"):
        head_kernel(nnx.state(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), nnx.Param))
