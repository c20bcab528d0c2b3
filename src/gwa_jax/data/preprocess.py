"""Train and eval image preprocessing for one dataset, built from the config.

Training (per example, seeded by (seed, epoch, id)): crop (``pad_crop``: zero-pad 4 px +
random crop at native size; ``inception``: random-area crop resized to the output size;
``none``: variable-size images are resized + center-cropped), horizontal flip, RandAugment,
then a bilinear resize to the output size for fixed-size images when ``image_size`` differs
from the native size. Without RandAugment and inception crop, in-memory datasets run the same
crop / flip vectorised on whole batches, seeded by (seed, epoch, step) (the fast path).

Evaluation: identity for fixed-size images at their native size (28 / 32 / 8 px), a plain
bilinear resize when ``image_size`` asks for another size, and resize-shorter-side to
``size / 0.875`` + center crop for variable-size (224 px) datasets.

``augment.on_device`` (``Preprocess.on_device``) leaves RandAugment, the map to [-1, 1] and
mixup to the accelerator: the host crops and flips as above and adds each example's
RandAugment draws and the batch's mixup weight to the batch (:meth:`Preprocess.device_fields`,
:meth:`Preprocess.finish_batch`); :func:`gwa_jax.data.augment_jax.finish_on_device` (run by
``gwa-train`` inside the jitted train step) applies them. Same draws, same ops, same pixels up
to float32 rounding (``tests/test_device_augment.py``); the host's CPU time per image falls
by more than half on the ImageNet preset (``results/bench/loader_imagenet.json``).

``Preprocess(..., reference=True)`` runs the first implementation of the training ops (float32
cast of the whole decoded image before the crop, :mod:`gwa_jax.data.randaugment_reference`,
images decoded by TFDS). It gives the same pixels as the default, faster path and is kept for
``scripts/bench_loader.py --preset imagenet`` and the equality tests.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import ml_collections

from gwa_jax.data import augment, augment_jax, randaugment_reference
from gwa_jax.data.randaugment import randaug_draws, randaugment
from gwa_jax.data.registry import DatasetSpec
from gwa_jax.data.tf_setup import tf

CROPS = ("none", "pad_crop", "inception", "resize_crop")
RANDAUG_OPS = ("authors", "timm14")
_JPEG_MARGIN = 16  # Pixels decoded around a crop window (see train_example_encoded).


def decode_inception_window(encoded: tf.Tensor, crop_seed: tf.Tensor, channels: int) -> tf.Tensor:
    """JPEG string scalar -> uint8 (h, w, channels): the inception-crop window of
    :func:`augment.inception_window`, decoded with a margin so that its pixels equal those of
    the full decode (the window depends only on the JPEG header's height and width)."""
    height_width = tf.image.extract_jpeg_shape(encoded)[:2]
    shape = tf.concat([height_width, [channels]], 0)
    begin, size = augment.inception_window(shape, crop_seed)
    # Decoding exactly the window would change its edge pixels: libjpeg's chroma upsampling
    # replicates the samples at the edge of the decoded region instead of interpolating with
    # their neighbours. A margin of one iMCU (16 px) keeps the window's pixels equal to those
    # of the full decode.
    lo = tf.maximum(begin[:2] - _JPEG_MARGIN, 0)
    hi = tf.minimum(begin[:2] + size[:2] + _JPEG_MARGIN, height_width)
    region = tf.image.decode_and_crop_jpeg(encoded, tf.concat([lo, hi - lo], 0),
                                           channels=channels)
    return tf.slice(region, tf.concat([begin[:2] - lo, [0]], 0), size)


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Image preprocessing of one dataset (see module docstring)."""

    native_shape: tuple[int, int, int]
    fixed_size: bool
    size: int
    crop: str = "none"
    flip: bool = False
    randaug_num_ops: int = 0
    randaug_magnitude: float = 0.0
    mixup: float = 0.0
    label_smoothing: float = 0.0
    on_device: bool = False
    reference: bool = False
    randaug_ops: str = "timm14"
    resize_to: int = 0

    def __post_init__(self) -> None:
        if self.on_device and self.reference:
            raise ValueError("Preprocess: on_device applies to the current implementation only; "
                             "use reference=False with on_device=True.")
        if self.randaug_ops not in RANDAUG_OPS:
            raise ValueError(f"Unknown augment.randaug_ops {self.randaug_ops!r}; valid: "
                             f"{', '.join(RANDAUG_OPS)}.")
        if self.jax_chain and not self.on_device:
            raise ValueError("Preprocess: the authors' chain (randaug_ops='authors' or "
                             "crop='resize_crop') runs on the device; use on_device=True.")

    @classmethod
    def from_config(cls, spec: DatasetSpec, config: ml_collections.ConfigDict) -> Preprocess:
        """Reads ``config.dataset.image_size`` and ``config.augment``."""
        aug = config.augment
        if aug.crop not in CROPS:
            raise ValueError(f"Unknown augment.crop {aug.crop!r}; valid: {', '.join(CROPS)}.")
        randaug_ops = aug.get("randaug_ops", "authors")
        if randaug_ops not in RANDAUG_OPS:
            raise ValueError(f"Unknown augment.randaug_ops {randaug_ops!r}; valid: "
                             f"{', '.join(RANDAUG_OPS)}.")
        if aug.mixup < 0 or not 0 <= aug.label_smoothing < 1:
            raise ValueError("augment.mixup must be >= 0 and label_smoothing in [0, 1).")
        size = config.dataset.image_size or spec.image_shape[0]
        magnitude = float(aug.randaug_magnitude)
        num_ops = int(aug.randaug_num_ops) if magnitude > 0 else 0
        resize_to = int(aug.get("resize_to", 0) or 0)
        if aug.crop == "resize_crop" and not (spec.fixed_size and resize_to > size):
            raise ValueError(f"augment.crop='resize_crop' needs fixed-size images and "
                             f"augment.resize_to ({resize_to}) > the image size ({size}).")
        jax_chain = aug.crop == "resize_crop" or (randaug_ops == "authors" and num_ops > 0)
        # The authors' chain exists in JAX only: it always runs in the train step.
        on_device = bool(aug.get("on_device", False)) or jax_chain
        resize_after_randaug = (spec.fixed_size and size != spec.image_shape[0]
                                and aug.crop not in ("inception", "resize_crop"))
        if jax_chain and resize_after_randaug:
            raise ValueError(f"The authors' RandAugment runs at the native size; "
                             f"{spec.image_shape[0]} -> {size} px needs augment.crop="
                             "'resize_crop' or 'inception' (or augment.randaug_ops='timm14').")
        if on_device and resize_after_randaug and aug.randaug_num_ops and magnitude:
            raise ValueError(
                f"augment.on_device cannot move RandAugment to the device when the images are "
                f"resized after it ({spec.image_shape[0]} -> {size} px); set "
                "config.augment.on_device=False or train at the native size.")
        return cls(
            native_shape=tuple(spec.image_shape),
            fixed_size=spec.fixed_size,
            size=int(size),
            crop=aug.crop,
            flip=bool(aug.flip),
            randaug_num_ops=num_ops,
            randaug_magnitude=magnitude,
            mixup=float(aug.mixup),
            label_smoothing=float(aug.label_smoothing),
            on_device=on_device,
            randaug_ops=randaug_ops,
            resize_to=resize_to,
        )

    @property
    def jax_chain(self) -> bool:
        """Whether the training ops after the host's crop are the authors' chain, in JAX on
        the device (:class:`gwa_jax.data.augment_jax.AuthorsChain`)."""
        return self.crop == "resize_crop" or (self.randaug_ops == "authors"
                                              and self.randaug_num_ops > 0)

    def authors_chain(self) -> augment_jax.AuthorsChain:
        """The device part of the authors' chain (host: inception crop / nothing)."""
        crop = self.crop if self.crop in ("resize_crop", "pad_crop") else "none"
        return augment_jax.AuthorsChain(
            num_layers=self.randaug_num_ops, magnitude=self.randaug_magnitude, crop=crop,
            resize_to=self.resize_to, crop_size=self.size if crop == "resize_crop" else 0,
            flip=self.flip)

    def device_finish(self, quantize: bool) -> Callable[[dict], dict] | None:
        """The jittable function that finishes this preprocessing's training batches on the
        device (:func:`gwa_jax.data.augment_jax.finish_on_device`), None when the host
        finishes them (no on-device ops, no mixup). ``quantize``: the stream rounds images to
        uint8 on the host without ``on_device``, so timm14 RandAugment on the device rounds."""
        if not (self.on_device or self.mixup > 0):
            return None
        return functools.partial(
            augment_jax.finish_on_device, magnitude=self.randaug_magnitude,
            quantize=quantize and self.on_device and not self.jax_chain,
            chain=self.authors_chain() if self.jax_chain else None,
            mixup_alpha=self.mixup, in_model_range=not self.on_device)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the preprocessed images."""
        return (self.size, self.size, self.native_shape[2])

    @property
    def resize_fixed(self) -> bool:
        """Whether fixed-size images need a resize to reach ``size``."""
        return self.fixed_size and self.size != self.native_shape[0]

    @property
    def vectorized(self) -> bool:
        """Whether the batched fast path applies (in-memory data only)."""
        return (self.fixed_size and self.randaug_num_ops == 0 and self.crop != "inception"
                and not self.jax_chain)

    # --- training ---------------------------------------------------------------------------

    def train_example(self, image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """uint8/float (H, W, C) -> float32 out_shape in [0, 255]."""
        if self.reference:
            return self._train_example_reference(image, seed)
        crop_seed, flip_seed, ra_seed = augment.split_seed(seed, 3)
        if self.fixed_size:
            image = tf.ensure_shape(image, self.native_shape)
        if self.crop == "inception":
            # Crop first, then the bilinear kernel reads the pixels as float32 (same output).
            x = augment.inception_crop(image, crop_seed, self.size)
        else:
            x = tf.cast(image, tf.float32)
            if not self.fixed_size:
                x = augment.resize_center_crop(x, self.size)
            if self.jax_chain:  # Resize, RandAugment, crop and flip on the device.
                return tf.ensure_shape(x, self.host_shape)
            if self.crop == "pad_crop":
                x = augment.pad_crop(x, crop_seed)
        return self._flip_randaugment(x, flip_seed, ra_seed)

    @property
    def host_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the host's training images: the native shape when the device
        resizes and crops (``resize_crop``), else ``out_shape``."""
        if self.crop == "resize_crop":
            return tuple(self.native_shape)
        return self.out_shape

    def train_example_encoded(self, encoded: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Encoded image (string scalar) -> float32 out_shape in [0, 255].

        Same output as ``train_example(decoded image, seed)``. With the inception crop, JPEGs
        are decoded only inside the crop window plus a 16 px margin
        (``tf.image.decode_and_crop_jpeg``; the window depends only on the image's height and
        width, read from the JPEG header), which gives the same pixels as a full decode.
        """
        channels = self.native_shape[2]
        if self.crop != "inception":
            return self.train_example(self.decode(encoded), seed)
        crop_seed, flip_seed, ra_seed = augment.split_seed(seed, 3)

        def decode_window() -> tf.Tensor:
            return decode_inception_window(encoded, crop_seed, channels)

        def decode_then_crop() -> tf.Tensor:
            image = self.decode(encoded)
            begin, size = augment.inception_window(tf.shape(image), crop_seed)
            return tf.slice(image, begin, size)

        crop = tf.cond(tf.io.is_jpeg(encoded), decode_window, decode_then_crop)
        x = augment.resize_crop(tf.ensure_shape(crop, [None, None, channels]), self.size)
        return self._flip_randaugment(x, flip_seed, ra_seed)

    def decode(self, encoded: tf.Tensor) -> tf.Tensor:
        """Decodes an encoded image to uint8 (H, W, C); JPEGs with the integer-accurate DCT
        (the authors' ``get_decode(precise=True)``, matching PIL), other formats as the TFDS
        ``Image`` feature does."""
        channels = self.native_shape[2]
        image = tf.cond(
            tf.io.is_jpeg(encoded),
            lambda: tf.io.decode_jpeg(encoded, channels=channels, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(encoded, channels=channels, expand_animations=False))
        return tf.ensure_shape(image, [None, None, channels])

    def _flip_randaugment(self, x: tf.Tensor, flip_seed: tf.Tensor, ra_seed: tf.Tensor):
        """The ops after the crop: float32 (h, w, C) -> float32 out_shape."""
        if self.jax_chain:  # RandAugment and flip on the device.
            return tf.ensure_shape(x, self.out_shape)
        if self.flip:
            x = augment.flip(x, flip_seed)
        if self.randaug_num_ops and not self.on_device:
            x = randaugment(x, ra_seed, self.randaug_num_ops, self.randaug_magnitude)
        if self.resize_fixed and self.crop != "inception":
            x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        return tf.ensure_shape(x, self.out_shape)

    def _train_example_reference(self, image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """The first implementation of :meth:`train_example` (same output)."""
        crop_seed, flip_seed, ra_seed = augment.split_seed(seed, 3)
        x = tf.cast(image, tf.float32)
        if self.fixed_size:
            x = tf.ensure_shape(x, self.native_shape)
        if self.crop == "inception":
            x = augment.inception_crop(x, crop_seed, self.size)
        else:
            if not self.fixed_size:
                x = augment.resize_center_crop(x, self.size)
            if self.crop == "pad_crop":
                x = augment.pad_crop(x, crop_seed)
        if self.flip:
            x = augment.flip(x, flip_seed)
        if self.randaug_num_ops:
            x = randaugment_reference.randaugment(
                x, ra_seed, self.randaug_num_ops, self.randaug_magnitude
            )
        if self.resize_fixed and self.crop != "inception":
            x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        return tf.ensure_shape(x, self.out_shape)

    def train_batch_images(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Vectorised fast path: uint8 (B, *native) -> float32 (B, *out_shape) in [0, 255]."""
        crop_seed, flip_seed = augment.split_seed(seed, 2)
        x = tf.cast(images, tf.float32)
        if self.crop == "pad_crop":
            x = augment.pad_crop_batch(x, crop_seed)
        if self.flip:
            x = augment.flip_batch(x, flip_seed)
        if self.resize_fixed:
            x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        return x

    def device_fields(self, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """The per-example fields for the device: ``aug_key`` uint32 (2,) (the authors'
        chain's key data, from the example's stateless ``seed``), or with ``on_device`` and
        timm14 the RandAugment draws :meth:`train_example` would use, ``ra_ops`` int32
        (num_ops,) and ``ra_positive`` bool (num_ops,); empty otherwise."""
        if self.jax_chain:
            return {"aug_key": augment.jax_key_data(seed)}
        if not (self.on_device and self.randaug_num_ops):
            return {}
        ops, positive = randaug_draws(augment.split_seed(seed, 3)[2], self.randaug_num_ops)
        return {"ra_ops": ops, "ra_positive": positive}

    def finish_batch(self, batch: dict, num_classes: int, seed: tf.Tensor) -> dict:
        """Builds the (label-smoothed) one-hot targets and maps images to [-1, 1].

        With ``on_device`` the images stay float32 in [0, 255] for the device. With mixup the
        batch gains ``mixup_key`` uint32 (B, 2) (the key data of the batch's stateless
        ``seed`` in every row): mixup runs on the device (:meth:`device_finish`).
        """
        out = dict(batch)
        out["target"] = augment.smooth_one_hot(batch["label"], num_classes, self.label_smoothing)
        if self.on_device:
            out["image"] = tf.cast(batch["image"], tf.float32)
        else:
            out["image"] = augment.to_model_range(batch["image"])
        if self.mixup > 0:
            key = augment.jax_key_data(seed)
            out["mixup_key"] = tf.tile(key[None], tf.stack([tf.shape(batch["label"])[0], 1]))
        return out

    # --- evaluation -------------------------------------------------------------------------

    def eval_example(self, image: tf.Tensor) -> tf.Tensor:
        """uint8 (H, W, C) -> float32 out_shape in [-1, 1]."""
        x = tf.cast(image, tf.float32)
        if not self.fixed_size:
            x = augment.resize_center_crop(x, self.size)
        elif self.resize_fixed:
            x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        return tf.ensure_shape(augment.to_model_range(x), self.out_shape)

    def eval_batch(self, images: tf.Tensor) -> tf.Tensor:
        """Fixed-size only: uint8 (B, *native) -> float32 (B, *out_shape) in [-1, 1]."""
        x = tf.cast(images, tf.float32)
        if self.resize_fixed:
            x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        return augment.to_model_range(x)

