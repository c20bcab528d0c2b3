"""The training augmentation (pad-crop, flip, RandAugment, mixup) in JAX, inside the train step.

``gwa-train`` augments here: :mod:`gwa_jax.data.preprocess` applies these functions to the
uint8 batches of the Grain pipeline inside the jitted train step (pad-crop, flip, then
``num_ops`` layers of the 14-op timm RandAugment, or the authors' chain
:class:`AuthorsChain`), so any loop whose data sit on the accelerator can use them too. The
ops are those of the TensorFlow pipeline gwa-jax used before, at the same magnitudes and in
the same order, vectorised over the batch and jittable.

The random draws come from ``jax.random`` keyed by (seed, epoch, id) (:func:`example_keys`),
so an example's crop and ops depend only on those three numbers.

    keys = example_keys(jax.random.key(seed), epoch, ids)          # (B,) keys
    images = augment_batch(images, keys, pad_crop=True, flip=True,
                           randaug_num_ops=2, randaug_magnitude=1)  # float32 (B, H, W, C)

Images are float32 (B, H, W, C) in [0, 255] (uint8 is accepted), C = 1 or 3.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

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
from gwa_jax.data.randaugment_jax import (
    LayerDraws,
    draw_layers,
    equalize,
    pil_smooth,
    to_uint8_levels,
)
from gwa_jax.data.randaugment_jax import apply_layers as authors_layers


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
    """Blend with the PIL-smoothed image, its valid part rounded (the timm14 list)."""
    return _blend(pil_smooth(image, jnp.round), image, factor)


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
        equalize,
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
    """Pad-crop, flip and RandAugment per example, in that order (the timm14 chain).

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


# --- The authors' training chain (RandAugment before crop and flip) ---------------------------

#: ``AuthorsChain.crop`` values: what follows RandAugment.
CHAIN_CROPS = ("none", "resize_crop", "pad_crop")


@dataclasses.dataclass(frozen=True)
class AuthorsChain:
    """The authors' per-example training chain on uint8 levels (``hlzl/gwa`` ``pipeline.py``).

    CIFAR (``numpy_files``): bilinear resize to ``resize_to`` (36; no antialias, truncated to
    uint8) -> RandAugment(num_layers, magnitude) on the 36 px image -> random ``crop_size``
    crop -> flip. ImageNet (``jpeg_directory``, the inception crop done before on the host):
    RandAugment -> flip. ``crop="pad_crop"`` (not the authors'): RandAugment -> zero-pad 4 px
    and random crop -> flip.
    """

    num_layers: int = 2
    magnitude: float = 0.0
    crop: str = "none"  # One of CHAIN_CROPS.
    resize_to: int = 0  # resize_crop: side after the resize (> crop_size).
    crop_size: int = 0  # resize_crop: side of the random crop.
    flip: bool = False

    def __post_init__(self) -> None:
        if self.crop not in CHAIN_CROPS:
            raise ValueError(f"AuthorsChain.crop {self.crop!r}: valid {', '.join(CHAIN_CROPS)}")
        if self.crop == "resize_crop" and not 0 < self.crop_size <= self.resize_to:
            raise ValueError(f"resize_crop needs 0 < crop_size ({self.crop_size}) <= resize_to "
                             f"({self.resize_to})")

    @property
    def num_ops(self) -> int:
        """RandAugment layers actually applied (0 when the magnitude is 0)."""
        return int(self.num_layers) if self.magnitude > 0 else 0


class ChainDraws(NamedTuple):
    """The random choices of :class:`AuthorsChain` for one image."""

    layers: LayerDraws  # RandAugment (on the image after the resize).
    offset: jax.Array  # int32 (2,): top-left corner of the crop (row, col).
    flip: jax.Array  # bool scalar.


def resize_bilinear(image: jax.Array, size: int) -> jax.Array:
    """TF2 ``tf.image.resize(method="bilinear", antialias=False)`` of float32 (H, W, C) to
    (size, size, C): half-pixel centres, edge pixels repeated, horizontal then vertical
    interpolation in float32 (the ResizeBilinear kernel's order)."""

    def axis(n_in: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        scale = jnp.float32(n_in / size)
        src = (jnp.arange(size, dtype=jnp.float32) + 0.5) * scale - 0.5
        lower = jnp.floor(src)
        lerp = src - lower
        lo = jnp.clip(lower, 0, n_in - 1).astype(jnp.int32)
        hi = jnp.clip(jnp.ceil(src), 0, n_in - 1).astype(jnp.int32)
        return lo, hi, lerp

    y_lo, y_hi, y_lerp = axis(image.shape[0])
    x_lo, x_hi, x_lerp = axis(image.shape[1])
    xl = x_lerp[None, :, None]
    top = image[y_lo][:, x_lo] + (image[y_lo][:, x_hi] - image[y_lo][:, x_lo]) * xl
    bottom = image[y_hi][:, x_lo] + (image[y_hi][:, x_hi] - image[y_hi][:, x_lo]) * xl
    return top + (bottom - top) * y_lerp[:, None, None]


def chain_draws(key: jax.Array, chain: AuthorsChain, height: int, width: int) -> ChainDraws:
    """The draws of ``chain`` for one (height, width) input image from its key."""
    ra_key, crop_key, flip_key = jax.random.split(key, 3)
    if chain.crop == "resize_crop":
        height = width = chain.resize_to
        span = chain.resize_to - chain.crop_size
    else:
        span = 2 * PAD_CROP_PIXELS if chain.crop == "pad_crop" else 0
    layers = draw_layers(ra_key, max(chain.num_ops, 0), height, width)
    offset = jax.random.randint(crop_key, (2,), 0, span + 1).astype(jnp.int32)
    return ChainDraws(layers, offset, jax.random.bernoulli(flip_key, 0.5))


def apply_chain(image: jax.Array, draws: ChainDraws, chain: AuthorsChain) -> jax.Array:
    """``chain`` on one float32 (H, W, C) image in [0, 255] with the given draws; float32
    (out, out, C) uint8 levels (out = crop_size for resize_crop, H otherwise)."""
    x = to_uint8_levels(image)  # The authors' uint8 images (their cast truncates).
    if chain.crop == "resize_crop":
        x = to_uint8_levels(resize_bilinear(x, chain.resize_to))
    if chain.num_ops:
        x = authors_layers(x, draws.layers, chain.magnitude)
    h, w, c = image.shape
    if chain.crop == "resize_crop":
        x = jax.lax.dynamic_slice(x, (draws.offset[0], draws.offset[1], 0),
                                  (chain.crop_size, chain.crop_size, c))
    elif chain.crop == "pad_crop":
        pad = PAD_CROP_PIXELS
        x = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)))
        x = jax.lax.dynamic_slice(x, (draws.offset[0], draws.offset[1], 0), (h, w, c))
    if chain.flip:
        x = jnp.where(draws.flip, x[:, ::-1], x)
    return x


def authors_train_chain(images: jax.Array, keys: jax.Array, chain: AuthorsChain) -> jax.Array:
    """:class:`AuthorsChain` per example: float32 (B, H, W, C) in [0, 255], keys (B,) ->
    float32 (B, out, out, C) uint8 levels."""
    h, w = images.shape[1], images.shape[2]

    def one(image: jax.Array, key: jax.Array) -> jax.Array:
        return apply_chain(image, chain_draws(key, chain, h, w), chain)

    return jax.vmap(one)(images, keys)


# --- Mixup (the authors' datasets.utils.mixup, with a validity mask) --------------------------


def mixup_partners(key: jax.Array, mask: jax.Array) -> jax.Array:
    """int32 (B,): a uniform random permutation of the valid positions (``mask`` bool (B,)),
    each invalid position its own partner. With every position valid this is
    ``jax.random.permutation(key, B)``, the authors' partner."""
    b = mask.shape[0]
    perm = jax.random.permutation(key, b)
    slots = jnp.argsort(~mask, stable=True)  # Valid positions in index order, then invalid.
    shuffled = perm[jnp.argsort(~mask[perm], stable=True)]  # Valid positions, random order.
    shuffled = jnp.where(jnp.arange(b) < jnp.sum(mask), shuffled, slots)  # Invalid: themselves.
    return jnp.zeros(b, jnp.int32).at[slots].set(shuffled.astype(jnp.int32))


def mixup(images: jax.Array, targets: jax.Array, key: jax.Array, alpha: float,
          mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One ``lam ~ Beta(alpha, alpha)`` for the batch (not folded to >= 1/2), partner
    ``p = mixup_partners``: ``x_i <- lam x_i + (1 - lam) x_p(i)``, same for the targets.

    Args:
      images: float (B, H, W, C); targets: float (B, K) probability vectors.
      key: the batch's key; alpha: Beta concentration (> 0).
      mask: optional bool (B,); invalid (padding) positions are never partners of valid ones
        (and are mixed with themselves: unchanged).

    Returns:
      (images, targets, lam): mixed arrays of the same shapes and the float32 scalar weight.
    """
    lam_key, perm_key = jax.random.split(key)
    lam = jax.random.beta(lam_key, alpha, alpha).astype(jnp.float32)
    if mask is None:
        mask = jnp.ones(images.shape[0], bool)
    partner = mixup_partners(perm_key, mask.astype(bool))
    images = lam * images + (1.0 - lam) * images[partner]
    targets = lam * targets + (1.0 - lam) * targets[partner]
    return images, targets, lam


# --- The end of the input pipeline, on the device ---------------------------------------------

#: Batch fields a stream adds for the device: the per-example key data, the batch's mixup
#: key data.
DEVICE_FIELDS = ("aug_key", "mixup_key")


def keys_from_data(data: jax.Array) -> jax.Array:
    """uint32 (..., 2) key data (from the host) -> threefry keys (...)."""
    return jax.random.wrap_key_data(data.astype(jnp.uint32), impl="threefry2x32")


def finish_on_device(batch: dict[str, jax.Array], *, mixup_alpha: float = 0.0
                     ) -> dict[str, jax.Array]:
    """The end of a training batch on the device (jittable; ``gwa-train`` runs it inside the
    train step, after the augmentation, :func:`gwa_jax.data.preprocess.finish_batch`): the map
    to [-1, 1], then mixup.

    Args:
      batch: ``image`` float32 (B, H, W, C) in [0, 255]; ``target`` float32 (B, K);
        ``mixup_key`` uint32 (B, 2), the batch's key data in every row (mixup);
        ``mask`` bool (B,) optional (padding of a last batch: never a mixup partner);
        other fields pass through (``label`` and ``id`` stay those of position i).
      mixup_alpha: Beta concentration; 0 = no mixup.

    Returns:
      The batch with ``image`` float32 (B, H, W, C) in [-1, 1] and mixed ``target``,
      without the fields of DEVICE_FIELDS.
    """
    images = batch["image"].astype(jnp.float32) / 127.5 - 1.0
    targets = batch["target"]
    if mixup_alpha > 0:
        key = keys_from_data(batch["mixup_key"][0])
        images, targets, _ = mixup(images, targets, key, mixup_alpha, batch.get("mask"))
    out = {k: v for k, v in batch.items() if k not in DEVICE_FIELDS}
    out["image"], out["target"] = images, targets
    return out
