"""The experiment layer on hand-made run directories: argument parsing, the sweep plan and
runner, table cells (means, ranges, bold / underline, relative mode, missing seeds), Table 2's
corruption groups, Table 4 from the configs, mislabel AUROC and the Fig. 3 correlations."""

from __future__ import annotations

import csv
import io
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.args import ArgError, format_arg, parse_arg
from gwa_jax.experiments.plan import PLANS, expand
from gwa_jax.experiments.reports import make_table
from gwa_jax.experiments.results import RunResult, auroc, correlation, mislabel_auroc
from gwa_jax.experiments.sweep import run_status, sweep
from scripts_loader import load_script
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"




# --- argument strings --------------------------------------------------------------------------


def test_parse_arg_types_and_defaults():
    a = parse_arg("noise=17%, split=0.01,seed=2,runlocal", noise=0.0, split=0.0, seed=0,
                  model="vit", runlocal=False, corrupted=True)
    assert (a.noise, a.split, a.seed, a.model, a.runlocal, a.corrupted) == (
        0.17, 0.01, 2, "vit", True, True)
    assert isinstance(a.seed, int) and isinstance(a.noise, float)
    assert parse_arg("corrupted=no", corrupted=True).corrupted is False
    assert dict(parse_arg(None, x=1)) == {"x": 1} and dict(parse_arg("", x=1)) == {"x": 1}
    assert format_arg({"noise": 0.0, "split": 0.01, "seed": 1, "ok": True}) == (
        "noise=0,split=0.01,seed=1,ok=true")
    again = parse_arg(format_arg({"noise": 0.09, "seed": 3}), noise=0.0, seed=0)
    assert (again.noise, again.seed) == (0.09, 3)


def test_parse_arg_errors_are_one_line():
    with pytest.raises(ArgError, match=r"cfg: unknown argument key 'sead' \(did you mean "
                                       r"'seed'\?\); valid keys: seed, noise"):
        parse_arg("sead=1", where="cfg", seed=0, noise=0.0)
    with pytest.raises(ArgError, match="given twice"):
        parse_arg("seed=1,seed=2", seed=0)
    with pytest.raises(ArgError, match="needs a value"):
        parse_arg("seed", seed=0)
    with pytest.raises(ArgError, match="not a valid bool"):
        parse_arg("flag=maybe", flag=False)
    with pytest.raises(ArgError, match="split=0.2 is not one of: 0.1, 0.01, 0"):
        parse_arg("split=0.2", choices={"split": (0.1, 0.01, 0.0)}, split=0.0)
    assert parse_arg("split=1%", choices={"split": (0.1, 0.01, 0.0)}, split=0.0).split == 0.01


# --- the sweep plan --------------------------------------------------------------------------


def test_plans_expand_to_the_paper_matrix():
    counts = {name: len(plan()) for name, plan in PLANS.items()}
    assert counts["table1_cifar10"] == 2 * 3 * 3 * 3
    assert counts["table1_imagenet"] == 2 * 3 * 3
    assert counts["table1"] == 72 and counts["table2"] == 18
    assert counts["table3"] == 3 * 3 * 3
    assert counts["table5"] == 24 + 2 * 4 * 2 * 3  # Table 1's 10% runs + 90/1, 90/0 runs.
    # 0% split: 6 seeds (OFFLINE_SEEDS); 10% and 1%: 3 (OFFLINE_VAL_SEEDS); 2 Fig. 6 runs.
    assert counts["fmnist_n"] == 2 * 4 * 6 + 2 * 4 * 2 * 3 + 2
    assert counts["fmnist_n_asym"] == 2 * 2 * 6 + 2 * 2 * 2 * 3
    assert counts["finetune_fmnist"] == 1 + 2 * 3 * 6
    fm = expand("fmnist_n")
    # The 0% split of every model, noise and seed is trained before any Val Set run.
    first_val = min(i for i, r in enumerate(fm) if r.split > 0)
    assert first_val == 2 * 4 * 6 and all(r.split == 0 for r in fm[:first_val])
    assert {r.seed for r in fm[:first_val]} == set(range(6))
    assert {r.seed for r in fm[first_val:] if r.role == "table"} == {0, 1, 2}
    assert {r.seed for r in expand("finetune_fmnist") if r.split > 0} == set(range(6))
    assert counts["paper"] == 72 + 27 + 48
    for name in PLANS:
        runs = expand(name)
        assert len({r.workdir("R") for r in runs}) == len(runs), name
    t5 = expand("table5")
    assert {r.config for r in t5 if r.split == 0.1} == {
        "table1_cifar10_vit", "table1_cifar10_convnext", "table1_imagenet_vit",
        "table1_imagenet_convnext"}
    with pytest.raises(ValueError, match="unknown table 'nope'"):
        expand("nope")


def test_run_workdir_command_and_filters(monkeypatch):
    monkeypatch.chdir(REPO)
    run = next(r for r in expand("fmnist_n") if r.model == "convnext" and r.variant ==
               "noise0.17" and r.split == 0.01 and r.seed == 1)
    assert run.arg == "model=convnext,noise=0.17,split=0.01,seed=1"
    assert run.workdir("runs") == Path("runs/fmnist_n/model-convnext_noise0.17_split0.01_seed1")
    assert run.command("runs", CONFIGS, overrides=["dataset.data_dir=/d"]) == [
        "gwa-train", "--config", "configs/fmnist_n.py:model=convnext,noise=0.17,split=0.01,seed=1",
        "--workdir", "runs/fmnist_n/model-convnext_noise0.17_split0.01_seed1",
        "--config.dataset.data_dir=/d"]
    cifar = next(r for r in expand("table1_cifar10") if r.model == "vit" and r.seed == 2
                 and r.split == 0 and r.variant == "noise0.09")
    assert cifar.command("runs", CONFIGS)[2:] == [
        "configs/table1_cifar10_vit.py:noise=0.09,split=0,seed=2", "--workdir",
        "runs/table1_cifar10_vit/noise0.09_split0_seed2"]
    assert run.matches(["model=convnext", "split=0.01,0", "noise=0.17"])
    assert not run.matches(["seed=0"]) and not run.matches(["offline=1"])
    assert run.matches(["convnext_noise0.17"]) and not run.matches(["vit_noise"])
    sel = [r for r in expand("fmnist_n") if r.matches(["role=fig6"])]
    assert [r.arg for r in sel] == ["model=vit,noise=0,split=0,seed=0,offline=1",
                                   "model=convnext,noise=0,split=0,seed=0,offline=1"]


def test_sweep_dry_run_and_print_commands_skip_finished(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    script = load_script("sweep")
    root = tmp_path / "runs"
    runs = [r for r in expand("fmnist_n")
            if r.matches(["model=vit", "noise=0", "split=0", "seed=0,1,2"]) and r.role == "table"]
    assert [r.seed for r in runs] == [0, 1, 2]
    write_run(runs[0].workdir(root), selected={"last": {"epoch": 1, "test_acc": 0.5}})
    runs[1].workdir(root).mkdir(parents=True)
    (runs[1].workdir(root) / "config.json").write_text("{}")
    assert [run_status(r, root) for r in runs] == ["done", "partial", "new"]

    only = ["--only", "model=vit", "noise=0", "split=0", "seed=0,1,2", "role=table",
            "--root", str(root)]
    assert script.main(["fmnist_n", "--dry-run", *only]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1/3] finished, skipped: ")
    assert out[1].startswith("[2/3] would resume: gwa-train --config configs/fmnist_n.py:"
                             "model=vit,noise=0,split=0,seed=1 --workdir ")
    assert out[2].startswith("[3/3] would run: ")
    assert out[3] == "3 runs: 1 finished, 1 to resume, 1 to start"
    assert not runs[2].workdir(root).exists()

    assert script.main(["fmnist_n", "--print-commands", *only]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [" ".join(r.command(root, CONFIGS)) for r in runs[1:]]
    assert script.main(["fmnist_n", "--dry-run", "--only", "model=resnet"]) == 2


FAKE_TRAIN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    workdir = Path(sys.argv[sys.argv.index("--workdir") + 1])
    print("fake gwa-train", sys.argv[1:])
    if "seed1" in workdir.name:
        print("gwa-train: error: simulated failure", file=sys.stderr)
        sys.exit(2)
    (workdir / "summary.json").write_text(json.dumps({"selected": {}}))
""")


def test_sweep_runs_everything_and_reports_failures(tmp_path, monkeypatch):
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    monkeypatch.setattr("gwa_jax.experiments.sweep.python_executable",
                        lambda: [sys.executable, str(fake)])
    root = tmp_path / "runs"
    runs = [r for r in expand("fmnist_n") if r.matches(["model=convnext", "noise=0.4",
                                                        "split=0.1", "seed=0,1,2"])]
    out = io.StringIO()
    failed = sweep(runs, root, CONFIGS, out=out)
    assert failed == 1
    assert [run_status(r, root) for r in runs] == ["done", "new", "done"]
    log = (runs[1].workdir(root) / "train.log").read_text()
    assert "simulated failure" in log and "--config" in log
    text = out.getvalue()
    assert "[2/3] FAILED (exit 2)" in text and "simulated failure" in text
    assert "3 runs, 0 already finished, 1 failed" in text
    # A second sweep skips the finished runs and retries the failed one only.
    out = io.StringIO()
    assert sweep(runs, root, CONFIGS, out=out) == 1
    assert out.getvalue().count("finished, skipped") == 2


# --- table cells -----------------------------------------------------------------------------

VIT17 = {0.1: {"val": (0.80, 0.82, 0.81)}, 0.01: {"val": (0.79, 0.80, 0.78)},
         0.0: {"labelwave": (0.83, 0.83, 0.83), "gd": (0.70, 0.75, 0.72),
               "gwa": (0.84, 0.82, 0.86), "last": (0.76, 0.78, 0.77)}}
VIT0 = {0.1: {"val": (0.85, 0.85, 0.85)}, 0.01: {"val": (0.83, 0.83, 0.83)},
        0.0: {"labelwave": (0.84, 0.84, 0.84), "gd": (0.80, 0.80, 0.80),
              "gwa": (0.85, 0.85, 0.85), "last": (0.84, 0.845, 0.85)}}


def make_fmnist_root(root: Path) -> None:
    """Known test accuracies for ViT at 0% and 17% noise (seeds 3-5 repeat seeds 0-2, so the
    means and ranges are those of the three values) and two seeds of a ConvNeXt cell."""
    for run in expand("fmnist_n"):
        if run.role != "table":
            continue
        spec = {("vit", "noise0.17"): VIT17, ("vit", "noise0"): VIT0}.get((run.model,
                                                                           run.variant))
        if spec is not None:
            sel = {c: {"epoch": 2 + i, "test_acc": v[run.seed % 3]}
                   for i, (c, v) in enumerate(spec[run.split].items())}
            mean = 0.1 + 0.01 * (run.seed % 3) + (0.05 if run.variant == "noise0" else 0.0)
            write_run(run.workdir(root), selected=sel, max_align_mean=mean)
        elif (run.model, run.variant, run.split) == ("convnext", "noise0", 0.1) and run.seed < 2:
            write_run(run.workdir(root), selected={"val": {"epoch": 3, "test_acc": [0.9, 0.92][
                run.seed]}})


def md_row(md: str, label: str) -> list[str]:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_table_cells_means_ranges_bold_and_missing(tmp_path):
    make_fmnist_root(tmp_path)
    spec = T.table_specs()["fmnist_n"]
    results, planned = T.collect(spec.plan, tmp_path)
    # ViT 0% and 17% (6 seeds at 0%, 3 each at 10% and 1%), 2 ConvNeXt runs.
    assert len(results) == 12 + 12 + 2
    cells = T.build_cells(spec, results, planned)
    col17 = [c.variant for c in spec.columns].index("noise0.17")
    gwa = cells[4][col17]
    assert gwa.values == pytest.approx([84.0, 82.0, 86.0] * 2) and gwa.expected == 6
    assert (gwa.mean, gwa.range) == pytest.approx((84.0, 4.0))
    md = T.to_markdown(spec, cells)
    assert md_row(md, "Val Set (10%)")[col17] == "81.00 (2.00)"
    assert md_row(md, "Val Set (1%)")[col17] == "79.00 (2.00)"
    assert md_row(md, "LabelWave")[col17] == "<u>83.00</u> (0.00)"
    assert md_row(md, "GD")[col17] == "72.33 (5.00)"
    assert md_row(md, "GWA")[col17] == "**84.00** (4.00)"
    # Ties share the mark: Val 10% and GWA both 85.00 at 0% noise; LabelWave second.
    assert md_row(md, "Val Set (10%)")[0] == "**85.00** (0.00)"
    assert md_row(md, "GWA")[0] == "**85.00** (0.00)"
    assert md_row(md, "LabelWave")[0] == "<u>84.00</u> (0.00)"
    # ConvNeXt 0%: two of three seeds, only the Val 10% row -> bold with a '*'; rest missing.
    cn0 = next(j for j, c in enumerate(spec.columns) if c.model == "convnext"
               and c.variant == "noise0")
    assert md_row(md, "Val Set (10%)")[cn0] == "**91.00** (2.00)*"
    assert md_row(md, "GWA")[cn0] == "–"
    assert "* fewer finished seeds than planned." in md and "– no finished run." in md
    tex = T.to_latex(spec, cells)
    assert r"\textbf{84.00} {\scriptsize (4.00)}" in tex
    assert r"\underline{83.00}" in tex and r"Val Set (10\%)" in tex
    assert r"\multicolumn{4}{c}{ViT}" in tex


def test_relative_mode_reports_differences_to_the_10_percent_row(tmp_path):
    make_fmnist_root(tmp_path)
    spec = T.table_specs()["fmnist_n"]
    results, planned = T.collect(spec.plan, tmp_path)
    cells = T.build_cells(spec, results, planned)
    md = T.to_markdown(spec, cells, relative=True)
    col17 = [c.variant for c in spec.columns].index("noise0.17")
    assert md_row(md, "Val Set (10%)")[col17] == "81.00 (2.00)"
    assert md_row(md, "Val Set (1%)")[col17] == "-2.00 (2.00)"
    assert md_row(md, "LabelWave")[col17] == "<u>+2.00</u> (0.00)"
    assert md_row(md, "GD")[col17] == "-8.67 (5.00)"
    assert md_row(md, "GWA")[col17] == "**+3.00** (4.00)"
    rows = list(csv.DictReader(io.StringIO(T.to_csv(spec, cells, relative=True))))
    gd = next(r for r in rows if r["row"] == "GD" and r["variant"] == "noise0.17"
              and r["model"] == "vit")
    assert float(gd["mean"]) == pytest.approx(72.3333, abs=1e-3)
    assert float(gd["difference_to_reference"]) == pytest.approx(-8.6667, abs=1e-3)
    assert gd["n_seeds"] == "6" and gd["values"] == "70;75;72;70;75;72"
    gwa = next(r for r in rows if r["row"] == "GWA" and r["variant"] == "noise0.17"
               and r["model"] == "vit")
    assert gwa["rank"] == "1"


def test_make_table_writes_markdown_csv_latex_and_extras(tmp_path, capsys):
    root = tmp_path / "runs"
    make_fmnist_root(root)
    out = tmp_path / "results"
    script = load_script("make_tables")
    assert script.main(["fmnist_n", "--root", str(root), "--out", str(out), "--relative"]) == 0
    d = out / "fmnist_n"
    for stem in ("table1_relative", "fig3_correlation"):
        for suffix in (".md", ".csv", ".tex"):
            assert (d / f"{stem}{suffix}").stat().st_size > 0, stem + suffix
    assert "make_tables.py fmnist_n" in (d / "command.txt").read_text()
    corr = list(csv.reader(io.StringIO((d / "fig3_correlation.csv").read_text())))
    assert corr[0][:3] == ["Model", "runs", "Pearson r"] and corr[1][:2] == ["ViT", "12"]
    # No run has alignment files here, so no AUROC table is written.
    assert not (d / "mislabel_auroc.md").exists()
    assert script.main(["table3", "--root", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("make_tables: error: table3: no finished run")
    assert not (out / "table3").exists()


def test_run_overview_counts_undefined_gwa_and_finds_the_best_epoch(tmp_path):
    """Two 0%-split runs with hand-written metrics: NaN GWA epochs are counted, the lowest
    kurtosis and the hindsight-best epoch are read from metrics.jsonl; 10%-split runs and
    runs without metrics rows stay out or show '–'."""
    runs = {(r.model, r.variant, r.split, r.seed): r for r in expand("fmnist_n")
            if r.role == "table"}
    test_acc = [0.50, 0.62, 0.71, 0.69, 0.66]
    gwa = [0.1, None, 0.3, None, None]
    kurt = [0.4, -1.25, -0.2, -1.3, -1.21]
    gwa_se = [0.01, None, 0.25, None, None]  # Epoch 3's GWA 0.3 - 0.25 <= epoch 1's 0.1.
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "gwa": g, "align_kurtosis": k,
             "test_acc": a, "align_mean": 0.1, "gwa_se": se} for e, (g, k, a, se) in enumerate(
                 zip(gwa, kurt, test_acc, gwa_se, strict=True))]
    sel = {"gwa": {"epoch": 3, "test_acc": 0.71}, "labelwave": {"epoch": 5, "test_acc": 0.66},
           "last": {"epoch": 5, "test_acc": 0.66}}
    write_run(runs[("vit", "noise0.4", 0.0, 1)].workdir(tmp_path), selected=sel, metrics=rows)
    write_run(runs[("convnext", "noise0", 0.0, 0)].workdir(tmp_path),
              selected={"last": {"epoch": 1, "test_acc": 0.5}})
    write_run(runs[("vit", "noise0.4", 0.1, 0)].workdir(tmp_path),
              selected={"val": {"epoch": 2, "test_acc": 0.6}}, metrics=rows)
    spec = T.table_specs()["fmnist_n"]
    results, _ = T.collect(spec.plan, tmp_path)
    header, table = T.run_overview_rows(spec, results)
    assert header[:6] == ["Model", "Data", "Seed", "Epochs", "GWA undefined", "min kurtosis"]
    assert len(table) == 2
    vit, convnext = table
    assert vit[:6] == ["ViT", "F-MNIST 40%", "1", "5", "3/5", "-1.30"]
    assert vit[6:] == ["3 (71.00)", "5 (66.00)", "–", "5 (66.00)", "3 (71.00)", "2"]
    assert convnext[:6] == ["ConvNeXt", "F-MNIST 0%", "0", "0", "0/0", "–"]
    assert convnext[-3:] == ["1 (50.00)", "–", "–"]
    written = make_table("fmnist_n", tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "fmnist_n" / "runs_overview.md").read_text()
    assert tmp_path / "out" / "fmnist_n" / "runs_overview.csv" in written
    assert "| ViT | F-MNIST 40% | 1 | 5 | 3/5 | -1.30 |" in md
    # The same runs as one study's exported folders (<root>/<name>) give the same tables.
    flat = tmp_path / "exported"
    shutil.copytree(tmp_path / "fmnist_n", flat)
    make_table("fmnist_n", flat, tmp_path / "out_flat")
    for path in written:
        other = tmp_path / "out_flat" / "fmnist_n" / path.name
        assert other.read_text() == path.read_text(), path.name


def test_online_offline_numbers_match_scipy_and_skip_runs_without_offline(tmp_path):
    rng = np.random.default_rng(0)
    on = rng.normal(size=12)
    off = on + 0.5 * rng.normal(size=12)
    mean_on = rng.normal(size=12)
    mean_off = mean_on + 0.1 * rng.normal(size=12)
    kurt = np.linspace(-0.9, 0.3, 12)
    rows = [{"epoch": e + 1, "gwa": float(on[e]), "gwa_offline": float(off[e]),
             "align_mean": float(mean_on[e]), "align_mean_offline": float(mean_off[e]),
             "align_kurtosis_offline": float(kurt[e])} for e in range(12)]
    rows[3]["gwa"] = None  # An undefined online epoch drops out of the GWA pair only.
    fig6 = {r.model: r for r in expand("fmnist_n") if r.role == "fig6"}
    write_run(fig6["vit"].workdir(tmp_path), selected={"last": {"epoch": 12, "test_acc": 0.5}},
              metrics=rows, config={"gwa": {"beta": 1.0}})
    write_run(fig6["convnext"].workdir(tmp_path),
              selected={"last": {"epoch": 1, "test_acc": 0.5}},
              metrics=[{"epoch": 1, "gwa": 0.1, "align_mean": 0.2}])
    runs = [(m, RunResult.load(r.workdir(tmp_path))) for m, r in fig6.items()]
    header, table = T.online_offline_rows(runs)
    assert header[3:5] == ["Pearson GWA", "Pearson mean alignment"] and len(table) == 1
    keep = np.arange(12) != 3
    assert table[0][:3] == ["ViT", fig6["vit"].workdir(tmp_path).name, "11"]
    assert float(table[0][3]) == pytest.approx(stats.pearsonr(on[keep], off[keep])[0],
                                               abs=5e-4)
    assert float(table[0][4]) == pytest.approx(stats.pearsonr(mean_on, mean_off)[0], abs=5e-4)
    assert table[0][5] == "0.10 to 1.30"
    make_table("fmnist_n", tmp_path, tmp_path / "out")
    md = (tmp_path / "out" / "fmnist_n" / "online_offline.md").read_text()
    assert "| ViT |" in md and "| ConvNeXt |" not in md


# --- Table 2, Table 4 ---------------------------------------------------------------------------


def test_table2_groups_corruptions_and_reports_differences(tmp_path):
    cifar = {"gaussian_noise_1": 0.6, "shot_noise_5": 0.4, "glass_blur_3": 0.7,
             "fog_2": 0.8, "pixelate_4": 0.9}
    shift = {0.1: 0.0, 0.01: -0.02, 0.0: 0.03}
    kind = {0.1: "best_val", 0.01: "best_val", 0.0: "best_gwa"}
    for run in expand("table2"):
        if run.seed != 0:
            continue
        prefix = "cifar10_corrupted" if run.variant == "noise0" else "imagenet2012_corrupted"
        accs = {f"{prefix}/{k}": v + shift[run.split] for k, v in cifar.items()}
        sel = {"val": {"epoch": 1, "test_acc": 0.5}} if run.split else {
            "gwa": {"epoch": 1, "test_acc": 0.5}}
        write_run(run.workdir(tmp_path), selected=sel, final_eval={kind[run.split]: accs})
    spec = T.table_specs()["table2"]
    results, planned = T.collect(spec.plan, tmp_path)
    cells = T.build_cells(spec, results, planned)
    labels = [c.label for c in spec.columns]
    assert labels == ["Blur", "Digital", "Noise", "Weather"] * 2
    assert [c.mean for c in cells[0]] == pytest.approx([70, 90, 50, 80] * 2)
    md = T.to_markdown(spec, cells, relative=True)
    assert md_row(md, "Val Set (10%)")[:4] == ["<u>70.00</u> (0.00)*", "<u>90.00</u> (0.00)*",
                                               "<u>50.00</u> (0.00)*", "<u>80.00</u> (0.00)*"]
    assert md_row(md, "Val Set (1%)")[2] == "-2.00 (0.00)*"
    assert md_row(md, "GWA")[2] == "**+3.00** (0.00)*"
    r = RunResult.load(next(r for r in expand("table2") if r.split == 0 and r.seed == 0
                            and r.variant == "noise0").workdir(tmp_path))
    assert r.value("gwa", "corruption:Noise") == pytest.approx(0.53)
    assert r.value("val", "corruption:Noise") is None


def test_table4_is_read_from_the_configs(tmp_path):
    written = make_table("table4", tmp_path, tmp_path / "out", configs_dir=CONFIGS)
    md = next(p for p in written if p.suffix == ".md").read_text()
    assert md_row(md, "LR")[:5] == ["0.001", "0.0001", "0.001", "0.001", "(0.01, 0.05, 0.01)"]
    assert md_row(md, "Iterations")[:5] == ["9000", "35000", "112650", "112650",
                                            "(26000, 17500, 37500)"]
    assert md_row(md, "Optimizer")[:5] == ["Adam", "Adam", "AdamW", "AdamW", "SGD"]
    assert md_row(md, "RandAug")[:5] == ["1", "1", "10", "10", "(0, 2, 0)"]
    assert md_row(md, "Mixup")[:5] == ["0.0", "0.0", "0.2", "0.2", "(0.0, 0.1, 0.0)"]
    assert md_row(md, "Warmup Steps")[:5] == ["-", "-", "10000", "10000", "500"]
    assert md_row(md, "Batch Size")[:5] == ["512", "256", "1024", "1024", "512"]
    assert md_row(md, "Grad Clip Norm")[:5] == ["-", "-", "1", "1", "1"]


# --- AUROC and correlations ------------------------------------------------------------------


def test_auroc_rank_formula():
    # -score: positives {0.2, -0.15}, negatives {-0.3, -0.1, -0.2, 0.1}: 6 of 8 pairs.
    scores = np.array([0.3, 0.1, 0.2, -0.1, -0.2, 0.15])
    noisy = np.array([0, 0, 0, 0, 1, 1], bool)
    assert auroc(-scores, noisy) == pytest.approx(0.75)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, size=200).astype(float)  # Many ties.
    y = rng.random(200) < 0.3
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auroc([1.0, 2.0], [False, False]))


def test_mislabel_auroc_at_the_gwa_epoch(tmp_path):
    meta = {"ids": np.arange(6), "noise_mask": np.array([0, 0, 0, 0, 1, 1, 0, 1], bool),
            "true_labels": np.zeros(8, np.int32), "train_labels": np.zeros(8, np.int32),
            "split": np.array([0] * 6 + [2, 2], np.int8)}
    nan = np.nan
    scores = {2: np.array([0.3, 0.1, 0.2, -0.1, -0.2, 0.15, nan, nan]),
              3: np.array([0.1, 0.1, 0.1, 0.1, -0.3, -0.5, nan, nan])}
    run = next(r for r in expand("fmnist_n") if r.model == "vit" and r.variant == "noise0.4"
               and r.split == 0 and r.seed == 0)
    write_run(run.workdir(tmp_path), meta=meta, scores=scores,
              selected={"gwa": {"epoch": 2, "test_acc": 0.7}, "last": {"epoch": 3,
                                                                      "test_acc": 0.6}})
    result = RunResult.load(run.workdir(tmp_path))
    assert result.noisy() and result.score_epochs() == [2, 3]
    assert mislabel_auroc(result, 2) == pytest.approx(0.75)
    assert mislabel_auroc(result, 3) == pytest.approx(1.0)
    assert mislabel_auroc(result, 7) is None
    spec = T.table_specs()["fmnist_n"]
    results, planned = T.collect(spec.plan, tmp_path)
    aspec = T.auroc_spec(spec, results)
    assert [c.variant for c in aspec.columns] == ["noise0.4"]
    cells = T.build_cells(aspec, results, planned)
    md = T.to_markdown(aspec, cells)
    assert md_row(md, "ViT GWA epoch") == ["0.750 (0.000)*"]
    assert md_row(md, "ViT last epoch") == ["1.000 (0.000)*"]


def test_correlation_matches_scipy(tmp_path):
    x = [0.10, 0.14, 0.12, 0.20, 0.18]
    y = [0.70, 0.74, 0.75, 0.83, 0.80]
    c = correlation(x, y)
    assert c["n"] == 5
    assert c["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert c["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert c["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert c["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert np.isnan(correlation([1, 2], [3, 4])["pearson"])
    assert np.isnan(correlation([1, 1, 1], [3, 4, 5])["spearman"])
    # Through the run directories: max_align_mean vs the last epoch's test accuracy.
    make_fmnist_root(tmp_path)
    results, _ = T.collect("fmnist_n", tmp_path)
    header, rows, raw = T.correlation_rows(results)
    xs, ys = [], []
    for (model, _v, _s, _seed), r in sorted(results.items()):
        if model == "vit" and r.value("last") is not None:
            xs.append(r.max_align_mean)
            ys.append(r.value("last"))
    assert raw["vit"]["n"] == 12 == len(xs)
    assert raw["vit"]["pearson"] == pytest.approx(stats.pearsonr(xs, ys).statistic)
    assert raw["vit"]["spearman"] == pytest.approx(stats.spearmanr(xs, ys).statistic)
    assert rows[0][0] == "ViT" and rows[-1][0] == "all"


def test_a_mean_prints_the_same_in_the_table_and_read_back_from_the_csv():
    """Six test accuracies logged as float32 (0.5529 -> 0.55290001630783) whose exact mean,
    57.485 points, ends in 5: the table's text and the CSV's value (``.6g``) read back and
    printed with two decimals agree, as they did not before the values were rounded."""
    from gwa_jax.experiments.tables import VALUE_DECIMALS, Cell, _num

    logged = [float(np.float32(x)) for x in (0.5529, 0.5838, 0.5796, 0.5857, 0.5313, 0.6158)]
    assert f"{np.mean([100 * x for x in logged]):.2f}" == "57.49"  # the float32 noise
    cell = Cell([100 * round(x, VALUE_DECIMALS) for x in logged], 6)
    assert cell.values[0] == 100 * 0.5529
    assert f"{cell.mean:.2f}" == f"{float(_num(cell.mean)):.2f}" == "57.48"
