"""Config validation before anything is compiled: one clear line per problem.

:func:`validate` checks a resolved config against the schema of
:func:`gwa_jax.config_base.default_config` (unknown keys with the nearest valid name, wrong
types) and against the values gwa-jax can run (fractions, names, divisibility). Problems that
need the dataset's size (``total_steps`` shorter than one epoch) are checked by
:func:`check_against_data` once the input pipeline knows it.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from typing import Any

import ml_collections

from gwa_jax.config_base import ConfigError, default_config
from gwa_jax.run.run_format import FORMAT_KEY, FORMAT_VERSION

MODEL_KWARGS = "model.kwargs."


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _type_ok(value: Any, default: Any, field_type: type | None) -> bool:
    if value is None:
        return default is None or field_type is not None
    expected = field_type if default is None else type(default)
    if expected is None:
        return True
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected in (tuple, list):
        return isinstance(value, tuple | list)
    return isinstance(value, expected)


def _field_types(cfg: ml_collections.ConfigDict, prefix: str = "") -> dict[str, type | None]:
    out: dict[str, type | None] = {}
    for k in cfg.keys():
        v = cfg.get_ref(k) if hasattr(cfg, "get_ref") else None
        key = f"{prefix}{k}"
        child = cfg[k]
        if isinstance(child, ml_collections.ConfigDict):
            out.update(_field_types(child, key + "."))
        else:
            out[key] = getattr(v, "_field_type", None) if v is not None else None
    return out


def check_schema(config: ml_collections.ConfigDict) -> None:
    """Unknown keys (with the nearest valid name) and wrong value types."""
    schema = default_config()
    defaults = _flatten(schema.to_dict())
    types = _field_types(schema)
    given = _flatten(config.to_dict())
    for key, value in given.items():
        if key.startswith(MODEL_KWARGS):  # Checked against the model's fields in check_values.
            continue
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else "; see gwa_jax/config_base.py"
            raise ConfigError(f"unknown config key '{key}'{hint}")
        if not _type_ok(value, defaults[key], types.get(key)):
            want = types.get(key) or type(defaults[key])
            raise ConfigError(f"config.{key} must be {want.__name__}, got {value!r} "
                              f"({type(value).__name__})")


def unknown_key_message(argv: list[str]) -> str | None:
    """One line for the first ``--config.KEY=VALUE`` whose KEY is not in the schema, with the
    nearest valid key (full path); None when every override key exists."""
    keys = list(_flatten(default_config().to_dict()))
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        key = arg[len("--config."):].split("=", 1)[0]
        if key in keys or any(k.startswith(key + ".") for k in keys):
            continue
        near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        if not near:  # A typo in the last part only: compare within the same section.
            head, _, last = key.rpartition(".")
            same = [k for k in keys if k.rpartition(".")[0] == head]
            tails = difflib.get_close_matches(last, [k.rpartition(".")[2] for k in same], n=1)
            near = [f"{head}.{tails[0]}" if head else tails[0]] if tails else []
        hint = (f'; did you mean "{near[0]}"?' if near else
                "; the valid keys are in src/gwa_jax/config_base.py")
        return f"unknown config key: {key}{hint}"
    return None


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def check_values(config: ml_collections.ConfigDict, num_devices: int = 1,
                 check_files: bool = True) -> None:
    """Ranges and names, each failing with one line (see :func:`validate`), section by
    section in a fixed order (the first problem is the one reported)."""
    _check_run(config, num_devices)
    _check_dataset(config, check_files)
    _check_augment(config)
    _check_model(config)
    _check_optim(config, num_devices, check_files)
    _check_gwa_and_criteria(config)


def _check_run(c: ml_collections.ConfigDict, num_devices: int) -> None:
    for key, value in _flatten(c.to_dict()).items():
        _require(not isinstance(value, float) or math.isfinite(value),
                 f"config.{key} must be a finite number, got {value}")
    _require(c.get(FORMAT_KEY, FORMAT_VERSION) == FORMAT_VERSION,
             f"config.{FORMAT_KEY} records the run format this gwa-jax writes "
             f"({FORMAT_VERSION}) and cannot be set; remove the override")
    _require(c.total_steps > 0, f"config.total_steps must be positive, got {c.total_steps}")
    _require(c.batch_size > 0, f"config.batch_size must be positive, got {c.batch_size}")
    _require(c.batch_size % num_devices == 0,
             f"config.batch_size={c.batch_size} is not divisible by the {num_devices} devices; "
             f"use a multiple of {num_devices}")
    _require(c.eval_batch_size > 0 and c.eval_batch_size % num_devices == 0,
             f"config.eval_batch_size={c.eval_batch_size} must be a positive multiple of the "
             f"{num_devices} devices")


def _check_dataset(c: ml_collections.ConfigDict, check_files: bool) -> None:
    # A deliberate late import to keep start-up light: the workdir checks use this module
    # before JAX loads; the data modules import it.
    from gwa_jax.data import DATASETS
    from gwa_jax.data.labels import check_val_labels

    d = c.dataset
    _require(d.name in DATASETS,
             f"unknown dataset '{d.name}'; choose one of {', '.join(sorted(DATASETS))}")
    spec = DATASETS[d.name]
    _require(not spec.test_only,
             f"'{d.name}' is a test-only dataset; list it in config.dataset.test_sets instead")
    _require(d.label_key in spec.label_keys,
             f"config.dataset.label_key '{d.label_key}' is not valid for {d.name}; choose one of "
             f"{', '.join(spec.label_keys)}")
    try:
        check_val_labels(d, spec)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    for name in d.test_sets:
        _require(name in DATASETS, f"unknown test set '{name}' in config.dataset.test_sets; "
                 f"choose from {', '.join(sorted(DATASETS))}")
    _require(0.0 <= d.val_fraction <= 0.5,
             f"config.dataset.val_fraction must be in [0, 0.5], got {d.val_fraction}")
    if d.fixed_train_fraction is not None:
        _require(0.5 <= d.fixed_train_fraction <= 1.0 and
                 d.fixed_train_fraction + d.val_fraction <= 1.0 + 1e-9,
                 f"config.dataset.fixed_train_fraction must be in [0.5, 1] with "
                 f"val_fraction <= 1 - it, got {d.fixed_train_fraction}")
    if d.data_dir is not None:
        _require(bool(d.data_dir) and (os.path.isdir(d.data_dir) or not check_files),
                 f"config.dataset.data_dir {d.data_dir!r} is not a directory; give the directory "
                 f"holding the dataset, or leave it unset (None) for the default location")
    if d.image_size is not None:
        _require(d.image_size > 0, f"config.dataset.image_size must be positive or None (the "
                 f"native size), got {d.image_size}")
    if d.train_subset is not None:
        _require(d.train_subset > 0,
                 f"config.dataset.train_subset must be positive or None, got {d.train_subset}")
    if d.get("classes") is not None:
        # A deliberate late import to keep start-up light: the data layer imports JAX.
        from gwa_jax.data.classes import check_classes

        try:
            check_classes(d.classes, spec.num_classes, d.name)
        except ValueError as err:
            raise ConfigError(f"config.{err}") from None
    n = d.label_noise
    _require(n.kind in ("none", "symmetric", "asymmetric"),
             f"config.dataset.label_noise.kind must be none/symmetric/asymmetric, got "
             f"'{n.kind}'")
    _require(0.0 <= n.rate < 1.0, f"config.dataset.label_noise.rate must be in [0, 1), got "
             f"{n.rate}")


def _check_augment(c: ml_collections.ConfigDict) -> None:
    a = c.augment
    _require(a.crop in ("none", "pad_crop", "inception", "resize_crop"),
             f"config.augment.crop must be none/pad_crop/inception/resize_crop, got '{a.crop}'")
    _require(a.randaug_ops in ("authors", "timm14"),
             f"config.augment.randaug_ops must be authors/timm14, got '{a.randaug_ops}'")
    _require(isinstance(a.resize_to, int) and a.resize_to > 0,
             f"config.augment.resize_to must be a positive integer, got {a.resize_to!r}")
    _require(a.mixup >= 0, f"config.augment.mixup must be >= 0, got {a.mixup}")
    _require(a.randaug_magnitude >= 0 and a.randaug_num_ops >= 0,
             "config.augment.randaug_magnitude and randaug_num_ops must be >= 0")
    _require(0.0 <= a.label_smoothing < 1.0,
             f"config.augment.label_smoothing must be in [0, 1), got {a.label_smoothing}")


def _check_model(c: ml_collections.ConfigDict) -> None:
    # A deliberate late import to keep start-up light: the workdir checks use this module
    # before JAX loads; the models import it.
    from gwa_jax import models
    from gwa_jax.models import ModelError, model_fields

    _require(c.model.name in models.names() or models.is_user_model(c.model.name),
             f"unknown model '{c.model.name}'; choose one of {', '.join(models.names())} "
             f"or give package.module:factory")
    try:
        fields = model_fields(c.model.name)
    except ModelError as err:
        raise ConfigError(str(err)) from None
    unknown = sorted(set(c.model.get("kwargs", {})) - set(fields))
    _require(not unknown, f"unknown config.model.kwargs {unknown} for model '{c.model.name}'; "
             f"its fields: {', '.join(fields)}")
    try:
        models.check_options(c.model.name, dict(c.model.get("kwargs") or {}))
    except ValueError as err:
        raise ConfigError(f"config.model.kwargs: {err}") from None

    _require(not c.model.dropout or "dropout" in model_fields(c.model.name),
             f"config.model.dropout applies to ViT models, not '{c.model.name}'")
    if c.model.stem_stride is not None:
        _require("stem_stride" in model_fields(c.model.name),
                 f"config.model.stem_stride applies to ConvNeXt models, not '{c.model.name}'")
        _require(c.model.stem_stride >= 1, "config.model.stem_stride must be >= 1")
    _require(c.model.dtype in ("float32", "bfloat16"),
             f"config.model.dtype must be float32 or bfloat16, got '{c.model.dtype}'")


def _check_optim(c: ml_collections.ConfigDict, num_devices: int, check_files: bool) -> None:
    # A deliberate late import to keep start-up light: the workdir checks use this module
    # before JAX loads; optax and the checkpoint readers import it.
    from gwa_jax.train.init_from import INIT_KINDS, is_run_dir
    from gwa_jax.train.optim import OPTIMIZERS, SCHEDULES

    o = c.optim
    _require(o.name in OPTIMIZERS, f"unknown optim.name '{o.name}'; choose one of {OPTIMIZERS}")
    _require(o.schedule in SCHEDULES,
             f"unknown optim.schedule '{o.schedule}'; choose one of {SCHEDULES}")
    _require(o.lr > 0, f"config.optim.lr must be positive, got {o.lr}")
    _require(o.warmup_steps >= 0 and o.weight_decay >= 0,
             "config.optim.warmup_steps and weight_decay must be >= 0")
    _require(o.warmup_steps < c.total_steps,
             f"config.optim.warmup_steps={o.warmup_steps} is not below total_steps="
             f"{c.total_steps}; lower warmup_steps or raise total_steps")
    _require(c.model.init_kind in INIT_KINDS,
             f"config.model.init_kind must be one of {', '.join(INIT_KINDS)}, got "
             f"'{c.model.init_kind}'")
    if c.model.init_from and check_files:
        _require(os.path.isfile(c.model.init_from) or is_run_dir(c.model.init_from),
                 f"config.model.init_from {c.model.init_from!r} is not a file or a gwa-jax run "
                 f"directory; give an AugReg .npz checkpoint or a finished run's --workdir, or "
                 f"leave it unset (None)")
    _require(o.accumulate_steps >= 1,
             f"config.optim.accumulate_steps must be >= 1, got {o.accumulate_steps}")
    _require(c.batch_size % (o.accumulate_steps * num_devices) == 0,
             f"config.batch_size={c.batch_size} must split into optim.accumulate_steps="
             f"{o.accumulate_steps} micro-batches over {num_devices} device(s); use a multiple "
             f"of {o.accumulate_steps * num_devices}")
    if o.grad_clip_norm is not None:
        _require(o.grad_clip_norm > 0, "config.optim.grad_clip_norm must be positive or None")


def _check_gwa_and_criteria(c: ml_collections.ConfigDict) -> None:
    g = c.gwa
    _require(g.beta > 0, f"config.gwa.beta must be positive, got {g.beta}")
    _require(math.isfinite(g.min_denominator) and g.min_denominator > 0,
             f"config.gwa.min_denominator must be a positive number, got {g.min_denominator}")
    _require(g.jlt_dim is None or g.jlt_dim > 0, "config.gwa.jlt_dim must be positive or None")
    _require(0.0 <= g.warmup_fraction < 1.0,
             f"config.gwa.warmup_fraction must be in [0, 1), got {g.warmup_fraction}")
    _require(g.bootstrap_resamples == 0 or g.bootstrap_resamples >= 2,
             f"config.gwa.bootstrap_resamples must be 0 (off) or >= 2, got "
             f"{g.bootstrap_resamples}")
    _require(g.save_scores_every >= 0 and g.offline_every >= 0,
             "config.gwa.save_scores_every and offline_every must be >= 0 (0 = never)")
    _require(c.criteria.labelwave_window >= 1, "config.criteria.labelwave_window must be >= 1")
    _require(c.criteria.gd.num_batches >= 2 and c.criteria.gd.patience >= 1,
             "config.criteria.gd.num_batches must be >= 2 and patience >= 1")
    stop = c.criteria.early_stop
    _require(isinstance(stop.patience, int) and not isinstance(stop.patience, bool)
             and stop.patience >= 0,
             f"config.criteria.early_stop.patience must be an integer >= 0 (0 = train to "
             f"total_steps), got {stop.patience!r}")
    _require(stop.criterion in ("gwa", "gwa_finetune"),
             f"config.criteria.early_stop.criterion must be 'gwa' or 'gwa_finetune', got "
             f"{stop.criterion!r}")
    _require(c.checkpoint_every >= 1, "config.checkpoint_every must be >= 1")
    _require(c.get("log_every_steps", 0) >= 0, "config.log_every_steps must be >= 0 (0 = never)")


def validate(config: ml_collections.ConfigDict, num_devices: int = 1,
             check_files: bool = True) -> None:
    """Schema then values; raises :class:`ConfigError` with one line.

    ``check_files=False`` skips the checks that need files of this machine
    (``dataset.data_dir``, ``model.init_from``), for configs written here to run elsewhere.
    """
    check_schema(config)
    check_values(config, num_devices, check_files)


def check_against_data(config: ml_collections.ConfigDict, steps_per_epoch: int,
                       num_train: int) -> None:
    """Checks that need the training-set size."""
    _require(steps_per_epoch >= 1,
             f"config.batch_size={config.batch_size} exceeds the {num_train} training samples; "
             f"lower the batch size")
    _require(config.total_steps >= steps_per_epoch,
             f"config.total_steps={config.total_steps} is shorter than one epoch "
             f"({steps_per_epoch} steps of {config.batch_size}); raise total_steps")


def whole_epochs(total_steps: int, steps_per_epoch: int) -> tuple[int, int]:
    """(number of epochs, effective step count) of a run: whole epochs only, rounded down.

    As in the paper's code, a remainder of ``total_steps`` shorter than one epoch is not
    trained, so no partly scored epoch can be selected by a criterion.
    """
    num_epochs = int(total_steps) // int(steps_per_epoch)
    return num_epochs, num_epochs * int(steps_per_epoch)
