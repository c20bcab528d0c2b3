"""Per-sample gradient-weight alignment and the kurtosis-corrected GWA (paper Sec. 3).

For a linear head with kernel ``W`` (D, C), latent ``z`` (D,), logits ``l`` (C,) and target
distribution ``y`` (C,), the negative cross-entropy gradient w.r.t. ``W`` is the rank-one
matrix ``g = -z r^T`` with residual ``r = softmax(l) - y``. Its cosine with ``W`` is

    gamma = <g, W>_F / (||g||_F ||W||_F) = -(z^T W r) / (||z|| ||r|| ||W||_F),

using ``||z r^T||_F = ||z|| ||r||``. ``g`` is never materialised: the cost is one (B, D) x
(D, C) product, which the forward pass has already paid for up to the bias.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_BETA = 1.2


def _compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """float64 if any input is float64 (with x64 enabled), else float32 (bf16 is upcast)."""
    if any(jnp.asarray(a).dtype == jnp.float64 for a in arrays):
        return jnp.float64
    return jnp.float32


def _softmax_residual(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """``softmax(logits) - targets`` (B, C) without losing a saturated prediction.

    When a prediction is confident, ``p_k`` of the top class rounds to 1 and ``p_k - y_k``
    cancels to 0 although the true residual is ``-sum_{c != k} p_c``, which the other entries
    hold accurately. Because both ``p`` and ``y`` sum to one, the residual sums to zero, so the
    top-class entry is recovered as minus the sum of the others.
    """
    residual = jax.nn.softmax(logits, axis=-1) - targets
    top = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=bool)
    others = jnp.sum(jnp.where(top, 0.0, residual), axis=-1, keepdims=True)
    return jnp.where(top, -others, residual)


def _as_target_probs(targets: jax.Array, num_classes: int, dtype: jnp.dtype) -> jax.Array:
    """Integer labels (B,) become one-hot (B, C); probabilities (B, C) pass through."""
    if targets.ndim == 1:
        if not jnp.issubdtype(targets.dtype, jnp.integer):
            raise ValueError(
                f"1-D targets must be integer labels, got dtype {targets.dtype}; "
                "pass (B, C) probabilities for soft targets."
            )
        return jax.nn.one_hot(targets, num_classes, dtype=dtype)
    if targets.ndim != 2 or targets.shape[-1] != num_classes:
        raise ValueError(
            f"targets must be (B,) labels or (B, {num_classes}) probabilities, "
            f"got shape {targets.shape}."
        )
    return targets.astype(dtype)


def head_alignment(
    kernel: jax.Array,
    logits: jax.Array,
    latents: jax.Array,
    targets: jax.Array,
    *,
    projection: jax.Array | None = None,
) -> jax.Array:
    """Cosine between each sample's negative head gradient and the head kernel.

    Args:
      kernel: (D, C) head kernel as stored by ``flax.linen.Dense`` (the bias is excluded,
        as in the paper). Use the kernel the forward pass used.
      logits: (B, C) logits of that forward pass.
      latents: (B, D) pre-head latents (the ``latent_embeddings/x`` the model sows).
      targets: (B, C) target probabilities (one-hot, label-smoothed or mixup-soft), or (B,)
        integer labels.
      projection: optional (D, k) Johnson-Lindenstrauss matrix (see :func:`jlt_projection`);
        latents become ``z P`` and the kernel ``P^T W`` before the cosine (paper App. A.2).

    Returns:
      (B,) scores in [-1, 1], float32 (float64 when an input is float64). A zero latent or a
      zero residual gives 0, never NaN. Works under ``jit`` and ``vmap``; bf16 inputs are
      computed in float32. No gradient flows through the scores.
    """
    dtype = _compute_dtype(kernel, logits, latents)
    kernel = jax.lax.stop_gradient(jnp.asarray(kernel)).astype(dtype)
    logits = jax.lax.stop_gradient(jnp.asarray(logits)).astype(dtype)
    latents = jax.lax.stop_gradient(jnp.asarray(latents)).astype(dtype)
    if kernel.ndim != 2 or latents.ndim != 2 or logits.ndim != 2:
        raise ValueError(
            "head_alignment expects kernel (D, C), logits (B, C), latents (B, D); got "
            f"{kernel.shape}, {logits.shape}, {latents.shape}."
        )
    if latents.shape[1] != kernel.shape[0] or logits.shape[1] != kernel.shape[1]:
        raise ValueError(
            f"shape mismatch: kernel {kernel.shape}, latents {latents.shape}, "
            f"logits {logits.shape}."
        )
    y = _as_target_probs(jax.lax.stop_gradient(jnp.asarray(targets)), kernel.shape[1], dtype)
    if projection is not None:
        projection = jnp.asarray(projection, dtype)
        latents = latents @ projection  # (B, k)
        kernel = projection.T @ kernel  # (k, C)

    residual = _softmax_residual(logits, y)  # (B, C)
    # <-z r^T, W>_F = -sum_{d,c} z_d W_dc r_c, computed as (z W) . r.
    inner = -jnp.sum((latents @ kernel) * residual, axis=-1)  # (B,)
    denom = (
        jnp.linalg.norm(latents, axis=-1)
        * jnp.linalg.norm(residual, axis=-1)
        * jnp.linalg.norm(kernel)
    )
    tiny = jnp.finfo(dtype).tiny
    safe = denom > tiny
    return jnp.where(safe, inner / jnp.where(safe, denom, 1.0), 0.0)


def jlt_projection(dim_in: int, dim_out: int, seed: int = 0) -> jax.Array:
    """A fixed Gaussian Johnson-Lindenstrauss projection, (dim_in, dim_out) float32.

    Entries are N(0, 1/dim_out), so inner products are preserved in expectation. The matrix
    depends only on (dim_in, dim_out, seed): every call with the same arguments returns the
    same projection.
    """
    if dim_out <= 0 or dim_in <= 0:
        raise ValueError(f"jlt dims must be positive, got dim_in={dim_in}, dim_out={dim_out}.")
    key = jax.random.key(seed)
    return jax.random.normal(key, (dim_in, dim_out), jnp.float32) / math.sqrt(dim_out)


class Moments(NamedTuple):
    """Summary of a score distribution (biased central moments, NaN-free inputs)."""

    mean: float
    variance: float
    excess_kurtosis: float
    count: int


def alignment_moments(scores: np.ndarray | jax.Array) -> Moments:
    """Mean, variance and excess kurtosis of the finite entries of ``scores``.

    Moments are central and biased (divided by N), computed in float64 on the host. NaN
    entries (ids not seen this epoch) are ignored. Fewer than two values or zero variance
    give NaN variance/kurtosis as appropriate.
    """
    x = np.asarray(scores, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Moments(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    d = x - mean
    m2 = float(np.mean(d * d))
    if m2 <= 0.0:
        return Moments(mean, m2, math.nan, n)
    m4 = float(np.mean((d * d) ** 2))
    return Moments(mean, m2, m4 / (m2 * m2) - 3.0, n)


def gwa_from_moments(mean: float, excess_kurtosis: float, beta: float = DEFAULT_BETA,
                     eps: float = 1e-6) -> float:
    """GWA = mean / (excess kurtosis + beta); NaN when the denominator is <= eps.

    The denominator reaches ``beta - 2`` for two-point (strongly bimodal) distributions, which
    happens with heavy symmetric label noise; then GWA is undefined rather than sign-flipped.
    """
    denom = excess_kurtosis + beta
    if not math.isfinite(denom) or not math.isfinite(mean) or denom <= eps:
        return math.nan
    return mean / denom


def gwa(scores: np.ndarray | jax.Array, beta: float = DEFAULT_BETA, eps: float = 1e-6) -> float:
    """Gradient-weight alignment of a set of per-sample scores (paper Eq. 2).

    Args:
      scores: (N,) alignment scores; NaN entries are ignored.
      beta: kurtosis offset (1.2 offsets the uniform distribution's excess kurtosis).
      eps: the smallest admissible denominator ``kurtosis + beta``.

    Returns:
      ``M1 / (M4 / M2^2 - 3 + beta)`` with biased central moments, or NaN when undefined.
    """
    m = alignment_moments(scores)
    return gwa_from_moments(m.mean, m.excess_kurtosis, beta, eps)
