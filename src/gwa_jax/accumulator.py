"""On-device per-sample buffers for the online GWA estimator (paper Alg. 1, Eq. 3).

A :class:`SampleBuffer` holds one value per training id (N,) and a seen-mask (N,). The train
step writes the batch's scores into it by id, functionally, inside ``jit`` (donate the buffer
so XLA updates it in place). Nothing leaves the device until :func:`finalize_epoch`, which
performs the epoch's single device-to-host transfer and turns the scores into GWA.

The same container holds LabelWave's per-sample argmax predictions (``dtype=int32``).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import struct

from gwa_jax.alignment import DEFAULT_BETA, alignment_moments, gwa_from_moments

# Below this denominator (excess kurtosis + beta) GWA is defined but decided at the formula's
# singularity: a small change of the kurtosis moves it a lot, so every such epoch is logged.
NEAR_SINGULAR = 0.1


@struct.dataclass
class SampleBuffer:
    """Per-id values and a seen-mask, both living on the device.

    Attributes:
      values: (N,) values indexed by sample id (float32 scores or int32 predictions).
      seen: (N,) bool, True where a value was written since the last reset.
    """

    values: jax.Array
    seen: jax.Array

    @classmethod
    def create(cls, num_ids: int, dtype: jnp.dtype = jnp.float32) -> SampleBuffer:
        """An empty buffer for ids ``0 .. num_ids - 1``."""
        if num_ids <= 0:
            raise ValueError(f"num_ids must be positive, got {num_ids}.")
        return cls(values=jnp.zeros((num_ids,), dtype), seen=jnp.zeros((num_ids,), bool))

    @property
    def num_ids(self) -> int:
        return self.values.shape[0]

    def update(self, ids: jax.Array, values: jax.Array,
               valid: jax.Array | None = None) -> SampleBuffer:
        """Writes ``values`` (B,) at ``ids`` (B,); entries with ``valid == False`` are dropped.

        Padding rows and ids outside ``[0, N)`` are ignored (scatter with ``mode='drop'``).
        Pure: returns a new buffer; under ``jit`` with the buffer donated it is in place.
        """
        ids = jnp.asarray(ids, jnp.int32)
        if valid is not None:
            ids = jnp.where(valid, ids, self.num_ids)  # Out of range -> dropped.
        return SampleBuffer(
            values=self.values.at[ids].set(values.astype(self.values.dtype), mode="drop"),
            seen=self.seen.at[ids].set(True, mode="drop"),
        )

    def reset(self) -> SampleBuffer:
        """An all-unseen buffer of the same shape (values kept; they are masked by ``seen``)."""
        return dataclasses.replace(self, seen=jnp.zeros_like(self.seen))


@dataclasses.dataclass(frozen=True)
class EpochAlignment:
    """Host-side summary of one epoch's alignment scores.

    Attributes:
      scores: (N,) float32 scores by id, NaN for ids not seen this epoch.
      gwa: GWA of the seen scores, NaN when undefined (kurtosis + beta <= eps).
      mean: mean alignment. variance: biased variance.
      kurtosis: excess kurtosis (Fisher). num_seen: number of ids written this epoch.
    """

    scores: np.ndarray
    gwa: float
    mean: float
    variance: float
    kurtosis: float
    num_seen: int


def finalize_epoch(buffer: SampleBuffer, *, beta: float = DEFAULT_BETA, eps: float = 1e-6,
                   epoch: int | None = None) -> EpochAlignment:
    """Fetches the buffer once and computes GWA and its moments (online estimator, Eq. 3).

    Logs a warning naming the epoch when GWA is undefined.
    """
    values, seen = jax.device_get((buffer.values, buffer.seen))
    return summarize_scores(values, seen, beta=beta, eps=eps, epoch=epoch)


def summarize_scores(values: np.ndarray, seen: np.ndarray, *, beta: float = DEFAULT_BETA,
                     eps: float = 1e-6, epoch: int | None = None) -> EpochAlignment:
    """Host-side half of :func:`finalize_epoch`, for values already fetched to the host.

    Args:
      values: (N,) scores by id. seen: (N,) bool mask of ids written this epoch.
    """
    scores = np.where(seen, np.asarray(values, np.float32), np.float32(np.nan))
    m = alignment_moments(scores)
    value = gwa_from_moments(m.mean, m.excess_kurtosis, beta, eps)
    denom = m.excess_kurtosis + beta
    if not math.isnan(value) and denom < NEAR_SINGULAR:
        logging.warning(
            "GWA near its singularity, unstable, at epoch %s: excess kurtosis %.3f + beta %.2f "
            "= %.3f < %g (GWA %.3f); set gwa.min_denominator to treat such epochs as undefined.",
            "?" if epoch is None else epoch, m.excess_kurtosis, beta, denom, NEAR_SINGULAR, value,
        )
    if math.isnan(value) and m.count > 0:
        logging.warning(
            "GWA undefined at epoch %s: excess kurtosis %.3f + beta %.2f <= %g (bimodal "
            "alignment scores); GWA-based criteria skip this epoch.",
            "?" if epoch is None else epoch, m.excess_kurtosis, beta, eps,
        )
    return EpochAlignment(scores=scores, gwa=value, mean=m.mean, variance=m.variance,
                          kurtosis=m.excess_kurtosis, num_seen=m.count)
