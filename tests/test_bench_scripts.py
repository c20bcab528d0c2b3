"""The benchmark scripts run and end with their JSON line (tiny settings)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_overhead_emits_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--model",
         "vit_fmnist_tiny", "--alt-steps", "4", "--reps", "1", "--steps", "2", "--num-ids", "512",
         "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("model", "device", "img_per_s_off", "img_per_s_on", "overhead_pct",
                "img_per_s_naive", "naive_overhead_pct", "flops_overhead_pct"):
        assert key in last, key
    assert last["model"] == "vit_fmnist_tiny" and last["img_per_s_on"] > 0
    # GWA adds work to the step, never removes it; and only a sliver of it.
    assert 0 < last["flops_per_step_on"] - last["flops_per_step_off"]
    assert last["flops_overhead_pct"] < 0.5
    assert json.loads(out.read_text()) == last


def test_bench_overhead_with_gradient_accumulation(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--model",
         "vit_fmnist_tiny", "--batch-size", "32", "--accumulate-steps", "4", "--alt-steps", "2",
         "--reps", "1", "--steps", "1", "--num-ids", "256"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["accumulate_steps"] == 4 and last["batch_size"] == 32
    assert 0 < last["flops_per_step_on"] - last["flops_per_step_off"]
    bad = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--model",
         "vit_fmnist_tiny", "--batch-size", "30", "--accumulate-steps", "4"],
        capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "--accumulate-steps 4 must be >= 1 and divide the batch size 30" in bad.stderr


def _bench_loader(tmp_path, *args):
    """Runs scripts/bench_loader.py with --baseline none (the new pipeline only, no
    TensorFlow) and returns its JSON report, checking the --out file and the command file."""
    out = tmp_path / "loader.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_loader.py"), "--baseline", "none",
         "--reps", "2", "--warmup", "0", *args, "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out.read_text()) == report
    command = (tmp_path / "loader.cmd.txt").read_text()
    assert "bench_loader.py" in command and "--baseline none" in command
    assert report["baseline"] == "none" and list(report["pipelines"]) == ["new"]
    for m in report["measurements"]:
        assert m["pipeline"] == "new" and not m["tensorflow_imported"]
        assert m["images"] > 0 and m["wall_s"] > 0 and m["cpu_s"] > 0
    for name, s in report["summary"].items():
        runs = [m for m in report["measurements"] if f"new/{m['case']}" == name]
        assert s["measurements"] == len(runs) == 2
        assert s["images"] == sum(m["images"] for m in runs)
        rates = sorted(m["images"] / m["cpu_s"] for m in runs)
        assert s["images_per_cpu_s_median"] == pytest.approx(sum(rates) / 2, rel=1e-2, abs=0.06)
    for c in report["comparisons"]:  # No baseline: the new pipeline's rates, no ratios.
        assert c["new_images_per_cpu_s"] > 0 and c["new_images_per_s"] > 0
        assert "ratio_new_over_old_per_cpu_s" not in c
    return report


def test_bench_loader_imagenet_preset_small(tmp_path):
    """The ImageNet preset on 16 synthetic JPEGs in batches of 8: every measurement streams
    the whole epoch, host (finished on the CPU: float32) and device (the host part: uint8)."""
    report = _bench_loader(tmp_path, "--preset", "imagenet", "--batch_size", "8",
                           "--epoch_images", "16", "--distinct_jpegs", "2",
                           "--breakdown_images", "4")
    cases = {m["case"]: m["image"] for m in report["measurements"]}
    assert cases == {"host": [[8, 224, 224, 3], "float32"],
                     "device": [[8, 224, 224, 3], "uint8"]}
    assert all(m["images"] == 16 for m in report["measurements"])
    assert [c["name"] for c in report["comparisons"]] == ["host", "device"]
    feed = report["h100_feed"]
    assert feed["needed_images_per_core_s"] == 371 and feed["host_cores"] == 16
    for name in ("host", "device"):
        rate = feed[name]["new_images_per_cpu_s"]
        assert feed[name]["reaches_needed"] == (rate >= 371)
        assert feed[name]["cores_needed"] == pytest.approx(371 * 16 / rate, rel=1e-2)
    breakdown = report["breakdown_new_host_part"]
    assert breakdown["images"] == 4
    assert breakdown["decode_ms"] > 0 and breakdown["inception_crop_ms"] > 0


def test_bench_loader_fmnist_preset_small(tmp_path):
    """The quickstart's stream, one epoch per measurement: 32 batches of 64 every time."""
    from gwa_jax.data.idx import find_fmnist_dir

    if find_fmnist_dir() is None:
        pytest.skip("Fashion-MNIST idx files not installed")
    report = _bench_loader(tmp_path, "--preset", "fmnist", "--epochs", "1")
    assert report["images_per_measurement"] == 32 * 64
    assert all(m["images"] == 32 * 64 for m in report["measurements"])
    cases = {m["case"]: m["image"] for m in report["measurements"]}
    assert cases == {"none/host_part": [[64, 28, 28, 1], "uint8"],
                     "none/host_finish": [[64, 28, 28, 1], "float32"],
                     "crop_flip/host_part": [[64, 28, 28, 1], "uint8"],
                     "crop_flip/host_finish": [[64, 28, 28, 1], "float32"]}
