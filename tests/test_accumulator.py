"""The on-device epoch accumulator reproduces directly computed scores and GWA."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax import SampleBuffer, finalize_epoch, gwa, head_alignment


@functools.partial(jax.jit, donate_argnums=0)
def _accumulate(buffer, kernel, latents, labels, ids, valid):
    logits = latents @ kernel
    scores = head_alignment(kernel, logits, latents, labels)
    return buffer.update(ids, scores, valid)


def test_accumulator_matches_direct_scores_with_dropped_remainder():
    rng = np.random.default_rng(0)
    n, d, c, batch = 103, 12, 5, 16
    kernel = jnp.asarray(rng.normal(size=(d, c)), jnp.float32)
    latents = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, c, n).astype(np.int32)
    direct = np.asarray(head_alignment(kernel, jnp.asarray(latents) @ kernel,
                                       jnp.asarray(latents), jnp.asarray(labels)))

    order = rng.permutation(n)
    steps = n // batch  # Remainder of 103 - 96 = 7 ids is dropped.
    buf = SampleBuffer.create(n)
    for s in range(steps):
        idx = order[s * batch:(s + 1) * batch]
        valid = np.ones(batch, bool)
        if s == 0:  # Simulate padding: the last two rows of the first batch are fillers.
            valid[-2:] = False
        buf = _accumulate(buf, kernel, latents[idx], labels[idx], idx.astype(np.int32), valid)
    result = finalize_epoch(buf, epoch=0)

    trained = np.concatenate([order[s * batch:(s + 1) * batch] for s in range(steps)])
    padded = order[batch - 2:batch]
    expected_seen = np.setdiff1d(trained, padded)
    assert result.num_seen == expected_seen.size == steps * batch - 2
    np.testing.assert_allclose(result.scores[expected_seen], direct[expected_seen], atol=1e-6)
    unseen = np.setdiff1d(np.arange(n), expected_seen)
    assert np.all(np.isnan(result.scores[unseen]))
    assert result.gwa == pytest.approx(gwa(direct[expected_seen]), rel=1e-5)
    assert result.mean == pytest.approx(direct[expected_seen].mean(), rel=1e-5)


def test_reset_clears_seen_and_out_of_range_ids_are_dropped():
    buf = SampleBuffer.create(4)
    buf = buf.update(jnp.array([0, 3, 9]), jnp.array([0.1, 0.2, 0.3]))
    assert np.asarray(buf.seen).tolist() == [True, False, False, True]
    buf = buf.reset()
    assert not np.asarray(buf.seen).any()
    assert finalize_epoch(buf).num_seen == 0


def test_integer_buffer_for_predictions():
    buf = SampleBuffer.create(5, jnp.int32)
    buf = buf.update(jnp.array([4, 1]), jnp.array([7, 2]))
    assert np.asarray(buf.values).tolist() == [0, 2, 0, 0, 7]
    assert buf.values.dtype == jnp.int32


def test_bimodal_epoch_gives_nan_and_warns(caplog):
    n = 200
    scores = jnp.where(jnp.arange(n) % 2 == 0, -0.4, 0.5).astype(jnp.float32)
    buf = SampleBuffer.create(n).update(jnp.arange(n), scores)
    from absl import logging as absl_logging

    absl_logging.use_python_logging()
    with caplog.at_level("WARNING"):
        result = finalize_epoch(buf, epoch=17)
    assert np.isnan(result.gwa)
    assert "epoch 17" in caplog.text


def test_update_is_pure_under_jit_without_host_transfers():
    """The update jits to a single computation: no callbacks or host transfers inside."""
    buf = SampleBuffer.create(8)
    lowered = jax.jit(lambda b, i, v: b.update(i, v)).lower(
        buf, jnp.zeros(4, jnp.int32), jnp.zeros(4, jnp.float32))
    text = lowered.as_text()
    assert "callback" not in text and "infeed" not in text and "outfeed" not in text


def _two_point(n_low: int, n_high: int) -> np.ndarray:
    return np.concatenate([np.full(n_low, -0.3), np.full(n_high, 0.6)]).astype(np.float32)


def test_near_singular_epoch_warns_and_min_denominator_makes_it_undefined(caplog):
    from absl import logging as absl_logging
    from scipy.stats import kurtosis

    from gwa_jax import summarize_scores

    absl_logging.use_python_logging()
    # A two-point distribution with weights p, 1 - p has excess kurtosis (1 - 6q) / q with
    # q = p (1 - p); p = 29% puts kurtosis + 1.2 just above zero.
    scores = _two_point(29, 71)
    denom = kurtosis(scores, fisher=True, bias=True) + 1.2
    assert 1e-6 < denom < 0.1
    seen = np.ones(len(scores), bool)
    with caplog.at_level("WARNING"):
        ep = summarize_scores(scores, seen, epoch=8)
    assert ep.gwa == pytest.approx(np.mean(scores) / denom, rel=1e-4)
    assert "near its singularity" in caplog.text and "epoch 8" in caplog.text
    undefined = summarize_scores(scores, seen, eps=0.1, epoch=8)
    assert np.isnan(undefined.gwa)
    caplog.clear()
    with caplog.at_level("WARNING"):  # A comfortable denominator: no warning.
        summarize_scores(_two_point(10, 90), seen, epoch=9)
    assert "singularity" not in caplog.text
