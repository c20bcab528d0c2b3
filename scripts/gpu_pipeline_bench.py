"""gwa-train's whole ImageNet path on one accelerator: input pipeline, train step, memory.

Run through ``scripts/gpu_pipeline_bench.sh`` (which installs carried wheels first); every
phase is a subprocess with its own time limit inside ``--budget-s``, and the report is
rewritten after each phase, so a run cut short keeps what it finished:

1. ``make_data``: ``scripts/make_jpeg_records.py`` writes ``--train`` synthetic JPEGs
   (400-500 px, quality 90) and ``--validation`` examples for each test set, as TFDS
   array_record files named like ``imagenet2012``, ``imagenet_v2``, ``imagenet2012_real``;
2. ``loader``: the training stream of ``configs/table1_imagenet_vit.py`` alone (Grain, JPEG
   decode, inception crop on the host; no model), two epochs, images per second of the second;
3. ``train_gwa_on`` and ``train_gwa_off``: ``python -m gwa_jax --config
   configs/table1_imagenet_vit.py:corrupted=False`` on that set, bfloat16, ``--batch-size``,
   ``--epochs`` epochs, with GWA on and with ``--config.gwa.enabled=False``; the training rate
   is the images of epochs 2.. over their ``train_time_s`` (``metrics.jsonl``: from the
   epoch's first batch request to its buffers on the host; epoch 1 holds the compilation),
   the peak device memory is ``summary.json``'s ``device_memory``;
4. ``overhead``: ``scripts/bench_overhead.py`` (the same model and batch, synthetic batches on
   the device, GWA off / on / naive).

Writes into ``--out``: ``bench.json`` (every phase: command, return code, seconds, parsed
numbers), ``bench.log`` (this driver's lines) and one log per phase. ``--dry-run`` runs the
same phases on the CPU at a toy size (a 1-block ViT of width 64 at 32 px, 3 epochs of 3
steps) to check the script end to end.

    bash scripts/gpu_pipeline_bench.sh            # on the GPU host; reports in $OUT
    python scripts/gpu_pipeline_bench.py --dry-run --out /tmp/bench_dry
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/table1_imagenet_vit.py:corrupted=False"

# A toy ViT for --dry-run (CPU): one block of width 64, 32 px, 3 epochs of 3 steps.
DRY_MODEL = ["--config.model.kwargs.depth=1", "--config.model.kwargs.width=64",
             "--config.model.kwargs.mlp_dim=128", "--config.model.kwargs.num_heads=2",
             "--config.dataset.image_size=32"]

LOADER = """
import json, sys, time
from gwa_jax.cli.train_run import parse_command_line
from gwa_jax.data import build_data
config, _, _ = parse_command_line(["loader", *sys.argv[1:], "--workdir=unused"])
data = build_data(config)
rates = []
for epoch in (1, 2):
    t0, n = None, 0
    for batch in data.train.epoch(epoch):
        if t0 is None:
            t0 = time.perf_counter()  # After the first batch: the stream has started.
        else:
            n += int(batch["mask"].sum())
    rates.append(n / max(time.perf_counter() - t0, 1e-9))
print("LOADER " + json.dumps({"img_per_s_epoch": [round(r, 1) for r in rates],
                              "steps_per_epoch": data.train.steps_per_epoch,
                              "num_train": data.info.num_train}))
"""


class Bench:
    def __init__(self, out: Path, budget_s: float):
        self.out, self.deadline = out, time.monotonic() + budget_s
        self.report: dict = {"phases": {}}
        out.mkdir(parents=True, exist_ok=True)
        self._log = open(out / "bench.log", "a")

    def log(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)
        self._log.write(line + "\n")
        self._log.flush()

    def save(self) -> None:
        (self.out / "bench.json").write_text(json.dumps(self.report, indent=1) + "\n")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, cmd: list[str], limit_s: float, env: dict | None = None) -> dict:
        """Runs ``cmd`` with stdout and stderr in ``<name>.log``; SIGTERM at its time limit
        (the smaller of ``limit_s`` and what the budget leaves), SIGKILL 30 s later."""
        limit = min(limit_s, self.left() - 5)
        phase = {"command": shlex.join(cmd), "limit_s": round(limit, 1)}
        self.report["phases"][name] = phase
        if limit < 20:
            phase["skipped"] = "no time left in the budget"
            self.log(f"{name}: skipped, {self.left():.0f} s left")
            self.save()
            return phase
        self.log(f"{name}: {phase['command']}")
        t0 = time.monotonic()
        with open(self.out / f"{name}.log", "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                phase["timed_out"] = True
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        phase.update(returncode=proc.returncode, seconds=round(time.monotonic() - t0, 1))
        self.log(f"{name}: rc {proc.returncode} after {phase['seconds']} s")
        self.save()
        return phase


def last_line(path: Path, prefix: str) -> dict | None:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.startswith(prefix)]
    return json.loads(lines[-1][len(prefix):]) if lines else None


def train_numbers(workdir: Path, batch_size: int) -> dict:
    """Training rate after the first epoch, per-epoch timings and memory of one run."""
    out: dict = {}
    metrics = workdir / "metrics.jsonl"
    if metrics.is_file():
        rows = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
        out["epochs"] = [{k: r.get(k) for k in ("epoch", "step", "train_time_s", "eval_time_s",
                                                "ckpt_time_s", "train_loss", "gwa")}
                         for r in rows]
        if len(rows) >= 2:
            steps = rows[-1]["step"] - rows[0]["step"]
            seconds = sum(r["train_time_s"] for r in rows[1:])
            out["steps_after_epoch1"] = steps
            out["steps_per_s"] = round(steps / seconds, 3)
            out["img_per_s"] = round(steps * batch_size / seconds, 1)
    summary = workdir / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        out["device_memory"] = s.get("device_memory")
        out["total_steps"] = s.get("total_steps")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--out", default=os.environ.get("OUT") or "bench_out")
    p.add_argument("--work", default="/tmp/gwa_pipeline_bench",
                   help="data, run workdirs and the compilation cache")
    p.add_argument("--budget-s", type=float, default=540.0, help="whole run, all phases")
    p.add_argument("--train", type=int, default=10240, help="synthetic training images")
    p.add_argument("--validation", type=int, default=256, help="images per test set")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--workers", type=int, default=max((os.cpu_count() or 2) - 2, 1),
                   help="Grain worker processes (dataset.worker_processes) and writers")
    p.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU")
    args = p.parse_args(argv)

    dry = args.dry_run
    if dry:
        args.train, args.validation, args.batch_size, args.epochs = 48, 6, 16, 3
        args.workers = min(args.workers, 2)
    out, work = Path(args.out).resolve(), Path(args.work)
    bench = Bench(out, args.budget_s)
    py = sys.executable
    data_dir = work / "tfds"
    steps_per_epoch = -(-args.train // args.batch_size)
    total_steps = args.epochs * steps_per_epoch
    env = {"PYTHONUNBUFFERED": "1", "JAX_COMPILATION_CACHE_DIR": str(work / "jax_cache")}
    if dry:
        env["JAX_PLATFORMS"] = "cpu"
    bench.report.update(
        dry_run=dry, host=platform.node(), python=platform.python_version(),
        cpu_count=os.cpu_count(), budget_s=args.budget_s, train_images=args.train,
        test_images=args.validation, batch_size=args.batch_size, epochs=args.epochs,
        steps_per_epoch=steps_per_epoch, total_steps=total_steps, workers=args.workers)
    try:
        import jax
        bench.report["jax"] = jax.__version__
        bench.report["devices"] = [str(d.device_kind) for d in jax.devices()]
    except Exception as err:  # noqa: BLE001 - recorded, the phases say the rest.
        bench.report["jax_error"] = repr(err)
    bench.save()

    size = ["--min-side", "40", "--max-side", "60"] if dry else []
    bench.run("make_data", [py, "scripts/make_jpeg_records.py", "--data_dir", str(data_dir),
                            "--train", str(args.train), "--validation", str(args.validation),
                            "--workers", str(args.workers), "--overwrite", *size],
              120, env)
    made = (last_line(out / "make_data.log", "MADE ")
            if (out / "make_data.log").is_file() else None)
    bench.report["phases"]["make_data"]["result"] = made
    bench.save()
    if bench.report["phases"]["make_data"].get("returncode") != 0:
        bench.log("no data; stopping")
        return 1

    common = ["--config", CONFIG, f"--config.dataset.data_dir={data_dir}",
              f"--config.batch_size={args.batch_size}",
              f"--config.eval_batch_size={args.batch_size}",
              f"--config.dataset.worker_processes={args.workers}",
              *(DRY_MODEL if dry else ["--config.model.dtype=bfloat16"])]
    bench.run("loader", [py, "-c", LOADER, *common], 90 if not dry else 120, env)
    log = out / "loader.log"
    bench.report["phases"]["loader"]["result"] = (last_line(log, "LOADER ")
                                                  if log.is_file() else None)
    bench.save()

    train = [*common, f"--config.total_steps={total_steps}",
             f"--config.optim.warmup_steps={max(total_steps // 10, 1)}",
             "--config.criteria.gd.enabled=False", "--config.log_every_steps=10"]
    for name, extra in (("train_gwa_on", []), ("train_gwa_off", ["--config.gwa.enabled=False"])):
        workdir = work / name
        cmd = [py, "-m", "gwa_jax", *train, *extra, f"--workdir={workdir}", "--overwrite"]
        bench.run(name, cmd, 240 if not dry else 300, env)
        bench.report["phases"][name]["result"] = train_numbers(workdir, args.batch_size)
        bench.save()

    overhead = ([py, "scripts/bench_overhead.py", "--model", "vit_s16", "--image-size", "32",
                 "--batch-size", "8", "--steps", "2", "--reps", "1", "--alt-steps", "6"]
                if dry else
                [py, "scripts/bench_overhead.py", "--model", "vit_s16", "--image-size", "224",
                 "--batch-size", str(args.batch_size), "--dtype", "bfloat16",
                 "--num-ids", "1281167", "--steps", "20", "--reps", "3", "--alt-steps", "100"])
    bench.run("overhead", [*overhead, "--out", str(work / "overhead.json")], 180, env)
    path = work / "overhead.json"
    bench.report["phases"]["overhead"]["result"] = (json.loads(path.read_text())
                                                    if path.is_file() else None)
    bench.save()
    phases = bench.report["phases"].values()
    failed = [n for n, ph in bench.report["phases"].items() if ph.get("returncode") != 0]
    bench.log(f"done; phases not finished: {failed or 'none'}")
    return 0 if all(ph.get("returncode") == 0 for ph in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
