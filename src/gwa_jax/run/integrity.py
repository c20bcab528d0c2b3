"""SHA-256 checksums of every file a run keeps, and what a mismatch means.

One manifest per run folder, ``checksums.json``, holds the SHA-256 of ``config.json``,
``metrics.jsonl``, ``summary.json``, ``alignment/meta.npz`` and ``alignment/epoch_NNNN.npy``
(and ``scores.npz``, the packed scores of an exported run folder);
the checkpoints keep theirs per step under ``checkpoints/checksums/KIND_STEP.json`` (see
:mod:`gwa_jax.run.checkpoints`). :func:`verify_run` checks both and returns one line per problem.

The writers of :mod:`gwa_jax.run.run_files` keep the manifest up to date in two steps around the
atomic rename that puts a file in place: before the rename the entry gets the new content's
hash marked ``pending`` (with the hash of the content it replaces, when that content was
itself verified); after the rename the entry is committed. So a kill at any point leaves a
file that matches its entry, or a pending entry whose file still holds the previous content
(or is still absent, for a first write): that is a crash, not damage, and the entry is
repaired. Anything else (a different hash, a listed file that is gone, a run file that the
manifest does not list) is damage.

What is done about damage:

* ``summary.json``, ``metrics.jsonl``, ``alignment/meta.npz`` can be rebuilt from the last
  checkpoint (its meta carries the metrics history, the data layer re-derives ``meta.npz``):
  a finished run with damage in them is rebuilt by gwa-train (:func:`finished_run_damage`);
  readers (gwa-report, gwa-inspect, the table and figure scripts) refuse the run with one line
  (:class:`DamagedRunError`).
* ``alignment/epoch_NNNN.npy`` lives nowhere else: a damaged one is named in a warning, and
  readers skip it by name.
* ``scores.npz`` (packed from a workdir's ``alignment/`` by ``scripts/pack_scores.py``)
  holds the meta data too: readers refuse a run whose ``scores.npz`` is damaged (one line);
  pack it again from the workdir.
* A missing manifest (a run written before gwa-jax kept checksums, or a deleted one) is one
  warning line naming it; gwa-train then rebuilds what it can from the checkpoint, and the
  score files it cannot vouch for stay unlisted, so readers skip them until someone records
  them as they are (``python scripts/seal_runs.py DIR``).
* A checkpoint step without its checksum manifest is not trusted: resume falls back to an
  older verified step, or stops with one line (see
  :meth:`gwa_jax.run.checkpoints.RunCheckpoints.restore_newest_good`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from absl import logging

MANIFEST = "checksums.json"
FORMAT = "gwa-jax run checksums v1"
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "scores.npz")
META = "alignment/meta.npz"
REBUILDABLE = ("summary.json", "metrics.jsonl", META)
_SCORE = re.compile(r"epoch_\d+\.npy")
_LOCK = threading.Lock()


class DamagedRunError(KeyError):
    """A run file differs from its checksum; the message is one line naming it.

    A ``KeyError`` (the file is not what its manifest entry says) so that the command-line
    tools' handling of bad input (one line, exit 2) applies to it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tracked(path: str | os.PathLike) -> tuple[Path, str] | None:
    """``(run folder, name in its manifest)`` for a file a run keeps, else None."""
    p = Path(path)
    if p.name in RUN_FILES:
        return p.parent, p.name
    if p.parent.name == "alignment" and (p.name == "meta.npz" or _SCORE.fullmatch(p.name)):
        return p.parent.parent, f"alignment/{p.name}"
    return None


def run_file_names(root: str | os.PathLike) -> list[str]:
    """The tracked files present in a run folder, as manifest names."""
    root = Path(root)
    names = [n for n in RUN_FILES if (root / n).is_file()]
    alignment = root / "alignment"
    if alignment.is_dir():
        names += sorted(f"alignment/{p.name}" for p in alignment.iterdir()
                        if p.is_file() and (p.name == "meta.npz" or _SCORE.fullmatch(p.name)))
    return names


# --- Atomic writes --------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, data: bytes, *, track: bool = True) -> None:
    """Writes ``data`` to ``path`` via a temporary file in the same directory + rename.

    A run file (see :func:`tracked`) gets its new hash recorded in the run's
    ``checksums.json`` as pending before the rename and committed after it, unless ``track``
    is False (the manifest itself). Raises the OSError of a failed write (the temporary file
    is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        token = begin_write(path, data) if track else None
        os.replace(tmp, path)
        if token is not None:
            end_write(token)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --- The manifest -----------------------------------------------------------------------------

def _read_manifest(root: Path) -> dict[str, dict[str, Any]] | None:
    """The entries of ``root/checksums.json``; None when it is missing; raises ValueError when
    it is unreadable."""
    try:
        text = (root / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ValueError("not a checksum manifest")
    return data["files"]


def _write_manifest(root: Path, files: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True) + "\n"
    atomic_write(root / MANIFEST, text.encode(), track=False)


def _entries_for_update(root: Path) -> dict[str, dict[str, Any]]:
    try:
        return _read_manifest(root) or {}
    except (OSError, ValueError):
        return {}  # An unreadable manifest is replaced; its files show up as unlisted.


def begin_write(path: str | os.PathLike, data: bytes) -> tuple[Path, str, str] | None:
    """Records ``data``'s hash for ``path`` as pending, before the rename puts it in place.

    Returns a token for :func:`end_write`, or None for a file no manifest covers.
    """
    where = tracked(path)
    if where is None:
        return None
    root, name = where
    new = sha256_bytes(data)
    with _LOCK:
        files = _entries_for_update(root)
        old = files.get(name)
        entry: dict[str, Any] = {"sha256": new, "pending": True}
        target = root / name
        if old is not None:
            try:
                disk = sha256_file(target)
            except FileNotFoundError:
                disk = None
            legit = {old.get("sha256")} | ({old.get("previous")} if old.get("pending") else set())
            if disk is not None and disk in legit:
                entry["previous"] = disk  # A verified content is being replaced.
            elif disk is None and old.get("pending") and old.get("previous") is None:
                pass  # An earlier first write that never landed: still a first write.
            else:
                entry["previous"] = "damaged"  # Whatever is there now is not trusted.
        files[name] = entry
        _write_manifest(root, files)
    return root, name, new


def end_write(token: tuple[Path, str, str]) -> None:
    """Commits the entry written by :func:`begin_write` once the file is in place."""
    root, name, new = token
    with _LOCK:
        files = _entries_for_update(root)
        files[name] = {"sha256": new}
        _write_manifest(root, files)


def seal_run(root: str | os.PathLike, accept: bool = False) -> list[str]:
    """Writes or refreshes ``root/checksums.json`` for the run files present (an exported run
    folder, or files known to be good). Verified and pending-but-explained entries are kept;
    new files are added; entries of files that are gone are dropped. A file that differs from
    its entry is left as damaged unless ``accept``. Returns the problems left (one line each).
    """
    root = Path(root)
    try:
        files = _read_manifest(root) or {}
    except (OSError, ValueError):
        if not accept:
            return [f"{root / MANIFEST} is unreadable; pass accept=True (--accept) to record the "
                    f"files as they are"]
        files = {}
    problems = []
    new: dict[str, dict[str, Any]] = {}
    for name in run_file_names(root):
        digest = sha256_file(root / name)
        old = files.get(name)
        if old is None or accept or digest == old.get("sha256") or (
                old.get("pending") and digest == old.get("previous")):
            new[name] = {"sha256": digest}
        else:
            new[name] = old
            problems.append(f"{root / name} does not match its checksum in {root / MANIFEST}; "
                            f"left as damaged (pass --accept to record it as it is)")
    with _LOCK:
        _write_manifest(root, new)
    return problems


# --- Verification -------------------------------------------------------------------------

@dataclasses.dataclass
class FileCheck:
    """What :func:`check_files` found in one run folder.

    Attributes:
      root: the run folder.
      manifest_missing: one line when ``checksums.json`` is missing or unreadable, else None.
      problems: manifest name -> one line, for each damaged, missing or unlisted file.
      repaired: names whose pending entry was resolved (a crash between the two writes).
    """

    root: Path
    manifest_missing: str | None
    problems: dict[str, str]
    repaired: list[str]

    def lines(self) -> list[str]:
        return ([self.manifest_missing] if self.manifest_missing else []) + list(
            self.problems.values())


def _missing_line(root: Path, reason: str) -> str:
    return (f"{root / MANIFEST} is {reason}: the run's files cannot be verified (written before "
            f"gwa-jax kept checksums, or the manifest was lost); not trusting them")


def check_files(root: str | os.PathLike, repair: bool = True,
                names: tuple[str, ...] | None = None) -> FileCheck:
    """Checks the run files of ``root`` against ``checksums.json``.

    A pending entry whose file holds the previous content (or is absent, for a first write) is
    a crash between the two writes: with ``repair`` the entry is set back (when the folder is
    writable). ``names`` restricts the check to those files. Never raises for damage;
    returns it.
    """
    root = Path(root)
    try:
        files = _read_manifest(root)
        missing = None if files is not None else _missing_line(root, "missing")
    except (OSError, ValueError):
        files, missing = None, _missing_line(root, "unreadable")
    present = run_file_names(root)
    problems: dict[str, str] = {}
    repaired: list[str] = []
    if files is None:  # Reported only where there is something to verify.
        return FileCheck(root, missing if present else None, problems, repaired)
    fixed = dict(files)
    for name in sorted(set(files) | set(present)):
        if names is not None and name not in names:
            continue
        entry = files.get(name)
        path = root / name
        if entry is None:
            problems[name] = (f"{path} cannot be verified: it is not in {root / MANIFEST} (not "
                              f"written by gwa-train, or written while the manifest was "
                              f"missing)")
            continue
        try:
            digest = sha256_file(path)
        except FileNotFoundError:
            digest = None
        except OSError as err:
            problems[name] = f"{path} is unreadable ({err.strerror or type(err).__name__})"
            continue
        if digest == entry.get("sha256"):
            if entry.get("pending"):
                fixed[name] = {"sha256": digest}
                repaired.append(name)
            continue
        if entry.get("pending"):
            previous = entry.get("previous")
            if digest is None and "previous" not in entry:
                fixed.pop(name)  # A first write killed before its rename.
                repaired.append(name)
                continue
            if digest is not None and digest == previous:
                fixed[name] = {"sha256": digest}  # Killed before the rename: the old content.
                repaired.append(name)
                continue
        if digest is None:
            problems[name] = f"{path} is missing or damaged (listed in {root / MANIFEST}, gone)"
        else:
            problems[name] = (f"{path} is missing or damaged (it does not match its checksum "
                              f"in {root / MANIFEST}: edited or corrupted)")
    if repaired and repair:
        try:
            with _LOCK:
                _write_manifest(root, fixed)
        except OSError:
            pass  # A read-only folder: the verdict stands, the entry is fixed next time.
    return FileCheck(root, missing, problems, repaired)


def file_verified(path: str | os.PathLike) -> bool:
    """Whether one run file matches its (committed) entry in its run's manifest."""
    where = tracked(path)
    if where is None:
        return False
    root, name = where
    try:
        entry = (_read_manifest(root) or {}).get(name)
        return entry is not None and not entry.get("pending") and (
            sha256_file(path) == entry.get("sha256"))
    except (OSError, ValueError):
        return False


# --- Checkpoint steps: one SHA-256 manifest each, ``checkpoints/checksums/KIND_STEP.json`` ---

def digest_dir(path: str) -> dict[str, str]:
    """SHA-256 of every file under ``path``, by relative path."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.relpath(full, path)] = h.hexdigest()
    return out


def manifest_path(root: str, kind: str, step: int) -> str:
    """Where the SHA-256 manifest of ``root/kind/step`` lives."""
    return os.path.join(root, "checksums", f"{kind}_{step}.json")


def matches_manifest(root: str, kind: str, step: int) -> bool | None:
    """True: ``root/kind/step`` matches ``root/checksums/kind_step.json``; False: it differs;
    None: no (readable) manifest."""
    try:
        with open(manifest_path(root, kind, step)) as f:
            want = json.load(f)
    except (OSError, ValueError):
        return None
    return digest_dir(os.path.join(root, kind, str(step))) == want


def checksum_status(root: str, kind: str, step: int) -> tuple[bool | None, str | None]:
    """``(verdict, line)`` for ``root/kind/step``: (True, None) intact; (False, line) damaged;
    (None, line) no readable manifest, so not trusted."""
    where = os.path.join(root, kind, str(step))
    found = matches_manifest(root, kind, step)
    if found:
        return True, None
    if found is False:
        return False, f"checkpoint {where} is damaged (checksum mismatch)"
    return None, (f"checkpoint {where} cannot be verified (its checksum manifest "
                  f"{manifest_path(root, kind, step)} is missing or unreadable) and is not "
                  f"trusted")


def checkpoint_problems(workdir: str | os.PathLike) -> list[str]:
    """One line per checkpoint step that differs from its SHA-256 manifest or has none (a
    missing ``checkpoints/checksums/`` folder is one line)."""
    root = Path(workdir) / "checkpoints"
    if not root.is_dir():
        return []
    steps = []
    for kind in sorted(os.listdir(root)):
        folder = root / kind
        if kind == "checksums" or not folder.is_dir():
            continue
        steps += [(kind, int(n)) for n in sorted(os.listdir(folder)) if n.isdigit()]
    if steps and not (root / "checksums").is_dir():
        return [f"{root / 'checksums'} is missing: {len(steps)} checkpoint step(s) cannot be "
                f"verified and are not trusted"]
    out = []
    for kind, step in steps:
        line = checksum_status(str(root), kind, step)[1]
        if line:
            out.append(line)
    return out


def verify_run(workdir: str | os.PathLike, checkpoints: bool = True) -> list[str]:
    """Every problem of a run folder, one line each: its run files against ``checksums.json``
    (a crash between a write and its manifest entry is repaired, not reported) and, with
    ``checkpoints``, each checkpoint step against its manifest. Empty when all is intact."""
    lines = check_files(workdir).lines()
    if checkpoints:
        lines += checkpoint_problems(workdir)
    return lines


# --- gwa-train: a finished run, a run to resume -------------------------------------------------

def _load_json(path: Path):
    with open(path) as f:
        return json.load(f)


def _warn_scores(check: FileCheck) -> None:
    for name, line in check.problems.items():
        if name.startswith("alignment/epoch_"):
            logging.warning("%s; per-sample scores are kept only there and cannot be rebuilt "
                            "(rerun with --overwrite to regenerate them)", line)


def finished_run_damage(workdir: str | os.PathLike) -> str | None:
    """Why a finished run's files cannot be trusted (one line naming the file), or None.

    A missing manifest, or a ``summary.json`` / ``metrics.jsonl`` / ``alignment/meta.npz``
    that differs from its checksum or is unreadable, is returned: gwa-train rebuilds them from
    the last checkpoint. Damaged per-epoch score files and checkpoint steps are named in
    warnings (nothing to rebuild them from).
    """
    path = Path(workdir)
    check = check_files(path)
    _warn_scores(check)
    for line in checkpoint_problems(path):
        logging.warning("%s", line)
    if check.manifest_missing:
        return check.manifest_missing
    for name in REBUILDABLE:
        if name in check.problems:
            return check.problems[name]
    try:
        summary = _load_json(path / "summary.json")
        num_epochs = int(summary["num_epochs"])
        if not isinstance(summary["selected"], dict):
            raise ValueError("no selections")
    except (OSError, ValueError, KeyError, TypeError):
        return f"{path / 'summary.json'} is unreadable or incomplete"
    try:
        with open(path / "metrics.jsonl", "rb") as f:
            epochs = [json.loads(line)["epoch"] for line in f]
    except (OSError, ValueError, KeyError, TypeError):
        epochs = None
    if epochs != list(range(1, num_epochs + 1)):
        return f"{path / 'metrics.jsonl'} is damaged (not one line per epoch 1..{num_epochs})"
    try:
        with np.load(path / "alignment" / "meta.npz") as meta:
            {k: meta[k] for k in meta.files}  # noqa: B018 - reading every array checks it.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        return f"{path / 'alignment' / 'meta.npz'} is missing or damaged ({type(err).__name__})"
    _warn_missing_scores(path, num_epochs, check)
    return None


def _warn_missing_scores(path: Path, num_epochs: int, check: FileCheck) -> None:
    """Score files the config says were written but that are gone and unlisted."""
    try:
        every = int(_load_json(path / "config.json")["gwa"]["save_scores_every"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not every:
        return
    for epoch in range(1, num_epochs + 1):
        if epoch % every and epoch != num_epochs:
            continue
        name = f"alignment/epoch_{epoch:04d}.npy"
        if name in check.problems:
            continue
        try:
            np.load(path / name, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            logging.warning("%s is missing or damaged and cannot be rebuilt (per-sample scores "
                            "are kept only there); rerun with --overwrite to regenerate it",
                            path / name)


def resume_warnings(workdir: str | os.PathLike) -> list[str]:
    """Checks an unfinished run before it resumes; warns (and returns) one line per problem.

    ``metrics.jsonl`` is rebuilt from the checkpoint anyway (with its own warning) and
    ``meta.npz`` and ``config.json`` are rewritten at start; damaged score files are named
    and not trusted (their entries keep the right hash, so readers skip them).
    """
    check = check_files(workdir)
    lines = [check.manifest_missing] if check.manifest_missing else []
    for name, line in check.problems.items():
        if name == "metrics.jsonl":
            continue
        if name.startswith("alignment/epoch_"):
            line += ("; per-sample scores are kept only there and cannot be rebuilt (rerun "
                     "with --overwrite to regenerate them)")
        elif name in (META, "config.json"):
            line += "; rewritten at start"
        lines.append(line)
    for line in lines:
        logging.warning("%s", line)
    return lines
