"""GWA's bootstrap standard error against a direct numpy bootstrap and scipy."""

import math

import numpy as np
import pytest
import scipy.stats

from gwa_jax import uncertainty
from gwa_jax.alignment import gwa
from gwa_jax.uncertainty import bootstrap_gwa, epochs_within_se, gwa_standard_error


def _scores(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    # Skewed, heavy-ish tailed like real alignment scores: mostly positive, some negative.
    return (0.3 + 0.2 * rng.standard_normal(n) - 0.4 * (rng.random(n) < 0.15)).astype(np.float32)


def test_bootstrap_matches_a_direct_loop_over_the_same_draws():
    x = _scores()
    values = bootstrap_gwa(x, num_resamples=50, seed=3, epoch=7, beta=1.2)
    rng = np.random.default_rng([3, 7])
    idx = rng.integers(0, x.size, size=(50, x.size))
    direct = np.array([gwa(x[i].astype(np.float64), beta=1.2) for i in idx])
    np.testing.assert_allclose(values, direct, rtol=1e-10)
    se = gwa_standard_error(x, num_resamples=50, seed=3, epoch=7)
    assert se == pytest.approx(np.std(direct, ddof=1), rel=1e-10)


def test_chunking_and_unseen_ids_do_not_change_the_result(monkeypatch):
    x = _scores(800)
    full = bootstrap_gwa(x, num_resamples=40, seed=1, epoch=2)
    monkeypatch.setattr(uncertainty, "_CHUNK_ELEMENTS", 3 * 800 + 5)  # 3 rows per chunk.
    np.testing.assert_array_equal(bootstrap_gwa(x, num_resamples=40, seed=1, epoch=2), full)
    with_unseen = np.full(2000, np.nan, np.float32)
    with_unseen[np.sort(np.random.default_rng(0).choice(2000, 800, replace=False))] = x
    np.testing.assert_array_equal(
        bootstrap_gwa(with_unseen, num_resamples=40, seed=1, epoch=2), full)


def test_se_agrees_with_scipy_bootstrap():
    x = _scores(2000, seed=5).astype(np.float64)
    ours = gwa_standard_error(x, num_resamples=400, seed=0, epoch=1)
    ref = scipy.stats.bootstrap((x,), lambda s, axis: np.apply_along_axis(gwa, axis, s),
                                n_resamples=400, vectorized=True, method="percentile",
                                random_state=np.random.default_rng(11)).standard_error
    # Two independent sets of 400 resamples: each SE estimate is within ~4% of the truth.
    assert ours == pytest.approx(ref, rel=0.2)
    # And the SE shrinks like 1/sqrt(n): four times the data, about half the error.
    big = np.tile(x, 4) + 1e-9 * np.arange(4 * x.size)
    assert gwa_standard_error(big, num_resamples=400) == pytest.approx(ours / 2, rel=0.25)


def test_draw_is_fixed_by_seed_and_epoch():
    x = _scores()
    a = gwa_standard_error(x, seed=0, epoch=1)
    assert a == gwa_standard_error(x, seed=0, epoch=1)
    assert a != gwa_standard_error(x, seed=0, epoch=2)
    assert a != gwa_standard_error(x, seed=1, epoch=1)


def test_undefined_cases():
    assert math.isnan(gwa_standard_error(np.array([1.0])))
    assert math.isnan(gwa_standard_error(_scores(), num_resamples=1))
    # A two-point distribution has excess kurtosis -2: with beta=1.2 every resample is
    # undefined (denominator < 0), so is the SE.
    two_point = np.array([-1.0, 1.0] * 500)
    assert math.isnan(gwa_standard_error(two_point, num_resamples=20))


def test_epochs_within_se_by_hand():
    g = np.array([0.1, 0.5, 0.45, np.nan, 0.38, 0.6])
    se = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.16])
    assert epochs_within_se(g, se, 5) == 3  # Threshold 0.44: epochs of 0.5, 0.45 and 0.6.
    se[5] = 0.05
    assert epochs_within_se(g, se, 5) == 1  # Threshold 0.55: only the maximum itself.
    se[5] = np.nan
    assert epochs_within_se(g, se, 5) == 0  # Undefined SE.
