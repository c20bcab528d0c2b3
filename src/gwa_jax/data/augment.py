"""Stateless TensorFlow image ops for training and evaluation (paper Table 4).

Every random op takes an explicit stateless seed (int32/int64 tensor of shape (2,)), so its
output is a pure function of its inputs: the same (config.seed, epoch) gives the same batches
whatever the tf.data parallelism. Images inside the pipeline are float32 in [0, 255]; the final
batch is mapped to [-1, 1] by :func:`to_model_range` (the range of the AugReg ViT weights).
"""

from __future__ import annotations

from gwa_jax.data.augment_constants import PAD_CROP_PIXELS
from gwa_jax.data.tf_setup import tf

RESIZE_RATIO = 0.875  # Evaluation: resize the shorter side to size / 0.875, center crop size.
INCEPTION_AREA = (0.05, 1.0)
INCEPTION_ASPECT = (3.0 / 4.0, 4.0 / 3.0)


def fold_in(seed: tf.Tensor, data: tf.Tensor | int) -> tf.Tensor:
    """Derives a new stateless seed (int32 (2,)) from ``seed`` and an integer."""
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(data, tf.int64))


def split_seed(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """Splits a stateless seed into ``num`` independent seeds."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, num))


def to_model_range(images: tf.Tensor) -> tf.Tensor:
    """float32/uint8 [0, 255] -> float32 [-1, 1], same shape."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


# --- Per-example ops: image float32 (H, W, C) ------------------------------------------------


def pad_crop(image: tf.Tensor, seed: tf.Tensor, pad: int = PAD_CROP_PIXELS) -> tf.Tensor:
    """Zero-pads ``pad`` pixels on each side and takes a random crop of the original size."""
    h, w = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([2], seed, 0, 2 * pad + 1, dtype=tf.int32)
    return tf.slice(padded, [offsets[0], offsets[1], 0], [h, w, image.shape[2]])


def flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Horizontal flip with probability 1/2."""
    do_flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(do_flip, lambda: tf.reverse(image, [1]), lambda: image)


def inception_window(shape: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The random window of :func:`inception_crop` for an image of ``shape`` int32 (3,).

    Returns ``(begin, size)``, int32 (3,) each, ``[y, x, 0]`` and ``[h, w, -1]``; a function
    of the image's height, width and the seed only.
    """
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=INCEPTION_ASPECT,
        area_range=INCEPTION_AREA,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return begin, crop_size


def inception_crop(image: tf.Tensor, seed: tf.Tensor, size: int) -> tf.Tensor:
    """Inception-style crop (5%-100% area, aspect 3/4-4/3) resized (bilinear) to size x size.

    ``image``: uint8 or float32 (H, W, C); returns float32 (size, size, C) (the bilinear
    kernel reads uint8 pixels as floats, so both dtypes give the same output).
    """
    begin, crop_size = inception_window(tf.shape(image), seed)
    crop = tf.ensure_shape(tf.slice(image, begin, crop_size), [None, None, image.shape[-1]])
    return resize_crop(crop, size)


def resize_crop(crop: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear resize of a (h, w, C) crop to float32 (size, size, C)."""
    out = tf.image.resize(crop, [size, size], method="bilinear")
    return tf.ensure_shape(out, [size, size, crop.shape[-1]])


def resize_center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The authors' evaluation resize (big_vision ``resize_small`` + ``central_crop``).

    The shorter side goes to ``round(size / 0.875)`` (256 for 224) with the aspect ratio kept
    (each side ``round(side * factor)``), by area averaging without antialiasing, then the
    result is clipped to [0, 255] and cast to uint8 (truncating, as their ``_resize_factor``
    does) before the center ``size x size`` crop (offsets ``(side - size) // 2``).

    Args:
      image: (H, W, C) uint8 or float32 in [0, 255].
      size: the crop side.

    Returns:
      float32 (size, size, C) in [0, 255] with integer values.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = round(size / RESIZE_RATIO) / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * factor), tf.int32), size)
    resized = tf.image.resize(tf.cast(image, tf.float32), new, method="area", antialias=False)
    resized = tf.cast(tf.cast(tf.clip_by_value(resized, 0.0, 255.0), tf.uint8), tf.float32)
    top = (new[0] - size) // 2
    left = (new[1] - size) // 2
    out = tf.slice(resized, [top, left, 0], [size, size, -1])
    return tf.ensure_shape(out, [size, size, image.shape[-1]])


# --- Batch ops: images float32 (B, H, W, C) ---------------------------------------------------


def pad_crop_batch(images: tf.Tensor, seed: tf.Tensor, pad: int = PAD_CROP_PIXELS) -> tf.Tensor:
    """Vectorised :func:`pad_crop` with an independent offset per image."""
    b, h, w = images.shape[0], images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([b, 2], seed, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None]  # (B, H)
    cols = offsets[:, 1:] + tf.range(w)[None]  # (B, W)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def flip_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Vectorised :func:`flip`."""
    do_flip = tf.random.stateless_uniform([images.shape[0]], seed) < 0.5
    return tf.where(do_flip[:, None, None, None], tf.reverse(images, [2]), images)


def smooth_one_hot(labels: tf.Tensor, num_classes: int, smoothing: float) -> tf.Tensor:
    """int (B,) -> float32 (B, C) ``(1 - s) * one_hot + s / C``."""
    one_hot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    if smoothing:
        one_hot = one_hot * (1.0 - smoothing) + smoothing / num_classes
    return one_hot


def jax_key_data(seed: tf.Tensor) -> tf.Tensor:
    """uint32 (2,): JAX threefry key data drawn from a stateless seed, for the ops that run
    in JAX (:mod:`gwa_jax.data.augment_jax`: the authors' chain, mixup)."""
    return tf.random.stateless_uniform([2], seed, minval=None, maxval=None, dtype=tf.uint32)
