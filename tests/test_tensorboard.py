"""TensorBoard events of a gwa-train run, read back and compared with the run's own files."""

import glob
import importlib.util
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import requires_fmnist
from gwa_jax import criteria, trainer
from gwa_jax.tensorboard_writer import TensorBoardWriter, scalar_items, score_groups

ROOT = Path(__file__).resolve().parents[1]


def read_events(logdir):
    """{tag: {step: value}}: floats for scalars, (buckets, 3) arrays for histograms."""
    out = defaultdict(dict)
    for path in sorted(glob.glob(str(Path(logdir) / "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                value = tf.make_ndarray(v.tensor)
                out[v.tag][event.step] = value.item() if value.ndim == 0 else value
    return out


def _check_histogram(hist, values):
    assert hist.ndim == 2 and hist.shape[1] == 3
    assert hist[:, 2].sum() == pytest.approx(values.size)
    assert hist[0, 0] <= values.min() + 1e-6 and hist[-1, 1] >= values.max() - 1e-6
    # Bucket counts against numpy on the same edges (the last bucket is closed).
    edges = np.append(hist[:, 0], hist[-1, 1])
    want, _ = np.histogram(values.astype(np.float64), bins=edges)
    np.testing.assert_allclose(hist[:, 2], want, atol=1)


def test_writer_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.normal(0.1, 0.2, 40).astype(np.float32)
    scores[:3] = np.nan  # Unseen ids.
    mask = np.arange(40) % 4 == 0
    row = {"epoch": 1, "step": 7, "gwa": 0.5, "gd": math.nan, "labelwave": None, "ok": True,
           "test/cifar10_1_acc": 0.25}
    w = TensorBoardWriter(tmp_path)
    w.write_epoch(1, row, scores, mask)
    w.close()
    ev = read_events(tmp_path)
    assert {t for t in ev if not t.startswith("alignment/")} == set(scalar_items(row))
    assert ev["gwa"][1] == pytest.approx(0.5) and ev["test/cifar10_1_acc"][1] == 0.25
    groups = score_groups(scores, mask)
    assert groups["clean"].size + groups["mislabelled"].size == groups["all"].size == 37
    for name, values in groups.items():
        _check_histogram(ev[f"alignment/{name}"][1], values)
    # TensorBoard's own reader (the `tensorboard` package) sees the same tags.
    from tensorboard.backend.event_processing import event_accumulator

    reader = event_accumulator.EventAccumulator(str(tmp_path))
    reader.Reload()
    assert set(reader.Tags()["tensors"]) == set(ev)
    assert tf.make_ndarray(reader.Tensors("gwa")[0].tensor_proto) == pytest.approx(0.5)
    TensorBoardWriter(tmp_path / "off", enabled=False).write_epoch(1, row, scores)
    assert not (tmp_path / "off").exists()


def _small_noisy_config():
    spec = importlib.util.spec_from_file_location("qs", ROOT / "configs" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(None)
    c.model.name = "vit_fmnist_tiny"
    c.dataset.train_subset = 256
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.25
    c.batch_size = 64
    c.optim.accumulate_steps = 2  # 2 micro-batches of 32 per step.
    c.total_steps = 12  # 4 steps per epoch -> 3 epochs.
    return c


@requires_fmnist
def test_run_writes_scalars_and_histograms(tmp_path):
    summary = trainer.train_and_evaluate(_small_noisy_config(), str(tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["step"] for r in rows] == [4, 8, 12]  # Optimiser steps, not micro-steps.
    ev = read_events(tmp_path / "tensorboard")
    noise = np.load(tmp_path / "alignment" / "meta.npz")["noise_mask"]
    assert noise.any()
    for r in rows:
        for key, value in r.items():
            if isinstance(value, int | float) and value is not None and math.isfinite(value):
                assert ev[key][r["epoch"]] == pytest.approx(value, rel=1e-6), key
        scores = np.load(tmp_path / "alignment" / f"epoch_{r['epoch']:04d}.npy")
        seen = np.isfinite(scores)
        assert seen.sum() == r["align_seen"] == 256
        _check_histogram(ev["alignment/all"][r["epoch"]], scores[seen])
        _check_histogram(ev["alignment/clean"][r["epoch"]], scores[seen & ~noise])
        _check_histogram(ev["alignment/mislabelled"][r["epoch"]], scores[seen & noise])
    # gwa-train's selections come from the EpochTracker: identical to criteria.select_all.
    sel = criteria.select_all(rows, total_steps=12)
    assert {k: v["epoch"] for k, v in summary["selected"].items()} == {
        k: rows[i]["epoch"] for k, i in sel.items()}
