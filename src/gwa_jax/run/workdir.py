"""What a workdir already holds: nothing, an unfinished run to resume, or a finished run.

A workdir belongs to one resolved config (``config.json``; ``criteria.early_stop`` aside, see
:data:`NOT_IDENTITY`). Restarting the same command
resumes or, when ``summary.json`` exists, reports the finished run; a different config is
refused unless ``--overwrite`` is given, which removes the files a run wrote (and only
those) from a directory that is recognisably a gwa-jax run; any other directory is refused.
A ``config.json`` that differs from its checksum is rebuilt when this command's config is the
one recorded, and refused (one line) otherwise; an unfinished run's files are checked before
it resumes (:func:`gwa_jax.run.integrity.resume_warnings`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import ml_collections
from absl import logging

from gwa_jax.config_check import ConfigError
from gwa_jax.run import integrity
from gwa_jax.run.run_files import json_bytes, read_json, write_json
from gwa_jax.run.run_format import FORMAT_VERSION, describe, resume_refusal, stamped, version_of

FRESH, RESUME, FINISHED = "fresh", "resume", "finished"
# Everything gwa-train writes at the top of a workdir (temporary files start with '.NAME.').
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "checksums.json")
RUN_DIRS = ("checkpoints", "alignment")
LOCK_FILE = ".gwa-train.lock"


def _normalise(d: Any) -> Any:
    return json.loads(json.dumps(d, sort_keys=True, default=str))


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


#: Config keys that are not part of a run's identity: a run resumes under other values of them
#: (a stopped run trains on under a larger or zero ``criteria.early_stop.patience``).
NOT_IDENTITY = (("criteria", "early_stop"),)


def _identity(config: Any) -> Any:
    """``config`` (a parsed ``config.json``) without the :data:`NOT_IDENTITY` keys."""
    if not isinstance(config, dict):
        return config
    out = json.loads(json.dumps(config))
    for path in NOT_IDENTITY:
        section = out
        for key in path[:-1]:
            section = section.get(key) if isinstance(section, dict) else None
        if isinstance(section, dict):
            section.pop(path[-1], None)
    return out


def _with_new_defaults(saved: Any) -> Any:
    """``saved`` with the schema keys it lacks set to their defaults: a run written before a
    key existed resumes unless the new config sets that key to something else."""
    # A deliberate late import to keep start-up light: the lock is taken before the config modules
    # load.
    from gwa_jax.config_base import default_config

    if not isinstance(saved, dict):
        return saved

    def fill(into: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        out = dict(into)
        for k, v in defaults.items():
            if k not in out:
                out[k] = v
            elif isinstance(v, dict) and isinstance(out[k], dict):
                out[k] = fill(out[k], v)
        return out

    return fill(saved, _normalise(default_config().to_dict()))


def _is_run_config(saved: Any) -> bool:
    """Whether a parsed ``config.json`` is one gwa-train wrote: only schema keys, with the
    top-level sections every config has."""
    # A deliberate late import to keep start-up light: the lock is taken before the config modules
    # load.
    from gwa_jax.config_base import default_config
    from gwa_jax.config_check import _flatten

    if not isinstance(saved, dict) or not {"dataset", "model", "gwa", "optim"} <= set(saved):
        return False
    return set(_flatten(saved)) <= set(_flatten(default_config().to_dict()))


def _is_run_entry(name: str) -> bool:
    if name in RUN_FILES or name in RUN_DIRS:
        return True
    return name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES)


def clear_run(workdir: str | Path) -> None:
    """Removes what gwa-train wrote in ``workdir`` (run files, ``checkpoints/``,
    ``alignment/``, its temporary files) and nothing else; the lock file stays.

    Raises ConfigError (nothing touched) unless the directory is recognisably a gwa-jax run.
    """
    path = Path(workdir)
    try:
        saved = read_json(path / "config.json")
    except (OSError, ValueError):
        saved = None
    entries = set(os.listdir(path)) - {LOCK_FILE}
    only_ours = "checkpoints" in entries and all(_is_run_entry(n) for n in entries)
    if not (_is_run_config(saved) or only_ours):
        raise ConfigError(
            f"--overwrite refused: {path} is not a gwa-jax run (no config.json written by "
            f"gwa-train); nothing was removed, choose another --workdir or empty it yourself")
    for name in sorted(os.listdir(path)):
        if not _is_run_entry(name):
            continue
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str | Path,
                    overwrite: bool = False) -> str:
    """Returns FRESH, RESUME or FINISHED; raises ConfigError for a foreign run."""
    path = Path(workdir)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        if overwrite and path.is_dir() and set(os.listdir(path)) - {LOCK_FILE}:
            clear_run(path)  # Refuses a directory of other files.
        return FRESH
    check = integrity.check_files(path, names=("config.json",))
    if "config.json" in check.problems and not overwrite:
        want = _recorded_hash(path)
        if want != integrity.sha256_bytes(json_bytes(stamped(config.to_dict()))):
            raise ConfigError(
                f"{check.problems['config.json']}, and this command's config is not the one "
                f"recorded; rerun the run's own command (it rebuilds the file) or pass "
                f"--overwrite to start afresh")
        logging.warning("%s; rebuilt from this command's config (the one recorded)",
                        check.problems["config.json"])
        write_json(cfg_file, stamped(config.to_dict()))
    try:
        saved = read_json(cfg_file)
    except (OSError, ValueError):
        saved = None
    if not overwrite:
        _check_format(saved, path)
    current = _normalise(stamped(config.to_dict()))
    saved = _with_new_defaults(saved)
    if _identity(saved) != _identity(current):
        if overwrite:
            clear_run(path)
            return FRESH
        if not _is_run_config(saved):
            raise ConfigError(
                f"workdir {path} holds a config.json that is not a gwa-jax run config "
                f"(unreadable or foreign); choose another --workdir")
        changed = _diff(_identity(saved), _identity(current))[:5]
        raise ConfigError(
            f"workdir {path} holds a run of a different config (differs in: "
            f"{', '.join(changed)}); pass --overwrite to replace it or choose another --workdir")
    if overwrite:
        clear_run(path)
        return FRESH
    if (path / "summary.json").exists():
        return FINISHED  # Checked by integrity.finished_run_damage before it is trusted.
    integrity.resume_warnings(path)
    return RESUME


def _check_format(saved: Any, path: Path) -> None:
    """Refuses (one line) to resume an unfinished run an older format wrote; a finished one
    is reported as recorded, with a warning."""
    if not _is_run_config(saved) or version_of(saved) >= FORMAT_VERSION:
        return
    if (path / "summary.json").exists():
        logging.warning("%s holds a finished run written by %s; reporting it as recorded",
                        path, describe(version_of(saved)))
        return
    raise ConfigError(resume_refusal(saved, str(path)))


def refuse_older_run(workdir: str | Path) -> None:
    """Raises ConfigError (one line) when ``workdir`` holds a run an older format wrote, which
    training would resume or rebuild from checkpoints of another model or schedule."""
    path = Path(workdir)
    try:
        saved = read_json(path / "config.json")
    except (OSError, ValueError):
        return
    if _is_run_config(saved) and version_of(saved) < FORMAT_VERSION:
        raise ConfigError(resume_refusal(saved, str(path)))


def _recorded_hash(path: Path) -> str | None:
    try:
        return json.loads((path / integrity.MANIFEST).read_text())["files"]["config.json"][
            "sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
