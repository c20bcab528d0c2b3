"""gwa-jax data layer: one entry point, :func:`build_data`.

    from gwa_jax.data import build_data
    data = build_data(config)
    finish = data.train.device_finish()  # jittable: augmentation, [-1, 1], mixup
    for batch in data.train.epoch(1):  # image (uint8), label, target, id, mask, keys (numpy)
        batch = finish(batch)          # inside your jitted train step
    train_images(config, ids)          # uint8 (K, H, W, C) training images by sample id

See ``build.py`` for the bundle, ``train.py`` for the Grain streams and their determinism
contract, ``preprocess.py`` for what runs on the host and what on the device, ``records.py``
for TFDS datasets read as array_record without TensorFlow, ``splits.py`` and ``noise.py`` for
the exact split and label-noise procedures, ``labels.py`` for both applied to a config,
``registry.py`` for the datasets. Nothing here imports TensorFlow.
"""

import importlib
from typing import TYPE_CHECKING

from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.noise import ASYMMETRIC_MAPS
from gwa_jax.data.registry import (
    CORRUPTION_GROUPS,
    CORRUPTIONS,
    DATASETS,
    DatasetSpec,
    corrupted_test_sets,
)
from gwa_jax.data.splits import TRAIN, UNUSED, VAL

# The names below import JAX and Grain: imported on first use, so that the light parts
# (labels, splits, noise, idx files, the registry) load fast.
_LAZY = {
    "DataBundle": "gwa_jax.data.build",
    "DatasetInfo": "gwa_jax.data.build",
    "build_data": "gwa_jax.data.build",
    "EvalSet": "gwa_jax.data.eval",
    "train_images": "gwa_jax.data.images",
    "TrainStream": "gwa_jax.data.train",
}

if TYPE_CHECKING:
    from gwa_jax.data.build import DataBundle, DatasetInfo, build_data
    from gwa_jax.data.eval import EvalSet
    from gwa_jax.data.images import train_images
    from gwa_jax.data.train import TrainStream


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gwa_jax.data' has no attribute {name!r}")


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
