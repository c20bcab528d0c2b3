"""The generators of results/bench, results/reliability and results/architecture's blocks
(gwa_jax.experiments.writeups_bench) on small files written by the tests: each median, ratio,
range and count against a hand computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments import writeups_bench as wb

IDENTITY = """A: /tmp/a
B: /tmp/b
metrics.jsonl: 7 lines, timing keys (*_s) aside: identical
summary.json (selected, num_epochs): identical
alignment/: 10 arrays compared bit for bit: identical
IDENTICAL
"""


def _write(root: Path, rel: str, data) -> None:
    path = root / "results" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def _overhead(batch, off, on, pct, naive, flops_off, flops_on, stream=(1000.0, 999.0),
              paired=0.1, image_size=32) -> dict:
    return {"image_size": image_size, "batch_size": batch, "img_per_s_off": off,
            "img_per_s_on": on, "overhead_pct": pct, "stream_img_per_s_off": stream[0],
            "stream_img_per_s_on": stream[1], "stream_overhead_pct_paired_median": paired,
            "flops_per_step_off": flops_off, "flops_per_step_on": flops_on,
            "flops_overhead_pct": round(100 * (flops_on - flops_off) / flops_off, 4),
            "naive_overhead_pct": naive}


def test_small_helpers():
    assert wb._span([3.2, 1.04, 2.0], ".1f") == "1.0-3.2"
    assert wb._span([5.0, 5.04], ".1f") == "5.0"
    assert wb._sci(6157854720.0) == "6.15785e9" and wb._sci(1.5e-3) == "1.50000e-3"
    # 2,000,000 -> 2,000,012 FLOPs: 6 parts per million.
    assert wb.flops_ppm({"flops_per_step_off": 2e6, "flops_per_step_on": 2e6 + 12}) == \
        pytest.approx(6.0)
    # 128 images at 512 img/s: 250 ms a step.
    assert wb.step_ms({"batch_size": 128, "rate": 512.0}, "rate") == pytest.approx(250.0)
    assert wb.cores_needed(371, 16, 349.4) == pytest.approx(5936 / 349.4)
    assert wb.quick_wall_s("rep 0: ...\nbench --quick: 47.60 s wall\n") == 47.6


def test_offline_median_skips_the_compiling_epoch():
    run = {"metrics": [{"train_images_per_s": r} for r in (10.0, 400.0, 100.0, 300.0, 200.0)]}
    assert wb.offline_median_rate(run) == np.median([400.0, 100.0, 300.0, 200.0]) == 250.0


def test_epoch_and_slowdown_of_profiles():
    idle = {"median_epoch_s": {"step_only": 1.0, "with_loader": 1.5, "eval": 2.0,
                               "epoch_end": 0.25, "ckpt_start": 0.25, "ckpt_total": 9.0}}
    loaded = {"median_epoch_s": {"step_only": 3.0, "with_loader": 6.0, "eval": 5.0,
                                 "epoch_end": 0.5, "gwa_se": 0.5, "ckpt_start": 1.0}}
    assert wb.epoch_s(idle) == 4.0  # the checkpoint's total time is not part of the epoch
    assert wb.epoch_s(loaded) == 13.0  # the bootstrap is
    assert wb.slowdown(loaded, idle, ("step_only", "with_loader", "eval")) == [3.0, 4.0, 2.5]


def test_profile_bootstrap_sentence(tmp_path):
    idle = {"median_epoch_s": {"step_only": 1.0, "with_loader": 1.5, "eval": 2.0,
                               "epoch_end": 0.25, "ckpt_start": 0.25}}
    loaded = {"median_epoch_s": {"step_only": 3.0, "with_loader": 6.0, "eval": 5.0,
                                 "epoch_end": 0.5, "gwa_se": 0.04, "ckpt_start": 1.0},
              "gwa_se_resamples": 200, "steps_per_epoch": 10, "batch_size": 8,
              "gwa_se_pct_of_epoch": 0.3}
    _write(tmp_path, "bench/profile_quickstart.json", idle)
    _write(tmp_path, "bench/profile_quickstart_loaded.json", loaded)
    text = wb.bench_profile_bootstrap(tmp_path)
    assert "200 resamples of the epoch's 80 scores" in text
    assert "are 2.5-4.0x slower" in text and "**40 ms per epoch, 0.300% of the epoch**" in text
    # Idle epoch 4 s; 0.04 s of 4.04 s is 0.99%.
    assert "the epoch takes ~4.0 s, which would put the same 40 ms at 0.99%." in text


def test_gpu_overhead_table_and_sentence(tmp_path):
    files = {"convnext_pico": _overhead(512, 9000.0, 9010.0, -0.1, 5.5, 1e12, 1e12 + 2e6),
             "vit_cifar4": _overhead(256, 32000.0, 31850.0, 0.47, 30.2, 1e11, 1e11 + 3.6e5),
             "vit_s16": _overhead(256, 5400.0, 5410.0, -0.2, 10.3, 1e12, 1e12 + 4e6,
                                  stream=(5937.0, 5930.0), image_size=224)}
    for model, report in files.items():
        _write(tmp_path, f"bench/gpu/overhead_gpu_{model}_bf16.json", report)
    text = wb.bench_gpu_overhead(tmp_path)
    assert "| ViT/CIFAR-4 (32 px, 256) | 32,000 / 31,850 | **+0.470%** | 1,000 / 999 |" in text
    # FLOPs added: 2, 3.6 and 4 ppm; hardest case ViT/CIFAR-4, 256 / 31850 s = 8.04 ms.
    assert "All three are under the 0.5% target" in text and "2-4 parts per million" in text
    assert "ViT/CIFAR-4 at 32 px is the hardest case (the step takes ~8 ms" in text
    assert "(+0.47%) sits just under the target" in text and "costs 5.5-30%" in text
    assert "at ~5,940 img/s (streaming, GWA off)" in text
    files["vit_cifar4"]["overhead_pct"] = 0.6
    _write(tmp_path, "bench/gpu/overhead_gpu_vit_cifar4_bf16.json", files["vit_cifar4"])
    text = wb.bench_gpu_overhead(tmp_path)
    assert "2 of 3 are under the 0.5% target" in text and "(+0.60%) is over the target" in text


def _offline_run(model, noise, rates, wall, gwa, last, best, regrets) -> dict:
    return {"config": f"configs/fmnist_n.py:model={model},noise={noise},pool=60000",
            "metrics": [{"train_images_per_s": r} for r in rates], "wall_s": wall,
            "selected": {"gwa": {"epoch": gwa[0], "test_acc": gwa[1]},
                         "last": {"epoch": last[0], "test_acc": last[1]}},
            "best_in_hindsight": {"epoch": best[0], "test_acc": best[1]},
            "regret_pts": {"gwa": regrets[0], "last": regrets[1]}}


def test_offline_table_and_regrets(tmp_path):
    runs = [_offline_run("vit", 0.17, [5.0, 1000.0, 3000.0], 80.6, (2, 0.8), (4, 0.85),
                         (3, 0.86), (6.0, 1.0)),
            _offline_run("convnext", 0, [5.0, 2000.0, 2500.0, 1000.0], 66.4, (3, 0.905),
                         (4, 0.9), (2, 0.908), (0.3, 0.8))]
    _write(tmp_path, "bench/gpu/offline_full_size.json", {"runs": runs})
    text = wb.bench_offline_full_size(tmp_path)
    assert "| ViT, 17% noise | 2,000 | 81 s | 2 (80.00%) | 4 (85.00%) | 3 (86.00%) | 6.00 | " \
        "1.00 |" in text
    assert "| ConvNeXt, 0% | 2,000 | 66 s | 3 (90.50%) |" in text
    assert text.endswith("A full-size run takes 66-81 s (the first epoch includes compilation).")
    assert wb.bench_offline_regrets(tmp_path) == (
        "On clean data GWA's stop is within half a point of the best epoch (regrets 0.30); "
        "with noise, it loses to the last epoch for the ViT (regret 6.00 against 1.00).")


def test_cpu_notes_and_accumulation(tmp_path):
    full = {**_overhead(128, 1000.0, 1001.0, -0.1, 4.6, 5e9, 5e9 + 30000),
            "spread_off": [1257.6, 1485.2], "spread_on": [1248.4, 1458.5], "reps": 15}
    quick = {**_overhead(128, 900.0, 898.0, 0.2, 2.7, 5e9, 5e9 + 30000), "alt_steps": 160,
             "reps": 3}
    accum = {**_overhead(128, 512.0, 500.0, 2.4, 1.0, 1e9, 1e9 + 8000),
             "spread_off": [152.93, 570.06]}
    _write(tmp_path, "bench/overhead_cpu_vit_fmnist.json", full)
    _write(tmp_path, "bench/overhead_cpu_vit_fmnist_quick.json", quick)
    _write(tmp_path, "bench/overhead_cpu_vit_fmnist_quick.log", "x\nbench --quick: 12.34 s wall\n")
    _write(tmp_path, "bench/overhead_cpu_vit_fmnist_accum4_quick.json", accum)
    notes = wb.bench_cpu_overhead_notes(tmp_path)
    assert "is 6 parts per million" in notes  # 30000 / 5e9
    assert "(streaming reps: 1258-1485 img/s off, 1248-1458 on)" in notes
    assert "costs 3-5% here" in notes  # 2.7 and 4.6, rounded
    assert wb.bench_cpu_overhead_quick(tmp_path) == (
        "The `--quick` run (160 alternating steps, 3 streaming reps): **+0.200%** in 12.3 s wall.")
    # 128 images at 512 and 500 img/s: 250 ms and 256 ms.
    assert wb.bench_cpu_accum(tmp_path).startswith(
        "Median single-step time: off 250.00 ms, on 256.00 ms, **+2.400%**")
    assert "(153-570 img/s with GWA off)" in wb.bench_cpu_accum(tmp_path)


def test_h100_feed(tmp_path):
    loader = {"h100_feed": {"needed_images_per_core_s": 400, "host_cores": 16,
                            "device": {"new_images_per_cpu_s": 320.0, "reaches_needed": False,
                                       "old_images_per_cpu_s": 640.0},
                            "host": {"new_images_per_cpu_s": 40.0, "reaches_needed": False}},
              "summary": {"new/device": {"images_per_cpu_s": [320.0, 300.0, 330.0]}}}
    _write(tmp_path, "bench/loader_imagenet.json", loader)
    _write(tmp_path, "bench/gpu/overhead_gpu_vit_s16_bf16.json", {"stream_img_per_s_on": 6400.4})
    text = wb.bench_loader_h100(tmp_path)
    assert "step at 6400 img/s" in text and "**400 img/s per core** of a 16-core host" in text
    # 400 * 16 = 6400 img/s: 20.0 cores at 320 per core, 160.0 at 40.
    assert "**320.0 img/s per core, short of 400** (20.0 cores for the H100; per repetition " \
        "320.0, 300.0, 330.0)" in text
    assert "40.0 img/s per core, far short of 400 (160.0 cores)" in text
    assert "640.0 img/s per core in the same run, met it with room to spare" in text


def _stress(tmp_path, codes_and_walls) -> str:
    runs = [{"run": i + 1, "returncode": c, "wall_s": w} for i, (c, w) in
            enumerate(codes_and_walls)]
    _write(tmp_path, "reliability/multidevice_stress.json",
           {"commit": "0123456789abcdef", "runs": runs})
    return wb.reliability_stress(tmp_path)


def test_stress_counts_failures_and_wall_range(tmp_path):
    assert _stress(tmp_path, [(0, 137.7), (1, 290.3), (0, 200.0)]) == (
        "Result: 3 runs in a row, 1 failed (commit `0123456`, 138-290 s a run).")


def test_divergence_worst_and_table(tmp_path):
    def run(scores, gwa, agree=True):
        return {"per_epoch": [{"epoch": e + 1, "scores_max_abs": s, "gwa_abs": g,
                               "train_loss_abs": 0.0, "test_acc_abs": 0.0}
                              for e, (s, g) in enumerate(zip(scores, gwa, strict=True))],
                "selected_epochs": {"gwa": [2, 2], "last": [2, 2]}, "selections_agree": agree}

    a = run([1e-6, 3.04e-5], [2e-8, 1e-8])
    assert wb.divergence_worst(a) == [3.04e-5, 2e-8, 0.0, 0.0]
    _write(tmp_path, "reliability/device_divergence.json", {"runs": {"2": a}})
    _write(tmp_path, "reliability/device_divergence_tiny.json",
           {"runs": {"2": run([1e-7, 2e-7], [0.0, 5e-9], agree=False)}})
    text = wb.reliability_divergence(tmp_path)
    assert "over the 2 epochs" in text
    assert "| quickstart, 1,024 images | 2 | 3.0e-05 | 2.0e-08 | 0 | 0 | yes |" in text
    assert "| tiny ViT, 512 images | 2 | 2.0e-07 | 5.0e-09 | 0 | 0 | no |" in text
    assert "Every criterion (GWA, last epoch) does not always select the same epoch" in text
    assert "(at most 3.0e-05 in a per-sample score and 2.0e-08 in GWA" in text


def test_identity_facts_and_sentence(tmp_path):
    assert wb.identity_facts(IDENTITY) == {"epochs": 7, "arrays": 10, "metrics_same": True,
                                           "summary_same": True, "arrays_same": True,
                                           "identical": True}
    _write(tmp_path, "architecture/identity.txt", IDENTITY)
    text = wb.architecture_identity(tmp_path)
    assert "(7 epochs;" in text and "all 10 arrays under `alignment/` (7 `epoch_NNNN.npy` " \
        "score vectors and the 3 arrays of `meta.npz`)" in text
    differs = IDENTITY.replace("bit for bit: identical", "bit for bit: differ").replace(
        "IDENTICAL", "DIFFERENT")
    _write(tmp_path, "architecture/identity.txt", differs)
    assert wb.architecture_identity(tmp_path) == "`identity.txt`: the two runs differ " \
        "(arrays_same)."
