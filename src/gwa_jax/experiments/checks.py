"""Bad input to ``gwa-sweep``, ``gwa-report`` and ``gwa-inspect``, found before anything is
written and said in one line.

* :class:`OneLineParser`: argparse that reports a bad option as ``PROG: error: ...`` alone
  (no usage block), exit status 2; :func:`positive_int` / :func:`non_negative_int` types.
* :func:`output_dir_problem`: a ``--out`` / ``--root`` that is a file, lies under a file or
  cannot be written.
* :func:`check_run_files`: a run folder's files read the way the commands read them; damage
  (binary junk, a cut JSON file, a ``.npy`` that is no array, a directory where a file
  belongs) raises :class:`BadRunFile` naming the file.
* :func:`missing_data`: what a config needs from this machine's disk (dataset files,
  ``data_dir``, ``init_from``) and is not there, as notes for ``gwa-sweep --dry-run``.

The readers here only parse; whether a file matches its recorded checksum is
:mod:`gwa_jax.run.integrity`'s business.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

#: Files gwa-train rebuilds from the last checkpoint when the run's command is started again.
REBUILT = ("summary.json", "metrics.jsonl", "meta.npz")
META_KEYS = ("ids", "true_labels", "train_labels", "noise_mask")


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one ``PROG: error: ...`` line, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())}", file=sys.stderr)
        self.exit(2)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def output_dir_problem(path: str | os.PathLike, flag: str) -> str | None:
    """Why files cannot be written into the directory ``path`` (created when missing), or
    None. ``flag`` names the option in the message (``--out``, ``--root``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return f"{flag} {path} is a file, not a directory; choose another {flag}"
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.exists():  # A dangling symbolic link.
        return f"{flag} {path}: {existing} is a broken symbolic link"
    if not existing.is_dir():
        return f"{flag} {path} lies under {existing}, which is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" ({existing} is not writable)"
        return f"cannot write to {flag} {path}{where}: permission denied"
    return None


# --- run files --------------------------------------------------------------------------------


class BadRunFile(ValueError):
    """A run file that cannot be read as what it should be; the message is one line."""


def _bad(path: Path, why: str) -> BadRunFile:
    hint = ("; starting the run's gwa-train command again rebuilds it from the last checkpoint"
            if path.name in REBUILT else "")
    return BadRunFile(f"{path} is damaged ({why}){hint}")


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise BadRunFile(f"{path} is a directory, not a file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise BadRunFile(f"cannot read {path} ({err.strerror or type(err).__name__})") from None


def _json(data: bytes, path: Path, where: str = "") -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, f"{where}not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise _bad(path, f"{where}not valid JSON: {getattr(err, 'msg', err)}") from None


def read_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON file that must hold an object (``summary.json``, ``config.json``)."""
    path = Path(path)
    value = _json(_read_bytes(path), path)
    if not isinstance(value, dict):
        raise _bad(path, f"a JSON {type(value).__name__}, not an object")
    return value


def check_summary(path: str | os.PathLike) -> dict[str, Any]:
    """``summary.json``: an object whose ``selected`` maps criteria to entries with an
    integer ``epoch`` (what the tables and ``--epoch CRITERION`` read)."""
    path = Path(path)
    summary = read_json_object(path)
    selected = summary.get("selected", {})
    if not isinstance(selected, dict):
        raise _bad(path, "'selected' is not an object of criteria")
    for name, entry in selected.items():
        if not isinstance(entry, dict) or not _is_int(entry.get("epoch")):
            raise _bad(path, f"criterion {name!r} has no integer 'epoch'")
    for key in ("final_eval",):
        if not isinstance(summary.get(key, {}), dict):
            raise _bad(path, f"'{key}' is not an object")
    return summary


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metrics(path: str | os.PathLike, need_step: bool = False) -> list[dict[str, Any]]:
    """``metrics.jsonl``: every complete line a JSON object with an integer ``epoch`` (and
    ``step`` when ``need_step``: the figures' x axis). An unfinished last line is ignored, as
    the readers do."""
    path = Path(path)
    rows = []
    for n, raw in enumerate(_read_bytes(path).splitlines(keepends=True), 1):
        if not raw.endswith(b"\n"):
            break
        row = _json(raw, path, f"line {n} is ")
        if not isinstance(row, dict) or not _is_int(row.get("epoch")):
            raise _bad(path, f"line {n} is not a row with an integer 'epoch'")
        if need_step and not _is_int(row.get("step")):
            raise _bad(path, f"line {n} has no integer 'step'")
        rows.append(row)
    return rows


def check_meta(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``alignment/meta.npz``: the id and label arrays, ids inside every array."""
    path = Path(path)
    if path.is_dir():
        raise BadRunFile(f"{path} is a directory, not a file")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise _bad(path, "a single .npy array, not a .npz archive")
            arrays = {k: f[k] for k in f.files}
    except BadRunFile:
        raise
    except PermissionError as err:
        raise BadRunFile(f"cannot read {path} ({err.strerror})") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        raise _bad(path, "not a NumPy .npz archive") from None
    missing = [k for k in META_KEYS if k not in arrays]
    if missing:
        raise _bad(path, f"no {', '.join(missing)}")
    ids = arrays["ids"]
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise _bad(path, "'ids' is not a list of integer sample ids")
    top = int(ids.max()) + 1 if ids.size else 0
    if ids.size and int(ids.min()) < 0:
        raise _bad(path, "'ids' holds negative ids")
    for key in META_KEYS[1:]:
        if arrays[key].ndim != 1 or len(arrays[key]) < top:
            raise _bad(path, f"'{key}' does not cover ids up to {top - 1}")
    return arrays


def check_scores(path: str | os.PathLike, num_ids: int | None = None,
                 read: bool = False) -> None:
    """``alignment/epoch_NNNN.npy``: a 1-D float array (covering ``num_ids`` ids when given).
    Without ``read`` only the header and the file's length are checked (memory-mapped)."""
    path = Path(path)
    if path.is_dir():
        raise BadRunFile(f"{path} is a directory, not a file")
    try:
        scores = np.load(path, allow_pickle=False, mmap_mode=None if read else "r")
    except PermissionError as err:
        raise BadRunFile(f"cannot read {path} ({err.strerror})") from None
    except (OSError, ValueError, EOFError):
        raise _bad(path, "not a NumPy .npy array, or cut short") from None
    if not isinstance(scores, np.ndarray) or scores.ndim != 1 or scores.dtype.kind != "f":
        shape = getattr(scores, "shape", "?")
        kind = getattr(getattr(scores, "dtype", None), "name", type(scores).__name__)
        raise _bad(path, f"holds a {kind} array of shape {shape}, not per-sample float scores")
    if num_ids is not None and len(scores) < num_ids:
        raise _bad(path, f"{len(scores)} scores, but meta.npz has ids up to {num_ids - 1}")


@dataclasses.dataclass
class RunFiles:
    """What :func:`check_run_files` read (``None`` where the file is absent)."""

    workdir: Path
    summary: dict[str, Any] | None
    config: dict[str, Any] | None
    metrics: list[dict[str, Any]]


def check_run_files(workdir: str | os.PathLike, *, metrics: bool = True,
                    alignment: bool = False, need_step: bool = False) -> RunFiles:
    """Reads a run folder's ``summary.json``, ``config.json`` and (``metrics``)
    ``metrics.jsonl``, and (``alignment``) ``alignment/meta.npz`` and the headers of every
    ``alignment/epoch_NNNN.npy``, each when present; raises :class:`BadRunFile` (one line
    naming the file) for the first one that cannot be read as what it should be."""
    workdir = Path(workdir)
    summary = config = None
    rows: list[dict[str, Any]] = []
    if os.path.lexists(workdir / "summary.json"):
        summary = check_summary(workdir / "summary.json")
    if os.path.lexists(workdir / "config.json"):
        config = read_json_object(workdir / "config.json")
    if metrics and os.path.lexists(workdir / "metrics.jsonl"):
        rows = check_metrics(workdir / "metrics.jsonl", need_step)
    directory = workdir / "alignment"
    if alignment and directory.is_dir():
        num_ids = None
        if os.path.lexists(directory / "meta.npz"):
            ids = check_meta(directory / "meta.npz")["ids"]
            num_ids = int(ids.max()) + 1 if ids.size else 0
        for path in sorted(directory.glob("epoch_*.npy")):
            check_scores(path, num_ids)
    return RunFiles(workdir, summary, config, rows)


def metric_names(files: Sequence[RunFiles]) -> list[str]:
    """The numeric keys of the runs' ``metrics.jsonl`` rows and ``summary.selected`` entries
    (what ``gwa-report --metric`` can report), sorted."""
    names: set[str] = set()
    for f in files:
        entries = [*f.metrics, *((f.summary or {}).get("selected", {}) or {}).values()]
        for entry in entries:
            names.update(k for k, v in entry.items()
                         if isinstance(v, int | float) and not isinstance(v, bool)
                         and k not in ("epoch", "step"))
    return sorted(names)


# --- data a config needs from this machine -----------------------------------------------------


def _tfds_root(data_dir: str | None) -> Path:
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
                ).expanduser()


def dataset_missing(name: str, data_dir: str | None) -> str | None:
    """Why dataset ``name`` is not on this machine's disk (one line), or None when its files
    are there (a cheap look at the directories; the files are not opened)."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.data.idx import find_fmnist_dir
    from gwa_jax.data.registry import DATASETS

    spec = DATASETS.get(name)
    if spec is None or spec.source == "digits":
        return None
    if spec.source == "fmnist" and find_fmnist_dir(data_dir) is not None:
        return None
    root = _tfds_root(data_dir)
    tfds_dir = (spec.tfds_name or name).split(":")[0]
    if (root / tfds_dir).is_dir():
        return None
    looked = (f"{data_dir or '$GWA_FMNIST_DIR, /usr/share/datasets/fashion-mnist'} and {root}"
              if spec.source == "fmnist" else str(root))
    return f"dataset {name} is not on this machine (looked in {looked}); prepare it with: " \
           f"{spec.prepare}"


def missing_data(config: Mapping[str, Any] | Any) -> list[str]:
    """What ``config`` (a resolved, validated ConfigDict) needs from disk and is missing here:
    ``dataset.data_dir``, the training dataset and test sets, ``model.init_from``."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.data.registry import DATASETS
    from gwa_jax.train.init_from import is_run_dir

    d = config.dataset
    notes = []
    if d.data_dir is not None and not os.path.isdir(d.data_dir):
        notes.append(f"config.dataset.data_dir {d.data_dir!r} is not a directory on this "
                     f"machine")
    else:
        spec = DATASETS[d.name]
        for name in dict.fromkeys([d.name, *d.test_sets, *spec.default_test_sets]):
            note = dataset_missing(name, d.data_dir)
            if note:
                notes.append(note)
    init = config.model.init_from
    if init and not (os.path.isfile(init) or is_run_dir(init)):
        notes.append(f"config.model.init_from {init!r} is not a file or a gwa-jax run "
                     f"directory on this machine")
    return notes
