"""gwa_jax.data.records: TensorFlow-free random access to the tiny TFDS fixture ``gwa_tiny``.

The expected values come from TF reading the TFRecord copy of the same dataset through
``tf.data`` with gwa_jax.data.tfds_io's example ids (tests/fixtures/make_tfds_tiny.py), so
these tests also check that both readers give every example the same id.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.data import host_image, records
from gwa_jax.data.errors import DatasetNotFoundError
from gwa_jax.data.records import RecordSplit, open_record_split

FIXTURES = Path(__file__).parent / "fixtures"
DATA_DIR = FIXTURES / "tfds_tiny"
VERSION_DIR = Path("gwa_tiny", "1.0.0")
PREPARE = "python data_prep/tfds_build.py gwa_tiny"
SPLITS = {"train": 11, "test": 4}


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "tfds_tiny_expected.npz") as data:
        return {k: data[k] for k in data.files}


def open_split(split, tmp_path, data_dir=DATA_DIR, **kwargs):
    return open_record_split("gwa_tiny", split, str(data_dir), PREPARE,
                             cache_dir=tmp_path / "index", **kwargs)


def copy_dataset(tmp_path) -> Path:
    """A writable copy of the fixture data_dir; returns it."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def edit_info(data_dir: Path, **fields) -> None:
    path = data_dir / VERSION_DIR / "dataset_info.json"
    info = json.loads(path.read_text())
    info.update(fields)
    info = {k: v for k, v in info.items() if v is not None}
    path.write_text(json.dumps(info))


def sha1s(blobs) -> np.ndarray:
    return np.array([hashlib.sha1(b).hexdigest() for b in blobs], "S40")


def test_modules_import_without_tensorflow():
    code = ("import sys; import gwa_jax.data.records, gwa_jax.data.host_image; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_ids_labels_and_images_match_tf(split, expected, tmp_path):
    rs = open_split(split, tmp_path)
    assert len(rs) == SPLITS[split]
    assert rs.description == "tfds:gwa_tiny:1.0.0 (array_record)"
    np.testing.assert_array_equal(rs.shard_offsets, expected[f"{split}_shard_offsets"])
    encoded = rs.encoded(np.arange(len(rs)))
    np.testing.assert_array_equal(sha1s(encoded), expected[f"{split}_sha1"])
    labels = rs.labels(("label", "coarse_label"))
    for key in ("label", "coarse_label"):
        assert labels[key].dtype == np.int32
        np.testing.assert_array_equal(labels[key], expected[f"{split}_{key}"])
    np.testing.assert_array_equal(rs.multi_hot("real_label", 5), expected[f"{split}_real_label"])
    for i, blob in enumerate(encoded):
        np.testing.assert_array_equal(host_image.decode_image(blob, 3),
                                      expected[f"{split}_image_{i}"])


def test_encoded_in_the_order_asked(expected, tmp_path):
    rs = open_split("train", tmp_path)
    rows = [7, 0, 10, 3, 3]
    np.testing.assert_array_equal(sha1s(rs.encoded(rows)), expected["train_sha1"][rows])
    assert rs.encoded([]) == []
    with pytest.raises(IndexError):
        rs.encoded([11])


def test_load_arrays_fixed_size(expected, tmp_path):
    arrays = open_split("test", tmp_path).load_arrays(("label", "coarse_label"))
    assert arrays["image"].shape == (4, 32, 32, 3) and arrays["image"].dtype == np.uint8
    np.testing.assert_array_equal(
        arrays["image"], np.stack([expected[f"test_image_{i}"] for i in range(4)]))
    np.testing.assert_array_equal(arrays["label"], expected["test_label"])
    np.testing.assert_array_equal(arrays["coarse_label"], expected["test_coarse_label"])
    with pytest.raises(ValueError, match="different shapes"):
        open_split("train", tmp_path).load_arrays()


def test_native_array_record_build_reads_the_same(expected, tmp_path):
    """A dataset prepared directly as array_record (no TFRecord files) reads the same."""
    data_dir = copy_dataset(tmp_path)
    for path in (data_dir / VERSION_DIR).glob("*.tfrecord-*"):
        path.unlink()
    edit_info(data_dir, fileFormat="array_record", alternativeFileFormats=None)
    rs = open_split("train", tmp_path, data_dir)
    np.testing.assert_array_equal(sha1s(rs.encoded(range(len(rs)))), expected["train_sha1"])


def test_label_index_is_cached(expected, tmp_path, monkeypatch):
    rs = open_split("train", tmp_path)
    rs.labels(("label",))
    cache = tmp_path / "index" / "gwa_tiny" / "default" / "1.0.0" / "train.npz"
    assert cache.is_file()
    rs.multi_hot("real_label", 5)  # Adds the sequence key, keeps the labels.
    with np.load(cache) as cached:
        assert {"label", "real_label.values", "real_label.offsets", "shard_offsets"} <= set(
            cached.files)

    def no_pass(self, keys, seq_keys):
        raise AssertionError("read the split instead of the cache")

    monkeypatch.setattr(RecordSplit, "_read_index", no_pass)
    again = open_split("train", tmp_path)
    np.testing.assert_array_equal(again.labels(("label",))["label"], expected["train_label"])
    np.testing.assert_array_equal(again.multi_hot("real_label", 5), expected["train_real_label"])
    with pytest.raises(AssertionError, match="instead of the cache"):
        again.labels(("coarse_label",))  # Not cached yet: needs a pass.


def test_stale_label_index_is_rebuilt(expected, tmp_path, caplog):
    cache = tmp_path / "index" / "gwa_tiny" / "default" / "1.0.0" / "train.npz"
    cache.parent.mkdir(parents=True)
    np.savez(cache, label=np.zeros(5, np.int32))  # Wrong length: another preparation.
    labels = open_split("train", tmp_path).labels(("label",))
    np.testing.assert_array_equal(labels["label"], expected["train_label"])
    assert "stale" in caplog.text
    with np.load(cache) as cached:
        np.testing.assert_array_equal(cached["label"], expected["train_label"])


def test_index_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(records.INDEX_ENV, raising=False)
    assert records.index_dir(str(tmp_path)) == tmp_path / "gwa_jax_index"
    monkeypatch.setenv(records.INDEX_ENV, str(tmp_path / "elsewhere"))
    assert records.index_dir(str(tmp_path)) == tmp_path / "elsewhere"


def assert_one_line(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_unknown_builder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        open_record_split("gwa_no_such_dataset", "train", str(tmp_path), "python prep.py")
    assert_one_line(error, "gwa_no_such_dataset", "python prep.py")


def test_known_builder_not_prepared(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        open_record_split("cifar10", "train", str(tmp_path), "python prep.py cifar10")
    assert_one_line(error, "not prepared", "python prep.py cifar10")


def test_missing_split(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        open_split("validation", tmp_path)
    assert_one_line(error, "'validation'", PREPARE)


def test_tfrecord_only_names_the_conversion(tmp_path):
    data_dir = copy_dataset(tmp_path)
    for path in (data_dir / VERSION_DIR).glob("*.array_record-*"):
        path.unlink()
    edit_info(data_dir, alternativeFileFormats=None)
    with pytest.raises(DatasetNotFoundError) as error:
        open_split("train", tmp_path, data_dir)
    assert_one_line(error, "tfrecord", "python data_prep/convert_array_record.py "
                    f"--data_dir {data_dir} gwa_tiny")


SHARD = "gwa_tiny-train.array_record-00001-of-00002"


def test_missing_shard(tmp_path):
    data_dir = copy_dataset(tmp_path)
    (data_dir / VERSION_DIR / SHARD).unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        open_split("train", tmp_path, data_dir)
    assert_one_line(error, SHARD, "missing", PREPARE)


@pytest.mark.parametrize("size", [0, 5000, 70_000])
def test_truncated_shard(tmp_path, size):
    """Below one 64 KiB block the size check finds it, above it reading the last record."""
    data_dir = copy_dataset(tmp_path)
    path = data_dir / VERSION_DIR / SHARD
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(DatasetNotFoundError) as error:
        open_split("train", tmp_path, data_dir)
    assert_one_line(error, "damaged", PREPARE)


def test_corrupt_record_found_when_read(tmp_path):
    data_dir = copy_dataset(tmp_path)
    path = data_dir / VERSION_DIR / "gwa_tiny-train.array_record-00000-of-00002"
    blob = bytearray(path.read_bytes())
    blob[300:600] = bytes(b ^ 0x5A for b in blob[300:600])  # Inside the first record.
    path.write_bytes(bytes(blob))
    rs = open_split("train", tmp_path, data_dir)  # The last records are intact.
    with pytest.raises(DatasetNotFoundError) as error:
        rs.encoded([0])
    assert_one_line(error, "damaged", PREPARE)
    with pytest.raises(DatasetNotFoundError):
        rs.labels(("label",))


def test_convert_script_finds_versions_and_plans_every_shard(tmp_path, capsys):
    """data_prep/convert_array_record.py without TensorFlow: its dry run over a TFRecord-only
    copy lists every shard and changes nothing (the conversion itself, which reads TFRecords
    with TF, made the fixture's array_record files, checked above against TF's read)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "data_prep"))
    try:
        import convert_array_record as convert
    finally:
        sys.path.pop(0)
    data_dir = copy_dataset(tmp_path)
    for path in (data_dir / VERSION_DIR).glob("*.array_record-*"):
        path.unlink()
    edit_info(data_dir, alternativeFileFormats=None)
    dirs = convert.version_dirs(str(data_dir), "gwa_tiny")
    assert dirs == [data_dir / VERSION_DIR]
    info_before = (dirs[0] / "dataset_info.json").read_text()
    convert.convert_version_dir(dirs[0], dry_run=True)
    planned = [line for line in capsys.readouterr().out.splitlines() if "->" in line]
    assert len(planned) == 4 and all(".array_record-" in line for line in planned)
    assert (dirs[0] / "dataset_info.json").read_text() == info_before
    assert not list(dirs[0].glob("*.array_record-*"))
    convert.convert_version_dir(DATA_DIR / VERSION_DIR, dry_run=True)
    assert "already has array_record" in capsys.readouterr().out
