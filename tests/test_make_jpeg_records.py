"""scripts/make_jpeg_records.py: a synthetic ImageNet-named dataset that build_data reads."""

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwa_jax.data import build_data
from gwa_jax.experiments.paper import load_config

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("_mjr", ROOT / "scripts" /
                                                  "make_jpeg_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_are_deterministic_jpegs_of_the_requested_size():
    script = load_script()
    a = script.example("train", 7, 0, 40, 50, 90)
    assert a == script.example("train", 7, 0, 40, 50, 90)
    assert a["image"] != script.example("train", 7, 1, 40, 50, 90)["image"]
    assert a["image"] != script.example("validation", 7, 0, 40, 50, 90)["image"]
    image = Image.open(io.BytesIO(a["image"]))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert all(40 <= side <= 50 for side in image.size)
    assert a["label"] == 7 and a["file_name"] == "synthetic_train_00000007.JPEG"
    real = script.example("real", 1002, 0, 40, 50, 90)
    assert (real["original_label"], real["real_label"]) == (2, [2, 3])
    assert script.example("real", 1001, 0, 40, 50, 90)["real_label"] == [1]


def test_build_data_reads_the_written_set_with_the_imagenet_config(tmp_path):
    script = load_script()
    args = ["--data_dir", str(tmp_path), "--train", "24", "--validation", "5",
            "--min-side", "40", "--max-side", "60", "--shards", "2", "--workers", "1"]
    assert script.main(args) == 0
    assert script.main(args) == 2  # Refused: it exists.
    assert script.main([*args, "--overwrite"]) == 0
    config = load_config(ROOT / "configs" / "table1_imagenet_vit.py", "corrupted=False")
    config.dataset.data_dir = str(tmp_path)
    config.dataset.image_size = 32
    config.batch_size, config.eval_batch_size = 8, 4
    data = build_data(config)
    assert (data.info.num_train, data.info.steps_per_epoch) == (24, 3)
    assert sorted(data.tests) == ["imagenet2012_real", "imagenet_v2", "test"]
    np.testing.assert_array_equal(data.meta["true_labels"], np.arange(24))
    batches = list(data.train.epoch(1))
    assert len(batches) == 3
    assert batches[0]["image"].shape == (8, 32, 32, 3) and batches[0]["image"].dtype == np.uint8
    assert sorted(np.concatenate([b["id"] for b in batches]).tolist()) == list(range(24))
    for name, test_set in data.tests.items():
        rows = [b for b in test_set]
        assert sum(int(b["mask"].sum()) for b in rows) == 5, name
        assert rows[0]["image"].shape[1:] == (32, 32, 3), name
    labels = np.concatenate([b["label"][b["mask"]] for b in data.tests["test"]])
    np.testing.assert_array_equal(labels, np.arange(5))


@pytest.mark.parametrize("bad", [["--train", "0"], ["--min-side", "60", "--max-side", "50"]])
def test_bad_sizes_are_refused(tmp_path, bad, capsys):
    with pytest.raises(SystemExit):
        load_script().main(["--data_dir", str(tmp_path), *bad])
    assert "must be positive" in capsys.readouterr().err
