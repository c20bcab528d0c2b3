"""GWA core: head_alignment against autodiff, gwa against scipy, NaN rule, JLT."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

from gwa_jax import alignment_moments, gwa, head_alignment, jlt_projection


def _autodiff_alignment(kernel, bias, latents, targets):
    """cos(-dCE/dW, W) per sample via jax.vmap(jax.grad), float64."""

    def loss(w, z, y):
        logits = z @ w + bias
        return optax.softmax_cross_entropy(logits, y)

    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(kernel, latents, targets)
    g = -grads.reshape(grads.shape[0], -1)
    w = kernel.reshape(-1)
    return (g @ w) / (jnp.linalg.norm(g, axis=1) * jnp.linalg.norm(w))


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("b,d,c", [(1, 3, 2), (7, 16, 10), (32, 64, 5), (9, 200, 100)])
@pytest.mark.parametrize("soft", [False, True])
def test_head_alignment_matches_autodiff(x64, b, d, c, soft):
    rng = np.random.default_rng(b * 1000 + d + c)
    kernel = jnp.asarray(rng.normal(size=(d, c)))
    bias = jnp.asarray(rng.normal(size=(c,)))
    latents = jnp.asarray(rng.normal(size=(b, d)))
    labels = rng.integers(0, c, size=b)
    if soft:
        targets = jnp.asarray(rng.dirichlet(np.ones(c), size=b))
    else:
        targets = jax.nn.one_hot(labels, c, dtype=jnp.float64)
    logits = latents @ kernel + bias

    expected = _autodiff_alignment(kernel, bias, latents, targets)
    got = head_alignment(kernel, logits, latents, targets)
    assert got.dtype == jnp.float64
    assert float(jnp.max(jnp.abs(got - expected))) < 1e-6
    if not soft:
        by_label = head_alignment(kernel, logits, latents, jnp.asarray(labels))
        assert float(jnp.max(jnp.abs(by_label - expected))) < 1e-6
    # The float32 path (the one used in training) agrees closely, saturated samples included.
    got32 = head_alignment(kernel.astype(jnp.float32), logits.astype(jnp.float32),
                           latents.astype(jnp.float32), targets.astype(jnp.float32))
    assert got32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got32), np.asarray(expected), atol=1e-4)


def test_saturated_confident_prediction_keeps_its_residual():
    """float32 softmax rounds p_y to 1; the score must still match the exact value.

    The reference is hand-computed in float64 with the residual of the true class written
    as -(p_1 + p_2), each p_c = exp(l_c - logsumexp(l)), which involves no cancellation.
    """
    kernel = np.array([[3.0, -2.0, 0.5], [1.0, 0.2, -1.0]])
    latents = np.array([[9.0, 4.0]])  # logits (31, -17.2, 0.5): 1 - p_0 ~ 6e-14.
    logits = latents @ kernel
    lse = np.log(np.sum(np.exp(logits - logits.max()))) + logits.max()
    p = np.exp(logits[0] - lse)
    residual = np.array([-(p[1] + p[2]), p[1], p[2]])
    exact = -(latents[0] @ kernel @ residual) / (
        np.linalg.norm(latents[0]) * np.linalg.norm(residual) * np.linalg.norm(kernel))
    got = head_alignment(jnp.asarray(kernel, jnp.float32), jnp.asarray(logits, jnp.float32),
                         jnp.asarray(latents, jnp.float32), jnp.array([0]))
    assert abs(exact) > 0.1
    np.testing.assert_allclose(np.asarray(got), [exact], atol=1e-5)
    # A naive float32 softmax(l) - y loses the true-class entry entirely.
    naive = np.asarray(jax.nn.softmax(jnp.asarray(logits, jnp.float32)))[0] - [1.0, 0.0, 0.0]
    assert naive[0] == 0.0


def test_zero_latent_and_zero_residual_give_zero():
    kernel = jnp.ones((4, 3))
    latents = jnp.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    logits = jnp.array([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    # Second sample: target equals the softmax exactly -> zero residual.
    targets = jnp.stack([jnp.array([1.0, 0.0, 0.0]), jax.nn.softmax(logits[1])])
    scores = head_alignment(kernel, logits, latents, targets)
    np.testing.assert_array_equal(np.asarray(scores), [0.0, 0.0])


def test_jit_vmap_and_bf16():
    rng = np.random.default_rng(1)
    kernel = jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
    latents = jnp.asarray(rng.normal(size=(8, 16)), jnp.float32)
    logits = latents @ kernel
    labels = jnp.asarray(rng.integers(0, 4, 8))
    ref = head_alignment(kernel, logits, latents, labels)
    jitted = jax.jit(head_alignment)(kernel, logits, latents, labels)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(ref), atol=1e-6)
    # vmap over a leading "group" axis of batches.
    vm = jax.vmap(head_alignment, in_axes=(None, 0, 0, 0))(
        kernel, logits.reshape(2, 4, 4), latents.reshape(2, 4, 16), labels.reshape(2, 4))
    np.testing.assert_allclose(np.asarray(vm).ravel(), np.asarray(ref), atol=1e-6)
    bf = head_alignment(kernel.astype(jnp.bfloat16), logits.astype(jnp.bfloat16),
                        latents.astype(jnp.bfloat16), labels)
    assert bf.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(bf), np.asarray(ref), atol=0.05)


def test_scores_carry_no_gradient():
    kernel = jnp.ones((3, 2))
    latents = jnp.array([[1.0, -1.0, 0.5]])

    def f(k):
        return head_alignment(k, latents @ k, latents, jnp.array([1])).sum()

    assert float(jnp.abs(jax.grad(f)(kernel)).sum()) == 0.0


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="shape mismatch"):
        head_alignment(jnp.ones((4, 3)), jnp.ones((2, 3)), jnp.ones((2, 5)), jnp.array([0, 1]))
    with pytest.raises(ValueError, match="integer labels"):
        head_alignment(jnp.ones((4, 3)), jnp.ones((2, 3)), jnp.ones((2, 4)), jnp.ones((2,)))


@pytest.mark.parametrize("beta", [1.2, 3.0])
def test_gwa_matches_scipy(beta):
    rng = np.random.default_rng(2)
    for scores in (rng.normal(0.2, 0.1, 5000), rng.beta(2, 5, 777) - 0.1,
                   rng.laplace(0.05, 0.2, 3000).clip(-1, 1)):
        expected = scores.mean() / (scipy.stats.kurtosis(scores, fisher=True, bias=True) + beta)
        assert gwa(scores, beta=beta) == pytest.approx(expected, rel=1e-10)
        m = alignment_moments(scores)
        assert m.variance == pytest.approx(np.var(scores), rel=1e-10)
        assert m.excess_kurtosis == pytest.approx(
            scipy.stats.kurtosis(scores, fisher=True, bias=True), rel=1e-10)


def test_gwa_hand_computed_case():
    # Scores {0, 0, 0, 1}: mean 1/4, m2 = 3/16, m4 = 21/256 -> kurt = 21/256 / (9/256) - 3 = -2/3.
    assert gwa(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.25 / (-2 / 3 + 1.2))


def test_gwa_bimodal_is_nan():
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.normal(-0.4, 0.03, 500), rng.normal(0.5, 0.03, 500)])
    assert scipy.stats.kurtosis(scores) < -1.2
    assert np.isnan(gwa(scores))
    # Two-point distribution: kurtosis exactly -2.
    assert np.isnan(gwa(np.array([-0.3, 0.3] * 50)))
    # Still defined with a larger beta.
    assert np.isfinite(gwa(scores, beta=2.5))


def test_gwa_ignores_nan_and_degenerate_inputs():
    base = np.array([0.1, 0.4, -0.2, 0.3, 0.25])
    with_nan = np.concatenate([base, [np.nan, np.nan]])
    assert gwa(with_nan) == pytest.approx(gwa(base))
    assert np.isnan(gwa(np.array([])))
    assert np.isnan(gwa(np.full(10, 0.3)))  # zero variance


def test_jlt_preserves_scores_and_is_deterministic():
    rng = np.random.default_rng(4)
    d, c, b = 24, 10, 512
    kernel = jnp.asarray(rng.normal(size=(d, c)), jnp.float32)
    latents = jnp.asarray(rng.normal(size=(b, d)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, c, b))
    logits = latents @ kernel
    exact = np.asarray(head_alignment(kernel, logits, latents, labels))
    proj = jlt_projection(d, 4096, seed=7)
    assert proj.shape == (d, 4096)
    np.testing.assert_array_equal(np.asarray(proj), np.asarray(jlt_projection(d, 4096, seed=7)))
    assert not np.allclose(np.asarray(proj), np.asarray(jlt_projection(d, 4096, seed=8)))
    projected = np.asarray(head_alignment(kernel, logits, latents, labels, projection=proj))
    assert np.corrcoef(exact, projected)[0, 1] > 0.99
    # A small target dimension still gives a valid cosine in [-1, 1].
    small = head_alignment(kernel, logits, latents, labels, projection=jlt_projection(d, 8))
    assert np.all(np.abs(np.asarray(small)) <= 1.0 + 1e-6)
