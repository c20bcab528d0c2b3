"""Vision Transformer (Dosovitskiy et al. 2021) in Flax linen, pre-LN.

Layout (tokens are (B, N, D))::

    embedding      Conv(kernel = stride = patch_size, VALID) -> (B, h, w, D) -> (B, h*w, D)
    cls            (pool="tok" only) learned class token prepended -> (B, 1 + h*w, D)
    Transformer/
      posembed_input/pos_embedding   (posemb="learn") learned, (1, N, D), includes the class
                                     token's slot; posemb="sincos2d": fixed 2-D sin-cos table
                                     added to the patch tokens only (no parameters)
      encoderblock_i/
        LayerNorm_0 -> MultiHeadDotProductAttention_1 -> residual
        LayerNorm_2 -> MlpBlock_3 (Dense_0, GELU, Dense_1) -> residual
      encoder_norm                   final LayerNorm
    pool           "gap": mean over tokens; "tok": class token -> z (B, D)
    head           Dense(num_classes), float32

The parameter tree deliberately uses the names of the public ``vit_jax`` checkpoints
(including the pre-Linen module numbering ``LayerNorm_0``, ``MultiHeadDotProductAttention_1``,
``LayerNorm_2``, ``MlpBlock_3``), so that the ImageNet-21k AugReg ``.npz`` files load by name:
see :mod:`gwa_jax.models.augreg`.

Initialisation follows vit_jax / big_vision and the GWA authors' ``vit.py``: xavier-uniform
attention (q, k, v, out) and MLP kernels, zero attention biases, normal(1e-6) MLP biases,
lecun-normal patch-embedding kernel with zero bias, zero class token, normal(0.02) learned
position embedding (``posemb="learn"`` only; the authors' CIFAR and ImageNet ViTs use the
parameter-free sincos2d table and GAP); every LayerNorm has epsilon 1e-6 (Flax's
default). The head kernel and bias start at zero, as in big_vision and the GWA authors' ViT
(``hlzl/gwa`` ``vit.py``, ``head_zeroinit=True`` for every ViT they train;
``head_init_std > 0`` gives a normal(std) kernel instead, see
:func:`gwa_jax.models.common.head_init`). With a zero kernel the alignment scores of the very
first step are 0 (the cosine with a zero vector is defined as 0); from the second step on the
kernel is non-zero. GELU is the tanh approximation (Flax's ``nn.gelu`` default, as the
authors' and the checkpoints). Dropout (``dropout``: after the position embedding, inside
the MLP and on the attention output; ``attention_dropout``: on the attention weights) and
stochastic depth (``drop_path``, linear schedule) use the ``"dropout"`` rng and are active only
for ``train=True``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gwa_jax.models.common import DropPath, classify, drop_path_rates

POSEMB_KINDS = ("sincos2d", "learn")
POOL_KINDS = ("gap", "tok")


def posemb_sincos_2d(
    h: int, w: int, width: int, temperature: float = 10_000.0, dtype: Any = jnp.float32
) -> jax.Array:
    """Fixed 2-D sine-cosine position embedding ("Better plain ViT baselines").

    The channel axis is split into four quarters: sin(x), cos(x), sin(y), cos(y) with
    frequencies ``temperature ** -(k / (width/4 - 1))``, k = 0 .. width/4 - 1.

    Returns:
      (1, h * w, width) array, row-major over the (h, w) grid.
    """
    if width % 4 != 0:
        raise ValueError(f"sincos2d position embedding needs width % 4 == 0, got {width}")
    quarter = width // 4
    denom = max(quarter - 1, 1)
    omega = 1.0 / (temperature ** (np.arange(quarter, dtype=np.float64) / denom))  # (W/4,)
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ang_x = xs.reshape(-1, 1).astype(np.float64) * omega[None, :]  # (h*w, W/4)
    ang_y = ys.reshape(-1, 1).astype(np.float64) * omega[None, :]
    pe = np.concatenate([np.sin(ang_x), np.cos(ang_x), np.sin(ang_y), np.cos(ang_y)], axis=1)
    return jnp.asarray(pe[None], dtype=dtype)


class MlpBlock(nn.Module):
    """Transformer MLP: Dense(mlp_dim) -> GELU -> Dropout -> Dense(D) -> Dropout."""

    mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """x: (B, N, D) -> (B, N, D)."""
        d = x.shape[-1]
        kinit = nn.initializers.xavier_uniform()
        binit = nn.initializers.normal(stddev=1e-6)
        y = nn.Dense(
            self.mlp_dim, dtype=self.dtype, kernel_init=kinit, bias_init=binit, name="Dense_0"
        )(x)
        y = nn.gelu(y)
        y = nn.Dropout(self.dropout)(y, deterministic=not train)
        y = nn.Dense(d, dtype=self.dtype, kernel_init=kinit, bias_init=binit, name="Dense_1")(y)
        return nn.Dropout(self.dropout)(y, deterministic=not train)


class Encoder1DBlock(nn.Module):
    """Pre-LN transformer block (vit_jax parameter names)."""

    mlp_dim: int
    num_heads: int
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """x: (B, N, D) -> (B, N, D)."""
        y = nn.LayerNorm(dtype=self.dtype, name="LayerNorm_0")(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            broadcast_dropout=False,
            dropout_rate=self.attention_dropout,
            deterministic=not train,
            force_fp32_for_softmax=True,  # no-op in float32; stabilises bfloat16
            name="MultiHeadDotProductAttention_1",
        )(y, y)
        y = nn.Dropout(self.dropout)(y, deterministic=not train)
        x = x + DropPath(self.drop_path, name="drop_path_attn")(y, deterministic=not train)

        y = nn.LayerNorm(dtype=self.dtype, name="LayerNorm_2")(x)
        y = MlpBlock(self.mlp_dim, dropout=self.dropout, dtype=self.dtype, name="MlpBlock_3")(
            y, train=train
        )
        return x + DropPath(self.drop_path, name="drop_path_mlp")(y, deterministic=not train)


class AddPositionEmbs(nn.Module):
    """Holds the learned position embedding as ``posembed_input/pos_embedding``."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, N, D) -> x + pos_embedding, pos_embedding (1, N, D) float32 param."""
        pe = self.param(
            "pos_embedding", nn.initializers.normal(stddev=0.02), (1,) + x.shape[1:], jnp.float32
        )
        return x + pe.astype(x.dtype)


class Encoder(nn.Module):
    """Position embedding + ``depth`` blocks + final LayerNorm (module name ``Transformer``)."""

    depth: int
    mlp_dim: int
    num_heads: int
    posemb: str = "sincos2d"
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, *, grid: tuple[int, int], num_prefix: int, train: bool
    ) -> jax.Array:
        """x: (B, num_prefix + h*w, D) -> normalised tokens, same shape."""
        if self.posemb == "learn":
            x = AddPositionEmbs(name="posembed_input")(x)
        elif self.posemb == "sincos2d":
            pe = posemb_sincos_2d(grid[0], grid[1], x.shape[-1], dtype=x.dtype)
            x = x + jnp.pad(pe, ((0, 0), (num_prefix, 0), (0, 0)))
        else:
            raise ValueError(f"posemb must be one of {POSEMB_KINDS}, got {self.posemb!r}")
        x = nn.Dropout(self.dropout)(x, deterministic=not train)

        rates = drop_path_rates(self.drop_path, self.depth)
        for i in range(self.depth):
            x = Encoder1DBlock(
                mlp_dim=self.mlp_dim,
                num_heads=self.num_heads,
                dropout=self.dropout,
                attention_dropout=self.attention_dropout,
                drop_path=rates[i],
                dtype=self.dtype,
                name=f"encoderblock_{i}",
            )(x, train=train)
        return nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(x)


class ViT(nn.Module):
    """Vision Transformer classifier.

    Attributes:
      num_classes: number of logits.
      patch_size: side of the square patches (conv kernel = stride).
      width: token dimension D.
      depth: number of encoder blocks.
      mlp_dim: hidden size of the block MLP.
      num_heads: attention heads (width % num_heads == 0).
      posemb: "sincos2d" (fixed) or "learn" (learned, vit_jax layout).
      pool: "gap" (mean of tokens, no class token) or "tok" (class token).
      dropout: dropout rate (position embedding, attention output, MLP).
      attention_dropout: dropout rate on the attention weights.
      drop_path: maximum stochastic-depth rate (linear over blocks).
      dtype: compute dtype of everything but the head (params stay float32).
      head_init_std: std of the normal head-kernel init; 0 (default) = zero kernel, as the
        GWA authors' ViT. The bias is zero.

    Call: ``(images (B, H, W, C) float32, train: bool) -> logits (B, num_classes) float32``
    with H, W multiples of ``patch_size``; sows the pooled latent (B, width) as
    ``latent_embeddings/x``.
    """

    num_classes: int
    patch_size: int = 16
    width: int = 768
    depth: int = 12
    mlp_dim: int = 3072
    num_heads: int = 12
    posemb: str = "sincos2d"
    pool: str = "gap"
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32
    head_init_std: float = 0.0

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        """images: (B, H, W, C) float32 -> logits (B, num_classes) float32."""
        if images.ndim != 4:
            raise ValueError(f"expected NHWC images (B, H, W, C), got shape {images.shape}")
        if self.pool not in POOL_KINDS:
            raise ValueError(f"pool must be one of {POOL_KINDS}, got {self.pool!r}")
        if self.posemb not in POSEMB_KINDS:
            raise ValueError(f"posemb must be one of {POSEMB_KINDS}, got {self.posemb!r}")
        if self.width % self.num_heads != 0:
            raise ValueError(f"width {self.width} not divisible by num_heads {self.num_heads}")
        p = self.patch_size
        hh, ww = images.shape[1], images.shape[2]
        if hh % p or ww % p:
            raise ValueError(f"image size {hh}x{ww} is not a multiple of patch_size {p}")

        x = nn.Conv(
            self.width,
            (p, p),
            strides=(p, p),
            padding="VALID",
            dtype=self.dtype,
            name="embedding",
        )(images.astype(self.dtype))
        b, gh, gw, d = x.shape
        x = jnp.reshape(x, (b, gh * gw, d))

        num_prefix = 0
        if self.pool == "tok":
            cls = self.param("cls", nn.initializers.zeros, (1, 1, d), jnp.float32)
            x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, d)), x], axis=1)
            num_prefix = 1

        x = Encoder(
            depth=self.depth,
            mlp_dim=self.mlp_dim,
            num_heads=self.num_heads,
            posemb=self.posemb,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            drop_path=self.drop_path,
            dtype=self.dtype,
            name="Transformer",
        )(x, grid=(gh, gw), num_prefix=num_prefix, train=train)

        if self.pool == "tok":
            z = x[:, 0]
        else:
            z = jnp.mean(x.astype(jnp.float32), axis=1)
        return classify(self, z, self.num_classes, self.head_init_std)


# ---------------------------------------------------------------------------------------
# Variants.
# ---------------------------------------------------------------------------------------


def _make(num_classes: int, overrides: dict[str, Any], **defaults: Any) -> ViT:
    """Builds a ViT from variant defaults updated by ``overrides``."""
    return ViT(num_classes=num_classes, **{**defaults, **overrides})


def vit_ti16(num_classes: int, **kw: Any) -> ViT:
    """ViT-Ti/16: width 192, depth 12, MLP 768, 3 heads; sincos2d posemb + GAP (5.7M at 224)."""
    return _make(num_classes, kw, patch_size=16, width=192, depth=12, mlp_dim=768, num_heads=3)


def vit_s16(num_classes: int, **kw: Any) -> ViT:
    """ViT-S/16 for ImageNet from scratch, as in "Better plain ViT baselines" (Beyer et al.
    2022): width 384, depth 12, MLP 1536, 6 heads, sincos2d posemb, GAP, no class token.
    22.1M params at 224 px / 1000 classes."""
    return _make(num_classes, kw, patch_size=16, width=384, depth=12, mlp_dim=1536, num_heads=6)


def vit_b16(num_classes: int, **kw: Any) -> ViT:
    """ViT-B/16 in the layout of the ImageNet-21k AugReg checkpoints (for fine-tuning):
    width 768, depth 12, MLP 3072, 12 heads, class token (``pool="tok"``), learned position
    embedding. 86.6M params at 224 px / 1000 classes. Load weights with
    :func:`gwa_jax.models.augreg.load_augreg_npz`."""
    return _make(
        num_classes,
        kw,
        patch_size=16,
        width=768,
        depth=12,
        mlp_dim=3072,
        num_heads=12,
        posemb="learn",
        pool="tok",
    )


def vit_cifar4(num_classes: int, **kw: Any) -> ViT:
    """The CIFAR ViT of the paper's Table 4: patch 4 (8x8 tokens at 32 px), width 512,
    depth 6, MLP 512, 8 heads, sincos2d posemb, GAP."""
    return _make(num_classes, kw, patch_size=4, width=512, depth=6, mlp_dim=512, num_heads=8)


def vit_fmnist(num_classes: int, **kw: Any) -> ViT:
    """Quickstart ViT for 28x28x1 Fashion-MNIST on CPU: patch 4 (7x7 tokens), width 64,
    depth 4, MLP 128, 4 heads, sincos2d posemb, GAP (0.14M params with 10 classes)."""
    return _make(num_classes, kw, patch_size=4, width=64, depth=4, mlp_dim=128, num_heads=4)


def vit_fmnist_tiny(num_classes: int, **kw: Any) -> ViT:
    """Very small ViT for fast tests on 28x28 inputs: patch 4 (7x7 tokens), width 32, depth 2,
    MLP 64, 2 heads, sincos2d posemb, GAP (18K params with 10 classes)."""
    return _make(num_classes, kw, patch_size=4, width=32, depth=2, mlp_dim=64, num_heads=2)
