"""Atomic writes of everything a run leaves in its workdir.

Every file is written to a temporary file in the same directory and renamed into place;
``metrics.jsonl`` gets one complete line more per epoch the same way (the file is small), and
on resume it is truncated to the lines whose epoch the restored checkpoint covers, so a killed
run never leaves a duplicated or half-written line. The run files (``config.json``,
``metrics.jsonl``, ``summary.json``, ``alignment/meta.npz``, ``alignment/epoch_NNNN.npy``)
get their SHA-256 recorded in the run's ``checksums.json`` around the rename (pending before,
committed after; see :mod:`gwa_jax.run.integrity`). Files get the usual mode (0666 less the
umask, e.g. 0644), so shared run folders stay readable; a failed write (a full disk) raises
``OSError`` naming the file.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gwa_jax.run.integrity import FILE_MODE, atomic_write  # noqa: F401 - FILE_MODE re-exported.


def _named(err: OSError, path: str | os.PathLike) -> OSError:
    """The same error with ``path`` as its filename (write errors on a descriptor have none)."""
    if err.filename:
        return err
    return type(err)(err.errno, err.strerror or str(err), str(path))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(value: Any) -> Any:
    """NaN/inf become None (JSON null): strict JSON, and 'undefined' stays explicit."""
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, Mapping):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    return json.dumps(_finite_or_none(obj), default=_json_default, sort_keys=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, track: bool = True) -> None:
    """Writes ``data`` to ``path`` atomically (:func:`gwa_jax.run.integrity.atomic_write`, which
    keeps the run's ``checksums.json``); a failed write raises its OSError naming ``path``."""
    try:
        atomic_write(path, data, track=track)
    except OSError as err:
        raise _named(err, path) from err


def json_bytes(obj: Any, indent: int | None = 2) -> bytes:
    """What :func:`write_json` writes for ``obj``."""
    text = json.dumps(_finite_or_none(obj), default=_json_default, indent=indent,
                      sort_keys=True)
    return (text + "\n").encode()


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_bytes(path, json_bytes(obj, indent))


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically saves one array as ``.npy``."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


class MetricsLog:
    """``metrics.jsonl``: one JSON object per epoch, appended atomically line by line.

    With ``writable=False`` (every process but the first of a multi-host run) the log is
    only read: appends and rewrites are skipped.
    """

    def __init__(self, path: str | os.PathLike, writable: bool = True):
        self.path = Path(path)
        self.writable = writable

    def read(self) -> list[dict[str, Any]]:
        """All complete lines (a torn last line, from a kill mid-write, is ignored)."""
        if not self.path.exists():
            return []
        rows = []
        with open(self.path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break
                rows.append(json.loads(raw))
        return rows

    def truncate_to_epoch(self, last_epoch: int) -> list[dict[str, Any]]:
        """Keeps the complete lines with ``epoch <= last_epoch``, in order, without duplicates;
        rewrites the file atomically and returns those rows."""
        kept: list[dict[str, Any]] = []
        seen: set[int] = set()
        for row in self.read():
            if row["epoch"] <= last_epoch and row["epoch"] not in seen:
                kept.append(row)
                seen.add(row["epoch"])
        if self.writable:
            atomic_write_bytes(self.path, "".join(dumps(r) + "\n" for r in kept).encode())
        return kept

    def append(self, row: Mapping[str, Any]) -> None:
        """Adds one line: the file with the new line is written and renamed into place (its
        checksum recorded around the rename), so no reader sees a torn line."""
        if not self.writable:
            return
        line = (dumps(dict(row)) + "\n").encode()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as err:
            raise _named(err, self.path) from err
        if data and not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]  # A torn line (an older version's kill).
        atomic_write_bytes(self.path, data + line)

    def rewrite(self, rows: list[Mapping[str, Any]]) -> None:
        """Makes the file hold exactly ``rows`` (atomically, checksum recorded)."""
        if self.writable:
            atomic_write_bytes(self.path, "".join(dumps(dict(r)) + "\n" for r in rows).encode())


def emit_report(report: Mapping[str, Any], out: str | os.PathLike | None = None) -> str:
    """Prints a benchmark report as one JSON line (the last line a script prints) and, when
    ``out`` is given, writes the same line there atomically. Returns the line."""
    line = json.dumps(dict(report))
    if out:
        atomic_write_bytes(out, (line + "\n").encode())
    print(line)
    return line
