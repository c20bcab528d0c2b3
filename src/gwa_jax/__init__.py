"""gwa-jax: Gradient-Weight Alignment (GWA) for JAX/Flax classifiers.

The core API needs nothing but JAX:

    from gwa_jax import head_alignment, gwa, SampleBuffer, finalize_epoch, EpochTracker

The names below are imported on first use (PEP 562), so ``import gwa_jax`` and its light
submodules (``gwa_jax.run.interrupt``, the ``gwa-train`` entry point) start without importing
JAX: ``gwa-train`` installs its signal handling and takes the workdir lock first.
"""

import importlib as _importlib
import importlib.abc as _importlib_abc
import importlib.util as _importlib_util
import sys as _sys
import types as _types
import warnings as _warnings

# Public name -> the submodule that defines it.
_LAZY = {
    "EpochAlignment": "accumulator",
    "SampleBuffer": "accumulator",
    "finalize_epoch": "accumulator",
    "summarize_scores": "accumulator",
    "Moments": "alignment",
    "alignment_moments": "alignment",
    "gwa": "alignment",
    "gwa_from_moments": "alignment",
    "head_alignment": "alignment",
    "jlt_projection": "alignment",
    "LATENT_COLLECTION": "latents",
    "LATENT_NAME": "latents",
    "head_kernel": "latents",
    "latent_from_collection": "latents",
    "TensorBoardWriter": "run.tensorboard_writer",
    "EpochTracker": "tracker",
}

__all__ = [
    "EpochAlignment",
    "EpochTracker",
    "LATENT_COLLECTION",
    "LATENT_NAME",
    "Moments",
    "SampleBuffer",
    "TensorBoardWriter",
    "alignment_moments",
    "finalize_epoch",
    "gwa",
    "gwa_from_moments",
    "head_alignment",
    "head_kernel",
    "jlt_projection",
    "latent_from_collection",
    "summarize_scores",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # A deliberate late import (PEP 562) to keep start-up light: JAX loads on first use.
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # Later look-ups skip this function.
    return value


# Old module path -> new one. The old paths keep working, with a DeprecationWarning, for one
# release: ``import gwa_jax.trainer`` gives the very module ``gwa_jax.train.trainer``.
# (``gwa_jax.train`` and ``gwa_jax.cli`` are packages now; they forward their old names.)
MOVED_MODULES = {
    "trainer": "train.trainer",
    "optim": "train.optim",
    "grad_accum": "train.grad_accum",
    "sharding": "train.sharding",
    "init_from": "train.init_from",
    **{name: f"run.{name}" for name in (
        "workdir", "workdir_lock", "interrupt", "checkpoints", "resume", "integrity",
        "run_files", "run_format", "run_guard", "progress", "tensorboard_writer")},
    "entry": "cli.train",
    "cli_extras": "cli.train_config",
    "sweep_cli": "cli.sweep",
    "report_cli": "cli.report",
    "inspect_cli": "cli.inspect",
}


class _MovedModules(_importlib_abc.MetaPathFinder, _importlib_abc.Loader):
    """Finds ``gwa_jax.<old>`` and loads it as the module it moved to."""

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> object:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in MOVED_MODULES:
            return None
        return _importlib_util.spec_from_loader(fullname, self)

    def create_module(self, spec: object) -> None:
        return None  # The default module; exec_module replaces it in sys.modules.

    def exec_module(self, module: _types.ModuleType) -> None:
        new = f"{__name__}.{MOVED_MODULES[module.__name__.rpartition('.')[2]]}"
        # Attributed to this module, so hidden by Python's default filters: a console script
        # installed by an older gwa-jax imports the old path and prints only its own lines.
        _warnings.warn(f"{module.__name__} moved to {new}", DeprecationWarning, stacklevel=1)
        # A deliberate late import: only an old path asks for it.
        _sys.modules[module.__name__] = _importlib.import_module(new)


if not any(isinstance(f, _MovedModules) for f in _sys.meta_path):
    _sys.meta_path.append(_MovedModules())


def __dir__() -> list[str]:
    names = set(globals()) | set(__all__)
    return sorted(n for n in names if n.startswith("__") or not n.startswith("_"))
