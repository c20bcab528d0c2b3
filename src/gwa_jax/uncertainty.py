"""Bootstrap standard error of GWA over an epoch's per-sample alignment scores (host side).

GWA at fixed weights is a statistic of the N per-sample scores of an epoch; resampling the
ids with replacement and recomputing GWA shows how far the epoch's value could move with a
different draw of the same data. An epoch whose GWA lies within one standard error of the
selected maximum is, on this evidence, as good a stopping point.

The draw is fixed by ``(seed, epoch)``: ``numpy.random.default_rng([seed, epoch])`` gives
``indices = rng.integers(0, n, size=(num_resamples, n))`` (one resample a row) over the
finite scores in id order, so the same epoch of the same run always gets the same SE.
"""

from __future__ import annotations

import math

import numpy as np

from gwa_jax.alignment import DEFAULT_BETA

#: Scores resampled at once (rows x n); bounds the host memory at about 64 MB of float64.
_CHUNK_ELEMENTS = 8_000_000


def bootstrap_gwa(scores: np.ndarray, *, num_resamples: int = 200, seed: int = 0,
                  epoch: int = 0, beta: float = DEFAULT_BETA,
                  eps: float = 1e-6) -> np.ndarray:
    """GWA of ``num_resamples`` bootstrap resamples of the finite entries of ``scores``.

    Args:
      scores: (N,) alignment scores by id; NaN entries (ids not seen) are dropped first.
      num_resamples: B, the number of resamples.
      seed, epoch: fix the draw (see the module docstring).
      beta, eps: as in :func:`gwa_jax.alignment.gwa`.

    Returns:
      (B,) float64 GWA of each resample, NaN where a resample's denominator
      ``kurtosis + beta`` is <= eps (as :func:`gwa_jax.alignment.gwa_from_moments`).
    """
    x = np.asarray(scores, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = x.size
    out = np.full(num_resamples, np.nan)
    if n < 2 or num_resamples < 1:
        return out
    rng = np.random.default_rng([seed, epoch])
    indices = rng.integers(0, n, size=(num_resamples, n))
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, num_resamples, rows):
        sample = x[indices[start:start + rows]]                  # (b, n)
        mean = sample.mean(axis=1)
        d2 = (sample - mean[:, None]) ** 2
        m2 = d2.mean(axis=1)
        m4 = (d2 * d2).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = m4 / (m2 * m2) - 3.0 + beta
            value = np.where(np.isfinite(denom) & (denom > eps), mean / denom, np.nan)
        out[start:start + rows] = value
    return out


def gwa_standard_error(scores: np.ndarray, *, num_resamples: int = 200, seed: int = 0,
                       epoch: int = 0, beta: float = DEFAULT_BETA, eps: float = 1e-6) -> float:
    """Bootstrap standard error of GWA: the standard deviation (ddof=1) of
    :func:`bootstrap_gwa` over its defined resamples.

    Args:
      scores: (N,) alignment scores by id (NaN = not seen).

    Returns:
      The SE, or NaN when fewer than two resamples give a defined GWA (e.g. when the epoch's
      own GWA sits at the formula's singularity) or ``num_resamples < 2``.
    """
    values = bootstrap_gwa(scores, num_resamples=num_resamples, seed=seed, epoch=epoch,
                           beta=beta, eps=eps)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    return float(values.std(ddof=1))


def epochs_within_se(gwa: np.ndarray, gwa_se: np.ndarray, selected: int) -> int:
    """How many epochs' GWA lie within one standard error of the selected epoch's GWA.

    Args:
      gwa: (E,) GWA per epoch (NaN = undefined). gwa_se: (E,) its standard errors.
      selected: index into ``gwa`` of the selected maximum.

    Returns:
      The count of epochs ``e`` with ``gwa[e] >= gwa[selected] - gwa_se[selected]``,
      the selected epoch included (so at least 1); 0 when the selected SE is undefined.
    """
    g = np.asarray(gwa, dtype=np.float64)
    se = float(np.asarray(gwa_se, dtype=np.float64)[selected])
    if not math.isfinite(se) or not math.isfinite(g[selected]):
        return 0
    return int(np.sum(np.isfinite(g) & (g >= g[selected] - se)))
