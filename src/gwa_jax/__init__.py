"""gwa-jax: Gradient-Weight Alignment (GWA) for JAX/Flax classifiers.

The core API needs nothing but JAX:

    from gwa_jax import head_alignment, gwa, SampleBuffer, finalize_epoch, EpochTracker

The names below are imported on first use (PEP 562), so ``import gwa_jax`` and its light
submodules (``gwa_jax.interrupt``, the ``gwa-train`` entry point) start without importing
JAX: ``gwa-train`` installs its signal handling and takes the workdir lock first.
"""

import importlib as _importlib

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
    "TensorBoardWriter": "tensorboard_writer",
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


def __dir__() -> list[str]:
    names = set(globals()) | set(__all__)
    return sorted(n for n in names if n.startswith("__") or not n.startswith("_"))
