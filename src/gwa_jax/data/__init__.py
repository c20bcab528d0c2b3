"""gwa-jax data layer: one entry point, :func:`build_data`.

    from gwa_jax.data import build_data
    data = build_data(config)
    for batch in data.train.epoch(0):  # image, label, target, id (numpy)
        ...
    train_images(config, ids)          # uint8 (K, H, W, C) training images by sample id

See ``build.py`` for the bundle, ``train.py`` for the determinism contract, ``splits.py`` and
``noise.py`` for the exact split and label-noise procedures, ``registry.py`` for the datasets.
"""

import tensorflow as _tf

from gwa_jax.data.build import DataBundle, DatasetInfo, build_data
from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.eval import EvalSet
from gwa_jax.data.images import train_images
from gwa_jax.data.noise import ASYMMETRIC_MAPS
from gwa_jax.data.registry import (
    CORRUPTION_GROUPS,
    CORRUPTIONS,
    DATASETS,
    DatasetSpec,
    corrupted_test_sets,
)
from gwa_jax.data.splits import TRAIN, UNUSED, VAL
from gwa_jax.data.train import TrainStream

# TensorFlow only feeds data: keep it off any accelerator JAX uses.
try:
    _tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # Devices already initialised; nothing to do.
    pass

__all__ = [
    "ASYMMETRIC_MAPS",
    "CORRUPTIONS",
    "CORRUPTION_GROUPS",
    "DATASETS",
    "DataBundle",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSpec",
    "EvalSet",
    "TRAIN",
    "TrainStream",
    "UNUSED",
    "VAL",
    "build_data",
    "corrupted_test_sets",
    "train_images",
]
