"""Reliability pieces, each with its failure made on purpose: the workdir lock, damaged
checkpoints and run files (one at a time), stray temporary files, a full disk, file modes."""

import errno
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.run import run_files
from gwa_jax.run.checkpoints import DamagedCheckpointError, RunCheckpoints
from gwa_jax.run.integrity import finished_run_damage, verify_run
from gwa_jax.run.resume import rebuild_metrics
from gwa_jax.run.run_files import MetricsLog, atomic_write_bytes, save_npy, save_npz, write_json
from gwa_jax.run.run_guard import RunError, guarded, remove_stray_temporaries
from gwa_jax.run.workdir_lock import WorkdirBusyError, workdir_lock

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


# --- One process per workdir -----------------------------------------------------------------

HOLDER = """
import sys, time
from gwa_jax.run.workdir_lock import workdir_lock
with workdir_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def start_holder(workdir):
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM"])
def test_lock_names_the_holder_and_is_released_however_it_ends(tmp_path, end):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(WorkdirBusyError, match=f"in use by another gwa-train \\(PID "
                                                   f"{holder.pid}\\)"):
            with workdir_lock(tmp_path):
                pass
    finally:
        holder.send_signal(getattr(signal, end))
        holder.wait()
    with workdir_lock(tmp_path) as path:  # Released by the kernel, even after SIGKILL.
        assert path.read_text().strip() == str(os.getpid())


def test_second_command_exits_2_naming_the_pid(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(RunError, match=f"PID {holder.pid}") as info:
            guarded(default_config(), str(tmp_path), False, lambda state: 0)
        assert info.value.code == 2
    finally:
        holder.kill()
        holder.wait()
    assert guarded(default_config(), str(tmp_path), False, lambda state: 7) == 7


# --- Damaged checkpoints, one at a time -----------------------------------------------------

def tree(v):
    return {"w": np.full((4, 3), v, np.float32), "b": np.arange(5, dtype=np.int32) + int(v)}


def two_epochs(workdir):
    ckpts = RunCheckpoints(str(workdir), ("latest",))
    for epoch in (1, 2):
        ckpts.save("latest", epoch, tree(epoch), {"epoch": epoch})
    ckpts.close()
    return workdir / "checkpoints" / "latest"


def flip_bytes(step_dir):
    """Overwrites the middle of the largest data file with random bytes."""
    files = [p for p in step_dir.rglob("*") if p.is_file()]
    target = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = os.urandom(16)
    target.write_bytes(bytes(data))


DAMAGE = {
    "random-bytes": flip_bytes,
    "garbage-METADATA": lambda d: (d / "state" / "_METADATA").write_bytes(b"\x00garbage{"),
    "deleted-file": lambda d: (d / "state" / "manifest.ocdbt").unlink(),
    "truncated-meta": lambda d: (d / "meta" / "metadata").write_text('{"epo'),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, damage, caplog):
    latest = two_epochs(tmp_path)
    assert sorted(os.listdir(latest)) == ["1", "2"]  # Two kept: a fallback exists.
    DAMAGE[damage](latest / "2")
    ckpts = RunCheckpoints(str(tmp_path), ("latest",))
    state, meta, step = ckpts.restore_newest_good("latest", tree(0))
    ckpts.close()
    assert step == 1 and meta == {"epoch": 1}
    np.testing.assert_array_equal(state["w"], tree(1)["w"])
    assert any("checkpoints/latest/2 is damaged" in r.getMessage() for r in caplog.records)


def test_intact_checkpoints_verify_and_no_intact_one_is_one_line(tmp_path):
    latest = two_epochs(tmp_path)
    ckpts = RunCheckpoints(str(tmp_path), ("latest",))
    assert ckpts.verify("latest", 1) and ckpts.verify("latest", 2)
    _, meta, step = ckpts.restore_newest_good("latest", tree(0))
    assert step == 2 and meta == {"epoch": 2}
    flip_bytes(latest / "1")
    flip_bytes(latest / "2")
    with pytest.raises(DamagedCheckpointError, match="is damaged and no older intact one"):
        ckpts.restore_newest_good("latest", tree(0))
    ckpts.close()


# --- Damaged run files ----------------------------------------------------------------------

HISTORY = [{"epoch": e, "gwa": 0.1 * e, "labelwave": None} for e in (1, 2, 3)]


@pytest.mark.parametrize("damage", ["truncated-mid-line", "non-json-line", "deleted",
                                    "reordered", "extra-epochs-after-kill"])
def test_metrics_are_rebuilt_from_the_checkpoint_history(tmp_path, damage, caplog):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for row in HISTORY + [{"epoch": 4, "gwa": 0.4, "labelwave": 1.0}]:
        log.append(row)
    text = log.path.read_text()
    lines = text.splitlines(keepends=True)
    if damage == "truncated-mid-line":
        log.path.write_text(text[: len(lines[0]) + 7])
    elif damage == "non-json-line":
        log.path.write_text(lines[0] + "garbage\n" + "".join(lines[2:]))
    elif damage == "deleted":
        log.path.unlink()
    elif damage == "reordered":
        log.path.write_text(lines[1] + lines[0] + "".join(lines[2:]))
    rebuild_metrics(log, HISTORY)
    assert [json.loads(x) for x in log.path.read_text().splitlines()] == HISTORY
    warned = any("rebuilt from the checkpoint" in r.getMessage() for r in caplog.records)
    assert warned == (damage != "extra-epochs-after-kill")


def finished_run(path, num_epochs=2):
    write_json(path / "config.json", default_config().to_dict())
    log = MetricsLog(path / "metrics.jsonl")
    for e in range(1, num_epochs + 1):
        log.append({"epoch": e})
        save_npy(path / "alignment" / f"epoch_{e:04d}.npy", np.zeros(3, np.float32))
    save_npz(path / "alignment" / "meta.npz", ids=np.arange(3))
    write_json(path / "summary.json", {"selected": {"gwa": {"epoch": 1}},
                                       "num_epochs": num_epochs})


@pytest.mark.parametrize("name,damage", [
    ("summary.json", "deleted"), ("summary.json", "garbage"), ("summary.json", "truncated"),
    ("metrics.jsonl", "truncated"), ("metrics.jsonl", "garbage"), ("metrics.jsonl", "deleted"),
    ("alignment/meta.npz", "deleted"), ("alignment/meta.npz", "truncated"),
])
def test_finished_run_damage_names_the_file(tmp_path, name, damage):
    finished_run(tmp_path)
    assert finished_run_damage(tmp_path) is None
    target = tmp_path / name
    if damage == "deleted":
        target.unlink()
    elif damage == "garbage":
        target.write_bytes(b"\x89not json\n")
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    assert name in finished_run_damage(tmp_path)


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_damaged_score_file_is_named_and_not_rebuilt(tmp_path, damage, caplog):
    finished_run(tmp_path)
    target = tmp_path / "alignment" / "epoch_0002.npy"
    if damage == "deleted":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[:20])
    assert finished_run_damage(tmp_path) is None  # Nothing to rebuild from...
    messages = [r.getMessage() for r in caplog.records]
    assert any("epoch_0002.npy is missing or damaged" in m for m in messages)  # ...but named.


def test_stray_temporary_files_are_removed_and_nothing_else(tmp_path):
    finished_run(tmp_path)
    strays = [tmp_path / ".metrics.jsonl.x1.tmp", tmp_path / ".summary.json.x2.tmp",
              tmp_path / "alignment" / ".epoch_0003.npy.x3.tmp"]
    for p in strays:
        p.write_text("torn")
    (tmp_path / "notes.tmp").write_text("a user's file")
    assert sorted(remove_stray_temporaries(tmp_path)) == sorted(map(str, strays))
    assert not any(p.exists() for p in strays) and (tmp_path / "notes.tmp").exists()


# --- A full disk ----------------------------------------------------------------------------

def test_full_disk_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    write_json(tmp_path / "summary.json", {"ok": 1})

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_files.os, "fsync", lambda fd: full(fd, b""))
    with pytest.raises(OSError, match="No space left") as info:
        write_json(tmp_path / "summary.json", {"ok": 2})
    assert info.value.filename == str(tmp_path / "summary.json")
    monkeypatch.setattr(run_files.os, "write", full)
    with pytest.raises(OSError) as info:
        MetricsLog(tmp_path / "metrics.jsonl").append({"epoch": 1})
    assert info.value.filename == str(tmp_path / "metrics.jsonl")
    monkeypatch.undo()
    assert json.loads((tmp_path / "summary.json").read_text()) == {"ok": 1}
    # No temporary file is left, and the manifest still vouches for the old summary.
    assert sorted(os.listdir(tmp_path)) == ["checksums.json", "summary.json"]
    assert verify_run(tmp_path) == []


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device", "/w/alignment/epoch_0003.npy"),
    ValueError("RESOURCE_EXHAUSTED: Error writing \"/w/checkpoints/latest/3/state/d/ab\""),
])
def test_full_disk_is_one_line_naming_the_path(tmp_path, error):
    def body(state):
        raise RuntimeError("orbax save failed") from error

    with pytest.raises(RunError) as info:
        guarded(default_config(), str(tmp_path), False, body)
    message = str(info.value)
    assert info.value.code == 1 and "\n" not in message
    assert message.startswith("no space left on the device writing /w/")
    assert "rerun the same command to resume" in message


class _FailingSave:
    """An orbax manager whose background save failed (as on a full disk)."""

    def wait_until_finished(self):
        raise ValueError("RESOURCE_EXHAUSTED: Error writing \"/w/checkpoints/best_gwa/3\"")


def test_drain_waits_for_every_save_and_never_raises(tmp_path):
    ckpts = RunCheckpoints(str(tmp_path), ("latest", "best_gwa"))
    ckpts.save("best_gwa", 1, tree(1), {"epoch": 1})  # Asynchronous: may be in flight.
    assert ckpts.drain() == []
    assert list(ckpts.managers["best_gwa"].all_steps()) == [1]
    real = ckpts.managers["latest"]
    ckpts.managers["latest"] = _FailingSave()
    assert ckpts.drain() == ["latest"]
    ckpts.managers["latest"] = real
    ckpts.close()


SHUTDOWN_ECHOES = """
import logging, sys, threading
logging.basicConfig(stream=sys.stderr)
from gwa_jax.run.run_guard import silence_echoes
silence_echoes()
for text in ("cannot schedule new futures after interpreter shutdown",
             "cannot schedule new futures after shutdown", "real failure A"):
    try:
        raise RuntimeError(text)
    except RuntimeError:
        logging.getLogger("absl").exception("finalize of best_gwa/1 failed")
def fail(text):
    raise RuntimeError(text)
for text in ("cannot schedule new futures after interpreter shutdown", "real failure B"):
    t = threading.Thread(target=fail, args=(text,))
    t.start()
    t.join()
"""


def test_shutdown_echoes_of_a_background_save_are_dropped_and_real_errors_kept():
    proc = subprocess.run([sys.executable, "-c", SHUTDOWN_ECHOES], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "schedule new futures" not in proc.stderr
    assert "real failure A" in proc.stderr and "real failure B" in proc.stderr
    assert proc.stderr.count("Traceback") == 2


# --- File modes, checkpoint paths -----------------------------------------------------------

def test_run_files_are_readable_by_the_group_and_others(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        importlib.reload(run_files)
        run_files.write_json(tmp_path / "a.json", {"x": math.nan})
        run_files.save_npy(tmp_path / "b.npy", np.zeros(2))
    finally:
        os.umask(old)
        importlib.reload(run_files)
    for name in ("a.json", "b.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_atomic_write_leaves_no_temporary_on_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(run_files.os, "replace", lambda a, b: (_ for _ in ()).throw(
        OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert os.listdir(tmp_path) == []
