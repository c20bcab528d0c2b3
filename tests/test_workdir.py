"""Workdir rules: ``--overwrite`` removes only what gwa-train wrote, and only in a run."""

import os

import pytest

from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError
from gwa_jax.run.run_files import save_npy, write_json
from gwa_jax.run.workdir import FRESH, clear_run, prepare_workdir


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def user_project(path):
    """A directory that is not a run: a foreign config.json, a thesis and a source file."""
    (path / "src").mkdir(parents=True)
    (path / "config.json").write_text('{"name": "my-web-app"}')
    (path / "thesis.tex").write_text("\\documentclass{article}")
    (path / "src" / "main.py").write_text("print('hi')")
    return path


@pytest.mark.parametrize("same_config", [True, False])
def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path, same_config):
    work = user_project(tmp_path / "project")
    before = {p: (work / p).read_bytes() for p in tree(work) if (work / p).is_file()}
    with pytest.raises(ConfigError, match="--overwrite refused: .* is not a gwa-jax run"):
        prepare_workdir(default_config(), work, overwrite=True)
    assert {p: (work / p).read_bytes() for p in tree(work) if (work / p).is_file()} == before
    # Without --overwrite the foreign config.json is named as such, not diffed.
    with pytest.raises(ConfigError, match="not a gwa-jax run config"):
        prepare_workdir(default_config(), work)


def test_overwrite_refuses_files_without_config_json(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a gwa-jax run"):
        prepare_workdir(default_config(), tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_workdir(default_config(), empty, overwrite=True) == FRESH


def test_overwrite_removes_only_run_files(tmp_path):
    c = default_config()
    write_json(tmp_path / "config.json", c.to_dict())
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / ".metrics.jsonl.abc.tmp").write_text("torn")
    save_npy(tmp_path / "alignment" / "epoch_0001.npy", os.urandom(8))
    (tmp_path / "checkpoints" / "latest" / "1").mkdir(parents=True)
    (tmp_path / "my_notes.md").write_text("mine")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "fig.png").write_bytes(b"png")
    c2 = default_config()
    c2.seed = 3
    assert prepare_workdir(c2, tmp_path, overwrite=True) == FRESH
    assert tree(tmp_path) == ["my_notes.md", "plots", "plots/fig.png"]


def test_damaged_config_json_of_a_run_can_be_overwritten(tmp_path):
    (tmp_path / "config.json").write_text('{"seed": 0, "datas')  # Torn by a crash.
    (tmp_path / "checkpoints" / "latest").mkdir(parents=True)
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(ConfigError, match="not a gwa-jax run config"):
        prepare_workdir(default_config(), tmp_path)
    clear_run(tmp_path)
    assert tree(tmp_path) == []
