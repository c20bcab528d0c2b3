"""Atomic run files: torn metrics lines, duplicates on resume, NaN as null, no temp files."""

import json
import math
import os

import numpy as np

from gwa_jax.run.run_files import MetricsLog, atomic_write_bytes, read_json, save_npy, write_json


def test_torn_last_line_is_ignored_and_truncation_deduplicates(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    for e in (1, 2, 3):
        log.append({"epoch": e, "gwa": 0.1 * e})
    with open(path, "ab") as f:  # A kill in the middle of an append.
        f.write(b'{"epoch": 4, "gw')
    assert [r["epoch"] for r in log.read()] == [1, 2, 3]
    log.append({"epoch": 2, "gwa": 9.0})  # A duplicate line (never written by the trainer).
    kept = MetricsLog(path).truncate_to_epoch(2)
    assert [r["epoch"] for r in kept] == [1, 2] and kept[1]["gwa"] == 0.2
    assert path.read_text().count("\n") == 2


def test_nan_becomes_null_and_read_only_log_writes_nothing(tmp_path):
    path = tmp_path / "metrics.jsonl"
    MetricsLog(path).append({"epoch": 1, "gwa": math.nan, "x": np.float32(0.5)})
    row = json.loads(path.read_text())
    assert row == {"epoch": 1, "gwa": None, "x": 0.5}
    reader = MetricsLog(path, writable=False)
    reader.append({"epoch": 2})
    assert reader.truncate_to_epoch(0) == []
    assert path.read_text().count("\n") == 1


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    write_json(tmp_path / "s.json", {"a": [1.0, math.inf]})
    assert read_json(tmp_path / "s.json") == {"a": [1.0, None]}
    save_npy(tmp_path / "x.npy", np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), [0, 1, 2])
    atomic_write_bytes(tmp_path / "sub" / "b.bin", b"abc")
    assert sorted(os.listdir(tmp_path)) == ["s.json", "sub", "x.npy"]
    assert os.listdir(tmp_path / "sub") == ["b.bin"]
