"""Training images by sample id, for looking at what the scores point to.

    from gwa_jax.data import train_images
    images = train_images(config, [17, 4, 1203])   # uint8 (3, H, W, C), in the given order

``config`` is a run's config (a ``ConfigDict`` or the dict of its ``config.json``); ids index
the train split as in ``alignment/epoch_NNNN.npy`` and ``alignment/meta.npz``. In-memory
datasets (Fashion-MNIST, digits, CIFAR-10 from TFDS) return the stored images at their
native resolution; streamed datasets (ImageNet-scale) go through the run's evaluation
preprocessing (resize and centre crop, no augmentation) and are mapped back to uint8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np


def _as_config(config: ml_collections.ConfigDict | Mapping[str, Any]
               ) -> ml_collections.ConfigDict:
    if isinstance(config, ml_collections.ConfigDict):
        return config
    return ml_collections.ConfigDict(dict(config))


def train_images(config: ml_collections.ConfigDict | Mapping[str, Any],
                 ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The training images of ``ids`` (uint8, (K, H, W, C), in the order of ``ids``).

    Raises:
      ValueError: an id outside the train split's id space, or (streamed datasets) an id
        that was not in the run's training set.
      DatasetNotFoundError: the dataset is not available here.
    """
    # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when it
    # is used.
    from gwa_jax.data.registry import get_spec
    from gwa_jax.data.sources import load_train_source

    cfg = _as_config(config)
    ids = np.asarray(ids, np.int64).reshape(-1)
    spec = get_spec(cfg.dataset.name)
    source = load_train_source(spec, cfg.dataset.get("data_dir"), cfg.dataset.label_key)
    bad = ids[(ids < 0) | (ids >= source.num_ids)]
    if len(bad):
        raise ValueError(f"sample id {int(bad[0])} is outside the {source.num_ids} ids of "
                         f"{spec.name}'s train split")
    if source.images is not None:
        return np.asarray(source.images[ids])
    return _streamed(cfg, ids)


def _streamed(cfg: ml_collections.ConfigDict, ids: np.ndarray) -> np.ndarray:
    """Through the run's own evaluation stream of its training set (no augmentation)."""
    # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when it
    # is used.
    from gwa_jax.data.build import build_data

    cfg = ml_collections.ConfigDict(cfg.to_dict())
    cfg.dataset.test_sets = ()
    data = build_data(cfg)
    wanted, found = set(ids.tolist()), {}
    for batch in data.train.eval_stream():
        for row, i in enumerate(np.asarray(batch["id"])):
            if batch["mask"][row] and int(i) in wanted:
                found[int(i)] = np.asarray(batch["image"][row])
        if len(found) == len(wanted):
            break
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"sample id {missing[0]} is not in this run's training set")
    out = np.stack([found[int(i)] for i in ids])
    return np.clip(np.round((out + 1.0) * 127.5), 0, 255).astype(np.uint8)
