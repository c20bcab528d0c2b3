"""Command-line conventions of ``gwa-train`` beyond the config: absl logging flags,
``--version``, ``--print_config`` / ``--dry_run`` and ``--config.model.kwargs.KEY=VALUE``.

    gwa-train --config configs/my.py --workdir runs/x --alsologtostderr --verbosity=1
    gwa-train --config configs/my.py --print_config          # validate, describe, exit 0
    gwa-train --config configs/my.py --workdir runs/x \\
        --config.model.kwargs.depths='(1,1,1,1)'             # any field of the model

``--config.model.kwargs.*`` may name keys the config file does not set (ml_collections only
overrides existing keys), so they are taken out of the command line here and set on the
loaded config before validation, which checks them against the model's dataclass fields.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

import ml_collections
from absl import flags

from gwa_jax.run.run_guard import USAGE_EXIT

KWARGS_PREFIX = "--config.model.kwargs."
DRY_RUN_FLAGS = ("--print_config", "--dry_run")


@dataclasses.dataclass
class SplitArgv:
    """``argv`` taken apart: what the config parser reads, and the rest.

    Attributes:
      config_argv: program name, ``--config``, ``--workdir``, overrides, ``--overwrite``.
      absl_argv: absl's own flags (``--alsologtostderr``, ``--verbosity=1``, ``-v``, ...).
      model_kwargs: ``{key: value}`` of ``--config.model.kwargs.KEY=VALUE``.
      dry_run: ``--print_config`` or ``--dry_run`` was given.
      version: ``--version`` was given.
    """

    config_argv: list[str]
    absl_argv: list[str]
    model_kwargs: dict[str, Any]
    dry_run: bool = False
    version: bool = False


def _absl_flag_names() -> set[str]:
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from absl import logging  # noqa: F401 - defines the logging flags on flags.FLAGS.

    ours = {"config", "workdir", "overwrite", "help", "helpshort", "helpfull", "helpxml"}
    return set(flags.FLAGS) - ours


def _flag_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0]


def _is_absl_flag(arg: str, known: set[str]) -> bool:
    name = _flag_name(arg)
    if name.startswith("config"):
        return False
    return arg.startswith("-") and (name in known or (name.startswith("no") and
                                                      name[2:] in known))


def _takes_separate_value(arg: str, known: set[str]) -> bool:
    """``--verbosity 1`` (not ``--verbosity=1``, not a boolean like ``--alsologtostderr``)."""
    name = _flag_name(arg)
    return "=" not in arg and name in known and not isinstance(flags.FLAGS[name],
                                                               flags.BooleanFlag)


def parse_value(text: str) -> Any:
    """``"(1,1,1,1)" -> (1, 1, 1, 1)``, ``"8" -> 8``, ``"0.1" -> 0.1``, ``"gelu" -> "gelu"``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return tuple(value) if isinstance(value, list) else value


def split_argv(argv: list[str]) -> SplitArgv:
    """Separates absl flags, model kwargs, ``--print_config``/``--dry_run`` and
    ``--version`` from the arguments of :func:`gwa_jax.cli.train_run.parse_command_line`."""
    known = _absl_flag_names()
    out = SplitArgv(config_argv=list(argv[:1]), absl_argv=[], model_kwargs={})
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in DRY_RUN_FLAGS:
            out.dry_run = True
            continue
        if arg == "--version":
            out.version = True
            continue
        if arg.startswith(KWARGS_PREFIX):
            key, eq, text = arg[len(KWARGS_PREFIX):].partition("=")
            if not eq and i < len(args):
                text, i = args[i], i + 1
            out.model_kwargs[key] = parse_value(text)
            continue
        if _is_absl_flag(arg, known):
            out.absl_argv.append(arg)
            if _takes_separate_value(arg, known) and i < len(args):
                out.absl_argv.append(args[i])
                i += 1
            continue
        out.config_argv.append(arg)
    return out


def set_model_kwargs(config: ml_collections.ConfigDict, kwargs: dict[str, Any]) -> None:
    """Sets ``config.model.kwargs[key] = value`` (new keys allowed; checked by validation)."""
    if not kwargs:
        return
    with config.unlocked():
        if "kwargs" not in config.model or config.model.kwargs is None:
            config.model.kwargs = ml_collections.ConfigDict()
        for key, value in kwargs.items():
            if key in config.model.kwargs:
                config.model.kwargs[key] = value  # Also a change of type, e.g. tuple -> int.
            else:
                setattr(config.model.kwargs, key, value)


def describe(config: ml_collections.ConfigDict) -> str:
    """The resolved config and what training would do: dataset sizes, steps per epoch, epochs
    and the model's parameter count (traced abstractly, nothing is trained or compiled)."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax import models
    from gwa_jax.config_check import check_against_data, whole_epochs
    from gwa_jax.data import build_data
    from gwa_jax.train.step import model_overrides

    data = build_data(config)
    info = data.info
    check_against_data(config, info.steps_per_epoch, info.num_train)
    model = models.create(config.model.name, info.num_classes, **model_overrides(config.model))
    n_params = models.check_contract(model, tuple(info.image_shape), info.num_classes,
                                     config.model.name)
    epochs, steps = whole_epochs(config.total_steps, info.steps_per_epoch)
    noisy = int(data.meta["noise_mask"][data.meta["ids"]].sum())
    lines = [
        "# resolved config",
        str(config).rstrip(),
        "",
        "# summary",
        f"dataset        {info.name} ({info.source})",
        f"train samples  {info.num_train} of {info.num_ids} ids, {noisy} with a noisy label, "
        f"{info.num_classes} classes, images {tuple(info.image_shape)}",
        f"eval sets      {', '.join(['val'] * (data.val is not None) + list(data.tests))}",
        f"model          {config.model.name}: {n_params:,} parameters",
        f"steps/epoch    {info.steps_per_epoch} (batch {config.batch_size})",
        f"epochs         {epochs} ({steps} steps; whole epochs of total_steps="
        f"{config.total_steps})",
    ]
    return "\n".join(lines)


def describe_or_fail(config: ml_collections.ConfigDict, fail: Any) -> int:
    """Prints :func:`describe`; a config the data or model rejects goes to ``fail(message)``."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.config_check import ConfigError
    from gwa_jax.data import DatasetNotFoundError

    try:
        text = describe(config)
    except (ConfigError, DatasetNotFoundError, ValueError) as err:
        fail(" ".join(str(err).split()))
        return USAGE_EXIT
    print(text)
    return 0
