"""gwa-sweep, gwa-report and gwa-inspect: every bad input is one ``gwa-<cmd>: error: ...``
line and exit 2, without a traceback, and nothing is created or changed (``--dry-run``
included); data missing on this machine is a note of ``gwa-sweep --dry-run``, not a failure.

Each case calls the command's ``main(argv)`` in this process; three cases also run the real
console scripts."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.cli import inspect as inspect_cli
from gwa_jax.cli import report as report_cli
from gwa_jax.cli import sweep as sweep_cli
from synthetic import write_run

JUNK = b"\xff\xfe\x00\x81garbage\x9c\n{]\x00\xc3\x28\n" * 8

FAMILY = textwrap.dedent('''
    from gwa_jax.config_base import default_config
    from gwa_jax.experiments import parse_arg


    def get_config(arg=None):
        a = parse_arg(arg, where="fam.py", noise=0.0, seed=0)
        c = default_config()
        c.seed = a.seed
        c.dataset.name = "digits"
        c.dataset.train_subset = 600
        c.dataset.label_noise.kind = "symmetric"
        c.dataset.label_noise.rate = a.noise
        c.model.name = "vit_fmnist"
        c.batch_size = 50
        c.eval_batch_size = 200
        c.total_steps = 72
        return c
''')
RETURNS_NONE = "def get_config(arg=None):\n    pass\n"


def make_run(workdir: Path) -> Path:
    """A finished run as gwa-train leaves it: summary, config, metrics, scores, meta."""
    ids = np.arange(40)
    rng = np.random.default_rng(0)
    meta = {"ids": ids, "true_labels": ids % 4, "train_labels": ids % 4,
            "noise_mask": ids % 5 == 0, "split": np.zeros(40, np.int8)}
    metrics = [{"epoch": e, "step": 10 * e, "test_acc": 0.5 + 0.1 * e, "train_loss": 1.0 / e,
                "gwa": 0.1 * e} for e in (1, 2, 3)]
    return write_run(workdir, selected={"gwa": {"epoch": 2, "test_acc": 0.7},
                                        "last": {"epoch": 3, "test_acc": 0.8}},
                     config={"seed": 0, "dataset": {"name": "digits"}}, metrics=metrics,
                     scores={e: rng.normal(size=40) for e in (1, 2, 3)}, meta=meta)


def junk(name):
    """Setup: the run's file ``name`` replaced by binary junk."""
    def setup(t):
        (t / "runs" / "r" / name).write_bytes(JUNK)
    return setup


def write(name, data):
    def setup(t):
        path = t / "runs" / "r" / name
        if isinstance(data, np.ndarray):
            np.save(path, data)
        else:
            path.write_bytes(data)
    return setup


def nothing(t):
    pass


def unsealed(setup):
    """``setup`` in a run written before gwa-jax kept checksums (no checksums.json): the file
    is read as it is, and its content has to be checked."""
    def both(t):
        (t / "runs" / "r" / "checksums.json").unlink(missing_ok=True)
        setup(t)
    return both


R = "{t}/runs/r"
FAM = ["--config", "{t}/fam.py"]
SWEEP = [*FAM, "--root", "{t}/sweep"]

CASES = {
    # name: (command, argv ({t}: tmp_path), setup(tmp_path), expected line regex)
    "sweep-grid-value-not-an-int": (
        "sweep", [*SWEEP, "--grid", "config.total_steps=abc", "--dry-run"], nothing,
        r"run fam/total_steps-abc: config\.total_steps=abc: invalid literal for int"),
    "sweep-grid-value-zero-steps": (
        "sweep", [*SWEEP, "--grid", "noise=0,0.2", "config.total_steps=0", "--dry-run"],
        nothing, r"run fam/noise0_total_steps0: config\.total_steps must be positive, got 0"),
    "sweep-grid-value-out-of-range": (
        "sweep", [*SWEEP, "--grid", "config.dataset.val_fraction=0.1,0.9", "--dry-run"],
        nothing, r"run fam/dataset\.val_fraction0\.9: config\.dataset\.val_fraction must be "
                 r"in \[0, 0\.5\], got 0\.9"),
    "sweep-grid-argument-not-a-float": (
        "sweep", [*SWEEP, "--grid", "noise=abc", "--dry-run"], nothing,
        r"fam\.py: argument noise='abc' is not a valid float"),
    "sweep-grid-unknown-config-key": (
        "sweep", [*SWEEP, "--grid", "config.optim.lrr=1", "--dry-run"], nothing,
        r"grid key 'config\.optim\.lrr' is not a key of"),
    "sweep-grid-unknown-model-kwarg": (
        "sweep", [*SWEEP, "--grid", "config.model.kwargs.depthh=2", "--dry-run"], nothing,
        r"unknown config\.model\.kwargs \['depthh'\] for model 'vit_fmnist'"),
    "sweep-override-unknown-key": (
        "sweep", [*SWEEP, "--grid", "seed=0", "--override", "optim.lrr=1", "--dry-run"],
        nothing, r'run fam/seed0: unknown config key: optim\.lrr; did you mean "optim\.lr"\?'),
    "sweep-override-with-config-prefix": (
        "sweep", [*SWEEP, "--grid", "seed=0", "--override", "config.optim.lr=0.1",
                  "--dry-run"], nothing,
        r'unknown config key: config\.optim\.lr; did you mean "optim\.lr"\?'),
    "sweep-override-bad-type": (
        "sweep", [*SWEEP, "--grid", "seed=0", "--override", "batch_size=abc", "--print-commands"],
        nothing, r"config\.batch_size=abc: invalid literal for int"),
    "sweep-config-returns-none": (
        "sweep", ["--config", "{t}/none.py", "--root", "{t}/sweep", "--dry-run"], nothing,
        r"get_config\(arg\) in .*none\.py returned None; it should return an "
        r"ml_collections\.ConfigDict"),
    "sweep-config-is-a-directory": (
        "sweep", ["--config", "{t}/runs.py", "--root", "{t}/sweep", "--dry-run"],
        lambda t: (t / "runs.py").mkdir(), r"config file .*/runs\.py is a directory"),
    "sweep-root-is-a-file-dry-run": (
        "sweep", [*FAM, "--root", "{t}/file", "--grid", "seed=0", "--dry-run"], nothing,
        r"--root .*/file is a file, not a directory"),
    "sweep-root-is-a-file": (
        "sweep", [*FAM, "--root", "{t}/file", "--grid", "seed=0"], nothing,
        r"--root .*/file is a file, not a directory"),
    "sweep-root-under-a-file": (
        "sweep", [*FAM, "--root", "{t}/file/sweep", "--grid", "seed=0"], nothing,
        r"--root .*/file/sweep lies under .*/file, which is a file"),
    "sweep-unknown-option": (
        "sweep", [*SWEEP, "--grid", "seed=0", "--dryrun"], nothing,
        r"^gwa-sweep: error: unrecognized arguments: --dryrun$"),
    "report-summary-junk": ("report", [R, "--out", "{t}/out"], junk("summary.json"),
                            r"runs/r/summary\.json is damaged \(not UTF-8 text\)"),
    "report-summary-cut-short": ("report", [R, "--out", "{t}/out"],
                                 write("summary.json", b'{"selected": {"gwa": {"ep'),
                                 r"runs/r/summary\.json is damaged \(not valid JSON"),
    "report-metrics-junk": ("report", [R, "--out", "{t}/out"], junk("metrics.jsonl"),
                            r"runs/r/metrics\.jsonl is damaged \(line 1 is not UTF-8 text\)"),
    "report-config-junk": ("report", [R, "--out", "{t}/out"], junk("config.json"),
                           r"runs/r/config\.json is damaged \(not UTF-8 text\)"),
    "report-scores-junk": ("report", [R, "--out", "{t}/out"], junk("alignment/epoch_0002.npy"),
                           r"runs/r/alignment/epoch_0002\.npy is damaged \(not a NumPy \.npy"),
    "report-meta-junk": ("report", [R, "--out", "{t}/out"], junk("alignment/meta.npz"),
                         r"runs/r/alignment/meta\.npz is damaged \(not a NumPy \.npz"),
    "report-sweep-json-junk": ("report", ["{t}/runs", "--out", "{t}/out"], junk("../sweep.json"),
                               r"runs/r/\.\./sweep\.json is damaged|runs/sweep\.json is damaged"),
    "report-path-is-a-file": ("report", ["{t}/file", "--out", "{t}/out"], nothing,
                              r"/file is a file, not a run directory or a sweep root"),
    "report-out-is-a-file": ("report", [R, "--out", "{t}/file"], nothing,
                             r"--out .*/file is a file, not a directory"),
    "report-out-under-a-file": ("report", [R, "--out", "{t}/file/out"], nothing,
                                r"--out .*/file/out lies under .*/file, which is a file"),
    "report-unknown-metric": ("report", [R, "--out", "{t}/out", "--metric", "nonexistent"],
                              nothing, r"--metric 'nonexistent' is in no run's metrics\.jsonl "
                                       r"or summary\.json; choose one of gwa, test_acc, "
                                       r"train_loss"),
    "report-unknown-corruption-group": ("report", [R, "--out", "{t}/out", "--metric",
                                                   "corruption:Fog"], nothing,
                                        r"--metric 'corruption:Fog': no such corruption group"),
    "inspect-summary-junk": ("inspect", [R, "--per-class", "0"], junk("summary.json"),
                             r"runs/r/summary\.json is damaged \(not UTF-8 text\)"),
    "inspect-config-junk": ("inspect", [R, "--per-class", "0"], junk("config.json"),
                            r"runs/r/config\.json is damaged \(not UTF-8 text\)"),
    "inspect-scores-junk": ("inspect", [R, "--per-class", "0"], junk("alignment/epoch_0002.npy"),
                            r"runs/r/alignment/epoch_0002\.npy is (missing or )?damaged"),
    "inspect-scores-wrong-shape": ("inspect", [R, "--per-class", "0"],
                                   unsealed(write("alignment/epoch_0002.npy",
                                                  np.zeros((3, 2), np.int64))),
                                   r"epoch_0002\.npy is damaged \(holds a int64 array of shape "
                                   r"\(3, 2\), not per-sample float scores\)"),
    "inspect-scores-too-short": ("inspect", [R, "--per-class", "0"],
                                 unsealed(write("alignment/epoch_0002.npy",
                                                np.zeros(7, np.float32))),
                                 r"epoch_0002\.npy is damaged \(7 scores, but meta\.npz has ids "
                                 r"up to 39\)"),
    "inspect-meta-junk": ("inspect", [R, "--per-class", "0"], junk("alignment/meta.npz"),
                          r"runs/r/alignment/meta\.npz is damaged \(not a NumPy \.npz"),
    "inspect-workdir-is-a-file": ("inspect", ["{t}/file"], nothing,
                                  r"/file is a file, not a gwa-train workdir"),
    "inspect-out-is-a-file": ("inspect", [R, "--out", "{t}/file"], nothing,
                              r"--out .*/file is a file, not a directory"),
    "inspect-default-out-is-a-file": ("inspect", [R], write("inspect", b"a file"),
                                      r"--out .*/runs/r/inspect is a file, not a directory"),
    "inspect-per-class-negative": ("inspect", [R, "--per-class", "-1"], nothing,
                                   r"^gwa-inspect: error: argument --per-class: must be 0 or a "
                                   r"positive integer, got -1$"),
    "inspect-k-zero": ("inspect", [R, "-k", "0"], nothing,
                       r"^gwa-inspect: error: argument -k: must be a positive integer, got 0$"),
    "inspect-k-negative": ("inspect", [R, "-k", "-4"], nothing,
                           r"argument -k: must be a positive integer, got -4"),
    "inspect-images-unavailable": ("inspect", [R, "--per-class", "2"], nothing,
                                   r"cannot load the training images: .*--per-class 0 writes "
                                   r"the table only"),
}
MAINS = {"sweep": sweep_cli.main, "report": report_cli.main, "inspect": inspect_cli.main}


@pytest.fixture
def place(tmp_path):
    """tmp_path with a finished run (runs/r), its sweep.json, a file, and two config files."""
    make_run(tmp_path / "runs" / "r")
    (tmp_path / "runs" / "sweep.json").write_text('{"runs": [{"workdir": "r", "grid": {}}]}\n')
    (tmp_path / "file").write_text("a file\n")
    (tmp_path / "fam.py").write_text(FAMILY)
    (tmp_path / "none.py").write_text(RETURNS_NONE)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*")) if "__pycache__" not in p.parts}


def argv_of(argv, t):
    return [a.replace("{t}", str(t)) for a in argv]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, place, capsys, monkeypatch):
    command, argv, setup, pattern = CASES[case]
    setup(place)
    monkeypatch.chdir(place)
    before = snapshot(place)
    capsys.readouterr()
    code = MAINS[command](argv_of(argv, place))
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith(f"gwa-{command}: error: "), lines
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in out + err and out == "", out
    assert snapshot(place) == before  # Nothing created, nothing changed.


def test_dry_run_notes_missing_data_and_checks_every_run(place, capsys, monkeypatch):
    monkeypatch.chdir(place)
    base = ["--config", str(place / "fam.py"), "--root", str(place / "sweep"), "--dry-run"]
    before = snapshot(place)
    capsys.readouterr()
    code = sweep_cli.main([*base, "--grid", "noise=0,0.2",
                           "config.dataset.data_dir=/nonexistent/data"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0] == ("note: config.dataset.data_dir '/nonexistent/data' is not a directory "
                        "on this machine (2 runs)")
    assert lines[-1] == "2 runs: 0 finished, 0 to resume, 2 to start"
    # Only the second run is bad: the dry run still refuses the sweep.
    code = sweep_cli.main([*base, "--grid", "config.batch_size=50,0"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == ["gwa-sweep: error: run fam/batch_size0: config.batch_size "
                                "must be positive, got 0"]
    assert snapshot(place) == before


@pytest.mark.parametrize("command,argv,pattern", [
    ("gwa-report", [R, "--out", "{t}/out"], r"summary\.json is damaged \(not UTF-8 text\)"),
    ("gwa-inspect", [R, "--per-class", "-1"], r"argument --per-class: must be 0 or a positive"),
    ("gwa-sweep", [*FAM, "--root", "{t}/file", "--grid", "seed=0", "--dry-run"],
     r"--root .*/file is a file, not a directory"),
])
def test_console_scripts_print_one_line(command, argv, pattern, place):
    (place / "runs" / "r" / "summary.json").write_bytes(JUNK)
    before = snapshot(place)
    exe = os.path.join(os.path.dirname(sys.executable), command)
    proc = subprocess.run([exe, *argv_of(argv, place)], capture_output=True, text=True,
                          timeout=300, cwd=place)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: "), lines
    assert re.search(pattern, lines[0]) and proc.stdout == ""
    assert snapshot(place) == before
