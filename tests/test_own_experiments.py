"""A config family written here (digits + an own MLP factory + label smoothing), swept with
gwa-sweep through real gwa-train processes, tabled with gwa-report and inspected with
gwa-inspect; plus the grid parsing and the error paths of each command."""

import csv
import io
import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gwa_jax.cli import inspect as inspect_cli
from gwa_jax.cli import report as report_cli
from gwa_jax.cli import sweep as sweep_cli
from gwa_jax.experiments.grid import (
    GridError,
    expand_grid,
    parse_grid,
    read_manifest,
    split_values,
)
from gwa_jax.experiments.mislabels import InspectError, most_misaligned, resolve_epoch
from gwa_jax.experiments.results import RunResult
from gwa_jax.experiments.run_table import find_runs, grouped_rows, per_run_rows
from synthetic import write_run

SRC = Path(__file__).resolve().parents[1] / "src"

FACTORY = textwrap.dedent('''
    import flax.linen as nn
    import jax.numpy as jnp


    class MLP(nn.Module):
        num_classes: int
        width: int = 64

        @nn.compact
        def __call__(self, x, train: bool = False):
            z = nn.gelu(nn.Dense(self.width)(x.reshape(x.shape[0], -1))).astype(jnp.float32)
            self.sow("latent_embeddings", "x", z)
            return nn.Dense(self.num_classes, name="head",
                            kernel_init=nn.initializers.normal(0.02))(z)


    def mlp(num_classes):
        return MLP(num_classes)
''')

FAMILY = textwrap.dedent('''
    """Digits with an own MLP: gwa-sweep --config my_digits.py --grid noise=0,0.3 --root R"""
    from gwa_jax.config_base import default_config
    from gwa_jax.experiments import parse_arg


    def get_config(arg=None):
        a = parse_arg(arg, where="my_digits.py", noise=0.0, seed=0)
        c = default_config()
        c.seed = a.seed
        c.dataset.name = "digits"
        c.dataset.train_subset = 600
        c.dataset.label_noise.kind = "symmetric"
        c.dataset.label_noise.rate = a.noise
        c.model.name = "own_models:mlp"
        c.model.kwargs.width = 32
        c.augment.label_smoothing = 0.05
        c.optim.lr = 3e-3
        c.batch_size = 50
        c.eval_batch_size = 200
        c.total_steps = 72
        c.log_every_steps = 4
        c.checkpoint_every = 100
        return c
''')


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """(config file, module directory) of the family; the factory is importable here."""
    d = tmp_path_factory.mktemp("family")
    (d / "own_models.py").write_text(FACTORY)
    (d / "my_digits.py").write_text(FAMILY)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(d))
        mp.setenv("PYTHONPATH", os.pathsep.join([str(SRC), str(d),
                                                 os.environ.get("PYTHONPATH", "")]))
        yield d / "my_digits.py", d


@pytest.fixture(scope="module")
def swept(family, tmp_path_factory):
    """The family swept over noise=0,0.3 by gwa-sweep (two real gwa-train processes)."""
    config, _ = family
    root = tmp_path_factory.mktemp("runs")
    status = sweep_cli.main(["--config", str(config), "--grid", "noise=0,0.3",
                             "--root", str(root)])
    logs = {p.parent.name: p.read_text() for p in root.rglob("train.log")}
    assert status == 0, logs
    return root


# --- the grid -----------------------------------------------------------------------------


def test_grid_values_keys_and_product(family, tmp_path):
    assert split_values("0,0.2") == ["0", "0.2"]
    assert split_values("(1,1),(2,2)") == ["(1,1)", "(2,2)"]
    assert parse_grid(["noise=0,0.2", "config.optim.lr=1e-3"]) == [
        ("noise", [0, 0.2]), ("config.optim.lr", [0.001])]
    for bad, pattern in [("noise", "is not KEY=V1"), ("noise=0,,1", "malformed"),
                         ("config.=1", "names no config key")]:
        with pytest.raises(GridError, match=pattern):
            parse_grid([bad])
    with pytest.raises(GridError, match="given twice"):
        parse_grid(["seed=0", "seed=1"])
    config, _ = family
    runs = expand_grid(f"{config}:seed=4", ["noise=0,0.3", "config.optim.lr=0.001,0.003",
                                            "config.model.kwargs.width=(8),16"])
    assert len(runs) == 8  # 2 x 2 x 2, the last key fastest.
    first = runs[0]
    assert first.coordinates == {"seed": 4, "noise": 0, "optim.lr": 0.001,
                                 "model.kwargs.width": "(8)"}
    assert first.workdir(tmp_path) == (tmp_path / "my_digits" /
                                       "seed4_noise0_optim.lr0.001_model.kwargs.width-8")
    assert runs[1].name.endswith("model.kwargs.width16")
    cmd = first.command(tmp_path, ".")
    assert cmd[2] == f"{config}:seed=4,noise=0"
    assert cmd[5:] == ["--config.optim.lr=0.001", "--config.model.kwargs.width=(8)"]
    assert [r.coordinates["noise"] for r in runs if r.matches(["noise=0.3",
                                                               "optim.lr=0.003"])] == [0.3, 0.3]
    with pytest.raises(GridError, match="given both"):
        expand_grid(f"{config}:noise=0", ["noise=0.3"])
    with pytest.raises(GridError, match="does not exist"):
        expand_grid(str(tmp_path / "nope.py"), ["seed=0"])


def test_sweep_cli_dry_run_print_commands_and_one_line_errors(family, tmp_path, capsys):
    config, _ = family
    root = tmp_path / "runs"
    base = ["--config", str(config), "--root", str(root)]
    assert sweep_cli.main([*base, "--grid", "noise=0,0.3", "seed=0,1", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[-1] == "4 runs: 0 finished, 0 to resume, 4 to start"
    assert out[0].startswith("[1/4] would run: ") and ":noise=0,seed=0 --workdir " in out[0]
    assert not root.exists()  # A dry run writes nothing.

    # A finished run is skipped; --print-commands lists the others and records the grid.
    runs = expand_grid(str(config), ["noise=0,0.3"])
    write_run(runs[0].workdir(root), selected={"last": {"epoch": 1, "test_acc": 0.5}})
    assert sweep_cli.main([*base, "--grid", "noise=0,0.3", "--print-commands"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [" ".join(runs[1].command(root, "."))]
    manifest = read_manifest(root)
    assert manifest[runs[1].workdir(root).resolve()] == {"noise": 0.3}

    for grid, pattern in [(["nosie=0"], "unknown argument key 'nosie' \\(did you mean "
                                        "'noise'\\?\\)"),
                          (["config.optim.lrr=1"], "'config.optim.lrr' is not a key"),
                          (["noise=abc"], "not a valid float")]:
        assert sweep_cli.main([*base, "--grid", *grid, "--dry-run"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("gwa-sweep: error: ")
        assert __import__("re").search(pattern, err[0]), err[0]
    assert sweep_cli.main([*base, "--grid", "noise=0", "--only", "noise=0.5"]) == 2
    assert "no run of the grid matches" in capsys.readouterr().err


# --- the swept family: tables, figures, inspection --------------------------------------------


def _csv(path):
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


def test_sweep_trained_each_grid_point_with_its_config(family, swept, capsys):
    runs, unfinished = find_runs(swept)
    assert unfinished == 0
    assert [r.name for r in runs] == ["my_digits/noise0", "my_digits/noise0.3"]
    for run, noise in zip(runs, (0.0, 0.3), strict=True):
        cfg = run.result.config
        assert cfg["dataset"]["label_noise"]["rate"] == noise
        assert cfg["model"] == {**cfg["model"], "name": "own_models:mlp", "kwargs": {"width": 32}}
        assert run.grid == {"noise": noise}
        assert len(run.result.metrics) == 6  # 72 steps of 12 per epoch.
    assert runs[1].result.noisy() and not runs[0].result.noisy()
    # Progress lines in the (non-terminal) log: compile once, then every 4 steps.
    log = (swept / "my_digits" / "noise0" / "train.log").read_text()
    assert log.count("train step compiled") == 1
    assert "step 8/72 (epoch 1/6) | loss " in log and "images/s | ETA " in log
    assert "step 6/72" not in log
    # A second sweep finds every run finished and trains nothing.
    config, _ = family
    assert sweep_cli.main(["--config", str(config), "--grid", "noise=0,0.3", "--root",
                           str(swept)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[1/2] finished, skipped: ")
    assert lines[-1].startswith("sweep: 2 runs, 2 already finished, 0 failed")


def test_report_tables_match_metrics_by_hand(swept, tmp_path, capsys):
    out = tmp_path / "report"
    assert report_cli.main([str(swept), "--out", str(out), "--by", "noise"]) == 0
    rows = _csv(out / "runs.csv")
    noisy = RunResult.load(swept / "my_digits" / "noise0.3")
    test = [r["test_acc"] for r in noisy.metrics]
    best = int(np.argmax(test))  # First maximum, like the table.
    for criterion in ("gwa", "labelwave", "last"):
        row = next(r for r in rows if r["run"] == "my_digits/noise0.3"
                   and r["criterion"] == criterion)
        epoch = noisy.summary["selected"][criterion]["epoch"]
        acc = noisy.metrics[epoch - 1]["test_acc"]
        assert row["noise"] == "0.3" and int(row["epoch"]) == epoch
        assert float(row["test acc [%]"]) == pytest.approx(100 * acc, abs=0.006)
        assert int(row["best epoch"]) == best + 1
        assert float(row["regret [pp]"]) == pytest.approx(100 * (test[best] - acc), abs=0.011)
    grouped = _csv(out / "by_noise.csv")
    assert {(r["noise"], r["criterion"]) for r in grouped} >= {("0", "gwa"), ("0.3", "last")}
    assert all(r["runs"] == "1" for r in grouped)
    for name in ("runs.md", "runs.tex", "by_noise.md", "by_noise.tex", "command.txt",
                 "figures/fig3_alignment_vs_accuracy.png",
                 "figures/my_digits__noise0.3/fig2_training_curves.png",
                 "figures/my_digits__noise0.3/fig16_clean_vs_mislabelled.png",
                 "figures/my_digits__noise0/fig2_training_curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "figures" / "my_digits__noise0" / "fig16_clean_vs_mislabelled.png"
                ).exists()
    # One run, written where the user says; a config.json key groups as well.
    one = tmp_path / "one"
    assert report_cli.main([str(swept / "my_digits" / "noise0"), "--out", str(one), "--by",
                            "dataset.label_noise.rate", "--no-figures"]) == 0
    assert _csv(one / "by_dataset-label_noise-rate.csv")[0]["dataset.label_noise.rate"] == "0"
    assert not (one / "figures").exists()
    capsys.readouterr()
    assert report_cli.main([str(swept), "--out", str(one), "--by", "nosie"]) == 2
    assert capsys.readouterr().err.startswith("gwa-report: error: --by 'nosie'")


def test_report_without_finished_runs_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "root" / "a" / "config.json").write_text("{}")  # Started, never finished.
    for path, text in [(tmp_path / "root", "no finished run (a workdir with summary.json) "
                                           "under"),
                       (tmp_path / "nowhere", "does not exist")]:
        assert report_cli.main([str(path), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("gwa-report: error: ") and text in err[0]
    assert report_cli.main([str(tmp_path / "root"), "--out", str(tmp_path / "out")]) == 1
    assert "(1 unfinished)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_grouped_means_and_regret_by_hand(tmp_path):
    metrics = lambda accs: [{"epoch": e + 1, "step": e + 1, "test_acc": a}  # noqa: E731
                            for e, a in enumerate(accs)]
    for seed, (accs, stop) in enumerate([([0.5, 0.8, 0.7], 3), ([0.6, 0.9, 0.9], 1)]):
        write_run(tmp_path / f"s{seed}", metrics=metrics(accs),
                  config={"seed": seed, "dataset": {"name": "digits"}},
                  selected={"gwa": {"epoch": stop, "test_acc": accs[stop - 1]}})
    runs, _ = find_runs(tmp_path)
    header, rows = per_run_rows(runs, ["seed"])
    assert rows == [["0", "s0", "gwa", "3", "70.00", "2", "80.00", "10.00"],
                    ["1", "s1", "gwa", "1", "60.00", "2", "90.00", "30.00"]]
    header, rows = grouped_rows(runs, ["dataset.name"])
    # Test acc 70 and 60: mean 65, sample std 7.07; regret 10 and 30: 20 +- 14.14.
    assert rows == [["digits", "gwa", "2", "2.0", "65.00 ± 7.07", "20.00 ± 14.14"]]


def test_inspect_finds_the_mislabelled_samples(swept, tmp_path, capsys):
    workdir = swept / "my_digits" / "noise0.3"
    out = tmp_path / "inspect"
    assert inspect_cli.main([str(workdir), "--epoch", "gwa", "-k", "15", "--out", str(out),
                             "--per-class", "4"]) == 0
    run = RunResult.load(workdir)
    epoch = run.selected_epoch("gwa")
    rows = _csv(out / f"misaligned_epoch{epoch:04d}.csv")
    meta, scores = run.meta(), run.scores(epoch)
    ids = meta["ids"][np.isfinite(scores[meta["ids"]])]
    # Brute force: the 15 lowest scores, and their labels and noise flags from meta.npz.
    expect = ids[np.argsort(scores[ids], kind="stable")][:15]
    assert [int(r["id"]) for r in rows] == expect.tolist()
    assert [int(r["given_label"]) for r in rows] == meta["train_labels"][expect].tolist()
    assert [int(r["true_label"]) for r in rows] == meta["true_labels"][expect].tolist()
    assert [int(r["noisy"]) for r in rows] == meta["noise_mask"][expect].astype(int).tolist()
    report = json.loads((out / f"inspect_epoch{epoch:04d}.json").read_text())
    precision = meta["noise_mask"][expect].mean()
    assert report["precision_at_k"] == pytest.approx(precision)
    # The signal: far above the 30% a random pick gets.
    assert report["precision_at_k"] >= 0.8 and report["noise_rate"] == pytest.approx(0.3)
    assert report["auroc"] == pytest.approx(roc_auc_score(meta["noise_mask"][ids],
                                                          -scores[ids]), abs=1e-9)
    assert f"precision@15 {precision:.3f}" in capsys.readouterr().out
    for c in range(10):
        assert (out / f"misaligned_epoch{epoch:04d}_class{c}.png").stat().st_size > 0
    # Epoch by number and by 'last'; per-class picks stay in their class.
    assert resolve_epoch(run, "2") == 2 and resolve_epoch(run, "last") == 6
    per = most_misaligned(run, epoch, 5, classes=[3])
    assert set(per.given_labels.tolist()) == {3}


def test_inspect_errors_are_one_line(swept, tmp_path, capsys):
    workdir = swept / "my_digits" / "noise0.3"
    run = RunResult.load(workdir)
    with pytest.raises(InspectError, match="neither a number nor a criterion"):
        resolve_epoch(run, "gwaa")
    with pytest.raises(InspectError, match="no saved scores for epoch 99"):
        resolve_epoch(run, 99)
    for argv, text in [([str(workdir), "--epoch", "val"], "neither a number nor a criterion"),
                       ([str(tmp_path)], "holds no gwa-train run")]:
        assert inspect_cli.main([*argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("gwa-inspect: error: ") and text in err[0]


def test_console_scripts_are_declared():
    import tomllib

    scripts = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"gwa-train": "gwa_jax.cli.train:main", "gwa-sweep": "gwa_jax.cli.sweep:run",
                       "gwa-report": "gwa_jax.cli.report:run",
                       "gwa-inspect": "gwa_jax.cli.inspect:run"}
    for target in scripts.values():
        module, _, fn = target.partition(":")
        assert callable(getattr(__import__(module, fromlist=[fn]), fn))
    assert sys.executable  # The sweep starts gwa-train with this interpreter.


def test_paper_figure_script_exits_1_without_runs(tmp_path, capsys):
    import importlib.util

    path = SRC.parent / "scripts" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("_make_figures_own", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["fmnist_n", "--root", str(tmp_path / "none"), "--out",
                        str(tmp_path / "out"), "--only", "fig3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("make_figures: error: no figure of fmnist_n")
