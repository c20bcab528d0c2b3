"""How far a training run on 2 or 4 simulated CPU devices drifts from the same run on 1.

    python scripts/device_divergence.py --devices 1 2 4 --workdir runs/divergence \\
        --out results/reliability/device_divergence.json

Runs ``gwa-train`` once per device count (``configs/quickstart.py`` unless ``--config``;
extra ``--config.KEY=VALUE`` overrides pass through) in ``WORKDIR/devices_N``, then compares
each run with the 1-device run epoch by epoch: the largest absolute difference of the
per-sample scores (``alignment/epoch_NNNN.npy``), of GWA, of the training loss and of test
accuracy, and whether every criterion of ``summary.json`` selects the same epoch. One step
is equal to float tolerance (``tests/test_multidevice.py``); over a run, Adam's
normalisation amplifies the rounding differences of the cross-device reductions, which this
measures. Existing workdirs are resumed (or their summary reused), never overwritten.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gwa_jax.train.sharding import simulated_devices_env

ROOT = Path(__file__).resolve().parents[1]


def _train(config: str, workdir: Path, devices: int, overrides: list[str]) -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "gwa-train")
    t0 = time.time()
    subprocess.run([exe, "--config", config, f"--workdir={workdir}", *overrides],
                   check=True, env=simulated_devices_env(devices), stdout=subprocess.DEVNULL)
    return round(time.time() - t0, 1)


def _rows(workdir: Path) -> list[dict]:
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def _max_abs(a, b) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = ~np.isnan(a) & ~np.isnan(b)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return math.inf
    return float(np.abs(a[both] - b[both]).max()) if both.any() else None


def compare(ref: Path, other: Path) -> dict:
    """Per-epoch largest differences of ``other`` from ``ref`` and the selections of both."""
    per_epoch = []
    for a, b in zip(_rows(ref), _rows(other), strict=True):
        e = a["epoch"]
        scores = [np.load(d / "alignment" / f"epoch_{e:04d}.npy") for d in (ref, other)]
        per_epoch.append({
            "epoch": e,
            "scores_max_abs": _max_abs(*scores),
            "gwa_abs": _max_abs([a["gwa"] if a["gwa"] is not None else math.nan],
                                [b["gwa"] if b["gwa"] is not None else math.nan]),
            "train_loss_abs": abs(a["train_loss"] - b["train_loss"]),
            "test_acc_abs": abs(a["test_acc"] - b["test_acc"]),
        })
    sel = [json.loads((d / "summary.json").read_text())["selected"] for d in (ref, other)]
    return {"per_epoch": per_epoch,
            "selected_epochs": {k: [sel[0][k]["epoch"], sel[1].get(k, {}).get("epoch")]
                                for k in sel[0]},
            "selections_agree": all(sel[0][k]["epoch"] == sel[1].get(k, {}).get("epoch")
                                    for k in sel[0])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "quickstart.py"))
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args, overrides = parser.parse_known_args(argv)
    if args.devices[0] != 1:
        parser.error("--devices must start with 1 (the reference run)")
    times = {n: _train(args.config, args.workdir / f"devices_{n}", n, overrides)
             for n in args.devices}
    report = {"command": " ".join(["python", "scripts/device_divergence.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "wall_s": times,
              "runs": {str(n): compare(args.workdir / "devices_1", args.workdir / f"devices_{n}")
                       for n in args.devices[1:]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for n, r in report["runs"].items():
        worst = max(p["scores_max_abs"] or 0.0 for p in r["per_epoch"])
        print(f"{n} devices: largest score difference {worst:.3g}, selections agree: "
              f"{r['selections_agree']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
