"""Data parallelism: 4 simulated CPU devices give the same per-sample scores as 1 device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fmnist

ROOT = Path(__file__).resolve().parents[1]
pytestmark = requires_fmnist
EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")


def _run(workdir, devices, *extra):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    cmd = [EXE, "--config", str(ROOT / "configs" / "quickstart.py"), f"--workdir={workdir}",
           "--config.model.name=vit_fmnist_tiny", "--config.dataset.train_subset=512",
           "--config.batch_size=64", "--config.total_steps=16", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["num_devices"] == devices
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """(workdir, metrics rows) of the 1-device reference run, shared by the tests."""
    workdir = tmp_path_factory.mktemp("one")
    return workdir, _run(workdir, 1)


def test_four_devices_match_one(tmp_path, one_device):
    one_dir, one = one_device
    four = _run(tmp_path / "four", 4)
    assert [r["epoch"] for r in four] == [1, 2]
    for a, b in zip(one, four, strict=True):
        assert b["gwa"] == pytest.approx(a["gwa"], rel=1e-3, abs=1e-5)
        assert b["align_mean"] == pytest.approx(a["align_mean"], rel=1e-3, abs=1e-6)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["test_acc"] == pytest.approx(a["test_acc"], abs=2e-4)
    for epoch in (1, 2):
        s1 = np.load(one_dir / "alignment" / f"epoch_{epoch:04d}.npy")
        s4 = np.load(tmp_path / "four" / "alignment" / f"epoch_{epoch:04d}.npy")
        np.testing.assert_array_equal(np.isnan(s1), np.isnan(s4))
        np.testing.assert_allclose(s4[~np.isnan(s4)], s1[~np.isnan(s1)], atol=1e-4)


def test_accumulation_on_four_devices_matches_one_device_without(tmp_path, one_device):
    # 64 = 4 micro-batches of 16, each sharded over 4 devices, against 1 x 64 on 1 device.
    one_dir, one = one_device
    acc = _run(tmp_path / "acc", 4, "--config.optim.accumulate_steps=4")
    for a, b in zip(one, acc, strict=True):
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["align_mean"] == pytest.approx(a["align_mean"], rel=1e-3, abs=1e-6)
        s1 = np.load(one_dir / "alignment" / f"epoch_{a['epoch']:04d}.npy")
        s4 = np.load(tmp_path / "acc" / "alignment" / f"epoch_{a['epoch']:04d}.npy")
        np.testing.assert_array_equal(np.isnan(s1), np.isnan(s4))
        np.testing.assert_allclose(s4[~np.isnan(s4)], s1[~np.isnan(s1)], atol=1e-4)


def test_batch_not_divisible_by_four_devices_is_one_line(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    cmd = [EXE, "--config", str(ROOT / "configs" / "quickstart.py"), f"--workdir={tmp_path}",
           "--config.batch_size=66"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "batch_size=66 is not divisible by the 4 devices" in proc.stderr
