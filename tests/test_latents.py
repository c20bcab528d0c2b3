"""Reading the sown latent and the head kernel back from a Flax model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
