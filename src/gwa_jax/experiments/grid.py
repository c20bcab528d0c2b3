"""A grid over any config file: its ``get_config(arg)`` arguments and any ``config.*`` key.

    runs = expand_grid("configs/my.py", ["noise=0,0.2", "seed=0,1,2",
                                         "config.optim.lr=1e-3,3e-3"])

gives the 12 :class:`~gwa_jax.experiments.plan.Run` of the Cartesian product, in the order
of the grid (the last key varies fastest). A key ``config.KEY`` becomes the override
``--config.KEY=VALUE``; any other key is a config argument (``--config FILE.py:noise=0.2``).
Values are split at commas outside brackets, so ``config.model.kwargs.depths=(1,1),(2,2)``
has two values. A fixed argument can be given with the file: ``configs/my.py:model=vit``.
Each run's workdir is ``<root>/<config stem>/<key><value>_...`` (see ``Run.name``), and
:func:`write_manifest` records every run's grid coordinates in ``<root>/sweep.json`` so that
tables can be grouped by any grid key.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwa_jax.experiments.args import ArgError
from gwa_jax.experiments.plan import Run

OVERRIDE_PREFIX = "config."
MANIFEST = "sweep.json"


class GridError(ValueError):
    """A malformed grid or config path; the message is one line."""


def split_values(text: str) -> list[str]:
    """``"0,0.2" -> ["0", "0.2"]``; commas inside (), [] or {} do not split."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    if any(not v for v in out) or depth != 0:
        raise GridError(f"malformed value list {text!r}; write KEY=V1,V2,...")
    return out


def literal(text: str) -> Any:
    """``"2" -> 2``, ``"0.2" -> 0.2``, anything else stays text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["noise=0,0.2", "config.optim.lr=1e-3"]`` -> ``[("noise", [0, 0.2]), ...]``."""
    grid: list[tuple[str, list[Any]]] = []
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip().removeprefix("--")
        if not eq or not key or not values.strip():
            raise GridError(f"grid item {item!r} is not KEY=V1,V2,...")
        if key in (k for k, _ in grid):
            raise GridError(f"grid key {key!r} given twice")
        if key.startswith(OVERRIDE_PREFIX) and len(key) == len(OVERRIDE_PREFIX):
            raise GridError(f"grid item {item!r} names no config key")
        grid.append((key, [literal(v) for v in split_values(values)]))
    return grid


def split_config_path(path: str) -> tuple[Path, dict[str, Any]]:
    """``"configs/my.py:model=vit,seed=1"`` -> (Path, ``{"model": "vit", "seed": 1}``)."""
    file, _, arg = path.partition(":")
    file_path = Path(file)
    if file_path.suffix != ".py":
        raise GridError(f"--config {path!r}: expected a FILE.py[:ARG] config file")
    if file_path.is_dir():
        raise GridError(f"config file {file} is a directory, not a file")
    if not file_path.is_file():
        raise GridError(f"config file {file} does not exist")
    fixed: dict[str, Any] = {}
    for item in split_values(arg) if arg.strip() else []:
        key, eq, value = item.partition("=")
        fixed[key.strip()] = literal(value) if eq else True
    return file_path, fixed


def expand_grid(config: str, grid_items: Sequence[str]) -> list[Run]:
    """The runs of ``config`` (``FILE.py[:ARG]``) over the product of ``grid_items``."""
    file_path, fixed = split_config_path(config)
    grid = parse_grid(grid_items)
    clash = sorted(set(fixed) & {k for k, _ in grid})
    if clash:
        raise GridError(f"{clash} given both in --config ...:ARG and in --grid")
    keys = [k for k, _ in grid]
    runs = []
    for values in itertools.product(*(v for _, v in grid)):
        point = dict(zip(keys, values, strict=True))
        args = {**fixed, **{k: v for k, v in point.items()
                            if not k.startswith(OVERRIDE_PREFIX)}}
        overrides = {k.removeprefix(OVERRIDE_PREFIX): v for k, v in point.items()
                     if k.startswith(OVERRIDE_PREFIX)}
        seed = point.get("seed", point.get("config.seed", 0))
        runs.append(Run(file_path.stem, tuple(args.items()), model="", variant="", split=0.0,
                        seed=seed if isinstance(seed, int) else 0, role="grid",
                        overrides=tuple(overrides.items()),
                        configs_dir=str(file_path.parent)))
    return runs


def check_config_arguments(runs: Sequence[Run], configs_dir: str | os.PathLike = ".") -> None:
    """Loads each distinct argument string through the config's ``get_config`` (no training),
    so a bad grid key or value fails before anything runs; :class:`GridError` (one line)."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.experiments.paper import load_config

    seen = set()
    for run in runs:
        key = (run.config, run.arg)
        if key in seen:
            continue
        seen.add(key)
        try:
            config = load_config(run.config_path(configs_dir), run.arg or None)
        except ArgError as err:
            raise GridError(str(err)) from None
        except Exception as err:  # noqa: BLE001 - the config file's own error, one line.
            text = " ".join(str(err).split()) or type(err).__name__
            raise GridError(f"{run.config_path(configs_dir)}:{run.arg}: {text}") from None
        for key, _ in run.overrides:
            node = config
            for part in key.split("."):
                if key.startswith("model.kwargs."):
                    break
                if not hasattr(node, "keys") or part not in node.keys():
                    raise GridError(f"grid key 'config.{key}' is not a key of "
                                    f"{run.config_path(configs_dir)}")
                node = node[part]


def validate_runs(runs: Sequence[Run], root: str | os.PathLike,
                  configs_dir: str | os.PathLike = ".", overrides: Sequence[str] = ()
                  ) -> list[str]:
    """Checks every unfinished run's ``gwa-train`` command line exactly as gwa-train does on
    start (:func:`gwa_jax.cli.train_run.parse_command_line`: the config file, override keys,
    types and values), with one device and without the checks of files on this machine; the
    first bad run raises :class:`GridError` (one line naming it). Returns notes (one line each)
    on data the runs need that is not on this machine's disk (dataset files, ``data_dir``,
    ``init_from``): a run elsewhere may have it."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.cli.train_run import UsageError, parse_command_line
    from gwa_jax.experiments.checks import missing_data
    from gwa_jax.experiments.sweep import DONE, run_status

    needs: dict[str, int] = {}
    cwd_added = os.getcwd() not in sys.path
    if cwd_added:  # Runs start as `python -m gwa_jax.cli.train_run` here: cwd is importable.
        sys.path.insert(0, os.getcwd())
    try:
        for run in runs:
            if run_status(run, root) == DONE:
                continue
            argv = run.command(root, configs_dir, overrides)
            try:
                config, _, _ = parse_command_line(argv, num_devices=1, check_files=False)
            except UsageError as err:
                raise GridError(f"run {run.config}/{run.name}: {err}") from None
            for note in missing_data(config):
                needs[note] = needs.get(note, 0) + 1
    finally:
        if cwd_added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())
    return [f"{note} ({n} run{'s' * (n != 1)})" for note, n in needs.items()]


def write_manifest(runs: Sequence[Run], root: str | os.PathLike,
                   configs_dir: str | os.PathLike = ".") -> Path:
    """Adds ``runs`` (workdir relative to ``root``, config, grid coordinates, command) to
    ``<root>/sweep.json``; entries of other sweeps into the same root are kept."""
    root = Path(root)
    path = root / MANIFEST
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        try:
            entries = {e["workdir"]: e for e in json.loads(path.read_text())["runs"]}
        except (OSError, ValueError, KeyError, TypeError):
            entries = {}
    for run in runs:
        rel = str(run.workdir(root).relative_to(root))
        entries[rel] = {"workdir": rel, "config": str(run.config_path(configs_dir)),
                        "grid": run.coordinates,
                        "command": run.command(root, configs_dir)}
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"runs": list(entries.values())}, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def read_manifest(root: str | os.PathLike) -> dict[Path, dict[str, Any]]:
    """``{absolute workdir: grid coordinates}`` from ``<root>/sweep.json`` (empty when none)."""
    root = Path(root)
    try:
        runs = json.loads((root / MANIFEST).read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {(root / e["workdir"]).resolve(): dict(e.get("grid", {})) for e in runs}
