"""The TensorFlow-free path: ``data.labels`` against ``build_data``, and the device-resident
loop of ``scripts/offline_full_size.py`` (refusals, labels, criteria) without TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_fmnist
from gwa_jax import criteria
from gwa_jax.data import TRAIN, build_data
from gwa_jax.data.idx import find_fmnist_dir, load_fmnist_idx
from gwa_jax.data.labels import split_and_labels
from gwa_jax.data.registry import get_spec
from gwa_jax.experiments.paper import load_config

REPO = Path(__file__).resolve().parents[1]
FMNIST_N = str(REPO / "configs" / "fmnist_n.py")
REGIME = str(REPO / "configs" / "regime.py")


def load_script():
    spec = importlib.util.spec_from_file_location("_ofs", REPO / "scripts" /
                                                  "offline_full_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@requires_fmnist
@pytest.mark.parametrize("arg", ["noise=0.17,split=0.1,pool=600",
                                 "noise=0.4,noise_kind=asymmetric,split=0,pool=500,noise_seed=3",
                                 "noise=0,split=0.01,pool=1000"])
def test_split_and_labels_match_build_data(arg):
    config = load_config(FMNIST_N, arg)
    meta = build_data(config).meta
    _, true_labels = load_fmnist_idx(str(find_fmnist_dir()))["train"]
    split, labels = split_and_labels(config.dataset, get_spec("fashion_mnist"), true_labels,
                                     true_labels, 10)
    np.testing.assert_array_equal(split, meta["split"])
    np.testing.assert_array_equal(labels, meta["train_labels"])
    assert (labels != true_labels).any() == (config.dataset.label_noise.rate > 0)


@pytest.mark.slow  # About a minute; the loop is a side script of gwa-train's GPU runs.
@requires_fmnist
def test_loop_runs_without_tensorflow_and_its_stops_follow_the_criteria(tmp_path):
    out = tmp_path / "ofs.json"
    code = ("import sys; sys.modules['tensorflow'] = None; "  # Any TF import now fails.
            "import runpy; sys.argv = ['offline_full_size.py', '--config', "
            f"'{FMNIST_N}:model=vit,noise=0.17,pool=320', '--config', "
            f"'{REGIME}:model=convnext,pool=192,recipe=paper', '--epochs', '3', '--epochs', '2', "
            f"'--eval_batch', '2500', '--out', '{out}']; "
            f"runpy.run_path('{REPO / 'scripts' / 'offline_full_size.py'}', "
            "run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    record, augmented = json.loads(out.read_text())["runs"]
    # The paper recipe (pad-crop, flip, RandAugment on the device) runs without TensorFlow too.
    assert (augmented["num_train"], augmented["steps_per_epoch"]) == (192, 3)
    assert augmented["epochs"] == 2
    assert [r["epoch"] for r in augmented["metrics"]] == [1, 2]
    config = load_config(FMNIST_N, "model=vit,noise=0.17,pool=320")
    meta = build_data(config).meta
    ids = np.flatnonzero(meta["split"] == TRAIN)
    assert record["num_train"] == len(ids) == 320
    assert record["num_mislabelled"] == int(meta["noise_mask"][ids].sum()) == 54
    assert record["steps_per_epoch"] == 5 and record["epochs"] == 3
    rows = record["metrics"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(0 <= r["test_acc"] <= 1 and r["gwa_se"] >= 0 for r in rows)
    gwa = [r["gwa"] for r in rows]
    steps = [r["step"] for r in rows]
    expected = criteria.select_gwa(gwa, steps, record["total_steps"], 0.1)
    assert record["selected"]["gwa"]["epoch"] == rows[expected]["epoch"]
    assert record["selected"]["last"]["epoch"] == 3
    # Gradient Disparity (0% split: enabled) each epoch, and its stop as the criterion says.
    for run in (record, augmented):
        gd = [r["gd"] for r in run["metrics"]]
        assert all(g > 0 for g in gd)
        assert run["selected"]["gd"]["epoch"] == criteria.select_gd_consecutive(gd, 5) + 1
    best = max(r["test_acc"] for r in rows)
    for name, stop in record["selected"].items():
        assert record["regret_pts"][name] == pytest.approx(100 * (best - stop["test_acc"]),
                                                           abs=0.006)
    md = tmp_path / "summary.md"
    assert load_script().main(["--summarize", str(out), "--out", str(md)]) == 0
    (row,) = [line for line in md.read_text().splitlines() if "pool=320" in line]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    gwa = record["selected"]["gwa"]
    assert cells[1:3] == ["320 (54)", "3"]
    assert cells[5] == f"{gwa['epoch']} ({100 * gwa['test_acc']:.2f})"
    assert cells[-1] == f"{record['regret_pts']['last']:.2f}"


@pytest.mark.parametrize("arg,what", [("split=0.1", "a validation split"),
                                      ("runlocal=True,split=0", None)])
def test_unsupported_configs_are_refused_in_one_line(arg, what, capsys):
    script = load_script()
    config = load_config(FMNIST_N, arg)
    if what is None:  # A supported config passes the check.
        script.check_supported(config)
        config.augment.mixup = 0.2
        what = "mixup"
    with pytest.raises(script.UnsupportedConfig, match=what) as err:
        script.check_supported(config)
    assert "\n" not in str(err.value) and "use gwa-train" in str(err.value)


def test_batches_are_augmented_on_the_device_by_seed_epoch_and_id():
    import jax
    import jax.numpy as jnp

    from gwa_jax.data import augment_jax

    script = load_script()
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (50, 28, 28, 1)).astype(np.uint8))
    labels = jnp.asarray(rng.integers(0, 10, 50).astype(np.int32))
    order = jnp.asarray(rng.permutation(50).astype(np.int32))
    plain = load_config(REGIME, "model=vit,pool=2000,recipe=plain,seed=4")
    paper = load_config(REGIME, "model=vit,pool=2000,recipe=paper,seed=4")
    plain.batch_size = paper.batch_size = 8
    got = script.batch_fn(paper, images, labels, 10)(order, 2, 7)
    ids = order[16:24]
    np.testing.assert_array_equal(got["id"], ids)
    np.testing.assert_array_equal(got["label"], labels[ids])
    want = augment_jax.augment_batch(
        images[ids], augment_jax.example_keys(jax.random.key(4), 7, ids), pad_crop=True,
        flip=True, randaug_num_ops=2, randaug_magnitude=1)
    np.testing.assert_allclose(got["image"], np.asarray(want) / 127.5 - 1.0, atol=1e-6)
    unaugmented = script.batch_fn(plain, images, labels, 10)(order, 2, 7)["image"]
    np.testing.assert_allclose(unaugmented, np.asarray(images[ids], np.float32) / 127.5 - 1,
                               atol=1e-6)
    assert not np.allclose(got["image"], unaugmented)


@pytest.mark.slow  # About a minute.
@requires_fmnist
def test_gradient_disparity_leaves_training_untouched():
    script = load_script()
    fmnist = load_fmnist_idx(str(find_fmnist_dir()))
    rows = {}
    for enabled in (True, False):
        config = load_config(REGIME, "model=vit,pool=128,recipe=plain")
        config.criteria.gd.enabled = enabled
        rows[enabled] = script.run(config, 2, fmnist, 10000)["metrics"]
    assert all("gd" in r for r in rows[True]) and not any("gd" in r for r in rows[False])
    for with_gd, without in zip(rows[True], rows[False], strict=True):
        for key in ("train_loss", "train_acc", "gwa", "test_acc"):  # NaN == NaN here.
            np.testing.assert_equal(with_gd[key], without[key], err_msg=key)
