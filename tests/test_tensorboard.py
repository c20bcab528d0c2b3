"""TensorBoard events of a gwa-train run, read back and compared with the run's own files.

The events are read with the ``tensorboard`` package's own readers: ``plugin_event_accumulator``
(what the TensorBoard server shows: every value as a tensor, old-style histograms converted)
and the classic ``event_accumulator`` (the raw ``HistogramProto`` fields).
"""

import glob
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.util import tensor_util

from conftest import requires_fmnist
from gwa_jax import criteria
from gwa_jax.run.tensorboard_writer import (
    NUM_BUCKETS,
    TensorBoardWriter,
    scalar_items,
    score_groups,
)
from gwa_jax.train import trainer

ROOT = Path(__file__).resolve().parents[1]


def read_events(logdir):
    """{tag: {step: value}} as TensorBoard shows them: floats for scalars, (buckets, 3) arrays
    [left, right, count] for histograms."""
    acc = plugin_event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    out = defaultdict(dict)
    for tag in acc.Tags()["tensors"]:
        for event in acc.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            out[tag][event.step] = value.item() if value.ndim == 0 else value
    return out


def read_raw(logdir):
    """The classic accumulator: {tag: {step: HistogramValue}} and {tag: {step: float}}."""
    acc = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.HISTOGRAMS: 0,
                                    event_accumulator.TENSORS: 0,
                                    event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags()
    hists = {t: {e.step: e.histogram_value for e in acc.Histograms(t)}
             for t in tags["histograms"]}
    scalars = {t: {e.step: tensor_util.make_ndarray(e.tensor_proto).item()
                   for e in acc.Tensors(t)} for t in tags["tensors"]}
    assert not tags["scalars"]  # Scalars are scalars-plugin tensors, not simple_value.
    return hists, scalars


def _check_histogram(hist, values):
    """``hist``: (buckets, 3) as TensorBoard shows it (float32 edges)."""
    assert hist.ndim == 2 and hist.shape[1] == 3
    assert hist[:, 2].sum() == pytest.approx(values.size)
    assert hist[0, 0] <= values.min() + 1e-6 and hist[-1, 1] >= values.max() - 1e-6
    # Bucket counts against numpy on the same edges (the last bucket is closed).
    edges = np.append(hist[:, 0], hist[-1, 1])
    want, _ = np.histogram(values.astype(np.float64), bins=edges)
    np.testing.assert_allclose(hist[:, 2], want, atol=1)


def _check_histogram_proto(h, values):
    """``h``: the stored HistogramProto fields; exact against ``np.histogram``."""
    values = np.asarray(values, np.float64)
    assert h.min == values.min() and h.max == values.max()
    assert h.num == values.size and sum(h.bucket) == values.size
    assert h.sum == pytest.approx(values.sum()) and h.sum_squares == pytest.approx(
        (values ** 2).sum())
    edges = np.array([h.min, *h.bucket_limit])
    if values.min() == values.max():
        assert list(h.bucket) == [values.size] and list(h.bucket_limit) == [values.max()]
        return
    assert len(h.bucket) == len(h.bucket_limit) == NUM_BUCKETS
    np.testing.assert_allclose(edges, np.linspace(values.min(), values.max(), NUM_BUCKETS + 1),
                               rtol=0, atol=1e-12)
    want, _ = np.histogram(values, bins=edges)
    np.testing.assert_array_equal(h.bucket, want)
    want_np, _ = np.histogram(values, bins=NUM_BUCKETS)
    np.testing.assert_array_equal(h.bucket, want_np)


def test_writer_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.normal(0.1, 0.2, 40).astype(np.float32)
    scores[:3] = np.nan  # Unseen ids.
    mask = np.arange(40) % 4 == 0
    row = {"epoch": 1, "step": 7, "gwa": 0.5, "gd": math.nan, "labelwave": None, "ok": True,
           "test/cifar10_1_acc": 0.25, "count": np.int64(3), "ratio": np.float32(0.1)}
    w = TensorBoardWriter(tmp_path)
    w.write_epoch(1, row, scores, mask)
    # Epoch 2: every seen id mislabelled (no clean group), and all scores equal.
    same = np.full(40, 0.3, np.float32)
    w.write_epoch(2, {"gwa": -1.25}, same, np.ones(40, bool))
    w.close()
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 1
    ev = read_events(tmp_path)
    assert {t for t in ev if not t.startswith("alignment/")} == set(scalar_items(row))
    for key, value in scalar_items(row).items():
        assert ev[key][1] == np.float32(value), key  # Stored as float32, like tf.summary.
    assert ev["gwa"] == {1: 0.5, 2: -1.25}
    assert ev["test/cifar10_1_acc"][1] == 0.25 and ev["step"][1] == 7.0
    groups = score_groups(scores, mask)
    assert groups["clean"].size + groups["mislabelled"].size == groups["all"].size == 37
    for name, values in groups.items():
        _check_histogram(ev[f"alignment/{name}"][1], values)
    assert set(ev["alignment/all"]) == set(ev["alignment/mislabelled"]) == {1, 2}
    assert set(ev["alignment/clean"]) == {1}  # Empty groups are skipped.
    np.testing.assert_allclose(ev["alignment/all"][2], [[0.3, 0.3, 40]])
    # The stored HistogramProto and scalar tensors, through TensorBoard's classic reader.
    hists, scalars = read_raw(tmp_path)
    assert set(hists) == {f"alignment/{n}" for n in groups}
    assert set(scalars) == set(scalar_items(row))
    assert scalars["gwa"] == {1: 0.5, 2: -1.25}
    for name, values in groups.items():
        _check_histogram_proto(hists[f"alignment/{name}"][1], values)
    _check_histogram_proto(hists["alignment/all"][2], same)
    _check_histogram_proto(hists["alignment/mislabelled"][2], same)
    TensorBoardWriter(tmp_path / "off", enabled=False).write_epoch(1, row, scores)
    assert not (tmp_path / "off").exists()


# Blocks (and records) every import of TensorFlow, then writes three epochs and reads them
# back with TensorBoard's reader, which falls back to its TF stub.
_NO_TF_SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys

    attempts = []

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                attempts.append(name)
                raise ImportError("TensorFlow is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockTensorFlow())
    import numpy as np
    from gwa_jax.run.tensorboard_writer import TensorBoardWriter

    logdir = sys.argv[1]
    rng = np.random.default_rng(1)
    mask = np.arange(64) % 5 == 0
    w = TensorBoardWriter.for_workdir(logdir)
    for epoch in (1, 2, 3):
        scores = rng.normal(0.05 * epoch, 0.3, 64)
        scores[epoch] = np.nan
        w.write_epoch(epoch, {"epoch": epoch, "gwa": 0.1 * epoch, "train_loss": 2.0 / epoch},
                      scores, mask)
    w.close()
    written = {"attempts": list(attempts),
               "tf_modules": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}
    from tensorboard.backend.event_processing import event_accumulator as ea
    acc = ea.EventAccumulator(logdir + "/tensorboard", size_guidance={ea.HISTOGRAMS: 0})
    acc.Reload()
    written["histogram_tags"] = sorted(acc.Tags()["histograms"])
    written["tensor_tags"] = sorted(acc.Tags()["tensors"])
    print(json.dumps(written))
""")


def test_writes_without_tensorflow(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["attempts"] == [] and out["tf_modules"] == []
    assert out["histogram_tags"] == ["alignment/all", "alignment/clean", "alignment/mislabelled"]
    assert out["tensor_tags"] == ["epoch", "gwa", "train_loss"]
    # The same values, recomputed here.
    ev = read_events(tmp_path / "tensorboard")
    hists, _ = read_raw(tmp_path / "tensorboard")
    rng = np.random.default_rng(1)
    mask = np.arange(64) % 5 == 0
    for epoch in (1, 2, 3):
        scores = rng.normal(0.05 * epoch, 0.3, 64)
        scores[epoch] = np.nan
        assert ev["epoch"][epoch] == epoch
        assert ev["gwa"][epoch] == np.float32(0.1 * epoch)
        assert ev["train_loss"][epoch] == np.float32(2.0 / epoch)
        for name, values in score_groups(scores, mask).items():
            _check_histogram(ev[f"alignment/{name}"][epoch], values)
            _check_histogram_proto(hists[f"alignment/{name}"][epoch], values)


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
