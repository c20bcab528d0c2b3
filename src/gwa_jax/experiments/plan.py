"""The run matrix of every paper table: which config, which argument, which workdir.

A :class:`Run` is one ``gwa-train`` invocation: a config file of ``configs/`` with its
argument string, and the coordinates the tables index it by (model, data variant, validation
split, seed). Its workdir is a pure function of the config and the argument,

    <root>/<config stem>/<slug of the argument>
    runs/table1_cifar10_vit/noise0.17_split0.01_seed1

so a run shared by two tables (Table 2 reads Table 1's ViT runs, Table 5's 90/10 row is Table
1's 10% run) is trained once, and a sweep restarted with the same root finds its runs again.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from gwa_jax.experiments.args import format_arg, format_value
from gwa_jax.experiments.paper import SEEDS, SPLITS

MODEL_NAMES = {"vit": "ViT", "convnext": "ConvNeXt"}
CIFAR_NOISE = (0.0, 0.09, 0.17)
FMNIST_NOISE = (0.0, 0.09, 0.17, 0.4)
FMNIST_ASYM_NOISE = (0.2, 0.4)
FINETUNE_DATASETS = ("imagenet2012", "i_naturalist2018", "places365_small")
FINETUNE_FMNIST_NOISE = (0.0, 0.17)
#: Seeds of the offline studies (fmnist_n, fmnist_n_asym, finetune_fmnist): six, so that one
#: cell's two-sided paired sign or signed-rank test can go below 0.05 (five seeds cannot go
#: below 0.0625). The paper tables keep the paper's three (:data:`SEEDS`).
OFFLINE_SEEDS = (0, 1, 2, 3, 4, 5)
#: Seeds of the Val Set rows (10% and 1% splits) of ``fmnist_n`` and ``fmnist_n_asym``: their
#: comparisons with GWA are pooled over (model, noise, seed) units, which 3 seeds give 24 of.
OFFLINE_VAL_SEEDS = (0, 1, 2)
REGIME_POOLS = (2000, 8000)
REGIME_RECIPES = ("paper", "plain")
REGIME_NOISE = (0.0, 0.17)
#: The arguments of ``configs/regime.py`` with their defaults (``epochs=0``: the recipe's own).
REGIME_ARGS = {"model": "vit", "pool": 2000, "recipe": "paper", "noise": 0.0, "seed": 0,
               "epochs": 0, "runlocal": False}
#: (model, recipe) -> epochs when ``epochs=0``: Table 4's CIFAR-10 epoch counts for the paper
#: recipe (the same for every pool size, so the 8,000-image pool's training accuracy
#: saturates), 30 for the no-augmentation recipe (saturated by epoch 11-24 at every pool size).
REGIME_EPOCHS = {("vit", "paper"): 179, ("convnext", "paper"): 92,
                 ("vit", "plain"): 30, ("convnext", "plain"): 30}


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a table.

    Attributes:
      config: config file stem in ``configs/`` (e.g. ``"table1_cifar10_vit"``).
      args: the config's arguments, in command-line order.
      model: model key (``"vit"``, ``"convnext"``).
      variant: data variant key (``"noise0.17"``, ``"imagenet"``, ``"i_naturalist2018"``).
      split: validation fraction (0.1, 0.01, 0).
      seed: training seed.
      role: ``"table"`` for table cells, ``"fig6"`` for the offline-GWA runs of Fig. 6,
        ``"grid"`` for the runs of a ``gwa-sweep`` grid, ``"pretrain"`` for a run the
        table's runs start from.
      overrides: ``(key, value)`` config overrides of this run (a ``gwa-sweep`` grid over
        ``config.*`` keys), passed as ``--config.KEY=VALUE`` and part of the workdir name.
      configs_dir: the directory of the config file when it is not the sweep's ``configs/``.
    """

    config: str
    args: tuple[tuple[str, Any], ...]
    model: str
    variant: str
    split: float
    seed: int
    role: str = "table"
    overrides: tuple[tuple[str, Any], ...] = ()
    configs_dir: str | None = None

    @property
    def arg(self) -> str:
        """The argument string: ``noise=0.17,split=0.01,seed=1``."""
        return format_arg(dict(self.args))

    @property
    def name(self) -> str:
        """The workdir's last component: ``noise0.17_split0.01_seed1``."""
        parts = []
        for key, value in self.args:
            text = format_value(value)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            parts.append(f"{key}{text}" if numeric else f"{key}-{text}")
        for key, value in self.overrides:
            text = re.sub(r"[^A-Za-z0-9.+-]+", "-", format_value(value)).strip("-")
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            parts.append(f"{key}{text}" if numeric else f"{key}-{text}")
        return "_".join(parts) or "default"

    def workdir(self, root: str | os.PathLike) -> Path:
        """``<root>/<config>/<name>``: where a sweep trains this run."""
        return Path(root) / self.config / self.name

    def result_dir(self, root: str | os.PathLike) -> Path:
        """Where a reader finds this run: ``<root>/<config>/<name>`` under a sweep root, or
        ``<root>/<name>`` when ``root`` holds one study's run folders directly (as
        ``scripts/export_runs.py`` writes them, e.g. ``results/fmnist_n/runs_format2``)."""
        nested = self.workdir(root)
        flat = Path(root) / self.name
        return flat if not nested.exists() and flat.is_dir() else nested

    def config_path(self, configs_dir: str | os.PathLike) -> Path:
        return Path(self.configs_dir or configs_dir) / f"{self.config}.py"

    @property
    def coordinates(self) -> dict[str, Any]:
        """The run's config arguments and overrides: ``{"noise": 0.2, "optim.lr": 0.001}``."""
        return {**dict(self.args), **dict(self.overrides)}

    def command(self, root: str | os.PathLike, configs_dir: str | os.PathLike,
                overrides: Sequence[str] = (), executable: Sequence[str] = ("gwa-train",)
                ) -> list[str]:
        """The ``gwa-train`` command line of this run (``overrides``: ``KEY=VALUE`` items
        appended as ``--config.KEY=VALUE``)."""
        config = _display_path(self.config_path(configs_dir))
        cmd = [*executable, "--config", f"{config}:{self.arg}" if self.args else config,
               "--workdir", _display_path(self.workdir(root))]
        cmd += [f"--config.{k}={format_value(v)}" for k, v in self.overrides]
        return cmd + [f"--config.{o.removeprefix('--config.')}" for o in overrides]

    def matches(self, filters: Sequence[str]) -> bool:
        """``key=v1,v2`` filters on the arguments and on model/variant/split/seed/config
        (all must match; float values compare numerically); a filter without ``=`` is a
        substring of ``<config>/<name>``."""
        fields: dict[str, Any] = {**self.coordinates, "model": self.model,
                                  "variant": self.variant, "split": self.split,
                                  "seed": self.seed, "config": self.config, "role": self.role}
        if self.role == "grid":  # A grid's own keys (e.g. seed, model) come first.
            fields.update(self.coordinates)
        for f in filters:
            key, eq, values = f.partition("=")
            if not eq:
                if key not in f"{self.config}/{self.name}":
                    return False
                continue
            if key not in fields:
                return False
            if not any(_same(fields[key], v) for v in values.split(",")):
                return False
        return True


def _same(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return format_value(value) == text.strip().lower()
    if isinstance(value, int | float):
        try:
            return abs(float(value) - float(text)) < 1e-9
        except ValueError:
            return False
    return str(value) == text.strip()


def _display_path(path: Path) -> str:
    """Relative to the working directory when below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def shell_command(cmd: Sequence[str]) -> str:
    return shlex.join(cmd)


def python_executable() -> list[str]:
    """How a sweep starts ``gwa-train``: ``python -m gwa_jax.cli.train_run``, this interpreter."""
    return [sys.executable, "-m", "gwa_jax.cli.train_run"]


def _matrix(config: str, model: str, variants: Iterable[tuple[str, dict[str, Any]]],
            splits: Sequence[float] = SPLITS, seeds: Sequence[int] = SEEDS,
            fixed: dict[str, Any] | None = None) -> list[Run]:
    runs = []
    for variant, vargs in variants:
        for split in splits:
            for seed in seeds:
                args = {**(fixed or {}), **vargs, "split": split, "seed": seed}
                runs.append(Run(config, tuple(args.items()), model, variant, split, seed))
    return runs


def noise_variant(noise: float, prefix: str = "noise") -> str:
    return f"{prefix}{format_value(float(noise))}"


def table1_cifar10() -> list[Run]:
    runs = []
    for model in ("vit", "convnext"):
        variants = [(noise_variant(n), {"noise": n}) for n in CIFAR_NOISE]
        runs += _matrix(f"table1_cifar10_{model}", model, variants)
    return runs


def table1_imagenet() -> list[Run]:
    runs = []
    for model in ("vit", "convnext"):
        runs += _matrix(f"table1_imagenet_{model}", model, [("imagenet", {})])
    return runs


def table1() -> list[Run]:
    return table1_cifar10() + table1_imagenet()


def table2() -> list[Run]:
    """The ViT runs of Table 1 that Table 2 evaluates on CIFAR-10-C / ImageNet-C."""
    return [r for r in table1() if r.model == "vit" and r.variant in ("noise0", "imagenet")]


def table3() -> list[Run]:
    return _matrix("table3_finetune_vit", "vit", [(d, {"dataset": d}) for d in FINETUNE_DATASETS])


def table5() -> list[Run]:
    """90/1 and 90/0 runs with a fixed 90% training set; the 90/10 row is Table 1's 10% run."""
    reference = [r for r in table1() if r.split == 0.1]
    runs = []
    for model in ("vit", "convnext"):
        variants = [(noise_variant(n), {"dataset": "cifar10", "noise": n}) for n in CIFAR_NOISE]
        variants.append(("imagenet", {"dataset": "imagenet"}))
        runs += _matrix("table5_fixed_trainsize", model, variants, splits=(0.01, 0.0),
                        fixed={"model": model})
    return reference + runs


def _offline(config: str, variants: Sequence[tuple[str, dict[str, Any]]],
             models: Sequence[str] = ("vit", "convnext"),
             fixed: dict[str, Any] | None = None,
             val_seeds: Sequence[int] = OFFLINE_VAL_SEEDS) -> list[Run]:
    """An offline study's grid, in the order a sweep trains it: the 0% split (GWA, LabelWave,
    GD, last epoch) of every model, variant and seed of :data:`OFFLINE_SEEDS` first, then the
    10% and 1% splits (the Val Set rows) over ``val_seeds``, so that a sweep cut short has
    whole seed sets of the runs without held-out data. ``fixed=None`` passes ``model`` as a
    config argument."""
    runs = []
    for splits, seeds in (((0.0,), OFFLINE_SEEDS), ((0.1, 0.01), val_seeds)):
        for model in models:
            args = {"model": model} if fixed is None else fixed
            for split in splits:
                runs += _matrix(config, model, variants, splits=(split,), seeds=seeds,
                                fixed=args)
    return runs


def fmnist_n() -> list[Run]:
    """The offline benchmark (+ one offline-GWA run per model for Fig. 6)."""
    runs = _offline("fmnist_n", [(noise_variant(n), {"noise": n}) for n in FMNIST_NOISE])
    for model in ("vit", "convnext"):
        args = {"model": model, "noise": 0.0, "split": 0.0, "seed": 0, "offline": 1}
        runs.append(Run("fmnist_n", tuple(args.items()), model, "noise0", 0.0, 0, role="fig6"))
    return runs


def fmnist_n_asym() -> list[Run]:
    """Fashion-MNIST with class-dependent (asymmetric) noise of 20% and 40%."""
    variants = [(noise_variant(n, "asym"), {"noise": n, "noise_kind": "asymmetric"})
                for n in FMNIST_ASYM_NOISE]
    return _offline("fmnist_n", variants)


def finetune_fmnist() -> list[Run]:
    """The fine-tuning testbed: one pretraining run (classes 0-4), then the Table 3 style
    matrix of fine-tuning runs (classes 5-9) that start from it. The fine-tuning runs read
    the pretraining run from ``runs/finetune_fmnist/stage-pretrain`` (the config's
    ``pretrained`` argument), so sweep them with the default ``--root runs``."""
    pretrain = Run("finetune_fmnist", (("stage", "pretrain"),), "vit", "pretrain", 0.0, 0,
                   role="pretrain")
    variants = [(noise_variant(n), {"noise": n}) for n in FINETUNE_FMNIST_NOISE]
    return [pretrain, *_offline("finetune_fmnist", variants, models=("vit",),
                                fixed={"stage": "finetune"}, val_seeds=OFFLINE_SEEDS)]


def regime() -> list[Run]:
    """The regime study (0%-split runs only): the smaller pool first, so that a sweep cut
    short has whole comparisons to show."""
    runs = []
    for pool in REGIME_POOLS:
        for recipe in REGIME_RECIPES:
            for model in ("vit", "convnext"):
                for noise in REGIME_NOISE:
                    for seed in SEEDS:
                        runs.append(regime_run(model, pool, recipe, noise, seed))
    return runs


def regime_run(model: str, pool: int, recipe: str, noise: float, seed: int) -> Run:
    """One run of ``configs/regime.py`` (also for pools outside :data:`REGIME_POOLS`)."""
    args = {"model": model, "pool": pool, "recipe": recipe, "noise": noise, "seed": seed}
    variant = f"pool{pool}_{recipe}_{noise_variant(noise)}"
    return Run("regime", tuple(args.items()), model, variant, 0.0, seed)


def _union(*plans: Callable[[], list[Run]]) -> Callable[[], list[Run]]:
    def union() -> list[Run]:
        seen: dict[tuple[str, str], Run] = {}
        for plan in plans:
            for run in plan():
                seen.setdefault((run.config, run.name), run)
        return list(seen.values())

    return union


PLANS: dict[str, Callable[[], list[Run]]] = {
    "table1_cifar10": table1_cifar10,
    "table1_imagenet": table1_imagenet,
    "table1": table1,
    "table2": table2,
    "table3": table3,
    "table5": table5,
    "fmnist_n": fmnist_n,
    "fmnist_n_asym": fmnist_n_asym,
    "finetune_fmnist": finetune_fmnist,
    "regime": regime,
    "paper": _union(table1, table3, table5),
}


def expand(table: str) -> list[Run]:
    """The runs of ``table`` (one of :data:`PLANS`), in a fixed order."""
    if table not in PLANS:
        raise ValueError(f"unknown table '{table}'; choose one of {', '.join(PLANS)}")
    return PLANS[table]()
