"""ConvNeXt-V2 (Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
Autoencoders", CVPR 2023) in Flax linen, for supervised training from scratch.

Layout (NHWC throughout)::

    stem        Conv(k x k, stride s, SAME, no bias) + LayerNorm, s = stem_stride
                ("downsample"), k = s (4x4 / 4 "patchify" at 224 px, 1x1 / 1 at <= 32 px)
                unless stem_kernel is set (e.g. 3x3 / 1)
    stage 0     depths[0] x Block(dims[0])
    downsample  LayerNorm + Conv(2x2, stride 2)                  (before stages 1, 2, 3)
    stage i     depths[i] x Block(dims[i])
    pool        global average over H, W -> LayerNorm -> z (B, dims[-1])
    head        Dense(num_classes), float32

    Block(C):   x + DropPath(Dense_C(GRN(GELU(Dense_4C(LN(DWConv_kxk(x)))))))

GRN (Global Response Normalization), per sample and channel over (H, W):
``G = ||(|x| + 1e-9)||_2``, ``N = G / (mean_C(G) + 1e-6)``, ``y = gamma * (x * N) + beta + x``
with gamma = beta = 0 at init. The 1e-9 offset (the authors') keeps ``G > 0``, so the gradient
is finite for an all-zero channel.

All convolutions use SAME padding: identical to the reference (no padding) when the grid is
divisible by the stride; on odd grids (e.g. 7x7 at 28 px input) the downsampling convs keep
the last row/column instead of dropping it.

Defaults follow the GWA authors' code (``hlzl/gwa`` ``src/networks/convnext.py``), whose
networks produced the paper's numbers:

* stem conv without bias (``stem_bias=False``);
* GELU with the tanh approximation, Flax's ``nn.gelu`` default (``gelu_approximate=True``);
* every conv / dense kernel (stem, depthwise, pwconv1/2, downsampling convs) and the head
  kernel from ``jax.nn.initializers.truncated_normal(stddev=0.02)`` (``kernel_init=
  "trunc_normal"``): a normal(0.02) cut at +-2 std (+-0.04), whose actual std is
  0.02 * 0.8796 = 0.0176 (jax does not rescale the cut distribution); all biases zero;
* depthwise kernel 3x3 when ``stem_stride <= 2`` and 5x5 otherwise (``kernel_size=None``);
  the stem kernel equals the downsampling factor.

The published ConvNeXt-V2 (PyTorch) differs in each of these; every difference is one override
(e.g. ``--config.model.kwargs.stem_bias=True``): ``stem_bias=True`` (stem conv with bias),
``gelu_approximate=False`` (exact erf GELU), ``kernel_init="normal"`` (plain normal(0.02),
which is what PyTorch's ``trunc_normal_(std=.02)`` gives, as it cuts at +-2 absolute, i.e.
+-100 std), ``kernel_size=7`` (7x7 depthwise); ``stem_kernel=3`` gives a 3x3 stride-1 stem for
small images. The head kernel follows ``kernel_init`` with std ``head_init_std`` (0 = zeros).
LayerNorm epsilon is 1e-6. No batch statistics: ``variables == {"params": ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gwa_jax.models.common import (
    KERNEL_INITS,
    DropPath,
    classify,
    drop_path_rates,
    kernel_initializer,
)

_KERNEL_STD = 0.02  # Every conv / dense kernel (see kernel_init).
_LN_EPS = 1e-6
_GRN_OFFSET = 1e-9  # The authors' ||(|x| + 1e-9)||: G > 0, so a finite gradient at x = 0.
OPTION_CHOICES: dict[str, tuple[Any, ...]] = {
    "kernel_init": KERNEL_INITS,
    "stem_bias": (False, True),
    "gelu_approximate": (True, False),
    "dw_impl": ("auto", "conv", "shift"),
}


def check_options(options: dict[str, Any]) -> None:
    """Raises ValueError (one line naming the key and its choices) for an option of
    :data:`OPTION_CHOICES` with another value; other keys are not looked at."""
    for key, choices in OPTION_CHOICES.items():
        if key not in options:
            continue
        value = options[key]
        if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
            raise ValueError(f"ConvNeXt option {key}={value!r} is not valid; choose one of "
                             f"{', '.join(map(repr, choices))}")


class GRN(nn.Module):
    """Global Response Normalization over the spatial axes of an NHWC tensor."""

    dtype: Any = jnp.float32
    eps: float = 1e-6
    offset: float = _GRN_OFFSET

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        c = x.shape[-1]
        gamma = self.param("gamma", nn.initializers.zeros, (c,), jnp.float32)
        beta = self.param("beta", nn.initializers.zeros, (c,), jnp.float32)
        xf = x.astype(jnp.float32)
        # ||(|x| + 1e-9)||_2 over (H, W), as the authors: > 0, so the sqrt has a finite gradient.
        gx = jnp.sqrt(jnp.sum(jnp.square(jnp.abs(xf) + self.offset), axis=(1, 2),
                              keepdims=True))  # (B, 1, 1, C)
        nx = gx / (jnp.mean(gx, axis=-1, keepdims=True) + self.eps)
        y = gamma * (xf * nx) + beta + xf
        return y.astype(self.dtype)


class DepthwiseConv(nn.Module):
    """k x k depthwise conv, stride 1, SAME padding, with bias.

    Parameters ``kernel`` (k, k, 1, C) and ``bias`` (C,) have the layout of
    ``nn.Conv(C, (k, k), feature_group_count=C)``. ``impl``: "conv" uses XLA's grouped
    convolution; "shift" sums k*k shifted, channel-scaled copies of the input (same result,
    several times faster on CPU, where grouped convolutions and their gradients are slow);
    "auto" picks "shift" on the CPU backend and "conv" elsewhere.
    """

    kernel_size: int = 7
    impl: str = "auto"
    kernel_init: str = "trunc_normal"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (B, H, W, C) -> (B, H, W, C)."""
        k, c = self.kernel_size, x.shape[-1]
        kinit = kernel_initializer(self.kernel_init, _KERNEL_STD)
        kernel = self.param("kernel", kinit, (k, k, 1, c), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        x = x.astype(self.dtype)
        kernel, bias = kernel.astype(self.dtype), bias.astype(self.dtype)
        impl = self.impl
        if impl == "auto":
            impl = "shift" if jax.default_backend() == "cpu" else "conv"
        if impl == "conv":
            y = jax.lax.conv_general_dilated(
                x,
                kernel,
                (1, 1),
                "SAME",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=c,
            )
        elif impl == "shift":
            h, w = x.shape[1], x.shape[2]
            lo = (k - 1) // 2  # SAME padding: the extra row/column of an even k goes last.
            xp = jnp.pad(x, ((0, 0), (lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
            y = jnp.zeros(x.shape, jnp.float32)  # accumulate in float32 (bf16 compute)
            for i in range(k):
                for j in range(k):
                    y = y + (xp[:, i : i + h, j : j + w, :] * kernel[i, j, 0]).astype(jnp.float32)
            y = y.astype(self.dtype)
        else:
            raise ValueError(f"dw_impl must be 'auto', 'conv' or 'shift', got {self.impl!r}")
        return y + bias


class ConvNeXtBlock(nn.Module):
    """ConvNeXt-V2 block: depthwise conv, LayerNorm, pointwise MLP (4x) with GRN, residual."""

    dim: int
    kernel_size: int = 7
    mlp_ratio: int = 4
    drop_path: float = 0.0
    dw_impl: str = "auto"
    kernel_init: str = "trunc_normal"
    gelu_approximate: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """x: (B, H, W, dim) -> (B, H, W, dim)."""
        shortcut = x
        k = self.kernel_size
        kinit = kernel_initializer(self.kernel_init, _KERNEL_STD)
        y = DepthwiseConv(k, impl=self.dw_impl, kernel_init=self.kernel_init, dtype=self.dtype,
                          name="dwconv")(x)
        y = nn.LayerNorm(epsilon=_LN_EPS, dtype=self.dtype, name="norm")(y)
        y = nn.Dense(
            self.mlp_ratio * self.dim, dtype=self.dtype, kernel_init=kinit, name="pwconv1"
        )(y)
        y = nn.gelu(y, approximate=self.gelu_approximate)
        y = GRN(dtype=self.dtype, name="grn")(y)
        y = nn.Dense(self.dim, dtype=self.dtype, kernel_init=kinit, name="pwconv2")(y)
        y = DropPath(self.drop_path, name="drop_path")(y, deterministic=not train)
        return shortcut + y


class ConvNeXtV2(nn.Module):
    """ConvNeXt-V2 classifier.

    Attributes:
      num_classes: number of logits.
      depths: blocks per stage (4 stages).
      dims: channels per stage.
      kernel_size: depthwise kernel size of every block; None (default) = the GWA authors'
        rule, 3 when ``stem_stride <= 2`` else 5; 7 = the published ConvNeXt-V2.
      stem_stride: downsampling factor of the stem: 4 at 224 px, 1 at <= 32 px.
      stem_kernel: None (default) = ``stem_stride`` (a Conv s x s / s "patchify" stem, 1x1 / 1
        at s = 1, as the authors); an explicit k gives a Conv k x k / s stem with SAME padding
        (e.g. 3 for a 3x3 / 1 stem on small images). The stem ends with a LayerNorm.
      drop_path: maximum stochastic-depth rate (linear schedule over all blocks).
      dw_impl: depthwise-conv implementation, "auto" / "conv" / "shift" (see
        :class:`DepthwiseConv`; all give the same function and parameters).
      dtype: compute dtype of everything but the head (params stay float32).
      head_init_std: std of the head-kernel init (``kernel_init``'s kind; 0 = zeros; the bias
        is zero).
      stem_bias: whether the stem conv has a bias: False (default) as the authors, True as
        the published ConvNeXt-V2 (``dims[0]`` more parameters).
      gelu_approximate: True (default) = tanh-approximate GELU (Flax's ``nn.gelu``, the
        authors'); False = exact erf GELU (the published ConvNeXt-V2).
      kernel_init: "trunc_normal" (default) = ``truncated_normal(0.02)`` cut at +-2 std, the
        authors'; "normal" = uncut normal(0.02), the published ConvNeXt-V2's effective init.

    Call: ``(images (B, H, W, C) float32, train: bool) -> logits (B, num_classes) float32``;
    sows the pooled, normalised latent (B, dims[-1]) as ``latent_embeddings/x``.
    """

    num_classes: int
    depths: Sequence[int] = (3, 3, 9, 3)
    dims: Sequence[int] = (96, 192, 384, 768)
    kernel_size: int | None = None
    stem_stride: int = 4
    stem_kernel: int | None = None
    drop_path: float = 0.0
    dw_impl: str = "auto"
    dtype: Any = jnp.float32
    head_init_std: float = _KERNEL_STD
    stem_bias: bool = False
    gelu_approximate: bool = True
    kernel_init: str = "trunc_normal"

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        """images: (B, H, W, C) float32 -> logits (B, num_classes) float32."""
        if images.ndim != 4:
            raise ValueError(f"expected NHWC images (B, H, W, C), got shape {images.shape}")
        if len(self.depths) != len(self.dims):
            raise ValueError(f"depths {self.depths} and dims {self.dims} differ in length")
        if self.stem_stride < 1:
            raise ValueError(f"stem_stride must be >= 1, got {self.stem_stride}")
        check_options({"kernel_init": self.kernel_init, "stem_bias": self.stem_bias,
                       "gelu_approximate": self.gelu_approximate, "dw_impl": self.dw_impl})
        kinit = kernel_initializer(self.kernel_init, _KERNEL_STD)
        x = images.astype(self.dtype)

        s = self.stem_stride
        k = s if self.stem_kernel is None else self.stem_kernel
        stem = nn.Conv(
            self.dims[0],
            (k, k),
            strides=(s, s),
            padding="SAME",
            use_bias=self.stem_bias,
            dtype=self.dtype,
            kernel_init=kinit,
            name="stem_conv",
        )
        x = stem(x)
        x = nn.LayerNorm(epsilon=_LN_EPS, dtype=self.dtype, name="stem_norm")(x)

        kernel_size = self.kernel_size or (3 if s <= 2 else 5)
        rates = drop_path_rates(self.drop_path, sum(self.depths))
        block_idx = 0
        for i, (depth, dim) in enumerate(zip(self.depths, self.dims, strict=True)):
            if i > 0:
                x = nn.LayerNorm(epsilon=_LN_EPS, dtype=self.dtype, name=f"downsample{i}_norm")(x)
                x = nn.Conv(
                    dim,
                    (2, 2),
                    strides=(2, 2),
                    padding="SAME",
                    dtype=self.dtype,
                    kernel_init=kinit,
                    name=f"downsample{i}_conv",
                )(x)
            for j in range(depth):
                x = ConvNeXtBlock(
                    dim,
                    kernel_size=kernel_size,
                    drop_path=rates[block_idx],
                    dw_impl=self.dw_impl,
                    kernel_init=self.kernel_init,
                    gelu_approximate=self.gelu_approximate,
                    dtype=self.dtype,
                    name=f"stage{i}_block{j}",
                )(x, train=train)
                block_idx += 1

        z = jnp.mean(x.astype(jnp.float32), axis=(1, 2)).astype(self.dtype)  # (B, dims[-1])
        z = nn.LayerNorm(epsilon=_LN_EPS, dtype=self.dtype, name="norm")(z)
        return classify(self, z, self.num_classes, self.head_init_std, self.kernel_init)


# ---------------------------------------------------------------------------------------
# Variants. Published depths / dims of ConvNeXt-V2 (Woo et al. 2023, Table 13 / model zoo).
# Depthwise kernel and stem by the GWA authors' rule (see the module docstring): 5x5 and a
# 4x4 / 4 stem at 224 px; 3x3 and a 1x1 / 1 stem at 32 px (`stem_stride=1`).
# ---------------------------------------------------------------------------------------


def _make(num_classes: int, overrides: dict[str, Any], **defaults: Any) -> ConvNeXtV2:
    """Builds a ConvNeXtV2 from variant defaults updated by ``overrides``."""
    return ConvNeXtV2(num_classes=num_classes, **{**defaults, **overrides})


def convnext_atto(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """ConvNeXt-V2-Atto, 3.7M params at 224 px / 1000 classes.

    depths (2, 2, 6, 2), dims (40, 80, 160, 320) (depthwise 5x5 at 224 px, 3x3 at
    32 px where CIFAR configs pass ``stem_stride=1``; ``kernel_size=7`` for the published one).
    """
    return _make(num_classes, kw, depths=(2, 2, 6, 2), dims=(40, 80, 160, 320))


def convnext_femto(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """ConvNeXt-V2-Femto, 5.2M params at 224 px / 1000 classes.

    depths (2, 2, 6, 2), dims (48, 96, 192, 384) (depthwise 5x5 at 224 px, 3x3 at
    32 px where CIFAR configs pass ``stem_stride=1``; ``kernel_size=7`` for the published one).
    """
    return _make(num_classes, kw, depths=(2, 2, 6, 2), dims=(48, 96, 192, 384))


def convnext_pico(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """ConvNeXt-V2-Pico, 9.1M params at 224 px / 1000 classes.

    depths (2, 2, 6, 2), dims (64, 128, 256, 512) (depthwise 5x5 at 224 px, 3x3 at
    32 px where CIFAR configs pass ``stem_stride=1``: grids 32, 16, 8, 4).
    """
    return _make(num_classes, kw, depths=(2, 2, 6, 2), dims=(64, 128, 256, 512))


def convnext_nano(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """ConvNeXt-V2-Nano, 15.6M params at 224 px / 1000 classes.

    depths (2, 2, 8, 2), dims (80, 160, 320, 640) (depthwise 5x5 at 224 px, 3x3 at
    32 px where CIFAR configs pass ``stem_stride=1``; ``kernel_size=7`` for the published one).
    """
    return _make(num_classes, kw, depths=(2, 2, 8, 2), dims=(80, 160, 320, 640))


def convnext_tiny(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """ConvNeXt-V2-Tiny, 28.6M params at 224 px / 1000 classes.

    depths (3, 3, 9, 3), dims (96, 192, 384, 768) (depthwise 5x5 at 224 px, 3x3 at
    32 px where CIFAR configs pass ``stem_stride=1``; ``kernel_size=7`` for the published one).
    """
    return _make(num_classes, kw, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768))


def convnext_fmnist(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """Small ConvNeXt-V2 for 28x28 Fashion-MNIST on CPU (0.26M params with 10 classes).

    depths (1, 1, 2, 1), dims (16, 32, 64, 128), ``stem_stride=2`` (Conv 2x2 / 2 patchify
    stem; grids 14, 7, 4, 2) and, by the authors' rule for a downsampling factor of 2, a 3x3
    depthwise kernel. (``stem_stride=1`` keeps the full 28x28 grid in stage 0 but trains
    about 3x slower on CPU.)
    """
    return _make(num_classes, kw, depths=(1, 1, 2, 1), dims=(16, 32, 64, 128), stem_stride=2)


def convnext_fmnist_tiny(num_classes: int, **kw: Any) -> ConvNeXtV2:
    """Very small ConvNeXt-V2 for fast tests on 28x28 inputs (58K params with 10 classes).

    depths (1, 1, 1, 1), dims (8, 16, 32, 64), ``stem_stride=2`` (Conv 2x2 / 2 patchify stem,
    grids 14, 7, 4, 2) and a 3x3 depthwise kernel (the authors' rule at stride 2).
    """
    return _make(num_classes, kw, depths=(1, 1, 1, 1), dims=(8, 16, 32, 64), stem_stride=2)
