"""Run format versions: what gwa-train records, and what a run of an older format allows.

Format 1 (no ``format_version`` in ``config.json`` / ``summary.json``) is refused, in one line,
where its checkpoints would be used (resume, rebuild, ``model.init_from`` of a ConvNeXt), and
reported as recorded with a note.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from conftest import requires_fmnist
from gwa_jax import models
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, check_values
from gwa_jax.experiments.results import RunResult
from gwa_jax.experiments.run_report import make_report
from gwa_jax.run import run_format
from gwa_jax.run.checkpoints import read_params
from gwa_jax.run.run_files import read_json, write_json
from gwa_jax.run.workdir import FINISHED, FRESH, RESUME, prepare_workdir
from gwa_jax.train import trainer
from gwa_jax.train.init_from import init_params
from gwa_jax.train.step import create_train_state, model_overrides
from synthetic import write_run
from test_model_protocol import convnext_config

ROOT = Path(__file__).resolve().parents[1]
EXE = os.path.join(os.path.dirname(sys.executable), "gwa-train")
PUBLISHED = {"stem_bias": True, "gelu_approximate": False, "kernel_init": "normal"}


def format1(config_dict: dict) -> dict:
    """A config.json as format 1 wrote it: no format_version, no format-2 model kwargs."""
    out = json.loads(json.dumps(config_dict))
    out.pop("format_version", None)
    out["model"]["kwargs"] = {k: v for k, v in out["model"].get("kwargs", {}).items()
                              if k not in PUBLISHED}
    return out


# --- The version itself ----------------------------------------------------------------------


def test_version_of_reads_the_first_record_and_defaults_to_one():
    assert run_format.FORMAT_VERSION == 2
    assert run_format.version_of({}, None) == 1
    assert run_format.version_of({"format_version": 2}) == 2
    assert run_format.version_of({}, {"format_version": 2}) == 2
    assert run_format.version_of({"format_version": True}) == 1
    assert run_format.version_of({"format_version": "2"}) == 1
    assert run_format.stamped({"seed": 0}) == {"seed": 0, "format_version": 2}


def test_the_default_config_records_the_format_and_it_cannot_be_set():
    c = default_config()
    assert c.format_version == run_format.FORMAT_VERSION
    check_values(c, check_files=False)
    c.format_version = 1
    with pytest.raises(ConfigError, match=r"^config.format_version records .* cannot be set"):
        check_values(c, check_files=False)


def test_convnext_names_are_the_zoos_convnext_models():
    """run_format decides by name (it must not import the models); the second path is the
    registry's classes."""
    by_class = {n for n in models.names()
                if isinstance(models.create(n, 10), models.ConvNeXtV2)}
    assert {n for n in models.names() if run_format.is_convnext(n)} == by_class


# --- Resume ------------------------------------------------------------------------------------


def test_resuming_a_format1_run_is_one_line_from_gwa_train(tmp_path):
    workdir = tmp_path / "old"
    workdir.mkdir()
    write_json(workdir / "config.json", format1(convnext_config().to_dict()))
    proc = subprocess.run([EXE, "--config", str(ROOT / "configs" / "quickstart.py"),
                           f"--workdir={workdir}"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gwa-train:")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    line = errors[0]
    assert line.startswith(f"gwa-train: error: workdir {workdir} holds a run written by format 1")
    assert "--overwrite" in line and "--config.model.kwargs.stem_bias=True" in line
    assert sorted(os.listdir(workdir)) == ["checksums.json", "config.json"]  # untouched


def _refusal(workdir, config) -> str:
    """The one-line refusal of resuming a format-1 run of ``config`` in ``workdir``."""
    workdir.mkdir()
    write_json(workdir / "config.json", format1(config.to_dict()))
    with pytest.raises(ConfigError, match="format 1") as err:
        prepare_workdir(config, workdir)
    return str(err.value)


def test_prepare_workdir_by_format(tmp_path):
    config = convnext_config()
    message = _refusal(tmp_path / "old", config)
    assert "\n" not in message
    assert prepare_workdir(config, tmp_path / "old", overwrite=True) == FRESH
    # A format-1 ViT is refused too (the schedule changed), without the ConvNeXt hint.
    assert "stem_bias" not in _refusal(tmp_path / "old_vit", default_config())

    finished = tmp_path / "finished"  # Reported as recorded.
    finished.mkdir()
    write_json(finished / "config.json", format1(config.to_dict()))
    write_json(finished / "summary.json", {"selected": {}})
    assert prepare_workdir(config, finished) == FINISHED

    new = tmp_path / "new"
    new.mkdir()
    write_json(new / "config.json", run_format.stamped(config.to_dict()))
    assert prepare_workdir(config, new) == RESUME


def test_the_trainer_refuses_a_format1_workdir_before_writing(tmp_path):
    config = convnext_config()
    write_json(tmp_path / "config.json", format1(config.to_dict()))
    before = (tmp_path / "config.json").read_bytes()
    with pytest.raises(ConfigError, match="written by format 1"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert (tmp_path / "config.json").read_bytes() == before


# --- A real run: what it records; init_from of a format-1 ConvNeXt ----------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch ConvNeXt run of the format-1 network (PUBLISHED kwargs), 10 steps requested,
    8 run; returns (workdir, its summary)."""
    workdir = tmp_path_factory.mktemp("run")
    c = convnext_config(**PUBLISHED)
    c.dataset.train_subset = 256
    c.batch_size = 64
    c.total_steps = 10
    c.optim.lr = 0.01
    c.gwa.save_scores_every = 0
    c.gwa.bootstrap_resamples = 0
    summary = trainer.train_and_evaluate(c, str(workdir))
    return workdir, summary


@requires_fmnist
def test_a_run_records_its_format_and_the_authors_schedule(trained):
    workdir, summary = trained
    assert read_json(workdir / "config.json")["format_version"] == 2
    assert read_json(workdir / "summary.json")["format_version"] == 2 == summary[
        "format_version"]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8]
    # The logged lr is the schedule at the step after the epoch: cosine over 10 + 1 steps.
    want = 0.01 * 0.5 * (1 + math.cos(math.pi * 8 / 11))
    assert rows[-1]["lr"] == pytest.approx(want, rel=1e-5)
    assert RunResult.load(workdir).format_version == 2


@requires_fmnist
def test_init_from_a_format1_convnext(trained, tmp_path):
    source, _ = trained
    old = tmp_path / "old"
    old.mkdir()
    (old / "checkpoints").symlink_to(source / "checkpoints")
    write_json(old / "config.json", format1(read_json(source / "config.json")))

    fine = convnext_config()
    fine.model.init_from = str(old)
    model = models.create(fine.model.name, 10, **model_overrides(fine.model))
    fresh = create_train_state(model, optax.sgd(0.1), (28, 28, 1), 0).params
    with pytest.raises(ValueError) as err:
        init_params(fine, fresh, image_size=28)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"model.init_from: {old} was written by format 1")
    assert "--config.model.kwargs.stem_bias=True" in line

    # Through the trainer: the same line as a ConfigError, nothing trained.
    with pytest.raises(ConfigError, match="was written by format 1"):
        trainer.train_and_evaluate(fine, str(tmp_path / "fine"))

    # The format-1 network (stem with bias) takes it, head included.
    as_trained = convnext_config(**PUBLISHED)
    as_trained.model.init_from = str(old)
    model = models.create(as_trained.model.name, 10, **model_overrides(as_trained.model))
    fresh = create_train_state(model, optax.sgd(0.1), (28, 28, 1), 0).params
    params = init_params(as_trained, fresh, image_size=28)
    src, _ = read_params(str(source), "latest")
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(src), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_init_from_refusal_only_for_a_format1_convnext():
    vit = format1(default_config().to_dict())
    assert run_format.init_from_refusal(vit, "x", {}) is None
    convnext = format1(convnext_config().to_dict())
    assert "format 1" in run_format.init_from_refusal(convnext, "x", {})
    assert run_format.init_from_refusal(convnext, "x", {"stem_bias": True}) is None
    current = run_format.stamped(convnext_config().to_dict())
    assert run_format.init_from_refusal(current, "x", {}) is None


# --- Reporting ----------------------------------------------------------------------------------


def synthetic(workdir, version):
    config = convnext_config().to_dict()
    if version == 1:
        config = format1(config)
    metrics = [{"epoch": e, "step": 10 * e, "test_acc": 0.5 + 0.1 * e, "gwa": 0.1 * e}
               for e in (1, 2)]
    return write_run(workdir, selected={"gwa": {"epoch": 2, "test_acc": 0.7},
                                        "last": {"epoch": 2, "test_acc": 0.7}},
                     config=config, metrics=metrics,
                     format_version=None if version == 1 else version)


def test_report_on_format1_runs_is_a_note(tmp_path):
    synthetic(tmp_path / "runs" / "a", 1)
    synthetic(tmp_path / "runs" / "b", 2)
    assert RunResult.load(tmp_path / "runs" / "a").format_version == 1
    assert RunResult.load(tmp_path / "runs" / "b").format_version == 2
    lines: list[str] = []
    make_report(tmp_path / "runs", tmp_path / "out", figures=False, log=lines.append)
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: 1 of 2 run(s) were written by format 1")
    assert (tmp_path / "out" / "runs.md").exists()

    lines.clear()
    make_report(tmp_path / "runs" / "b", tmp_path / "out_b", figures=False, log=lines.append)
    assert not [line for line in lines if line.startswith("note:")]


def test_committed_results_stay_reportable(tmp_path):
    """A committed run that predates format_version: format 1, read as recorded."""
    run = (ROOT / "results" / "regime" / "device_loop" / "gwa_train" /
           "model-convnext_pool2000_recipe-paper_noise0_seed0")
    assert RunResult.load_verified(run).format_version == 1
    lines: list[str] = []
    make_report(run, tmp_path / "out", figures=False, log=lines.append)
    assert any(line.startswith("note: 1 of 1 run(s) were written by format 1") for line in lines)
