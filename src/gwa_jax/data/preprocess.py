"""Train and eval image preprocessing for one dataset, built from the config (no TensorFlow).

Where each step runs. The host (Grain workers) only does what needs the encoded file or the
full-size image: for variable-size datasets (ImageNet-style JPEGs) it decodes
(:func:`gwa_jax.data.host_image.decode_image`, the accurate integer DCT) and crops, the
training images with the inception crop (``crop="inception"``, drawn from the example's key)
or a resize + center crop (``crop="none"``), to ``size``; fixed-size images (Fashion-MNIST,
digits, CIFAR) leave the host as stored, uint8 at their native size. Everything random after
that runs on the accelerator inside the jitted train step (:meth:`Preprocess.device_finish`,
:mod:`gwa_jax.data.augment_jax`): the pad-crop, flip and timm14 RandAugment, or the authors'
chain (resize to 36, RandAugment, crop, flip; ``augment_jax.AuthorsChain``), the bilinear
resize of fixed-size images to ``image_size``, the map to [-1, 1] and mixup. The device's
draws come from ``jax.random`` keyed by (seed, epoch, id) (:mod:`gwa_jax.data.keys`), so an
example's augmentation depends on nothing but its id, the epoch and the seed.
``results/bench/loader_*.json`` compares this placement with host augmentation.

Evaluation: identity for fixed-size images at their native size, a bilinear resize
(``tf.image.resize`` arithmetic) when ``image_size`` asks for another size, and the authors'
resize of the shorter side to ``size / 0.875`` + center crop for variable-size datasets.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gwa_jax.data import augment_jax
from gwa_jax.data.registry import DatasetSpec

CROPS = ("none", "pad_crop", "inception", "resize_crop")
RANDAUG_OPS = ("authors", "timm14")


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 / float (..., C) in [0, 255] -> float32 in [-1, 1] (``x / 127.5 - 1``)."""
    return np.asarray(images, np.float32) / np.float32(127.5) - np.float32(1.0)


def one_hot_targets(labels: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
    """int (B,) -> float32 (B, C) ``(1 - s) * one_hot + s / C``."""
    out = np.zeros((len(labels), num_classes), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    if smoothing:
        out = out * np.float32(1.0 - smoothing) + np.float32(smoothing / num_classes)
    return out


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
    randaug_ops: str = "timm14"
    resize_to: int = 0

    def __post_init__(self) -> None:
        if self.randaug_ops not in RANDAUG_OPS:
            raise ValueError(f"Unknown augment.randaug_ops {self.randaug_ops!r}; valid: "
                             f"{', '.join(RANDAUG_OPS)}.")
        if self.crop not in CROPS:
            raise ValueError(f"Unknown augment.crop {self.crop!r}; valid: {', '.join(CROPS)}.")
        if self.crop == "inception" and self.fixed_size:
            raise ValueError("augment.crop='inception' needs a variable-size (JPEG) dataset; "
                             "use 'pad_crop' or 'resize_crop' for fixed-size images.")
        if self.crop in ("pad_crop", "resize_crop") and not self.fixed_size:
            raise ValueError(f"augment.crop={self.crop!r} needs fixed-size images; use "
                             "'inception' or 'none' for variable-size datasets.")

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
        resize_after = spec.fixed_size and size != spec.image_shape[0] and aug.crop not in (
            "inception", "resize_crop")
        if jax_chain and resize_after:
            raise ValueError(f"The authors' RandAugment runs at the native size; "
                             f"{spec.image_shape[0]} -> {size} px needs augment.crop="
                             "'resize_crop' or 'inception' (or augment.randaug_ops='timm14').")
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
            randaug_ops=randaug_ops,
            resize_to=resize_to,
        )

    @property
    def jax_chain(self) -> bool:
        """Whether the training ops after the host are the authors' chain
        (:class:`gwa_jax.data.augment_jax.AuthorsChain`) rather than the timm14 ops."""
        return self.crop == "resize_crop" or (self.randaug_ops == "authors"
                                              and self.randaug_num_ops > 0)

    def authors_chain(self) -> augment_jax.AuthorsChain:
        """The device part of the authors' chain (the host did the inception crop, if any)."""
        crop = self.crop if self.crop in ("resize_crop", "pad_crop") else "none"
        return augment_jax.AuthorsChain(
            num_layers=self.randaug_num_ops, magnitude=self.randaug_magnitude, crop=crop,
            resize_to=self.resize_to, crop_size=self.size if crop == "resize_crop" else 0,
            flip=self.flip)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images the model sees."""
        return (self.size, self.size, self.native_shape[2])

    @property
    def host_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the uint8 training images the host delivers: the native shape for
        fixed-size images, ``out_shape`` for variable-size ones (cropped on the host)."""
        return tuple(self.native_shape) if self.fixed_size else self.out_shape

    @property
    def random_per_example(self) -> bool:
        """Whether any per-example draw happens (the batches then carry ``aug_key``)."""
        return bool(self.jax_chain or self.crop in ("pad_crop", "inception") or self.flip
                    or self.randaug_num_ops)

    # --- host ---------------------------------------------------------------------------------

    def host_train_image(self, encoded: bytes, key_data: np.ndarray) -> np.ndarray:
        """Variable-size datasets: encoded image -> uint8 ``out_shape``, the inception crop
        drawn from the example's key data uint32 (2,) (``crop="inception"``) or the
        evaluation resize + center crop (``crop="none"``)."""
        # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when
        # it is used.
        from gwa_jax.data import host_image

        image = host_image.decode_image(encoded, self.native_shape[2])
        if self.crop == "inception":
            return host_image.inception_crop(image, key_data, self.size)
        return host_image.resize_center_crop(image, self.size)

    def host_eval_image(self, encoded: bytes) -> np.ndarray:
        """Variable-size datasets: encoded image -> uint8 ``out_shape`` (resize of the
        shorter side to ``size / 0.875``, center crop)."""
        # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when
        # it is used.
        from gwa_jax.data import host_image

        image = host_image.decode_image(encoded, self.native_shape[2])
        return host_image.resize_center_crop(image, self.size)

    def eval_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 (B, H, W, C) -> float32 (B, *out_shape) in [-1, 1]: fixed-size images
        resized (bilinear) when ``size`` differs from their side; variable-size images must
        come from :meth:`host_eval_image`."""
        x = np.asarray(images, np.float32)
        if x.shape[1] != self.size or x.shape[2] != self.size:
            # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only
            # when it is used.
            from gwa_jax.data.host_image import resize_bilinear

            x = np.stack([resize_bilinear(image, self.size) for image in x])
        return to_model_range(x)

    # --- device -------------------------------------------------------------------------------

    def device_finish(self) -> Callable[[dict], dict]:
        """The jittable function that finishes a training batch on the device
        (:func:`finish_batch` with these settings); apply it to every training batch before
        the model sees it (``gwa-train`` runs it inside the train step)."""
        return functools.partial(finish_batch, pre=self)


def finish_batch(batch: dict[str, jax.Array], pre: Preprocess) -> dict[str, jax.Array]:
    """Jittable: a training batch of the stream -> the model's batch.

    Args:
      batch: ``image`` uint8 (B, *pre.host_shape); ``target`` float32 (B, C) (not mixed);
        ``aug_key`` uint32 (B, 2) per-example key data (when ``pre.random_per_example``);
        ``mixup_key`` uint32 (B, 2) (mixup); ``label``, ``id``, ``mask`` pass through.
      pre: the preprocessing.

    Returns:
      The batch with ``image`` float32 (B, *pre.out_shape) in [-1, 1] and ``target`` mixed,
      without the key fields.
    """
    batch = dict(batch)
    images = batch["image"].astype(jnp.float32)
    key_data = batch.pop("aug_key", None)
    if key_data is not None:
        keys = augment_jax.keys_from_data(key_data)
        if pre.jax_chain:
            images = augment_jax.authors_train_chain(images, keys, pre.authors_chain())
        else:
            images = augment_jax.augment_batch(
                images, keys, pad_crop=pre.crop == "pad_crop", flip=pre.flip,
                randaug_num_ops=pre.randaug_num_ops, randaug_magnitude=pre.randaug_magnitude)
    if not pre.jax_chain and images.shape[1] != pre.size:
        images = jax.vmap(lambda x: augment_jax.resize_bilinear(x, pre.size))(images)
    batch["image"] = images
    return augment_jax.finish_on_device(batch, mixup_alpha=pre.mixup)
