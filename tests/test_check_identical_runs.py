"""scripts/check_identical_runs.py: identical runs pass; any changed number is reported."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthetic import write_run

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_identical_runs.py"


def _run(path, *, gwa=0.25, scores=(0.1, -0.2, 0.3), epoch_time=1.0):
    rows = [{"epoch": 1, "step": 4, "gwa": 0.1, "align_mean": 0.01, "epoch_time_s": epoch_time},
            {"epoch": 2, "step": 8, "gwa": gwa, "align_mean": 0.02, "train_time_s": epoch_time}]
    return write_run(path, selected={"gwa": {"epoch": 2, "test_acc": 0.5, "gwa": gwa}},
                     metrics=rows, scores={2: np.asarray(scores, np.float32)},
                     meta={"ids": np.arange(3)})


def _check(a, b):
    return subprocess.run([sys.executable, str(SCRIPT), str(a), str(b)], capture_output=True,
                          text=True, timeout=120)


def test_identical_runs_pass_whatever_their_timings(tmp_path):
    proc = _check(_run(tmp_path / "a"), _run(tmp_path / "b", epoch_time=7.5))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[-1] == "IDENTICAL"
    assert "2 arrays compared bit for bit: identical" in proc.stdout


@pytest.mark.parametrize("change, where", [
    ({"gwa": 0.25000000000000006}, "metrics.jsonl line 2 gwa"),
    ({"scores": (0.1, -0.2, np.nextafter(np.float32(0.3), np.float32(1)))},
     "alignment/epoch_0002.npy: differs"),
])
def test_one_changed_number_is_found(tmp_path, change, where):
    proc = _check(_run(tmp_path / "a"), _run(tmp_path / "b", **change))
    assert proc.returncode == 1
    assert where in proc.stdout and proc.stdout.splitlines()[-1] == "DIFFERENT"


def test_not_two_runs_is_a_usage_error(tmp_path):
    assert _check(tmp_path, tmp_path / "nothing").returncode == 2
