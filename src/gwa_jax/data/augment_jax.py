"""The training augmentation (pad-crop, flip, RandAugment) in JAX, for data on the accelerator.

The tf.data pipeline (:mod:`gwa_jax.data.preprocess`) augments on the host with TensorFlow ops.
A loop that keeps the whole dataset on the device (``scripts/offline_full_size.py``, e.g. on a
GPU host without TensorFlow) uses these instead: the same ops at the same magnitudes and in
the same order as :mod:`gwa_jax.data.augment` and :mod:`gwa_jax.data.randaugment` (pad-crop,
flip, then ``num_ops`` RandAugment layers), vectorised over the batch and jittable.
``tests/test_augment_jax.py`` checks every op against its TensorFlow counterpart on the same
image and level.

What differs from the tf.data pipeline is the random stream: the draws come from
``jax.random`` keyed by (seed, epoch, id) (:func:`example_keys`) instead of TensorFlow's
stateless generators, so an example gets other crops and ops than under ``gwa-train``, from
the same distribution.

    keys = example_keys(jax.random.key(seed), epoch, ids)          # (B,) keys
    images = augment_batch(images, keys, pad_crop=True, flip=True,
                           randaug_num_ops=2, randaug_magnitude=1)  # float32 (B, H, W, C)

Images are float32 (B, H, W, C) in [0, 255] (uint8 is accepted), C = 1 or 3.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gwa_jax.data.augment_constants import (
    FILL_VALUE,
    GREY_WEIGHTS,
    MAX_LEVEL,
    OP_BRANCH,
    OPS,
    PAD_CROP_PIXELS,
)


def example_keys(key: jax.Array, epoch: int | jax.Array, ids: jax.Array) -> jax.Array:
    """One key per example: ``fold_in(fold_in(key, epoch), id)``; ids int (B,) -> keys (B,)."""
    epoch_key = jax.random.fold_in(key, epoch)
    return jax.vmap(lambda i: jax.random.fold_in(epoch_key, i))(ids)


# --- Geometric ops: index maps ---------------------------------------------------------------


def _geometric_matrices(h: int, w: int, level: float) -> list[list[np.float32]]:
    """The 8-parameter transforms (output (x, y) -> input coordinates) of shear x / y,
    translate x / y and rotate at ``level``, in float32 with the operation order of
    :mod:`gwa_jax.data.randaugment`."""
    f = np.float32
    level = f(level)
    zero, one = f(0.0), f(1.0)
    k = f(0.3) * level
    d_x = f(-0.45) * level * f(w)
    d_y = f(-0.45) * level * f(h)
    angle = level * f(30.0 * math.pi / 180.0)
    c, s = np.cos(angle, dtype=f), np.sin(angle, dtype=f)
    cy, cx = f((h - 1) / 2), f((w - 1) / 2)
    return [
        [one, k, -k * f(h - 1) / f(2), zero, one, zero, zero, zero],
        [one, zero, zero, k, one, -k * f(w - 1) / f(2), zero, zero],
        [one, zero, d_x, zero, one, zero, zero, zero],
        [one, zero, zero, zero, one, d_y, zero, zero],
        [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, zero, zero],
    ]


def _index_map(h: int, w: int, t: list[np.float32]) -> np.ndarray:
    """int32 (H * W,): the flat index of each output pixel's source pixel (nearest, rounding
    half away from zero), ``H * W`` where it falls outside the image (fill)."""
    f = np.float32
    y, x = np.meshgrid(np.arange(h, dtype=f), np.arange(w, dtype=f), indexing="ij")
    projection = t[6] * x + t[7] * y + f(1.0)
    x_in = (t[0] * x + t[1] * y + t[2]) / projection
    y_in = (t[3] * x + t[4] * y + t[5]) / projection
    col = np.trunc(x_in + np.copysign(f(0.5), x_in)).astype(np.int64)
    row = np.trunc(y_in + np.copysign(f(0.5), y_in)).astype(np.int64)
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    return np.where(inside, row * w + col, h * w).reshape(-1).astype(np.int32)


@functools.lru_cache(maxsize=16)
def geometric_index_tables(h: int, w: int, strength: float) -> np.ndarray:
    """int32 (2, 5, H * W): the index maps of the five geometric ops (OPS[1:6]) at level
    ``-strength`` ([0]) and ``+strength`` ([1]), as :mod:`gwa_jax.data.randaugment` builds
    them with TensorFlow's projective-transform kernel."""
    return np.asarray([[_index_map(h, w, m) for m in _geometric_matrices(h, w, sign * strength)]
                       for sign in (-1.0, 1.0)], np.int32)


def _gather_pixels(image: jax.Array, index: jax.Array) -> jax.Array:
    """(H, W, C) image, int32 (H * W,) map -> pixel ``index[p]`` at p (grey fill for H * W)."""
    h, w, c = image.shape
    pixels = jnp.concatenate([image.reshape(h * w, c), jnp.full((1, c), FILL_VALUE)], 0)
    return pixels[index].reshape(h, w, c)


# --- Photometric ops on one image (H, W, C) float32 --------------------------------------------


def _blend(degenerate: jax.Array, image: jax.Array, factor: jax.Array) -> jax.Array:
    return jnp.clip(degenerate + factor * (image - degenerate), 0.0, 255.0)


def _grey(image: jax.Array) -> jax.Array:
    if image.shape[-1] != 3:
        return image
    return jnp.sum(image * jnp.asarray(GREY_WEIGHTS, jnp.float32), axis=-1, keepdims=True)


def _mean(image: jax.Array) -> jax.Array:
    """Mean of an (H, W, C) image, rows first: XLA's CPU reduction adds the H * W * C values
    one after another, whose float32 error on a flat image (~1e-5 relative) exceeds that of
    TensorFlow's blocked sum; averaging each column first keeps both within ~1e-6."""
    return jnp.mean(jnp.mean(image, axis=0))


def _sharpness(image: jax.Array, factor: jax.Array) -> jax.Array:
    h, w, c = image.shape
    kernel = jnp.asarray([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], jnp.float32) / 13.0
    kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, c))  # HWIO, one group per channel.
    smooth = jax.lax.conv_general_dilated(
        image[None], kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c, precision=jax.lax.Precision.HIGHEST)[0]
    smooth = jnp.pad(jnp.round(smooth), ((1, 1), (1, 1), (0, 0)))
    interior = jnp.zeros((h, w, c), bool).at[1:-1, 1:-1].set(True)
    return _blend(jnp.where(interior, smooth, image), image, factor)


def _posterize(image: jax.Array, level: jax.Array) -> jax.Array:
    bits = jnp.clip(8 - jnp.round(4.0 * jnp.abs(level)).astype(jnp.int32), 1, 8)
    shift = 8 - bits
    ints = jnp.round(image).astype(jnp.int32)
    return ((ints >> shift) << shift).astype(jnp.float32)


def _solarize(image: jax.Array, level: jax.Array) -> jax.Array:
    threshold = jnp.maximum(256.0 * (1.0 - jnp.abs(level)), 0.0)
    return jnp.where(image >= threshold, 255.0 - image, image)


def _auto_contrast(image: jax.Array) -> jax.Array:
    lo = jnp.min(image, axis=(0, 1), keepdims=True)
    hi = jnp.max(image, axis=(0, 1), keepdims=True)
    scale = jnp.where(hi > lo, 255.0 / jnp.maximum(hi - lo, 1e-6), 1.0)
    offset = jnp.where(hi > lo, lo, 0.0)
    return jnp.clip((image - offset) * scale, 0.0, 255.0)


def _equalize(image: jax.Array) -> jax.Array:
    """Per-channel histogram equalisation (PIL algorithm)."""
    h, w, c = image.shape
    ints = jnp.clip(jnp.round(image), 0, 255).astype(jnp.int32).reshape(h * w, c)
    hist = jax.vmap(lambda v: jnp.bincount(v, length=256), in_axes=1)(ints)  # (C, 256)
    top = jnp.take_along_axis(hist, jnp.max(ints, axis=0)[:, None], axis=1)[:, 0]
    step = (h * w - top) // 255  # PIL: (pixels - count of the highest occupied level) // 255.
    safe_step = jnp.maximum(step, 1)[:, None]
    lut = (jnp.cumsum(hist, axis=1) + safe_step // 2) // safe_step
    lut = jnp.clip(jnp.concatenate([jnp.zeros((c, 1), jnp.int32), lut[:, :-1]], 1), 0, 255)
    equalized = jnp.take_along_axis(lut, ints.T, axis=1).T.astype(jnp.float32)
    return jnp.where(step > 0, equalized, image.reshape(h * w, c)).reshape(h, w, c)


def apply_op(op: jax.Array, image: jax.Array, level: jax.Array,
             index_map: jax.Array) -> jax.Array:
    """Applies OPS[op] at signed strength ``level`` (= +-m/10) to one float32 (H, W, C) image.

    ``index_map``: int32 (H * W,), the map of OPS[op] at ``level`` when it is a geometric op
    (a row of :func:`geometric_index_tables`; any map otherwise).
    """
    factor = jnp.maximum(1.0 + 0.9 * level, 0.0)
    branches = [
        lambda x: x,
        lambda x: _gather_pixels(x, index_map),
        lambda x: _blend(jnp.zeros_like(x), x, factor),
        lambda x: _blend(jnp.broadcast_to(_grey(x), x.shape), x, factor),
        lambda x: _blend(_mean(_grey(x)), x, factor),
        lambda x: _sharpness(x, factor),
        lambda x: _posterize(x, level),
        lambda x: _solarize(x, level),
        _auto_contrast,
        _equalize,
    ]
    branch = jnp.asarray(OP_BRANCH, jnp.int32)[op]
    return jax.lax.switch(branch, branches, image)


def randaugment(image: jax.Array, key: jax.Array, num_ops: int, magnitude: float) -> jax.Array:
    """``num_ops`` ops drawn uniformly from OPS, each with a random sign, at ``magnitude``
    (0-10 scale) on one float32 (H, W, C) image in [0, 255]; returns the same shape."""
    if num_ops <= 0:
        return image
    op_key, sign_key = jax.random.split(key)
    ops = jax.random.randint(op_key, (num_ops,), 0, len(OPS))
    positive = jax.random.uniform(sign_key, (num_ops,)) >= 0.5
    return randaugment_with_draws(image, ops, positive, magnitude)


def randaugment_with_draws(image: jax.Array, ops: jax.Array, positive: jax.Array,
                           magnitude: float) -> jax.Array:
    """RandAugment with given random choices: OPS[ops[i]] at level ``+-magnitude / 10``
    (``+`` where ``positive[i]``), for i = 0, 1, ... in turn.

    Args:
      image: float32 (H, W, C) in [0, 255].
      ops: int (num_ops,) indices into OPS.
      positive: bool (num_ops,) sign of each op's level.
      magnitude: op strength on the 0-10 scale.

    Returns:
      float32 (H, W, C) in [0, 255].
    """
    strength = float(magnitude) / MAX_LEVEL
    tables = jnp.asarray(geometric_index_tables(image.shape[0], image.shape[1], strength))
    for i in range(ops.shape[0]):
        index_map = tables[positive[i].astype(jnp.int32), jnp.clip(ops[i] - 1, 0, 4)]
        level = jnp.where(positive[i], strength, -strength).astype(jnp.float32)
        image = apply_op(ops[i], image, level, index_map)
    return image


def random_pad_crop(image: jax.Array, key: jax.Array, pad: int = PAD_CROP_PIXELS) -> jax.Array:
    """Zero-pads ``pad`` pixels on each side, takes a random crop of the original size."""
    h, w, c = image.shape
    padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    top, left = jax.random.randint(key, (2,), 0, 2 * pad + 1)
    return jax.lax.dynamic_slice(padded, (top, left, 0), (h, w, c))


def random_flip(image: jax.Array, key: jax.Array) -> jax.Array:
    """Horizontal flip with probability 1/2."""
    return jnp.where(jax.random.uniform(key) < 0.5, image[:, ::-1], image)


def augment_batch(images: jax.Array, keys: jax.Array, *, pad_crop: bool, flip: bool,
                  randaug_num_ops: int, randaug_magnitude: float) -> jax.Array:
    """Pad-crop, flip and RandAugment per example, in that order (as the tf.data pipeline).

    Args:
      images: (B, H, W, C) uint8 or float32 in [0, 255].
      keys: (B,) one key per example (:func:`example_keys`).
      pad_crop / flip: apply the 4-pixel pad-crop / the random horizontal flip.
      randaug_num_ops / randaug_magnitude: RandAugment layers and magnitude (0-10 scale);
        no RandAugment when either is 0.

    Returns:
      float32 (B, H, W, C) in [0, 255].
    """
    num_ops = int(randaug_num_ops) if randaug_magnitude else 0

    def one(image: jax.Array, key: jax.Array) -> jax.Array:
        crop_key, flip_key, ra_key = jax.random.split(key, 3)
        image = image.astype(jnp.float32)
        if pad_crop:
            image = random_pad_crop(image, crop_key)
        if flip:
            image = random_flip(image, flip_key)
        return randaugment(image, ra_key, num_ops, randaug_magnitude)

    return jax.vmap(one)(images, keys)


# --- The end of the tf.data pipeline, on the device --------------------------------------------

#: Batch fields of a stream with ``augment.on_device``: RandAugment's draws and mixup's weight.
DEVICE_FIELDS = ("ra_ops", "ra_positive", "mixup_lam")


def finish_on_device(batch: dict[str, jax.Array], *, magnitude: float, quantize: bool,
                     mixup: bool) -> dict[str, jax.Array]:
    """Finishes a batch of a tf.data stream built with ``augment.on_device``, as the host
    pipeline without that option would have: RandAugment with the host's draws, rounding to
    uint8 levels (``quantize``: streams that keep uint8 images in their shuffle buffer), the
    map to [-1, 1], then mixup with the batch's weight (each example with its neighbour, the
    batch rolled by one). Jittable; ``gwa-train`` runs it inside the train step.

    Args:
      batch: ``image`` float32 (B, H, W, C) in [0, 255] (cropped, flipped); ``target`` float32
        (B, K); ``ra_ops`` int32 (B, num_ops) and ``ra_positive`` bool (B, num_ops) (absent
        without RandAugment); ``mixup_lam`` float32 (B,), the batch's weight in every row;
        other fields pass through.
      magnitude: RandAugment magnitude (0-10 scale).
      quantize: round the augmented images to integers in [0, 255].
      mixup: whether to mix (``mixup_lam`` is 1 otherwise).

    Returns:
      The batch with ``image`` float32 (B, H, W, C) in [-1, 1] and mixed ``target``, without
      the fields of DEVICE_FIELDS.
    """
    images = batch["image"].astype(jnp.float32)
    if "ra_ops" in batch:
        images = jax.vmap(lambda x, o, p: randaugment_with_draws(x, o, p, magnitude))(
            images, batch["ra_ops"], batch["ra_positive"])
    if quantize:
        images = jnp.clip(jnp.round(images), 0.0, 255.0)
    images = images / 127.5 - 1.0
    targets = batch["target"]
    if mixup:
        lam = batch["mixup_lam"][0]
        images = lam * images + (1.0 - lam) * jnp.roll(images, 1, axis=0)
        targets = lam * targets + (1.0 - lam) * jnp.roll(targets, 1, axis=0)
    out = {k: v for k, v in batch.items() if k not in DEVICE_FIELDS}
    out["image"], out["target"] = images, targets
    return out
