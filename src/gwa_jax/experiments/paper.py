"""Settings shared by the paper configs in ``configs/`` (Sec. 4 and App. C, Table 4).

The hyperparameters themselves live in the config files, one per model x dataset family, so
that ``scripts/make_tables.py table4`` can print Table 4 from them; this module holds what the
families have in common: the validation splits and which criteria each needs, the CIFAR-10-N
label keys, the ``runlocal`` smoke-test size, and loading a config file by path.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import ml_collections

#: Validation fractions of Table 1: 10%, 1% and no validation set (GWA, LabelWave, GD).
SPLITS: tuple[float, ...] = (0.1, 0.01, 0.0)
SEEDS: tuple[int, ...] = (0, 1, 2)

#: CIFAR-10(-N) noise level -> (dataset, label key). 0% trains on plain CIFAR-10 (same images
#: and test split, no manual CIFAR-N files needed); the noisy levels are CIFAR-10-N's human
#: labels (aggregate ~9%, random-1 ~17%, worst ~40%).
CIFAR10_NOISE: dict[float, tuple[str, str]] = {
    0.0: ("cifar10", "label"),
    0.09: ("cifar10_n", "aggre_label"),
    0.17: ("cifar10_n", "random_label1"),
    0.4: ("cifar10_n", "worse_label"),
}

#: Size of the full Fashion-MNIST train split (the id space of the offline benchmark).
FMNIST_TRAIN_SIZE = 60000


def set_split(c: ml_collections.ConfigDict, split: float) -> ml_collections.ConfigDict:
    """Holds out ``split`` of the train split for validation (the ``val`` criterion).

    ``split == 0`` is the run on all training data that GWA, LabelWave and Gradient Disparity
    are read from, so it switches GD on (it costs extra gradient evaluations per epoch and is
    useless for the runs with a validation set).
    """
    c.dataset.val_fraction = float(split)
    c.criteria.gd.enabled = split == 0
    return c


def set_cifar10_noise(c: ml_collections.ConfigDict, noise: float) -> ml_collections.ConfigDict:
    """Selects CIFAR-10 (0%) or the CIFAR-10-N label key of a noise level (9%, 17%, 40%)."""
    for level, (name, key) in CIFAR10_NOISE.items():
        if abs(level - noise) < 1e-9:
            c.dataset.name, c.dataset.label_key = name, key
            return c
    raise ValueError(f"no CIFAR-10-N labels for noise={noise}; choose one of "
                     f"{', '.join(str(k) for k in CIFAR10_NOISE)}")


def set_subset_split(c: ml_collections.ConfigDict, pool: int, split: float,
                     full_size: int) -> ml_collections.ConfigDict:
    """Trains on a stratified pool of ``pool`` ids with ``split`` of the pool held out.

    ``dataset.val_fraction`` is a fraction of the *full* train split and ``train_subset`` is
    drawn from what validation leaves, so a 10% split of a 4000-id pool is val_fraction
    ``400 / 60000`` plus ``train_subset=3600``. The pools of the 10%, 1% and 0% runs are then
    the same ids (the first ``pool / C`` of each class's fixed order; see
    ``gwa_jax.data.splits``), exactly as the paper's splits of one training set.
    """
    n_val = int(round(split * pool))
    set_split(c, n_val / full_size)
    c.dataset.train_subset = pool - n_val
    return c


def runlocal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrinks a config to a smoke test: 64 training ids, batch 8, 16 steps (2 epochs)."""
    c.batch_size = 8
    c.eval_batch_size = 16
    c.total_steps = 16
    c.dataset.train_subset = 64
    c.optim.warmup_steps = min(c.optim.warmup_steps, 4)
    c.criteria.gd.num_batches = 2
    return c


def load_config(path: str | os.PathLike, arg: str | None = None) -> ml_collections.ConfigDict:
    """Loads ``get_config(arg)`` from a config file (as ``--config PATH:ARG`` does)."""
    path = Path(path)
    name = f"_gwa_config_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load config file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)
