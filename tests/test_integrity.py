"""Damage to any file a run keeps is detected and never trusted, one damage at a time.

Run files are checked against the run's ``checksums.json``, checkpoints against their
per-step manifests. In-process on small hand-written run folders, except the crash test
(a real SIGKILL between a write and its manifest entry, in a subprocess) and the gwa-train
runs at the end (slow).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.cli import inspect as inspect_cli
from gwa_jax.cli import report as report_cli
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError
from gwa_jax.experiments.results import RunResult, mislabel_auroc
from gwa_jax.run.checkpoints import DamagedCheckpointError, RunCheckpoints, read_params
from gwa_jax.run.integrity import (
    MANIFEST,
    DamagedRunError,
    check_files,
    finished_run_damage,
    resume_warnings,
    seal_run,
    verify_run,
)
from gwa_jax.run.run_files import MetricsLog, write_json
from gwa_jax.run.workdir import FINISHED, RESUME, prepare_workdir
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]
SRC = str(REPO / "src")
N, EPOCHS = 200, 3
TRAINED = np.arange(0, N, 2)  # Odd ids are not trained on: NaN in every score file.


def config():
    c = default_config()
    c.gwa.save_scores_every = 1
    return c


def make_run(path: Path) -> Path:
    """A finished run of 3 epochs: every file a run keeps, written by the package's writers."""
    rng = np.random.default_rng(0)
    noise = np.zeros(N, bool)
    noise[TRAINED[:20]] = True
    scores = {}
    for e in range(1, EPOCHS + 1):
        s = np.full(N, np.nan, np.float32)
        s[TRAINED] = np.where(noise[TRAINED], -0.2, 0.1 * e) + 0.01 * rng.standard_normal(
            len(TRAINED))
        scores[e] = s
    labels = np.arange(N) % 10
    meta = {"ids": TRAINED, "true_labels": labels, "train_labels": labels,
            "noise_mask": noise, "split": np.zeros(N, np.int8)}
    metrics = [{"epoch": e, "step": 10 * e, "gwa": 0.3 - 0.1 * abs(e - 1), "align_mean": 0.1 * e,
                "test_acc": 0.61 + 0.01 * e, "train_acc": 0.5 + 0.1 * e} for e in (1, 2, 3)]
    return write_run(path, config=config().to_dict(), metrics=metrics, scores=scores, meta=meta,
                     selected={"gwa": {"epoch": 1, "test_acc": 0.62},
                               "last": {"epoch": 3, "test_acc": 0.64}})


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run")


def rewrite_scores(path: Path, how: str) -> None:
    """Damage inside a well-formed .npy: the header stays valid, np.load reads it."""
    a = np.load(path)
    if how == "50-values":
        a[TRAINED[:50]] = 0.5
    else:  # Random bytes over the data: untrained ids' NaNs become numbers.
        raw = bytearray(path.read_bytes())
        raw[-400:] = np.random.default_rng(1).integers(0, 255, 400, np.uint8).tobytes()
        path.write_bytes(bytes(raw))
        return
    np.save(path, a)


def edit_summary_selection(run: Path) -> None:
    s = json.loads((run / "summary.json").read_text())
    s["selected"]["gwa"]["epoch"] = 3
    s["selected"]["gwa"]["test_acc"] = 0.99
    (run / "summary.json").write_text(json.dumps(s, indent=2))


def edit_metrics_value(run: Path) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    row = json.loads(lines[1])
    row["test_acc"] = 0.99
    lines[1] = json.dumps(row) + "\n"
    (run / "metrics.jsonl").write_text("".join(lines))


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


# --- The manifest and its verification ------------------------------------------------------

def test_writers_keep_the_manifest_and_an_intact_run_verifies(run):
    files = json.loads((run / MANIFEST).read_text())["files"]
    assert sorted(files) == ["alignment/epoch_0001.npy", "alignment/epoch_0002.npy",
                             "alignment/epoch_0003.npy", "alignment/meta.npz", "config.json",
                             "metrics.jsonl", "summary.json"]
    assert not any(e.get("pending") for e in files.values())
    assert verify_run(run) == [] and finished_run_damage(run) is None


@pytest.mark.parametrize("how", ["50-values", "random-bytes"])
def test_rewritten_values_inside_a_wellformed_score_file(run, how, caplog, capsys):
    target = run / "alignment" / "epoch_0002.npy"
    rewrite_scores(target, how)
    np.load(target)  # Still a valid .npy: only the checksum can tell.
    assert verify_run(run) == [f"{target} is missing or damaged (it does not match its "
                               f"checksum in {run / MANIFEST}: edited or corrupted)"]
    # gwa-train on the finished run: nothing to rebuild it from, named in a warning.
    assert finished_run_damage(run) is None
    assert any(str(target) in m and "cannot be rebuilt" in m for m in warnings_of(caplog))
    # Readers skip it by name; the other epochs stay usable.
    result = RunResult.load_verified(run)
    assert result.score_epochs() == [1, 3] and result.scores(2) is None
    assert mislabel_auroc(result, 2) is None and mislabel_auroc(result, 1) is not None
    # gwa-inspect refuses that epoch with one line, and prints no number for it.
    capsys.readouterr()
    assert inspect_cli.main([str(run), "--epoch", "2", "--per-class", "0",
                             "--out", str(run.parent / "i2")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "epoch_0002.npy is missing or damaged" in err
    assert inspect_cli.main([str(run), "--epoch", "1", "--per-class", "0",
                             "--out", str(run.parent / "i1")]) == 0


@pytest.mark.parametrize("name,damage", [("summary.json", edit_summary_selection),
                                         ("metrics.jsonl", edit_metrics_value)])
def test_edited_summary_or_metrics_is_rebuilt_by_gwa_train_and_refused_by_readers(
        run, tmp_path, name, damage, capsys):
    damage(run)
    line = finished_run_damage(run)  # gwa-train: rebuilds the run's files from the checkpoint.
    assert line == (f"{run / name} is missing or damaged (it does not match its checksum in "
                    f"{run / MANIFEST}: edited or corrupted)")
    with pytest.raises(DamagedRunError, match=f"{name} is missing or damaged"):
        RunResult.load_verified(run)
    capsys.readouterr()
    assert report_cli.main([str(run), "--out", str(tmp_path / "rep"), "--no-figures"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("gwa-report: error: ") and name in err
    assert "0.99" not in out + err and not (tmp_path / "rep" / "runs.md").exists()
    curve_facts = load_script("curve_facts")
    assert curve_facts.main([str(run)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and name in err


def test_deleted_manifest_is_one_warning_and_gwa_train_rebuilds(run, tmp_path, caplog, capsys):
    (run / MANIFEST).unlink()
    assert verify_run(run) == [
        f"{run / MANIFEST} is missing: the run's files cannot be verified (written before "
        f"gwa-jax kept checksums, or the manifest was lost); not trusting them"]
    assert MANIFEST in finished_run_damage(run)  # gwa-train rebuilds from the checkpoint.
    caplog.clear()
    assert report_cli.main([str(run), "--out", str(tmp_path / "rep"), "--no-figures"]) == 0
    named = [m for m in warnings_of(caplog) if MANIFEST in m]
    assert len(named) == 1 and "reading them unverified" in named[0]


def test_unlisted_file_and_deleted_listed_file_are_damage(run):
    (run / "alignment" / "epoch_0004.npy").write_bytes((run / "alignment" /
                                                         "epoch_0003.npy").read_bytes())
    (run / "alignment" / "epoch_0001.npy").unlink()
    problems = check_files(run).problems
    assert sorted(problems) == ["alignment/epoch_0001.npy", "alignment/epoch_0004.npy"]
    assert "is not in" in problems["alignment/epoch_0004.npy"]
    assert "gone" in problems["alignment/epoch_0001.npy"]
    (run / "alignment" / "meta.npz").unlink()
    assert "meta.npz is missing or damaged" in finished_run_damage(run)


# --- A crash between a write and its manifest entry (a real SIGKILL) ---------------------------

CRASH = r"""
import os, signal, sys
import numpy as np
from gwa_jax.run import run_files

root, what, point = sys.argv[1:4]
target = {"summary": "summary.json", "new-scores": "alignment/epoch_0004.npy",
          "metrics": "metrics.jsonl"}[what]
real_replace, manifest_renames = os.replace, []


def replace(src, dst):
    # The writer's steps: temp file -> manifest (pending) -> rename -> manifest (committed).
    if str(dst).endswith("checksums.json"):
        manifest_renames.append(dst)
        if point == "before-pending-entry" and len(manifest_renames) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if point == "before-commit" and len(manifest_renames) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    elif str(dst).endswith(target) and point == "before-rename":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)


os.replace = replace
path = os.path.join(root, target)
if what == "summary":
    run_files.write_json(path, {"selected": {}, "num_epochs": 3, "new": True})
elif what == "new-scores":
    run_files.save_npy(path, np.ones(4, np.float32))
else:
    run_files.MetricsLog(path).append({"epoch": 4})
print("not killed")
"""


@pytest.mark.parametrize("what", ["summary", "new-scores", "metrics"])
@pytest.mark.parametrize("point", ["before-pending-entry", "before-rename", "before-commit"])
def test_kill_between_a_write_and_its_manifest_entry_is_not_damage(run, what, point):
    target = run / {"summary": "summary.json", "new-scores": "alignment/epoch_0004.npy",
                    "metrics": "metrics.jsonl"}[what]
    before = target.read_bytes() if target.exists() else None
    proc = subprocess.run([sys.executable, "-c", CRASH, str(run), what, point],
                          env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    after = target.read_bytes() if target.exists() else None
    if point == "before-commit":
        assert after != before  # The new content landed; its entry is still pending.
    else:
        assert after == before  # Killed before the rename: the old content (or none).
    pending = json.loads((run / MANIFEST).read_text())["files"].get(target.relative_to(run)
                                                                    .as_posix(), {})
    assert pending.get("pending", False) == (point != "before-pending-entry")
    check = check_files(run)  # gwa-train's check: the crash is told apart and repaired...
    assert check.lines() == [] and check.repaired == ([] if point == "before-pending-entry"
                                                      else [target.relative_to(run).as_posix()])
    entries = json.loads((run / MANIFEST).read_text())["files"]
    assert not any(e.get("pending") for e in entries.values())
    assert verify_run(run) == []
    if after is not None:  # ...and damage after the repair is still damage.
        target.write_bytes(after[:-1] + bytes([after[-1] ^ 1]))
        assert list(check_files(run).problems) == [target.relative_to(run).as_posix()]


def test_a_reader_does_not_repair_but_accepts_a_pending_entry(run):
    proc = subprocess.run([sys.executable, "-c", CRASH, str(run), "summary", "before-rename"],
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    text = (run / MANIFEST).read_text()
    assert RunResult.load_verified(run).value("gwa") == 0.62  # The old, verified summary.
    assert (run / MANIFEST).read_text() == text  # Readers never write into a run folder.


# --- Checkpoints: with and without their checksum entry -----------------------------------------

def tree(v):
    return {"w": np.full((64, 8), v, np.float32), "b": np.arange(5, dtype=np.int32) + int(v)}


def two_epochs(workdir: Path) -> Path:
    ckpts = RunCheckpoints(str(workdir), ("latest",))
    for epoch in (1, 2):
        ckpts.save("latest", epoch, {"params": tree(epoch)}, {"epoch": epoch})
    ckpts.close()
    return workdir / "checkpoints" / "latest"


def largest_file(step_dir: Path) -> Path:
    return max((p for p in (step_dir / "state").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)


def flip_one_byte(step_dir: Path) -> None:
    victim = largest_file(step_dir)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))


def overwrite_32_bytes(step_dir: Path) -> None:
    victim = largest_file(step_dir)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2:len(data) // 2 + 32] = b"\xff" * 32
    victim.write_bytes(bytes(data))


def restore(workdir: Path):
    ckpts = RunCheckpoints(str(workdir), ("latest",))
    try:
        return ckpts.restore_newest_good("latest", {"params": tree(0)})
    finally:
        ckpts.close()


@pytest.mark.parametrize("damage", [flip_one_byte, overwrite_32_bytes])
@pytest.mark.parametrize("manifest", ["kept", "step-manifest-deleted"])
def test_damaged_checkpoint_falls_back_to_the_previous_verified_one(tmp_path, damage, manifest,
                                                                     caplog):
    latest = two_epochs(tmp_path)
    damage(latest / "2")
    if manifest != "kept":
        (tmp_path / "checkpoints" / "checksums" / "latest_2.json").unlink()
    state, meta, step = restore(tmp_path)
    assert step == 1 and meta == {"epoch": 1}
    np.testing.assert_array_equal(state["params"]["w"], tree(1)["w"])
    why = "is damaged (checksum mismatch)" if manifest == "kept" else "cannot be verified"
    assert any(f"checkpoints/latest/2 {why}" in m for m in warnings_of(caplog))
    assert read_params(str(tmp_path))[1] == 1  # init_from reads the same verified step.
    assert not any("non-finite" in m for m in warnings_of(caplog))


@pytest.mark.parametrize("damage", [flip_one_byte, overwrite_32_bytes, None])
def test_checkpoints_without_any_manifest_are_not_trusted(tmp_path, damage):
    latest = two_epochs(tmp_path)
    if damage:
        damage(latest / "2")
    shutil.rmtree(tmp_path / "checkpoints" / "checksums")
    assert verify_run(tmp_path) == [f"{tmp_path / 'checkpoints' / 'checksums'} is missing: 2 "
                                    f"checkpoint step(s) cannot be verified and are not trusted"]
    with pytest.raises(DamagedCheckpointError) as info:
        restore(tmp_path)
    message = str(info.value)
    assert "\n" not in message and "checkpoints/latest/2 cannot be verified" in message
    assert message.endswith("no older intact one exists; rerun with --overwrite to start the "
                            "run afresh")
    with pytest.raises(DamagedCheckpointError):
        read_params(str(tmp_path))


def test_finished_run_names_unverifiable_checkpoints(run, caplog):
    two_epochs(run)
    (run / "checkpoints" / "checksums" / "latest_2.json").unlink()
    assert finished_run_damage(run) is None  # The run's files are intact: the summary stands.
    assert any("checkpoints/latest/2 cannot be verified" in m for m in warnings_of(caplog))


# --- gwa-train's start: config.json, a run to resume -------------------------------------------

def test_edited_config_json_is_rebuilt_for_its_own_command_and_refused_otherwise(run, caplog):
    c = config()
    (run / "summary.json").unlink()  # An unfinished run.
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text.replace('"seed": 0', '"seed": 5'))
    other = config()
    other.seed = 5  # The edited file's config: refused, the checksum says otherwise.
    with pytest.raises(ConfigError, match="config.json is missing or damaged .* not the one "
                                          "recorded; rerun the run's own command"):
        prepare_workdir(other, run)
    assert prepare_workdir(c, run) == RESUME
    assert (run / "config.json").read_text() == text
    assert any("config.json is missing or damaged" in m and "rebuilt from this command" in m
               for m in warnings_of(caplog))


def test_resume_names_a_damaged_score_file_and_a_missing_manifest(run, caplog):
    (run / "summary.json").unlink()
    write_json(run / "config.json", config().to_dict())  # Keeps the manifest current.
    rewrite_scores(run / "alignment" / "epoch_0002.npy", "50-values")
    assert prepare_workdir(config(), run) == RESUME
    named = [m for m in warnings_of(caplog) if "epoch_0002.npy" in m]
    assert len(named) == 1 and "cannot be rebuilt" in named[0]
    (run / MANIFEST).unlink()
    assert resume_warnings(run) == [check_files(run).manifest_missing]


def test_finished_state_is_reported_only_after_its_files_verify(run):
    assert prepare_workdir(config(), run) == FINISHED
    edit_summary_selection(run)
    assert prepare_workdir(config(), run) == FINISHED  # cli then asks finished_run_damage:
    assert "summary.json is missing or damaged" in finished_run_damage(run)


def test_metrics_log_append_records_each_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for e in (1, 2):
        log.append({"epoch": e})
        assert verify_run(tmp_path) == []
    log.rewrite([{"epoch": 1}])
    assert verify_run(tmp_path) == [] and log.read() == [{"epoch": 1}]


# --- Exported runs under results/ ----------------------------------------------------------------

def load_script(name):
    spec = importlib.util.spec_from_file_location(f"_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seal_runs_records_an_exported_folder_and_refuses_to_bless_damage(tmp_path, capsys):
    export = tmp_path / "export" / "a"
    export.mkdir(parents=True)
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        shutil.copy(REPO / "results" / "quickstart" / name, export / name)
    seal = load_script("seal_runs")
    assert seal.main([str(tmp_path / "export")]) == 0
    assert verify_run(export) == []
    edit_metrics_value(export)
    assert seal.main([str(tmp_path / "export")]) == 1  # Left as damaged, named.
    assert "metrics.jsonl" in capsys.readouterr().err
    assert seal_run(export, accept=True) == [] and verify_run(export) == []


def test_every_committed_run_folder_under_results_verifies():
    seal = load_script("seal_runs")
    folders = seal.run_folders(REPO / "results")
    # Every folder with a summary.json is a run folder found (a second way of listing them).
    summaries = {p.parent for p in (REPO / "results").rglob("summary.json")}
    assert len(summaries) >= 200 and set(folders) == summaries
    bad = [line for f in folders for line in check_files(f, repair=False).lines()]
    assert bad == []


# --- gwa-train itself (subprocesses, tiny) --------------------------------------------------------

EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")
TINY = ["--config", str(REPO / "configs" / "quickstart.py"), "--config.model.name=vit_fmnist_tiny",
        "--config.total_steps=30", "--config.dataset.train_subset=600", "--config.batch_size=100",
        "--config.gwa.save_scores_every=1"]


def gwa_train(workdir):
    return subprocess.run([EXE, *TINY, f"--workdir={workdir}"], capture_output=True, text=True,
                          timeout=600)


def table(stdout: str) -> str:
    return stdout[stdout.index("criterion"):stdout.index("GWA-best")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import FMNIST_FILE

    if not os.path.exists(FMNIST_FILE) and not os.environ.get("GWA_FMNIST_DIR"):
        pytest.skip("needs offline Fashion-MNIST")
    workdir = tmp_path_factory.mktemp("trained") / "run"
    proc = gwa_train(workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert verify_run(workdir) == []
    return workdir, table(proc.stdout)


@pytest.mark.slow
def test_gwa_train_rebuilds_an_edited_summary_and_names_a_damaged_score_file(trained, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(trained[0], work)
    original = (work / "summary.json").read_bytes()
    edit_summary_selection(work)
    rewrite_scores(work / "alignment" / "epoch_0002.npy", "50-values")
    proc = gwa_train(work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "summary.json is missing or damaged" in proc.stderr
    assert "rebuilding the run's files from its last checkpoint" in proc.stderr
    assert "epoch_0002.npy is missing or damaged" in proc.stderr
    assert table(proc.stdout) == trained[1] and "99.00%" not in proc.stdout
    assert (work / "summary.json").read_bytes() == original
    assert [line for line in verify_run(work) if "epoch_0002" not in line] == []


@pytest.mark.slow
def test_gwa_train_does_not_resume_from_an_unverifiable_checkpoint(trained, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(trained[0], work)
    (work / "summary.json").unlink()  # So the restart resumes rather than reports.
    shutil.rmtree(work / "checkpoints" / "checksums")
    newest = max(int(p.name) for p in (work / "checkpoints" / "latest").iterdir()
                 if p.name.isdigit())
    overwrite_32_bytes(work / "checkpoints" / "latest" / str(newest))
    proc = gwa_train(work)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gwa-train: error")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(errors) == 1 and "cannot be verified" in errors[0] and "--overwrite" in errors[0]
    assert "non-finite" not in proc.stderr
