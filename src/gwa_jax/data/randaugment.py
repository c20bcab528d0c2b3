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
"""

from __future__ import annotations

import math

import tensorflow as tf

MAX_LEVEL = 10.0
FILL_VALUE = 128.0
OPS: tuple[str, ...] = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "auto_contrast",
    "equalize",
)


def _grey(image: tf.Tensor) -> tf.Tensor:
    if image.shape[-1] == 3:
        weights = tf.constant([0.2989, 0.587, 0.114], tf.float32)
        return tf.reduce_sum(image * weights, axis=-1, keepdims=True)
    return image


def _blend(degenerate: tf.Tensor, image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 255.0)


def _transform(image: tf.Tensor, transform: list) -> tf.Tensor:
    """Projective transform mapping output (x, y) to input coordinates."""
    matrix = tf.cast(tf.stack(transform), tf.float32)[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=matrix,
        output_shape=tf.shape(image)[:2],
        fill_value=FILL_VALUE,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )
    return tf.ensure_shape(out[0], image.shape)


def _shear(image, level, axis):
    k = 0.3 * level
    h, w = image.shape[0], image.shape[1]
    zero, one = tf.constant(0.0), tf.constant(1.0)
    if axis == 0:  # x_in = x + k (y - cy)
        return _transform(image, [one, k, -k * (h - 1) / 2, zero, one, zero, zero, zero])
    return _transform(image, [one, zero, zero, k, one, -k * (w - 1) / 2, zero, zero])


def _translate(image, level, axis):
    zero, one = tf.constant(0.0), tf.constant(1.0)
    size = image.shape[1] if axis == 0 else image.shape[0]
    d = -0.45 * level * size
    if axis == 0:
        return _transform(image, [one, zero, d, zero, one, zero, zero, zero])
    return _transform(image, [one, zero, zero, zero, one, d, zero, zero])


def _rotate(image, level):
    angle = level * (30.0 * math.pi / 180.0)
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    c, s = tf.cos(angle), tf.sin(angle)
    zero = tf.constant(0.0)
    return _transform(image, [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, zero, zero])


def _sharpness(image, factor):
    channels = image.shape[-1]
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    smooth = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    interior = tf.pad(tf.ones_like(smooth[1:-1, 1:-1]), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.where(interior > 0, tf.round(smooth), image)
    return _blend(degenerate, image, factor)


def _posterize(image, level):
    bits = tf.clip_by_value(8 - tf.cast(tf.round(4.0 * tf.abs(level)), tf.int32), 1, 8)
    shift = 8 - bits
    ints = tf.cast(tf.round(image), tf.int32)
    return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(ints, shift), shift), tf.float32)


def _solarize(image, level):
    threshold = tf.maximum(256.0 * (1.0 - tf.abs(level)), 0.0)
    return tf.where(image >= threshold, 255.0 - image, image)


def _auto_contrast(image):
    lo = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    hi = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    scale = tf.where(hi > lo, 255.0 / tf.maximum(hi - lo, 1e-6), 1.0)
    offset = tf.where(hi > lo, lo, 0.0)
    return tf.clip_by_value((image - offset) * scale, 0.0, 255.0)


def _equalize_channel(channel):
    ints = tf.cast(tf.clip_by_value(tf.round(channel), 0, 255), tf.int32)
    hist = tf.math.bincount(tf.reshape(ints, [-1]), minlength=256, maxlength=256)
    nonzero = tf.boolean_mask(hist, hist > 0)
    step = (tf.reduce_sum(nonzero) - nonzero[-1]) // 255
    safe_step = tf.maximum(step, 1)
    lut = (tf.cumsum(hist) + safe_step // 2) // safe_step
    lut = tf.clip_by_value(tf.concat([[0], lut[:-1]], 0), 0, 255)
    equalized = tf.cast(tf.gather(lut, ints), tf.float32)
    return tf.where(step > 0, equalized, channel)


def _equalize(image):
    channels = [_equalize_channel(image[:, :, c]) for c in range(image.shape[-1])]
    return tf.stack(channels, axis=-1)


def _apply(op_index: tf.Tensor, image: tf.Tensor, level: tf.Tensor) -> tf.Tensor:
    """Applies OPS[op_index] at signed strength ``level`` (= +-m/10)."""
    factor = tf.maximum(1.0 + 0.9 * level, 0.0)
    branches = [
        lambda: image,
        lambda: _shear(image, level, 0),
        lambda: _shear(image, level, 1),
        lambda: _translate(image, level, 0),
        lambda: _translate(image, level, 1),
        lambda: _rotate(image, level),
        lambda: _blend(tf.zeros_like(image), image, factor),
        lambda: _blend(_grey(image), image, factor),
        lambda: _blend(tf.reduce_mean(_grey(image)), image, factor),
        lambda: _sharpness(image, factor),
        lambda: _posterize(image, level),
        lambda: _solarize(image, level),
        lambda: _auto_contrast(image),
        lambda: _equalize(image),
    ]
    assert len(branches) == len(OPS)
    return tf.ensure_shape(tf.switch_case(op_index, branches), image.shape)


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
    op_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    ops = tf.random.stateless_uniform([num_ops], op_seed, 0, len(OPS), dtype=tf.int32)
    signs = tf.where(tf.random.stateless_uniform([num_ops], sign_seed) < 0.5, -1.0, 1.0)
    strength = float(magnitude) / MAX_LEVEL
    for i in range(num_ops):
        image = _apply(ops[i], image, signs[i] * strength)
    return image
