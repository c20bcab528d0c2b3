"""The paper authors' RandAugment in JAX: jittable, vmappable, stateless per example key.

The authors (``hlzl/gwa``, ``src/datasets/augment.py``) use the RandAugment of the TF Model
Garden (v2.15): ``RandAugment(num_layers=2, magnitude=M)`` with the default ``cutout_const=40``
and ``translate_const=100``. Each layer draws one of 17 branches uniformly: the 16 ops of
:data:`OPS` or the identity (branch 16). Arguments (``level_to_arg``, M on the 0-10 scale,
``s = M / 10``; ``random sign`` = negated with probability 1/2, drawn per layer):

=============  ==========================================================================
AutoContrast   per-channel min/max stretch to [0, 255] (no-op on a flat channel)
Equalize       per-channel histogram equalisation (PIL's lookup table)
Invert         ``255 - x``
Rotate         ``30 s`` degrees, random sign, about the centre ``((W-1)/2, (H-1)/2)``
Posterize      keep ``int(4 s)`` bits; the shift ``8 - bits`` is clamped to 7 as TF's
               ``bitwise.right_shift`` does (0 bits at M = 1: ``x >= 128 -> 128``, else 0)
Solarize       invert pixels ``>= int(256 s)``; the threshold is taken modulo 256 as TF's
               conversion to uint8 does (M = 10: threshold 0, every pixel inverted)
Color          blend with the grey image, factor ``1.8 s + 0.1`` (no sign)
Contrast       blend with a constant, factor ``1.8 s + 0.1``; the constant is the grey
               histogram's *count* over 256, i.e. ``int(H W / 256)`` (the Model Garden's
               ``contrast`` sums the histogram instead of averaging the levels): 5 at 36 px,
               196 at 224 px
Brightness     blend with black, factor ``1.8 s + 0.1``
Sharpness      blend with the 3x3 smoothed image (PIL kernel, truncated to uint8, border
               pixels kept), factor ``1.8 s + 0.1``
ShearX/Y       shear ``0.3 s``, random sign, about the origin (top-left pixel)
TranslateX/Y   ``100 s`` pixels (absolute), random sign; the output at x reads x + pixels
Cutout         a ``2 int(40 s)`` square (clipped at the border) filled with 128, centre
               uniform over the pixels
SolarizeAdd    add ``int(110 s)`` (clipped to 255) to the pixels below 128
=============  ==========================================================================

Geometric ops (rotate, shear, translate) use TF's ``ImageProjectiveTransformV3`` semantics
with the arguments the authors' code passes: nearest neighbour (round half away from zero)
and ``fill_mode="reflect"``. The wrap/unwrap with fill value 128 around them never fills
anything: reflection maps every output pixel inside the image, so the alpha channel that
``unwrap`` tests is never 0. Only Cutout fills with 128.

Every op sees and returns uint8 levels: float32 (H, W, C) arrays holding integers in [0, 255]
(C = 3, or 1: grey = the image). Blends and float ops truncate to an integer as TF's
``cast`` to uint8 does. ``tests/test_randaugment_jax.py`` checks each op against hand-computed
values and against TensorFlow ops applied with the same formula.

    draws = draw_layers(key, num_layers=2, height=36, width=36)   # per example
    image = apply_layers(image, draws, magnitude=1.0)             # float32 (36, 36, 3)
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

MAX_LEVEL = 10.0
CUTOUT_CONST = 40.0
TRANSLATE_CONST = 100.0
FILL_VALUE = 128.0  # Cutout's fill.
GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale.
OPS: tuple[str, ...] = (
    "auto_contrast", "equalize", "invert", "rotate", "posterize", "solarize", "color",
    "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y",
    "cutout", "solarize_add",
)
IDENTITY = len(OPS)  # The 17th branch.
NUM_BRANCHES = len(OPS) + 1
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")


@dataclasses.dataclass(frozen=True)
class OpArgs:
    """The ops' arguments at one magnitude (``level_to_arg`` of the authors' code)."""

    enhance: float  # Color / Contrast / Brightness / Sharpness factor.
    rotate_degrees: float  # Before the random sign.
    shear: float  # Before the random sign.
    translate_pixels: float  # Before the random sign.
    posterize_bits: int
    solarize_threshold: int
    solarize_addition: int
    cutout_half: int  # Half the side of the cutout square.


def op_args(magnitude: float) -> OpArgs:
    """:class:`OpArgs` at ``magnitude`` (0-10 scale), with the authors' float/int rounding."""
    s = float(magnitude) / MAX_LEVEL
    return OpArgs(
        enhance=s * 1.8 + 0.1,
        rotate_degrees=s * 30.0,
        shear=s * 0.3,
        translate_pixels=s * TRANSLATE_CONST,
        posterize_bits=int(s * 4),
        solarize_threshold=int(s * 256),
        solarize_addition=int(s * 110),
        cutout_half=int(s * CUTOUT_CONST),
    )


# --- Blends and colour ops: float32 (H, W, C) uint8 levels -> same ----------------------------


def to_uint8_levels(x: jax.Array) -> jax.Array:
    """Clip to [0, 255] and truncate, as TF's ``cast`` of a clipped float to uint8."""
    return jnp.floor(jnp.clip(x, 0.0, 255.0))


def blend(degenerate: jax.Array, image: jax.Array, factor: float | jax.Array) -> jax.Array:
    """``degenerate + factor (image - degenerate)``, clipped and truncated (TF ``blend``);
    ``degenerate`` broadcasts against ``image`` (H, W, C)."""
    return to_uint8_levels(degenerate + factor * (image - degenerate))


def grey(image: jax.Array) -> jax.Array:
    """(H, W, 3) -> (H, W, 1) ``tf.image.rgb_to_grayscale`` of uint8 levels: the weighted sum
    of ``x / 255``, times 255.5, truncated; (H, W, 1) images are returned as they are."""
    if image.shape[-1] != 3:
        return image
    scaled = image * jnp.float32(1.0 / 255.0)
    total = (scaled[..., 0] * GREY_WEIGHTS[0] + scaled[..., 1] * GREY_WEIGHTS[1]
             + scaled[..., 2] * GREY_WEIGHTS[2])
    return jnp.floor(total * jnp.float32(255.5))[..., None]


def color(image: jax.Array, factor: float) -> jax.Array:
    """Blend with the grey image."""
    return blend(grey(image), image, factor)


def contrast(image: jax.Array, factor: float) -> jax.Array:
    """Blend with the constant ``int(H W / 256)`` (the authors' histogram sum over 256)."""
    h, w = image.shape[0], image.shape[1]
    return blend(jnp.float32(min(math.floor(h * w / 256.0), 255)), image, factor)


def brightness(image: jax.Array, factor: float) -> jax.Array:
    """Blend with black: ``int(clip(factor x))``."""
    return blend(jnp.zeros_like(image), image, factor)


def pil_smooth(image: jax.Array, quantize) -> jax.Array:
    """PIL's SMOOTH filter of an (H, W, C) image: the 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13
    on the valid part, quantized by ``quantize`` (truncation or rounding to uint8 levels), and
    the one-pixel border kept from ``image``. Shared by both RandAugment lists' sharpness."""
    h, w, c = image.shape
    kernel = jnp.asarray([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], jnp.float32) / 13.0
    kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, c))  # HWIO, one group per channel.
    smooth = jax.lax.conv_general_dilated(
        image[None], kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c, precision=jax.lax.Precision.HIGHEST)[0]
    smooth = jnp.pad(quantize(smooth), ((1, 1), (1, 1), (0, 0)))
    interior = jnp.zeros((h, w, 1), bool).at[1:-1, 1:-1].set(True)
    return jnp.where(interior, smooth, image)


def sharpness(image: jax.Array, factor: float) -> jax.Array:
    """Blend with the PIL-smoothed image, its valid part truncated to uint8 (:func:`pil_smooth`)."""
    return blend(pil_smooth(image, to_uint8_levels), image, factor)


def posterize(image: jax.Array, bits: int) -> jax.Array:
    """Keep the top ``bits`` bits; the shift is clamped to [0, 7] (TF's uint8 shifts)."""
    shift = min(max(8 - int(bits), 0), 7)
    ints = image.astype(jnp.int32)
    return ((ints >> shift) << shift).astype(jnp.float32)


def solarize(image: jax.Array, threshold: int) -> jax.Array:
    """Invert the pixels ``>= threshold % 256`` (the threshold is converted to uint8)."""
    return jnp.where(image < float(int(threshold) % 256), image, 255.0 - image)


def solarize_add(image: jax.Array, addition: int, threshold: int = 128) -> jax.Array:
    """Add ``addition`` (clipped to [0, 255]) to the pixels below ``threshold``."""
    return jnp.where(image < threshold, jnp.clip(image + addition, 0.0, 255.0), image)


def invert(image: jax.Array) -> jax.Array:
    """``255 - x``."""
    return 255.0 - image


def auto_contrast(image: jax.Array) -> jax.Array:
    """Per channel: ``int(clip(x * 255 / (hi - lo) - lo * 255 / (hi - lo)))`` where hi > lo."""
    lo = jnp.min(image, axis=(0, 1), keepdims=True)
    hi = jnp.max(image, axis=(0, 1), keepdims=True)
    scale = 255.0 / jnp.where(hi > lo, hi - lo, 1.0)
    stretched = to_uint8_levels(image * scale + (-lo * scale))
    return jnp.where(hi > lo, stretched, image)


def equalize(image: jax.Array) -> jax.Array:
    """Per-channel histogram equalisation (PIL / TF Model Garden): ``step = (pixels - count of
    the highest occupied level) // 255``, lookup ``(cumsum + step // 2) // step`` shifted by
    one level; channels with ``step == 0`` unchanged. float32 (H, W, C) -> same."""
    h, w, c = image.shape
    ints = jnp.clip(jnp.round(image), 0, 255).astype(jnp.int32).reshape(h * w, c)
    hist = jax.vmap(lambda v: jnp.bincount(v, length=256), in_axes=1)(ints)  # (C, 256)
    top = jnp.take_along_axis(hist, jnp.max(ints, axis=0)[:, None], axis=1)[:, 0]
    step = (h * w - top) // 255
    safe_step = jnp.maximum(step, 1)[:, None]
    lut = (jnp.cumsum(hist, axis=1) + safe_step // 2) // safe_step
    lut = jnp.clip(jnp.concatenate([jnp.zeros((c, 1), jnp.int32), lut[:, :-1]], 1), 0, 255)
    equalized = jnp.take_along_axis(lut, ints.T, axis=1).T.astype(jnp.float32)
    return jnp.where(step > 0, equalized, image.reshape(h * w, c)).reshape(h, w, c)


def cutout(image: jax.Array, center: jax.Array, half: int) -> jax.Array:
    """Fill rows ``[cy - half, cy + half)`` x cols ``[cx - half, cx + half)`` (clipped to the
    image) with 128; ``center`` int (2,) = (cy, cx)."""
    h, w = image.shape[0], image.shape[1]
    rows = jnp.arange(h)[:, None, None]
    cols = jnp.arange(w)[None, :, None]
    inside = ((rows >= center[0] - half) & (rows < center[0] + half)
              & (cols >= center[1] - half) & (cols < center[1] + half))
    return jnp.where(inside, FILL_VALUE, image)


# --- Geometric ops: TF's projective transform, nearest, fill_mode reflect ----------------------


def _reflect(coord: jax.Array, size: int) -> jax.Array:
    """TF's ``MapCoordinate<FILL_REFLECT>``: (d c b a | a b c d | d c b a), then clamped to
    [0, size - 1]; float32 coordinates."""
    if size <= 1:
        return jnp.zeros_like(coord)
    period = 2.0 * size
    neg = period * jnp.trunc(-coord / period) + coord
    neg = jnp.where(neg < -size, neg + period, -neg - 1.0)
    pos = coord - period * jnp.trunc(coord / period)
    pos = jnp.where(pos >= size, period - pos - 1.0, pos)
    mapped = jnp.where(coord < 0, neg, jnp.where(coord > size - 1, pos, coord))
    return jnp.clip(mapped, 0.0, size - 1.0)


def transform(image: jax.Array, t: jax.Array) -> jax.Array:
    """Affine transform of (H, W, C): output pixel (x, y) reads the input at
    ``(t0 x + t1 y + t2, t3 x + t4 y + t5)`` (reflected, rounded half away from zero);
    ``t`` float32 (6,) (the first six of TF's 8 parameters, the projective part being 0)."""
    h, w = image.shape[0], image.shape[1]
    y, x = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
    x_in = _reflect(t[0] * x + t[1] * y + t[2], w)
    y_in = _reflect(t[3] * x + t[4] * y + t[5], h)
    col = jnp.floor(x_in + 0.5).astype(jnp.int32)  # Non-negative: std::round.
    row = jnp.floor(y_in + 0.5).astype(jnp.int32)
    return image[row, col]


def rotate_params(degrees: jax.Array, height: int, width: int) -> jax.Array:
    """float32 (6,): rotation by ``degrees`` about ((W-1)/2, (H-1)/2) (TF Model Garden)."""
    radians = jnp.asarray(degrees, jnp.float32) * jnp.float32(math.pi / 180.0)
    c, s = jnp.cos(radians), jnp.sin(radians)
    wm, hm = jnp.float32(width - 1), jnp.float32(height - 1)
    x_off = (wm - (c * wm - s * hm)) / 2.0
    y_off = (hm - (s * wm + c * hm)) / 2.0
    return jnp.stack([c, -s, x_off, s, c, y_off])


def _affine(a0, a1, a2, b0, b1, b2) -> jax.Array:
    return jnp.stack([jnp.asarray(v, jnp.float32) for v in (a0, a1, a2, b0, b1, b2)])


def shear_x_params(level: jax.Array) -> jax.Array:
    """Input x = x + level y."""
    return _affine(1.0, level, 0.0, 0.0, 1.0, 0.0)


def shear_y_params(level: jax.Array) -> jax.Array:
    """Input y = level x + y."""
    return _affine(1.0, 0.0, 0.0, level, 1.0, 0.0)


def translate_x_params(pixels: jax.Array) -> jax.Array:
    """Input x = x + pixels (content moves left for positive ``pixels``)."""
    return _affine(1.0, 0.0, pixels, 0.0, 1.0, 0.0)


def translate_y_params(pixels: jax.Array) -> jax.Array:
    """Input y = y + pixels."""
    return _affine(1.0, 0.0, 0.0, 0.0, 1.0, pixels)


def rotate(image: jax.Array, degrees: float | jax.Array) -> jax.Array:
    return transform(image, rotate_params(degrees, image.shape[0], image.shape[1]))


def shear_x(image: jax.Array, level: float | jax.Array) -> jax.Array:
    return transform(image, shear_x_params(level))


def shear_y(image: jax.Array, level: float | jax.Array) -> jax.Array:
    return transform(image, shear_y_params(level))


def translate_x(image: jax.Array, pixels: float | jax.Array) -> jax.Array:
    return transform(image, translate_x_params(pixels))


def translate_y(image: jax.Array, pixels: float | jax.Array) -> jax.Array:
    return transform(image, translate_y_params(pixels))


# --- RandAugment --------------------------------------------------------------------------------


class LayerDraws(NamedTuple):
    """The random choices of ``L`` RandAugment layers for one image."""

    ops: jax.Array  # int32 (L,): branch in [0, 17); 16 = identity.
    positive: jax.Array  # bool (L,): sign of rotate / shear / translate.
    centers: jax.Array  # int32 (L, 2): cutout centre (row, col).


def draw_layers(key: jax.Array, num_layers: int, height: int, width: int) -> LayerDraws:
    """Uniform branch, fair sign and uniform cutout centre for each of ``num_layers`` layers."""
    op_key, sign_key, row_key, col_key = jax.random.split(key, 4)
    ops = jax.random.randint(op_key, (num_layers,), 0, NUM_BRANCHES)
    positive = jax.random.bernoulli(sign_key, 0.5, (num_layers,))
    rows = jax.random.randint(row_key, (num_layers,), 0, height)
    cols = jax.random.randint(col_key, (num_layers,), 0, width)
    return LayerDraws(ops.astype(jnp.int32), positive, jnp.stack([rows, cols], -1))


def _geometric_params(op: jax.Array, sign: jax.Array, args: OpArgs, h: int,
                      w: int) -> jax.Array:
    """float32 (6,): the transform of geometric OPS[op] with its signed argument."""
    table = jnp.stack([
        rotate_params(sign * args.rotate_degrees, h, w),
        shear_x_params(sign * args.shear),
        shear_y_params(sign * args.shear),
        translate_x_params(sign * args.translate_pixels),
        translate_y_params(sign * args.translate_pixels),
    ])
    geometric_index = jnp.asarray([GEOMETRIC.index(n) if n in GEOMETRIC else 0 for n in OPS]
                                  + [0], jnp.int32)
    return table[geometric_index[op]]


def apply_op(image: jax.Array, op: jax.Array, positive: jax.Array, center: jax.Array,
             args: OpArgs) -> jax.Array:
    """Applies branch ``op`` (OPS index, or IDENTITY) to one float32 (H, W, C) image.

    ``positive``: bool scalar, the sign of a geometric op's argument; ``center``: int (2,),
    the cutout centre. The five geometric ops share one branch (one pixel gather).
    """
    h, w = image.shape[0], image.shape[1]
    sign = jnp.where(positive, 1.0, -1.0).astype(jnp.float32)
    params = _geometric_params(op, sign, args, h, w)
    f = args.enhance
    named = {
        "auto_contrast": auto_contrast,
        "equalize": equalize,
        "invert": invert,
        "posterize": lambda x: posterize(x, args.posterize_bits),
        "solarize": lambda x: solarize(x, args.solarize_threshold),
        "color": lambda x: color(x, f),
        "contrast": lambda x: contrast(x, f),
        "brightness": lambda x: brightness(x, f),
        "sharpness": lambda x: sharpness(x, f),
        "cutout": lambda x: cutout(x, center, args.cutout_half),
        "solarize_add": lambda x: solarize_add(x, args.solarize_addition),
    }
    names = [n for n in OPS if n not in GEOMETRIC]
    branches = ([lambda x: x, lambda x: transform(x, params)]
                + [named[n] for n in names])
    op_branch = [1 if n in GEOMETRIC else 2 + names.index(n) for n in OPS] + [0]
    return jax.lax.switch(jnp.asarray(op_branch, jnp.int32)[op], branches, image)


def apply_layers(image: jax.Array, draws: LayerDraws, magnitude: float) -> jax.Array:
    """The layers of ``draws`` in turn on one image of uint8 levels, float32 (H, W, C)."""
    args = op_args(magnitude)
    for i in range(draws.ops.shape[0]):
        image = apply_op(image, draws.ops[i], draws.positive[i], draws.centers[i], args)
    return image


def randaugment(image: jax.Array, key: jax.Array, num_layers: int,
                magnitude: float) -> jax.Array:
    """The authors' RandAugment(num_layers, magnitude) on one float32 (H, W, C) image of
    uint8 levels, its randomness from ``key``; returns the same shape, uint8 levels."""
    if num_layers <= 0:
        return image
    draws = draw_layers(key, num_layers, image.shape[0], image.shape[1])
    return apply_layers(image, draws, magnitude)
