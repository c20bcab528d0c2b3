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


def test_bench_loader_imagenet_preset_small(tmp_path):
    """The ImageNet preset on 32 synthetic JPEGs: every stream sees every image (the
    on_device host part too), the stage shares add up, the on_device batches agree with the
    host pipeline's, and the floor is measured in the same run (the 2x budget is half the
    reference's cost per image)."""
    out = tmp_path / "loader.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_loader.py"), "--preset", "imagenet",
         "--batch_size", "16", "--epoch_images", "32", "--distinct_jpegs", "4", "--reps", "1",
         "--peer_images", "0", "--agreement_batch", "8", "--agreement_batches", "2",
         "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    for impl in ("reference", "fast"):
        stages = report["results"][impl]["stages"]
        assert all(stage["images"] == 32 for stage in stages.values())
        assert sum(report["results"][impl]["stage_share_of_cpu_time"].values()) == \
            pytest.approx(1.0, abs=2e-3)
    on_device = report["on_device"]
    assert on_device["host_part"]["images"] == 32
    assert on_device["speedup_per_core_vs_reference"] == pytest.approx(
        on_device["host_part"]["images_per_cpu_s"]
        / report["results"]["reference"]["full_images_per_cpu_s"], abs=2e-3)
    agreement = on_device["agreement_with_host_pipeline"]
    assert agreement["elements"] == 2 * 8 * 224 * 224 * 3
    assert agreement["fraction_within_2.5e-7"] > 0.99
    assert agreement["xla_flops_per_image"] > 224 * 224 * 3
    floor = report["floor"]
    assert [s["images"] for s in floor["stages"].values()] == [32, 32, 32]
    assert floor["budget_ms_for_2x"] == pytest.approx(floor["reference_ms"] / 2, abs=1e-3)
    assert floor["left_for_flip_randaug_mixup_batching_ms"] == pytest.approx(
        floor["budget_ms_for_2x"] - floor["decode_resize_floor_ms"], abs=2e-3)
