"""The first implementation of :mod:`gwa_jax.data.randaugment`, kept as the reference.

Same ops, seeds and outputs (bit for bit) as the fast implementation, written the direct way:
geometric ops transform the float32 image with the projective-transform kernel, selects use
``tf.where`` and equalize works one channel at a time. Used by ``scripts/bench_loader.py
--preset imagenet`` (old vs new, side by side) and by the equality tests; training uses
:func:`gwa_jax.data.randaugment.randaugment`.
"""

from __future__ import annotations

from gwa_jax.data.randaugment import (
    FILL_VALUE,
    MAX_LEVEL,
    OPS,
    _auto_contrast,
    _blend,
    _grey,
    _posterize,
    _rotate_matrix,
    _shear_matrix,
    _translate_matrix,
)
from gwa_jax.data.tf_setup import tf


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


def _sharpness(image, factor):
    channels = image.shape[-1]
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    smooth = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    interior = tf.pad(tf.ones_like(smooth[1:-1, 1:-1]), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.where(interior > 0, tf.round(smooth), image)
    return _blend(degenerate, image, factor)


def _solarize(image, level):
    threshold = tf.maximum(256.0 * (1.0 - tf.abs(level)), 0.0)
    return tf.where(image >= threshold, 255.0 - image, image)


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
    h, w = image.shape[0], image.shape[1]
    factor = tf.maximum(1.0 + 0.9 * level, 0.0)
    branches = [
        lambda: image,
        lambda: _transform(image, _shear_matrix(h, w, level, 0)),
        lambda: _transform(image, _shear_matrix(h, w, level, 1)),
        lambda: _transform(image, _translate_matrix(h, w, level, 0)),
        lambda: _transform(image, _translate_matrix(h, w, level, 1)),
        lambda: _transform(image, _rotate_matrix(h, w, level)),
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
    """Reference version of :func:`gwa_jax.data.randaugment.randaugment` (same signature,
    same output): float32 (H, W, C) in [0, 255] -> float32 (H, W, C) in [0, 255]."""
    if num_ops <= 0:
        return image
    op_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    ops = tf.random.stateless_uniform([num_ops], op_seed, 0, len(OPS), dtype=tf.int32)
    signs = tf.where(tf.random.stateless_uniform([num_ops], sign_seed) < 0.5, -1.0, 1.0)
    strength = float(magnitude) / MAX_LEVEL
    for i in range(num_ops):
        image = _apply(ops[i], image, signs[i] * strength)
    return image
