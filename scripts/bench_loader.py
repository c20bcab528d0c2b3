"""Training input pipeline: the Grain pipeline against the former tf.data one, side by side.

Measures images per CPU-second (CPU time of the process that runs the pipeline, all its
threads, plus its worker processes if any) and images/s, in ONE run: the new pipeline (this
tree's ``src``) and the former tf.data pipeline (the library at ``--baseline-rev``, exported with
``git archive`` to a temporary directory) each run in their own subprocess, driven by this
script; their measurements are interleaved (the order alternating between repetitions) after
untimed warm-up runs, so both see the same machine and the same load. Medians over the
repetitions are reported, and ratios new / old.

``--preset imagenet``: the ImageNet training stream as ``configs/table1_imagenet_vit.py`` builds
it (batch 1024, inception crop 224, flip, RandAugment(2, 10) with ``augment.randaug_ops=timm14``,
mixup 0.2) on synthetic 375x500 JPEGs (smooth waves plus noise, quality 90, 4:2:0, ~75 kB; the
same recipe as before, encoded with PIL) cycled to ``--epoch_images`` examples, written as a
4-shard TFDS dataset: in the array_record format for the new pipeline (by its subprocess,
without TensorFlow), as TFRecord for the old one (by its subprocess, with TensorFlow), the same
JPEG bytes in both. One measurement is one epoch (default 2048 examples: two batches), its
pipeline built before the timer starts. Two placements of the augmentation, each compared
like for like:

* ``host``: everything on the host. Old: the tf.data host pipeline (decode, crop, flip,
  RandAugment, [-1, 1]) and its mixup function (jitted, on the CPU). New: the Grain stream
  (decode + inception crop, keys) followed by ``TrainStream.device_finish()`` jitted on the CPU
  (flip, RandAugment, [-1, 1], mixup), timed together;
* ``device``: the host part only. Old: the tf.data stream with ``augment.on_device=True``.
  New: the Grain stream (decode + inception crop + keys).

For each placement: both rates, the ratio new / old, and the new pipeline's images per
CPU-second against ``--needed_per_core`` (default 371: one H100 runs the ViT-S/16 bf16 train
step at 5,933 img/s, ``results/bench/gpu/overhead_gpu_vit_s16_bf16.json``, i.e. 371 img/s per
core of a 16-core host). Also, single-threaded in the new pipeline's process, the CPU time per
image of its JPEG decode and of its inception crop (``breakdown``).

``--preset fmnist``: the quickstart's data (``configs/quickstart.py``: 2000 Fashion-MNIST
images, batch 64), whole epochs: the old tf.data stream against the new Grain stream's host
part (uint8 batches) and against the Grain stream followed by ``device_finish`` jitted on the
CPU (``host_finish``), without augmentation and with pad-crop + flip.

Commands (from the repository root; ``--baseline old`` needs TensorFlow and git, ``--baseline
none`` measures the new pipeline only and needs neither):

    PYTHONPATH=src python scripts/bench_loader.py --preset imagenet --reps 3 \\
        --out results/bench/loader_imagenet.json 2>&1 | tee results/bench/loader_imagenet.log
    PYTHONPATH=src python scripts/bench_loader.py --preset fmnist --reps 5 \\
        --out results/bench/loader_fmnist.json 2>&1 | tee results/bench/loader_fmnist.log

Prints one line per measurement, a summary table and a final JSON line; ``--out FILE.json``
also writes the JSON, and the command to ``FILE.cmd.txt``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTH_SHAPE = (375, 500)  # The most common ImageNet training image size (H, W).
DATASET = "gwa_bench_jpegs"
NUM_SHARDS = 4
NUM_CLASSES = 1000
H100_VIT_S16_IMAGES_PER_S = 5933  # results/bench/gpu/overhead_gpu_vit_s16_bf16.json (GWA on).


# --- Synthetic ImageNet-like data ---------------------------------------------------------------


def synthetic_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct 375x500 RGB JPEGs (quality 90, 4:2:0): smooth waves plus noise, about
    the size (~75 kB) and entropy of ImageNet photos."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = SYNTH_SHAPE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(count):
        f = rng.uniform(0.005, 0.05, (3, 2)).astype(np.float32)
        image = np.stack([127 + 100 * np.sin(f[c, 0] * x + f[c, 1] * y + i) for c in range(3)], -1)
        image += rng.normal(0, 12, image.shape).astype(np.float32)
        buf = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            buf, "JPEG", quality=90, subsampling=2)
        out.append(buf.getvalue())
    return out


def save_jpegs(path: Path, jpegs: list[bytes]) -> None:
    import numpy as np

    sizes = np.array([len(j) for j in jpegs], np.int64)
    np.savez(path, data=np.frombuffer(b"".join(jpegs), np.uint8), sizes=sizes)


def load_jpegs(path: Path) -> list[bytes]:
    import numpy as np

    with np.load(path) as f:
        data, sizes = f["data"].tobytes(), f["sizes"]
    ends = np.cumsum(sizes)
    return [data[e - s:e] for s, e in zip(sizes, ends, strict=True)]


def write_jpeg_dataset(data_dir: Path, jpegs: list[bytes], num_examples: int,
                       file_format: str):
    """Writes the TFDS dataset ``gwa_bench_jpegs`` (train split, 4 shards) and returns its
    builder: example i is JPEG ``i % len(jpegs)`` stored as it is (no re-encoding), label
    ``i % 1000``. The array_record format needs no TensorFlow; TFRecord does."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()

    class GwaBenchJpegs(tfds.core.GeneratorBasedBuilder):
        """Synthetic ImageNet-like JPEGs for scripts/bench_loader.py."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                }),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(num_examples):
                yield i, {"image": io.BytesIO(jpegs[i % len(jpegs)]), "label": i % NUM_CLASSES}

    builder = GwaBenchJpegs(data_dir=str(data_dir), file_format=file_format)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=NUM_SHARDS))
    return builder


# --- CPU time ------------------------------------------------------------------------------------


def _proc_cpu(pid: int, tick: float) -> tuple[int, float]:
    """(parent pid, CPU seconds) of a live process, from /proc (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return -1, 0.0
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * tick


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all threads, plus those of its
    descendants (Grain worker processes): the live ones from /proc, the finished ones from
    ``RUSAGE_CHILDREN``. The difference over a timed section is the CPU the pipeline used."""
    total = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total += children.ru_utime + children.ru_stime
    if not os.path.isdir("/proc"):
        return total
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            table[int(name)] = _proc_cpu(int(name), tick)
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - mine
        mine |= frontier
    return total + sum(table[pid][1] for pid in mine)


# --- Measurements (run in the subprocesses) --------------------------------------------------


def timed_batches(batches, finish=None) -> dict:
    """Reads every batch of the iterable ``batches`` (``finish`` applied to each when given):
    images delivered, wall and CPU seconds of the whole read, the last batch's image shape."""
    c0, w0 = cpu_seconds(), time.perf_counter()
    images, shape = 0, None
    for batch in batches:
        if finish is not None:
            batch = finish(batch)
        images += batch["image"].shape[0]
        shape = (tuple(batch["image"].shape), str(batch["image"].dtype))
    return {"images": images, "wall_s": time.perf_counter() - w0,
            "cpu_s": cpu_seconds() - c0, "image": shape}


def _cpu_device():
    import jax

    return jax.devices("cpu")[0]


def _finisher(fn):
    """``fn`` (a batch -> batch function) jitted, its input put on the CPU, output awaited."""
    import jax

    jitted, cpu = jax.jit(fn), _cpu_device()

    def run(batch):
        return jax.block_until_ready(jitted(jax.device_put(batch, cpu)))

    return run


def _load_config(configs_dir: str, name: str):
    sys.path.insert(0, configs_dir)
    module = __import__(name)
    return module.get_config()


def _imagenet_config(args):
    config = _load_config(args.configs_dir, "table1_imagenet_vit")
    # The 14-op timm list: the former pipeline's host RandAugment (the authors' list existed
    # in JAX only).
    config.augment.randaug_ops = "timm14"
    config.batch_size = args.batch_size or config.batch_size
    return config


class NewImagenet:
    """The Grain pipeline (this tree): RecordTrainStream over the array_record dataset."""

    def __init__(self, args) -> None:
        import numpy as np

        from gwa_jax.data.preprocess import Preprocess
        from gwa_jax.data.records import open_record_split
        from gwa_jax.data.registry import get_spec
        from gwa_jax.data.train import RecordTrainStream

        data_dir = Path(args.work_dir) / "array_record"
        jpegs = load_jpegs(Path(args.work_dir) / "jpegs.npz")
        write_jpeg_dataset(data_dir, jpegs, args.epoch_images, "array_record")
        self.config = config = _imagenet_config(args)
        self.records = open_record_split(DATASET, "train", str(data_dir), "n/a",
                                         cache_dir=Path(args.work_dir) / "index_new")
        labels = self.records.labels(("label",))["label"]
        self.pre = Preprocess.from_config(get_spec("imagenet2012"), config)
        workers = (config.dataset.worker_processes if args.worker_processes is None
                   else args.worker_processes)
        self.stream = RecordTrainStream(
            self.records, split=np.zeros(len(labels), np.int8), train_labels=labels,
            true_labels=labels, num_classes=NUM_CLASSES, batch_size=config.batch_size,
            eval_batch_size=config.batch_size, seed=0, preprocess=self.pre,
            read_threads=config.dataset.read_threads, worker_processes=workers)
        self.finish = _finisher(self.stream.device_finish())
        self.settings = {"read_threads": self.stream.read_threads,
                         "worker_processes": self.stream.worker_processes,
                         "preprocess": repr(self.pre)}

    def run(self, case: str, epoch: int) -> dict:
        ds = self.stream.dataset(epoch)
        return timed_batches(ds, self.finish if case == "host" else None)

    def breakdown(self, count: int) -> dict:
        """CPU ms per image of the host's two steps, one thread, on the first ``count`` ids."""
        import numpy as np

        from gwa_jax.data import host_image
        from gwa_jax.data.keys import example_key_data, fold_in_data
        from gwa_jax.data.train import HOST_CROP_STREAM

        rows = np.arange(count)
        encoded = self.records.encoded(rows)
        keys = fold_in_data(example_key_data(0, 0, rows), HOST_CROP_STREAM)
        t0 = time.process_time()
        decoded = [host_image.decode_image(e, 3) for e in encoded]
        t1 = time.process_time()
        for image, key in zip(decoded, keys, strict=True):
            host_image.inception_crop(image, key, self.pre.size)
        t2 = time.process_time()
        return {"images": count, "decode_ms": 1e3 * (t1 - t0) / count,
                "inception_crop_ms": 1e3 * (t2 - t1) / count}


class OldImagenet:
    """The tf.data pipeline (the library at --baseline-rev): TfdsTrainStream over TFRecord."""

    def __init__(self, args) -> None:
        import dataclasses

        import numpy as np

        from gwa_jax.data import tfds_io
        from gwa_jax.data.preprocess import Preprocess
        from gwa_jax.data.registry import get_spec
        from gwa_jax.data.train import TfdsTrainStream

        data_dir = Path(args.work_dir) / "tfrecord"
        jpegs = load_jpegs(Path(args.work_dir) / "jpegs.npz")
        builder = write_jpeg_dataset(data_dir, jpegs, args.epoch_images, "tfrecord")
        config = _imagenet_config(args)
        full = Preprocess.from_config(get_spec("imagenet2012"), config)
        index = tfds_io.label_index(builder, "train", ("label",), "n/a", None)
        labels = index["label"]

        def stream(pre):
            return TfdsTrainStream(
                builder, "train", index["shard_offsets"], "n/a", split=np.zeros(
                    len(labels), np.int8), train_labels=labels, true_labels=labels,
                num_classes=NUM_CLASSES, batch_size=config.batch_size,
                eval_batch_size=config.batch_size, seed=0, preprocess=pre)

        self.streams = {"host": stream(full),
                        "device": stream(dataclasses.replace(full, on_device=True))}
        host_finish = self.streams["host"].device_finish()  # Mixup: None without it.
        self.finish = _finisher(host_finish) if host_finish is not None else None
        self.settings = {"preprocess": repr(full), "host_mixup_jitted": host_finish is not None}

    def run(self, case: str, epoch: int) -> dict:
        ds = self.streams[case].dataset(epoch)  # Builds (traces) the pipeline: untimed.
        return timed_batches(ds.as_numpy_iterator(), self.finish if case == "host" else None)


FMNIST_AUGMENT = {"none": {}, "crop_flip": {"crop": "pad_crop", "flip": True}}


class Fmnist:
    """The quickstart's training stream (either library): whole epochs, pipeline construction
    included (it recurs every epoch of 32 batches)."""

    def __init__(self, args, old: bool) -> None:
        from gwa_jax.data import build_data

        self.epochs = args.epochs
        self.data, self.finish = {}, {}
        for name, augment in FMNIST_AUGMENT.items():
            config = _load_config(args.configs_dir, "quickstart")
            config.batch_size = args.batch_size or config.batch_size
            config.augment.update(augment)
            data = build_data(config)
            self.data[name] = data.train
            finish = data.train.device_finish()
            if old and finish is not None:
                raise RuntimeError("the former quickstart stream finishes on the device")
            self.finish[name] = None if old else _finisher(finish)
        self.settings = {"batch_size": config.batch_size,
                         "steps_per_epoch": self.data["none"].steps_per_epoch,
                         "num_train": self.data["none"].num_train}
        if not old:
            self.settings["read_threads"] = self.data["none"].read_threads

    def run(self, case: str, epoch: int) -> dict:
        name, mode = case.split("/")
        stream = self.data[name]
        finish = self.finish[name] if mode == "host_finish" else None
        epochs = (b for e in range(epoch, epoch + self.epochs) for b in stream.epoch(e))
        return timed_batches(epochs, finish)


def child_main(args) -> None:
    """A measuring subprocess: JSON commands on stdin, JSON replies on the original stdout
    (everything else the libraries print goes to stderr)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    old = args.child == "old"
    if args.preset == "imagenet":
        bench = OldImagenet(args) if old else NewImagenet(args)
    else:
        bench = Fmnist(args, old)
    import jax

    import gwa_jax

    library = Path(gwa_jax.__file__).resolve().parent
    if library != Path(os.environ["PYTHONPATH"]).resolve() / "gwa_jax":
        raise RuntimeError(f"gwa_jax was imported from {library}, not from $PYTHONPATH")
    info = {"jax": jax.__version__, "settings": bench.settings}
    if old:
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    else:
        from importlib.metadata import version

        info["grain"] = version("grain")
    reply.write(json.dumps({"ready": info}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        if command["op"] == "breakdown":
            out = bench.breakdown(command["images"])
        else:
            out = bench.run(command["case"], command["epoch"])
        out["tensorflow_imported"] = "tensorflow" in sys.modules
        reply.write(json.dumps(out) + "\n")


# --- The driver ------------------------------------------------------------------------------


class Child:
    """A measuring subprocess running one library."""

    def __init__(self, lib: str, src: Path, configs: Path, args, work_dir: Path) -> None:
        self.lib = lib
        env = dict(os.environ, PYTHONPATH=str(src), JAX_PLATFORMS="cpu",
                   TF_CPP_MIN_LOG_LEVEL="2", GWA_INDEX_DIR=str(work_dir / f"index_{lib}"))
        command = [sys.executable, str(Path(__file__).resolve()), "--child", lib,
                   "--preset", args.preset, "--configs_dir", str(configs),
                   "--work_dir", str(work_dir), "--epoch_images", str(args.epoch_images),
                   "--epochs", str(args.epochs)]
        if args.batch_size:
            command += ["--batch_size", str(args.batch_size)]
        if args.worker_processes is not None:
            command += ["--worker_processes", str(args.worker_processes)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=str(work_dir))
        self.info = self._read()["ready"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the {self.lib} pipeline's subprocess exited ({code}); its "
                               "error is above")
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=120)


def export_baseline(rev: str, dest: Path) -> Path:
    """``git archive <rev> src configs`` of this repository, unpacked under ``dest``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src", "configs"],
                             check=True, capture_output=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def plan(preset: str) -> tuple[dict[str, list[str]], list[dict]]:
    """The cases each library runs, in the order of one repetition, and the comparisons."""
    if preset == "imagenet":
        cases = {"new": ["host", "device"], "old": ["host", "device"]}
        comparisons = [
            {"name": "host", "new": "host", "old": "host",
             "what": "host augmentation: old tf.data host pipeline (+ its mixup, jitted on the "
                     "CPU) vs new Grain stream + device_finish jitted on the CPU"},
            {"name": "device", "new": "device", "old": "device",
             "what": "on-device augmentation, host part only: old tf.data stream with "
                     "augment.on_device=True vs new Grain stream (decode + inception crop + "
                     "keys)"},
        ]
        return cases, comparisons
    cases = {"new": [], "old": []}
    comparisons = []
    for name in FMNIST_AUGMENT:
        cases["old"].append(f"{name}/tf.data")
        for mode, what in (("host_part", "new Grain stream (uint8 batches, keys)"),
                           ("host_finish", "new Grain stream + device_finish jitted on the "
                                           "CPU")):
            cases["new"].append(f"{name}/{mode}")
            comparisons.append({"name": f"{name}/{mode}", "new": f"{name}/{mode}",
                                "old": f"{name}/tf.data",
                                "what": f"old tf.data stream (everything on the host) vs {what}"})
    return cases, comparisons


def summarize(runs: list[dict]) -> dict:
    per_s = [r["images"] / r["wall_s"] for r in runs]
    per_cpu = [r["images"] / r["cpu_s"] for r in runs]
    return {
        "measurements": len(runs),
        "images": sum(r["images"] for r in runs),
        "images_per_s_median": round(statistics.median(per_s), 1),
        "images_per_cpu_s_median": round(statistics.median(per_cpu), 1),
        "cpu_ms_per_image_median": round(1e3 / statistics.median(per_cpu), 3),
        "images_per_s": [round(v, 1) for v in per_s],
        "images_per_cpu_s": [round(v, 1) for v in per_cpu],
    }


def main_driver(args) -> dict:
    cases, comparisons = plan(args.preset)
    libs = ["new"] + (["old"] if args.baseline == "old" else [])
    load_start = os.getloadavg()
    started = time.perf_counter()
    children: dict[str, Child] = {}
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        work = Path(tmp)
        if args.preset == "imagenet":
            save_jpegs(work / "jpegs.npz", synthetic_jpegs(args.distinct_jpegs))
        try:
            children["new"] = Child("new", ROOT / "src", ROOT / "configs", args, work)
            if "old" in libs:
                old_tree = export_baseline(args.baseline_rev, work / "baseline")
                children["old"] = Child("old", old_tree / "src", old_tree / "configs", args,
                                        work)
            children["new"].info["library"] = "src (this tree)"
            if "old" in libs:
                children["old"].info["library"] = f"git archive {args.baseline_rev} src"
            for lib in libs:
                print(f"{lib}: {json.dumps(children[lib].info)}", flush=True)
            for w in range(args.warmup):  # Untimed: compilation, tracing, first-epoch costs.
                for lib in libs:
                    for case in cases[lib]:
                        children[lib].ask(op="run", case=case, epoch=1000 + w)
            runs: dict[tuple[str, str], list[dict]] = {}
            measurements = []
            for rep in range(args.reps):
                order = libs if rep % 2 == 0 else libs[::-1]
                for lib in order:
                    for case in cases[lib]:
                        r = children[lib].ask(op="run", case=case, epoch=rep)
                        r.update(rep=rep, pipeline=lib, case=case)
                        runs.setdefault((lib, case), []).append(r)
                        measurements.append({k: (round(v, 6) if isinstance(v, float) else v)
                                             for k, v in r.items()})
                        print(f"rep {rep} {lib:<3s} {case:<22s} {r['images']:6d} img "
                              f"{r['wall_s']:8.2f} s {r['cpu_s']:8.2f} CPU-s "
                              f"{r['images'] / r['wall_s']:10.1f} img/s "
                              f"{r['images'] / r['cpu_s']:10.1f} img/CPU-s", flush=True)
            breakdown = None
            if args.preset == "imagenet" and args.breakdown_images:
                breakdown = children["new"].ask(op="breakdown", images=min(
                    args.breakdown_images, args.epoch_images))
                breakdown = {k: (round(v, 3) if isinstance(v, float) else v)
                             for k, v in breakdown.items()}
        finally:
            for child in children.values():
                child.close()
    summary = {f"{lib}/{case}": summarize(r) for (lib, case), r in runs.items()}
    compared = []
    for c in comparisons:
        new = summary[f"new/{c['new']}"]
        entry = {**c, "new_images_per_cpu_s": new["images_per_cpu_s_median"],
                 "new_images_per_s": new["images_per_s_median"]}
        if "old" in libs:
            old = summary[f"old/{c['old']}"]
            pairs = zip(runs[("new", c["new"])], runs[("old", c["old"])], strict=True)
            paired = [(n["images"] / n["cpu_s"]) / (o["images"] / o["cpu_s"]) for n, o in pairs]
            entry.update(
                old_images_per_cpu_s=old["images_per_cpu_s_median"],
                old_images_per_s=old["images_per_s_median"],
                ratio_new_over_old_per_cpu_s=round(
                    new["images_per_cpu_s_median"] / old["images_per_cpu_s_median"], 3),
                ratio_new_over_old_images_per_s=round(
                    new["images_per_s_median"] / old["images_per_s_median"], 3),
                paired_ratios_per_cpu_s=[round(p, 3) for p in paired],
            )
        compared.append(entry)
    report = {
        "benchmark": f"loader_{args.preset}",
        "preset": args.preset,
        "baseline": args.baseline,
        "baseline_rev": args.baseline_rev if args.baseline == "old" else None,
        "reps": args.reps,
        "warmup": args.warmup,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "total_wall_s": round(time.perf_counter() - started, 1),
        "pipelines": {lib: children[lib].info for lib in libs},
        "timing": (
            "images_per_cpu_s = images / CPU seconds (user + system) of the subprocess running "
            "the pipeline, all threads, plus its worker processes if any, over the timed "
            "section; images_per_s = images / wall seconds of the same section. Medians over "
            "the repetitions; the two pipelines' measurements interleaved, order alternating "
            "per repetition, after untimed warm-up runs of every case"),
        "summary": summary,
        "comparisons": compared,
        "measurements": measurements,
    }
    if args.preset == "imagenet":
        new_tree = children["new"].info["settings"]
        report.update(
            config="configs/table1_imagenet_vit.py with augment.randaug_ops=timm14",
            batch_size=args.batch_size or 1024,
            epoch_images=args.epoch_images,
            images=f"{args.distinct_jpegs} distinct synthetic {SYNTH_SHAPE[0]}x{SYNTH_SHAPE[1]} "
                   f"JPEGs (quality 90, 4:2:0) cycled to {args.epoch_images} examples in a "
                   f"{NUM_SHARDS}-shard TFDS dataset (array_record for the new pipeline, "
                   "TFRecord for the old one, the same JPEG bytes)",
            timed_section=("one whole epoch per measurement, from the first read to the last "
                           "batch (finished, for host); building the epoch's pipeline is not "
                           "timed (once per epoch of 1251 steps in real training)"),
            new_read_threads=new_tree.get("read_threads"),
            new_worker_processes=new_tree.get("worker_processes"),
            breakdown_new_host_part=breakdown,
        )
        host_cores = args.host_cores
        feed = {"needed_images_per_core_s": args.needed_per_core, "host_cores": host_cores,
                "note": f"img/s per core a {host_cores}-core host needs to feed one H100 "
                        f"running the ViT-S/16 bf16 train step ({H100_VIT_S16_IMAGES_PER_S} "
                        "img/s, results/bench/gpu/overhead_gpu_vit_s16_bf16.json); "
                        "cores_needed: host cores at the measured rate for "
                        f"{round(args.needed_per_core * host_cores)} img/s"}
        for c in compared:
            rate = c["new_images_per_cpu_s"]
            feed[c["name"]] = {
                "new_images_per_cpu_s": rate,
                "reaches_needed": rate >= args.needed_per_core,
                "cores_needed": round(args.needed_per_core * host_cores / rate, 1),
            }
            if "old_images_per_cpu_s" in c:
                feed[c["name"]]["old_images_per_cpu_s"] = c["old_images_per_cpu_s"]
        report["h100_feed"] = feed
    else:
        settings = children["new"].info["settings"]
        report.update(
            config="configs/quickstart.py (2000 training images, batch 64, no augmentation); "
                   "crop_flip adds augment.crop=pad_crop, augment.flip=True",
            batch_size=settings["batch_size"],
            epochs_per_measurement=args.epochs,
            images_per_measurement=args.epochs * settings["steps_per_epoch"]
            * settings["batch_size"],
            timed_section=("whole epochs per measurement, building each epoch's pipeline "
                           "included (it recurs every 32 steps); images = batch rows "
                           "delivered, padding rows of the last batch included"),
        )
    return report


def print_summary(report: dict) -> None:
    print(f"\n{report['benchmark']}: medians of {report['reps']} repetitions, "
          f"{report['cpu_count']} CPU cores, load average {report['load_average_start'][0]} -> "
          f"{report['load_average_end'][0]}")
    head = f"{'comparison':<22s} {'new img/CPU-s':>14s} {'old img/CPU-s':>14s} {'ratio':>7s} " \
           f"{'new img/s':>10s} {'old img/s':>10s} {'ratio':>7s}"
    print(head)
    for c in report["comparisons"]:
        old_cpu = c.get("old_images_per_cpu_s", float("nan"))
        old_s = c.get("old_images_per_s", float("nan"))
        print(f"{c['name']:<22s} {c['new_images_per_cpu_s']:14.1f} {old_cpu:14.1f} "
              f"{c.get('ratio_new_over_old_per_cpu_s', float('nan')):7.3f} "
              f"{c['new_images_per_s']:10.1f} {old_s:10.1f} "
              f"{c.get('ratio_new_over_old_images_per_s', float('nan')):7.3f}")
    feed = report.get("h100_feed")
    if feed:
        for name in ("host", "device"):
            f = feed[name]
            verdict = "reaches" if f["reaches_needed"] else "does not reach"
            print(f"{name}: new {f['new_images_per_cpu_s']:.1f} img/CPU-s {verdict} the "
                  f"{feed['needed_images_per_core_s']} img/s per core that feed an H100 from "
                  f"{feed['host_cores']} cores (needs {f['cores_needed']} cores)")
    if report.get("breakdown_new_host_part"):
        b = report["breakdown_new_host_part"]
        print(f"new host part, one thread: decode {b['decode_ms']} ms, inception crop "
              f"{b['inception_crop_ms']} ms per image")
    print(flush=True)


def command_line() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return "PYTHONPATH=src python " + shlex.join([str(script), *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("fmnist", "imagenet"), default="fmnist")
    parser.add_argument("--baseline", choices=("old", "none"), default="old",
                        help="old: also run the former tf.data pipeline (needs TensorFlow and "
                             "git); none: the new pipeline only")
    parser.add_argument("--baseline-rev", "--baseline_rev", dest="baseline_rev",
                        default="25b172d",
                        help="the commit whose src/ is the former pipeline")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs of every case first (compilation, tracing)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="default: the config's (1024 imagenet, 64 fmnist)")
    parser.add_argument("--epoch_images", type=int, default=2048,
                        help="imagenet: examples in the synthetic dataset (one epoch, one "
                             "measurement)")
    parser.add_argument("--distinct_jpegs", type=int, default=256)
    parser.add_argument("--breakdown_images", type=int, default=128,
                        help="imagenet: images for the new host part's decode / crop "
                             "breakdown (0 skips it)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="fmnist: whole epochs per measurement")
    parser.add_argument("--worker_processes", type=int, default=None,
                        help="imagenet, new pipeline: Grain worker processes (default: the "
                             "config's dataset.worker_processes)")
    parser.add_argument("--needed_per_core", type=float,
                        default=round(H100_VIT_S16_IMAGES_PER_S / 16),
                        help="img/s per host core needed to keep an H100 busy on ViT-S/16")
    parser.add_argument("--host_cores", type=int, default=16,
                        help="cores of the GPU host --needed_per_core refers to")
    parser.add_argument("--out", default=None, help="also write the JSON here (and the "
                        "command to the same name with .cmd.txt)")
    parser.add_argument("--child", choices=("old", "new"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--configs_dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work_dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    report = main_driver(args)
    report["command"] = command_line()
    print_summary(report)
    line = json.dumps(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n")
        out.with_name(out.name.removesuffix(".json") + ".cmd.txt").write_text(
            report["command"] + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
