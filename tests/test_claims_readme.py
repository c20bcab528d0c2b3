"""The measured numbers README.md quotes in its prose, each recomputed from the committed
benchmark and reliability files it cites."""

from __future__ import annotations

import json
from pathlib import Path

from gwa_jax.experiments.writeups_bench import divergence_worst, epoch_s

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _flat() -> str:
    return " ".join(README.split())


def _json(*parts: str) -> dict:
    return json.loads(ROOT.joinpath("results", *parts).read_text())


def test_device_divergence_numbers():
    runs = _json("reliability", "device_divergence.json")["runs"].values()
    score = max(divergence_worst(r)[0] for r in runs)
    gwa = max(divergence_worst(r)[1] for r in runs)
    assert f"per-sample scores within {score:.1e}, GWA within {gwa:.1e}" in _flat()
    assert all(r["selections_agree"] for r in runs)
    assert "every criterion selecting the same epoch" in _flat()


def test_bootstrap_cost_numbers():
    loaded = _json("bench", "profile_quickstart_loaded.json")
    se = loaded["median_epoch_s"]["gwa_se"]
    idle = epoch_s(_json("bench", "profile_quickstart.json"))
    assert f"about {1000 * se:.0f} ms per quickstart epoch, {100 * se / (idle + se):.2f}% of " \
        f"an epoch on an idle 2-core CPU" in _flat()


def test_input_pipeline_numbers():
    r = _json("bench", "loader_imagenet.json")
    c = {x["name"]: x for x in r["comparisons"]}
    dev, host, feed = c["device"], c["host"], r["h100_feed"]
    rate = _json("bench", "gpu", "overhead_gpu_vit_s16_bf16.json")["stream_img_per_s_on"]
    text = _flat()
    ratio = dev["ratio_new_over_old_per_cpu_s"]
    assert (f"runs at {dev['new_images_per_cpu_s']:.0f} img/s per core against the former host "
            f"part's {dev['old_images_per_cpu_s']:.0f} (**{ratio:.2f}x" in text)
    assert (f"gives {host['new_images_per_cpu_s']:.0f} img/s per core against tf.data's host "
            f"pipeline at {host['old_images_per_cpu_s']:.0f} "
            f"({host['ratio_new_over_old_per_cpu_s']:.1f}x" in text)
    assert f"{rate:,.0f} img/s (`results/bench/gpu/`)" in text
    assert (f"a {feed['host_cores']}-core host needs {feed['needed_images_per_core_s']} img/s "
            f"per core" in text)
    assert (f"comes close ({dev['new_images_per_cpu_s']:.0f}; "
            f"{feed['device']['cores_needed']:.0f} cores per GPU)" in text)
    assert not feed["device"]["reaches_needed"] and not feed["host"]["reaches_needed"]
    quick = {x["name"]: x for x in _json("bench", "loader_fmnist.json")["comparisons"]}
    assert (f"the Grain stream is {quick['none/host_part']['ratio_new_over_old_per_cpu_s']:.1f}x "
            f"the former stream per core" in text)
