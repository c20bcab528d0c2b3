"""Pieces shared by every model of the zoo: the classification head, stochastic depth and the
latent sow.

Every model ends the same way (this is what the GWA code relies on)::

    z = ...                                       # (B, D) pre-head latent, compute dtype
    z = z.astype(jnp.float32)                     # (B, D) float32
    self.sow("latent_embeddings", "x", z)         # mutable_vars["latent_embeddings"]["x"][-1]
                                                  # (skipped during init; always a 1-tuple)
    logits = ClassifierHead(num_classes)(z)       # nn.Dense named "head", float32

so ``logits == z @ params["head"]["kernel"] + params["head"]["bias"]`` exactly.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LATENT_COLLECTION = "latent_embeddings"
LATENT_NAME = "x"
HEAD_NAME = "head"

Dtype = Any

_DTYPE_ALIASES: dict[str, Any] = {
    "float32": jnp.float32,
    "fp32": jnp.float32,
    "f32": jnp.float32,
    "bfloat16": jnp.bfloat16,
    "bf16": jnp.bfloat16,
}


def canonical_dtype(dtype: Any) -> Any:
    """Returns ``jnp.float32`` or ``jnp.bfloat16`` for a dtype given as a string or a dtype.

    Raises:
      ValueError: for anything that is not float32 or bfloat16.
    """
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        if key not in _DTYPE_ALIASES:
            raise ValueError(
                f"unsupported model dtype {dtype!r}; use one of {sorted(_DTYPE_ALIASES)}"
            )
        return _DTYPE_ALIASES[key]
    try:
        name = jnp.dtype(dtype).name
    except TypeError as e:
        raise ValueError(f"unsupported model dtype {dtype!r}; use float32 or bfloat16") from e
    if name not in ("float32", "bfloat16"):
        raise ValueError(f"unsupported model dtype {dtype!r}; use float32 or bfloat16")
    return _DTYPE_ALIASES[name]


KERNEL_INITS = ("trunc_normal", "normal")


def kernel_initializer(kind: str, stddev: float) -> nn.initializers.Initializer:
    """``"trunc_normal"``: ``jax.nn.initializers.truncated_normal(stddev)``, a normal(stddev)
    cut at +-2 stddev without rescaling (actual std 0.8796 * stddev); ``"normal"``: an uncut
    normal(stddev). ``stddev=0`` gives zeros either way.

    Raises:
      ValueError: one line naming the valid kinds.
    """
    if kind not in KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {', '.join(map(repr, KERNEL_INITS))}, "
                         f"got {kind!r}")
    if stddev == 0:
        return nn.initializers.zeros
    if kind == "trunc_normal":
        return jax.nn.initializers.truncated_normal(stddev=stddev)
    return nn.initializers.normal(stddev=stddev)


def head_init(stddev: float, kind: str = "normal") -> nn.initializers.Initializer:
    """Kernel initialiser of the classification head.

    ``stddev=0`` gives the zero kernel of big_vision and of the GWA authors' ViT (the ViTs'
    default; the alignment scores of the first step are then 0); ``stddev > 0`` gives
    :func:`kernel_initializer` ``(kind, stddev)`` (the ConvNeXts' default: the authors'
    truncated normal(0.02)). The bias is always zero.
    """
    return kernel_initializer(kind, stddev)


def classify(module: nn.Module, z: jax.Array, num_classes: int, head_init_std: float,
             head_init_kind: str = "normal") -> jax.Array:
    """Sows the latent and applies the float32 head; call from a model's ``__call__``.

    Args:
      module: the top-level model (the sow lands in its ``latent_embeddings`` collection).
      z: (B, D) pre-head latent in any float dtype.
      num_classes: number of logits.
      head_init_std: std of the head-kernel initialiser (see :func:`head_init`).
      head_init_kind: "normal" or "trunc_normal" (see :func:`kernel_initializer`).

    Returns:
      (B, num_classes) float32 logits.
    """
    if z.ndim != 2:
        raise ValueError(f"pre-head latent must be (B, D), got shape {z.shape}")
    z = z.astype(jnp.float32)
    if not module.is_initializing():
        # Not during init, so that ``init`` returns only {"params": ...}. The reduce_fn keeps a
        # 1-tuple (z,) even if the variables passed to apply already hold an old latent.
        module.sow(
            LATENT_COLLECTION, LATENT_NAME, z, init_fn=tuple, reduce_fn=lambda _old, new: (new,)
        )
    head = nn.Dense(
        num_classes,
        name=HEAD_NAME,
        dtype=jnp.float32,
        param_dtype=jnp.float32,
        kernel_init=head_init(head_init_std, head_init_kind),
        bias_init=nn.initializers.zeros,
    )
    return head(z)


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample.

    Uses the ``"dropout"`` rng; identity when ``deterministic`` or ``rate == 0``. Kept
    samples are scaled by ``1 / (1 - rate)``.
    """

    rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        """x: (B, ...) residual branch output; returns the same shape and dtype."""
        if deterministic or self.rate == 0.0:
            return x
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"drop_path rate must be in [0, 1), got {self.rate}")
        keep = 1.0 - self.rate
        rng = self.make_rng("dropout")
        mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = jax.random.bernoulli(rng, keep, mask_shape)
        return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros_like(x))


def drop_path_rates(rate: float, num_blocks: int) -> list[float]:
    """Linearly increasing stochastic-depth rates ``0 .. rate`` over ``num_blocks`` blocks."""
    if num_blocks <= 1:
        return [float(rate)] * num_blocks
    return [float(rate) * i / (num_blocks - 1) for i in range(num_blocks)]


def num_params(params: Any) -> int:
    """Total number of parameters in a pytree of arrays or ``jax.ShapeDtypeStruct``."""
    return int(sum(np.prod(x.shape, dtype=np.int64) for x in jax.tree_util.tree_leaves(params)))
