"""gwa-jax: Gradient-Weight Alignment (GWA) for JAX/Flax classifiers.

The core API needs nothing but JAX:

    from gwa_jax import head_alignment, gwa, SampleBuffer, finalize_epoch, EpochTracker
"""

from gwa_jax.accumulator import EpochAlignment, SampleBuffer, finalize_epoch, summarize_scores
from gwa_jax.alignment import (
    Moments,
    alignment_moments,
    gwa,
    gwa_from_moments,
    head_alignment,
    jlt_projection,
)
from gwa_jax.latents import LATENT_COLLECTION, LATENT_NAME, head_kernel, latent_from_collection
from gwa_jax.tensorboard_writer import TensorBoardWriter
from gwa_jax.tracker import EpochTracker

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
