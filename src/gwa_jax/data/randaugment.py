"""Compact stateless RandAugment (Cubuk et al. 2020) for tf.data pipelines.

Why not ``keras.layers.RandAugment``: it draws its randomness from a stateful
``keras.random.SeedGenerator`` (``draw_seed`` accepts only an int, None or a SeedGenerator,
not a per-example seed tensor), so under a parallel ``tf.data`` map the result depends on the
execution order and a resumed run could not replay an epoch. It also picks the same ops for a
whole batch and samples each op's strength in [0, factor] instead of using a fixed magnitude.

This implementation is a pure function of (image, seed). For each of ``num_ops`` layers it
draws one op uniformly from the 14 ops of the torchvision/timm RandAugment list and applies it
at the fixed magnitude ``m`` on the AutoAugment 0-10 scale (``s = m / 10``; m > 10
extrapolates, as in AugReg's ``randaug(2, 15)`` / ``randaug(2, 20)``), with a random sign for
the signed ops:

========================  ===============================================================
Identity                  no-op
ShearX, ShearY            shear factor ``+-0.3 s`` about the image centre
TranslateX, TranslateY    ``+-0.45 s`` of the width / height (= 100 px at 224 px)
Rotate                    ``+-30 s`` degrees about the centre
Brightness                blend with black, factor ``1 +- 0.9 s`` (clipped at 0)
Color                     blend with the grey image (identity for 1-channel images)
Contrast                  blend with the mean grey level
Sharpness                 blend with the 3x3 smoothed image (PIL kernel), borders kept
Posterize                 keep ``8 - round(4 s)`` bits (at least 1)
Solarize                  invert pixels >= ``256 (1 - s)`` (none at m = 0)
AutoContrast              per-channel min/max stretch to [0, 255]
Equalize                  per-channel histogram equalisation (PIL algorithm)
========================  ===============================================================

Geometric ops use nearest-neighbour sampling and fill with grey (128), as the TPU/big_vision
implementation. Images are float32 (H, W, C) in [0, 255], C = 1 or 3.

Speed. The outputs are bit-identical to :mod:`gwa_jax.data.randaugment_reference` (the first
implementation, kept for the benchmark and the equality test) at ~60% of its CPU time
(``results/bench/loader_imagenet.json``):

* geometric ops gather the pixels through index maps: the same projective-transform kernel
  run on a one-channel int32 image of pixel indices (the source coordinates do not depend on
  the channel or dtype), once per image size and magnitude (10 maps: 5 ops x 2 signs);
* selects use the ``Select`` kernel with operands of equal shape (``tf.where`` dispatches to
  ``SelectV2``, whose broadcasting kernel is much slower on CPU);
* equalize builds the three channels' histograms and lookup tables in one pass;
* binary ops get operands of equal shape (constant weights / offsets, the grey image tiled to
  three channels): TF's CPU kernels are much slower when they broadcast.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gwa_jax.data.augment_constants import FILL_VALUE, GREY_WEIGHTS, MAX_LEVEL, OP_BRANCH, OPS
from gwa_jax.data.tf_setup import tf

__all__ = ["FILL_VALUE", "GREY_WEIGHTS", "MAX_LEVEL", "OPS", "randaug_draws", "randaugment"]


def _grey(image: tf.Tensor) -> tf.Tensor:
    if image.shape[-1] == 3:
        weights = tf.constant(GREY_WEIGHTS, tf.float32)
        return tf.reduce_sum(image * weights, axis=-1, keepdims=True)
    return image


def _full(values: tuple, shape: tf.TensorShape, dtype: tf.DType) -> tf.Tensor:
    """A constant of ``shape`` repeating ``values`` along the last axis (the CPU kernels of
    binary ops are several times faster on operands of equal shape than when broadcasting)."""
    return tf.constant(np.broadcast_to(np.asarray(values, dtype.as_numpy_dtype), shape))


def _grey_fast(image: tf.Tensor) -> tf.Tensor:
    """:func:`_grey` (same products, same sums) with unbroadcast weights."""
    if image.shape[-1] != 3:
        return image
    weights = _full(GREY_WEIGHTS, image.shape, tf.float32)
    return tf.reduce_sum(image * weights, axis=-1, keepdims=True)


def _color(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Blend with the grey image, tiled to the image's channels (one copy, no broadcasts)."""
    return _blend(tf.tile(_grey_fast(image), [1, 1, image.shape[-1]]), image, factor)


def _blend(degenerate: tf.Tensor, image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 255.0)


def _select(condition: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """``tf.where`` for operands of equal shape through the (fast) ``Select`` kernel."""
    return tf.raw_ops.Select(condition=condition, x=x, y=y)


def _index_map(h: int, w: int, transform: list) -> tf.Tensor:
    """int32 (H * W,): for each output pixel, the flat index of its source pixel under the
    projective transform (nearest neighbour), or ``H * W`` where it falls outside (fill)."""
    matrix = tf.cast(tf.stack(transform), tf.float32)[None]
    iota = tf.reshape(tf.range(h * w, dtype=tf.int32), [1, h, w, 1])
    index = tf.raw_ops.ImageProjectiveTransformV3(
        images=iota,
        transforms=matrix,
        output_shape=[h, w],
        fill_value=float(h * w),
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )
    return tf.reshape(index, [h * w])


def _gather_pixels(image: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    """Output pixel p = pixel ``index[p]`` of ``image`` (grey fill for ``H * W``)."""
    h, w, c = image.shape
    pixels = tf.concat([tf.reshape(image, [h * w, c]), tf.fill([1, c], FILL_VALUE)], 0)
    return tf.reshape(tf.gather(pixels, index), [h, w, c])


def _transform(image: tf.Tensor, transform: list) -> tf.Tensor:
    """Projective transform mapping output (x, y) to input coordinates (nearest, fill 128).

    The kernel maps the one-channel int32 image of flat pixel indices (the source coordinates
    do not depend on the channel or dtype); the pixels are then gathered by index.
    """
    return _gather_pixels(image, _index_map(image.shape[0], image.shape[1], transform))


def _geometric_matrices(h: int, w: int, level: tf.Tensor) -> list:
    """The transforms of OPS[1:6] (shear x / y, translate x / y, rotate) at ``level``."""
    return [
        _shear_matrix(h, w, level, 0),
        _shear_matrix(h, w, level, 1),
        _translate_matrix(h, w, level, 0),
        _translate_matrix(h, w, level, 1),
        _rotate_matrix(h, w, level),
    ]


@functools.lru_cache(maxsize=16)
def _index_tables(h: int, w: int, strength: float) -> np.ndarray:
    """int32 (2, 5, H * W): the index maps of the geometric ops at level -strength ([0]) and
    +strength ([1]), computed once (eagerly) with the same ops as :func:`_transform`."""
    with tf.init_scope():
        maps = [
            [_index_map(h, w, m).numpy() for m in _geometric_matrices(h, w, sign * strength)]
            for sign in (tf.constant(-1.0), tf.constant(1.0))
        ]
    return np.asarray(maps, np.int32)


def _shear_matrix(h: int, w: int, level: tf.Tensor, axis: int) -> list:
    k = 0.3 * level
    zero, one = tf.constant(0.0), tf.constant(1.0)
    if axis == 0:  # x_in = x + k (y - cy)
        return [one, k, -k * (h - 1) / 2, zero, one, zero, zero, zero]
    return [one, zero, zero, k, one, -k * (w - 1) / 2, zero, zero]


def _translate_matrix(h: int, w: int, level: tf.Tensor, axis: int) -> list:
    zero, one = tf.constant(0.0), tf.constant(1.0)
    size = w if axis == 0 else h
    d = -0.45 * level * size
    if axis == 0:
        return [one, zero, d, zero, one, zero, zero, zero]
    return [one, zero, zero, zero, one, d, zero, zero]


def _rotate_matrix(h: int, w: int, level: tf.Tensor) -> list:
    angle = level * (30.0 * math.pi / 180.0)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    c, s = tf.cos(angle), tf.sin(angle)
    zero = tf.constant(0.0)
    return [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, zero, zero]


def _shear(image, level, axis):
    return _transform(image, _shear_matrix(image.shape[0], image.shape[1], level, axis))


def _translate(image, level, axis):
    return _transform(image, _translate_matrix(image.shape[0], image.shape[1], level, axis))


def _rotate(image, level):
    return _transform(image, _rotate_matrix(image.shape[0], image.shape[1], level))


def _sharpness(image, factor):
    channels = image.shape[-1]
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    smooth = tf.pad(tf.round(smooth), [[1, 1], [1, 1], [0, 0]])
    h, w = image.shape[0], image.shape[1]
    interior = tf.pad(tf.ones([h - 2, w - 2, channels], tf.bool), [[1, 1], [1, 1], [0, 0]])
    degenerate = _select(interior, smooth, image)
    return _blend(degenerate, image, factor)


def _posterize(image, level):
    bits = tf.clip_by_value(8 - tf.cast(tf.round(4.0 * tf.abs(level)), tf.int32), 1, 8)
    shift = 8 - bits
    ints = tf.cast(tf.round(image), tf.int32)
    return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(ints, shift), shift), tf.float32)


def _solarize(image, level):
    threshold = tf.maximum(256.0 * (1.0 - tf.abs(level)), 0.0)
    return _select(image >= threshold, 255.0 - image, image)


def _auto_contrast(image):
    lo = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    hi = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    scale = tf.where(hi > lo, 255.0 / tf.maximum(hi - lo, 1e-6), 1.0)
    offset = tf.where(hi > lo, lo, 0.0)
    return tf.clip_by_value((image - offset) * scale, 0.0, 255.0)


def _equalize(image):
    """Per-channel histogram equalisation (PIL algorithm), all channels in one pass."""
    h, w, c = image.shape
    ints = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.int32)
    offsets = _full(tuple(256 * k for k in range(c)), image.shape, tf.int32)
    bins = tf.reshape(ints + offsets, [-1])  # Channel k uses bins 256k ... 256k+255.
    hist = tf.reshape(tf.math.bincount(bins, minlength=256 * c, maxlength=256 * c), [c, 256])
    # PIL: step = (sum of the histogram - count of the highest occupied level) // 255.
    top = tf.gather(hist, tf.reduce_max(ints, axis=[0, 1]), batch_dims=1)
    step = (h * w - top) // 255  # (C,)
    safe_step = tf.maximum(step, 1)[:, None]
    lut = (tf.cumsum(hist, axis=1) + safe_step // 2) // safe_step
    lut = tf.clip_by_value(tf.concat([tf.zeros([c, 1], tf.int32), lut[:, :-1]], 1), 0, 255)
    equalized = tf.cast(tf.gather(tf.reshape(lut, [-1]), bins), tf.float32)
    keep = tf.broadcast_to(step > 0, image.shape)
    return _select(keep, tf.reshape(equalized, image.shape), image)


def _apply(
    op_index: tf.Tensor, image: tf.Tensor, level: tf.Tensor, index_map: tf.Tensor | None = None
) -> tf.Tensor:
    """Applies OPS[op_index] at signed strength ``level`` (= +-m/10).

    ``index_map``: optional int32 (H * W,), the index map of OPS[op_index] at ``level`` when it
    is a geometric op (from :func:`_index_tables`; any map otherwise). With it, the five
    geometric ops share one graph branch (fewer untaken nodes per op); without it, their maps
    are computed on the fly.
    """
    factor = tf.maximum(1.0 + 0.9 * level, 0.0)
    if index_map is None:
        geometric = [
            lambda: _shear(image, level, 0),
            lambda: _shear(image, level, 1),
            lambda: _translate(image, level, 0),
            lambda: _translate(image, level, 1),
            lambda: _rotate(image, level),
        ]
    else:
        geometric = [lambda: _gather_pixels(image, index_map)]
        op_index = tf.gather(tf.constant(OP_BRANCH), op_index)
    branches = [
        lambda: image,
        *geometric,
        lambda: _blend(tf.zeros_like(image), image, factor),
        lambda: _color(image, factor),
        lambda: _blend(tf.reduce_mean(_grey_fast(image)), image, factor),
        lambda: _sharpness(image, factor),
        lambda: _posterize(image, level),
        lambda: _solarize(image, level),
        lambda: _auto_contrast(image),
        lambda: _equalize(image),
    ]
    assert len(branches) == len(OPS) - 5 + len(geometric)
    return tf.ensure_shape(tf.switch_case(op_index, branches), image.shape)


def randaug_draws(seed: tf.Tensor, num_ops: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The random choices of :func:`randaugment` for one image: the op indices into OPS,
    int32 (num_ops,), and whether each op's level is positive, bool (num_ops,)."""
    op_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    ops = tf.random.stateless_uniform([num_ops], op_seed, 0, len(OPS), dtype=tf.int32)
    positive = tf.random.stateless_uniform([num_ops], sign_seed) >= 0.5
    return ops, positive


def randaugment(image: tf.Tensor, seed: tf.Tensor, num_ops: int, magnitude: float) -> tf.Tensor:
    """Applies ``num_ops`` random ops at ``magnitude`` (0-10 scale) to one image.

    Args:
      image: float32 (H, W, C) in [0, 255], static shape.
      seed: stateless seed, int32/int64 (2,).
      num_ops: number of ops applied in sequence.
      magnitude: op strength on the AutoAugment 0-10 scale.

    Returns:
      float32 (H, W, C) in [0, 255].
    """
    if num_ops <= 0:
        return image
    ops, positive = randaug_draws(seed, num_ops)
    signs = tf.where(positive, 1.0, -1.0)
    strength = float(magnitude) / MAX_LEVEL
    tables = tf.constant(_index_tables(image.shape[0], image.shape[1], strength))
    for i in range(num_ops):
        geometric = tf.clip_by_value(ops[i] - 1, 0, 4)  # Any map for the other ops.
        index_map = tables[tf.cast(positive[i], tf.int32), geometric]
        image = _apply(ops[i], image, signs[i] * strength, index_map)
    return image
