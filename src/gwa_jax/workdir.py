"""What a workdir already holds: nothing, an unfinished run to resume, or a finished run.

A workdir belongs to one resolved config (``config.json``). Restarting the same command
resumes or, when ``summary.json`` exists, reports the finished run; a different config is
refused unless ``--overwrite`` is given, which clears the workdir first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import ml_collections

from gwa_jax.config_check import ConfigError
from gwa_jax.run_files import read_json

FRESH, RESUME, FINISHED = "fresh", "resume", "finished"


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


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str | Path,
                    overwrite: bool = False) -> str:
    """Returns FRESH, RESUME or FINISHED; raises ConfigError for a foreign run."""
    path = Path(workdir)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        return FRESH
    try:
        saved = read_json(cfg_file)
    except (OSError, json.JSONDecodeError):
        saved = None
    current = _normalise(config.to_dict())
    if saved != current:
        if overwrite:
            shutil.rmtree(path)
            return FRESH
        changed = _diff(saved or {}, current)[:5]
        raise ConfigError(
            f"workdir {path} holds a run of a different config (differs in: "
            f"{', '.join(changed) or 'unreadable config.json'}); pass --overwrite to replace "
            f"it or choose another --workdir")
    if overwrite:
        shutil.rmtree(path)
        return FRESH
    return FINISHED if (path / "summary.json").exists() else RESUME
