"""gwa-train runs where TensorFlow is not installed (as on a GPU host without it)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import requires_fmnist

ROOT = Path(__file__).resolve().parents[1]

# Makes TensorFlow look uninstalled: the path finder no longer finds it, so
# ``importlib.util.find_spec("tensorflow")`` is None (what TFDS and etils ask) and
# ``import tensorflow`` raises ModuleNotFoundError. Then runs ``python -m gwa_jax`` with the
# given arguments and prints the TensorFlow modules loaded by the end.
_WRAPPER = textwrap.dedent("""
    import atexit, importlib.machinery, importlib.util, json, runpy, sys

    class NoTensorFlow(importlib.machinery.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.split(".")[0] == "tensorflow":
                return None
            return super().find_spec(name, path, target)

    sys.meta_path[:] = [NoTensorFlow if f is importlib.machinery.PathFinder else f
                        for f in sys.meta_path]
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        blocked = importlib.util.find_spec("tensorflow") is None
    else:
        blocked = False
    print("BLOCKED" if blocked else "NOT BLOCKED", flush=True)
    atexit.register(lambda: print("TF_MODULES " + json.dumps(
        sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")), flush=True))
    sys.argv = ["gwa-train", *sys.argv[1:]]
    runpy.run_module("gwa_jax", run_name="__main__", alter_sys=True)
""")


@requires_fmnist
def test_gwa_train_runs_without_tensorflow_and_scores_every_id(tmp_path):
    """The quickstart at a tiny size: 200 ids, batch 64 -> 4 steps an epoch (the last batch
    padded with 56 masked rows), 8 steps = 2 epochs, every id scored in each."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH"))
                                        if p)
    env["JAX_PLATFORMS"] = "cpu"
    workdir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--config", str(ROOT / "configs" / "quickstart.py"),
         f"--workdir={workdir}", "--config.model.name=vit_fmnist_tiny",
         "--config.dataset.train_subset=200", "--config.total_steps=8",
         "--config.eval_batch_size=1000", "--config.criteria.gd.enabled=False"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "BLOCKED"
    (tf_line,) = [ln for ln in lines if ln.startswith("TF_MODULES ")]
    assert json.loads(tf_line.split(" ", 1)[1]) == []
    summary = json.loads((workdir / "summary.json").read_text())
    assert (summary["num_epochs"], summary["total_steps"]) == (2, 8)
    rows = [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"]) for r in rows] == [(1, 4), (2, 8)]
    assert all(r["align_seen"] == 200 and 0.0 <= r["test_acc"] <= 1.0 for r in rows)
    assert summary["selected"]["last"]["epoch"] == 2
