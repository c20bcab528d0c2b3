"""End-to-end runs of the epoch loop on offline Fashion-MNIST (small, CPU)."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import requires_fmnist
from gwa_jax import head_alignment, head_kernel, latent_from_collection, models
from gwa_jax.data import build_data
from gwa_jax.run.checkpoints import RunCheckpoints
from gwa_jax.train import trainer
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.step import create_train_state, model_overrides
from gwa_jax.uncertainty import gwa_standard_error

ROOT = Path(__file__).resolve().parents[1]
pytestmark = requires_fmnist
TIMING = {"epoch_time_s", "train_time_s", "eval_time_s", "ckpt_time_s"}


def load_config(name: str = "quickstart", arg: str | None = None):
    spec = importlib.util.spec_from_file_location(name, ROOT / "configs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def small_config():
    c = load_config()
    c.model.name = "vit_fmnist_tiny"
    c.dataset.train_subset = 512
    c.batch_size = 64
    c.total_steps = 20  # 8 steps per epoch -> 2 whole epochs (16 steps); 4 steps not trained.
    return c


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


class _StopAtEpoch:
    """Wraps a data bundle so that asking for epoch ``stop`` interrupts the run."""

    def __init__(self, bundle, stop):
        self._bundle, self._stop = bundle, stop

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    @property
    def train(self):
        outer = self

        class _Train:
            def __getattr__(self, name):
                return getattr(outer._bundle.train, name)

            def dataset(self, epoch, *args, **kwargs):  # What the epoch loop reads.
                if epoch == outer._stop:
                    raise KeyboardInterrupt("simulated preemption")
                return outer._bundle.train.dataset(epoch, *args, **kwargs)

        return _Train()


def test_end_to_end_files_scores_and_resume(tmp_path, monkeypatch):
    config = small_config()
    full = tmp_path / "full"
    summary = trainer.train_and_evaluate(config, str(full))

    rows = read_metrics(full)
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("epoch", "step", "train_loss", "train_acc", "gwa", "align_mean",
                "align_kurtosis", "labelwave", "test_acc"):
        assert key in rows[-1], key
    assert rows[0]["labelwave"] is None and rows[1]["labelwave"] >= 0
    assert rows[-1]["step"] == 16
    assert summary["total_steps"] == 16 and summary["requested_total_steps"] == 20
    for r in rows:  # Every epoch is scored from every training id.
        assert r["align_seen"] == 512
        assert r["gwa_denominator"] == pytest.approx(r["align_kurtosis"] + config.gwa.beta)
    meta = np.load(full / "alignment" / "meta.npz")
    for key in ("ids", "true_labels", "train_labels", "noise_mask"):
        assert key in meta.files
    noise_rate = meta["noise_mask"][meta["ids"]].mean()
    assert noise_rate == pytest.approx(0.2, abs=0.03)
    scores2 = np.load(full / "alignment" / "epoch_0002.npy")
    assert scores2.dtype == np.float32 and scores2.shape == (60000,)
    trained = meta["ids"]
    assert np.isfinite(scores2[trained]).sum() == 512
    assert np.isnan(np.delete(scores2, trained)).all()
    # gwa_se is the seeded bootstrap of the epoch's written scores.
    assert rows[1]["gwa_se"] == pytest.approx(gwa_standard_error(
        scores2, num_resamples=config.gwa.bootstrap_resamples, seed=config.seed, epoch=2,
        beta=config.gwa.beta, eps=config.gwa.min_denominator), rel=1e-9)
    assert 0 < rows[1]["gwa_se"] < math.inf
    assert set(summary["selected"]) == {"gwa", "gwa_finetune", "labelwave", "last"}
    assert summary["selected"]["last"]["epoch"] == 2
    assert os.path.isdir(full / summary["checkpoints"]["best_gwa"])  # Relative to the workdir.
    on_disk = json.loads((full / "summary.json").read_text())
    assert on_disk["selected"] == json.loads(json.dumps(summary["selected"]))

    # An interrupted copy: its epoch-1 checkpoint is the pre-step state of epoch 2's first batch.
    cut = tmp_path / "cut"
    real_build = trainer.build_data
    monkeypatch.setattr(trainer, "build_data", lambda c: _StopAtEpoch(real_build(c), 2))
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(cut))
    monkeypatch.setattr(trainer, "build_data", real_build)

    data = build_data(config)
    model = models.create(config.model.name, data.info.num_classes,
                          **model_overrides(config.model))
    tx, _ = make_optimizer(config.optim, config.total_steps)
    target = create_train_state(model, tx, tuple(data.info.image_shape), config.seed)
    ckpts = RunCheckpoints(str(cut), ("latest",))
    restored, meta_json = ckpts.restore("latest", {
        "state": target, "prev_preds": np.zeros(60000, np.int32),
        "prev_seen": np.zeros(60000, bool)})
    ckpts.close()
    assert meta_json["epoch"] == 1
    params = restored["state"].params
    batch = jax.device_get(jax.jit(data.train.device_finish())(next(iter(data.train.epoch(2)))))
    logits, mutables = model.apply({"params": params}, batch["image"], train=True,
                                   rngs={"dropout": jax.random.key(0)},
                                   mutable=["latent_embeddings"])
    expected = head_alignment(head_kernel(params), logits, latent_from_collection(mutables),
                              batch["target"])
    np.testing.assert_allclose(scores2[batch["id"]], np.asarray(expected), atol=1e-5)

    # Resuming the interrupted run ends exactly like the uninterrupted one.
    resumed = trainer.train_and_evaluate(config, str(cut))
    assert strip_timing(read_metrics(cut)) == strip_timing(rows)
    np.testing.assert_array_equal(np.load(cut / "alignment" / "epoch_0002.npy"), scores2)
    assert resumed["selected"] == summary["selected"]


def test_val_split_gd_and_offline_estimator(tmp_path):
    config = small_config()
    config.dataset.val_fraction = 0.1
    config.criteria.gd.enabled = True
    config.criteria.gd.num_batches = 3
    config.gwa.offline_every = 1
    config.total_steps = 24  # 8 steps per epoch -> 3 epochs.
    summary = trainer.train_and_evaluate(config, str(tmp_path))
    rows = read_metrics(tmp_path)
    assert len(rows) == 3
    for row in rows:
        assert 0.0 <= row["val_acc"] <= 1.0
        assert row["gd"] > 0
        assert row["gwa_offline"] is not None and row["align_mean_offline"] is not None
    assert {"val", "gd", "gd_up5", "gwa", "labelwave", "last"} <= set(summary["selected"])
    best_val = max(range(3), key=lambda i: (rows[i]["val_acc"], -i))
    assert summary["selected"]["val"]["epoch"] == rows[best_val]["epoch"]
    assert summary["selected"]["val"]["test_acc"] == rows[best_val]["test_acc"]
    assert summary["checkpoints"]["best_val"].endswith(f"best_val/{rows[best_val]['epoch']}")
    meta = np.load(tmp_path / "alignment" / "meta.npz")
    in_val = meta["split"] == 1
    # val_fraction is of the full train split; train_subset draws from the rest.
    assert in_val.sum() == 6000
    assert np.bincount(meta["true_labels"][in_val], minlength=10).tolist() == [600] * 10
    assert not np.isin(meta["ids"], np.flatnonzero(in_val)).any()
    scores = np.load(tmp_path / "alignment" / "epoch_0003.npy")
    assert np.isnan(scores[in_val]).all()  # Validation images are never trained on.
    # Offline and online estimators measure the same distribution at nearby weights.
    on = np.array([r["align_mean"] for r in rows])
    off = np.array([r["align_mean_offline"] for r in rows])
    assert np.all(np.abs(on - off) < 0.1)


def test_missing_dataset_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()  # An existing data_dir without the dataset.
    cmd = [os.path.join(os.path.dirname(sys.executable), "gwa-train"),
           "--config", str(ROOT / "configs" / "quickstart.py"), f"--workdir={tmp_path / 'w'}",
           "--config.dataset.name=cifar10", f"--config.dataset.data_dir={tmp_path / 'empty'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("gwa-train:")]
    assert len(errors) == 1 and "not prepared" in errors[0]
    assert "data_prep/tfds_build.py cifar10" in errors[0]
    assert "Traceback" not in proc.stderr


def test_augmented_training_replays_and_augments_in_the_step(tmp_path):
    """Pad-crop, flip, RandAugment and mixup run inside the jitted train step and the Gradient
    Disparity gradients: two runs give the same metrics to the bit, and they differ from a
    run without augmentation (the step really augments)."""
    rows = {}
    for name, augmented in (("a", True), ("b", True), ("plain", False)):
        config = small_config()
        if augmented:
            config.augment.update(crop="pad_crop", flip=True, randaug_magnitude=9, mixup=0.2,
                                  randaug_ops="timm14")
        config.criteria.gd.enabled = True
        config.criteria.gd.num_batches = 2
        trainer.train_and_evaluate(config, str(tmp_path / name))
        rows[name] = read_metrics(tmp_path / name)
    assert len(rows["a"]) == len(rows["b"]) == 2
    keys = ("train_loss", "gwa", "align_mean", "gd", "test_acc")
    for a, b in zip(rows["a"], rows["b"], strict=True):
        assert [a[k] for k in keys] == [b[k] for k in keys]
    assert rows["a"][0]["train_loss"] != rows["plain"][0]["train_loss"]


class _Device:
    def __init__(self, stats):
        self._stats = stats

    def memory_stats(self):
        return self._stats


def test_device_memory_is_the_largest_peak_and_limit_of_the_reporting_devices():
    assert trainer.device_memory([_Device(None), _Device({})]) is None  # CPU: no report.
    got = trainer.device_memory([
        _Device({"peak_bytes_in_use": 5 << 30, "bytes_limit": 60 << 30, "bytes_in_use": 1}),
        _Device(None), _Device({"peak_bytes_in_use": 7 << 30, "bytes_limit": 60 << 30})])
    assert got == {"peak_bytes_in_use": 7 << 30, "bytes_limit": 60 << 30, "num_devices": 2}
