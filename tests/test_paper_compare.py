"""Our cells beside the paper's (gwa_jax.experiments.paper_compare) on a synthetic sweep with
hand-computed expectations, and scripts/make_tables.py printing the side-by-side."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.paper_compare import compare_cells, comparison_markdown
from gwa_jax.experiments.plan import expand
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]

# ViT CIFAR-10 0%: per split, criterion -> test accuracy per seed.
VIT0 = {0.1: {"val": (0.80, 0.81, 0.82)},            # Val Set (10%): 81.00, paper 81.10 (1.14)
        0.01: {"val": (0.70, 0.70, 0.70)},           # Val Set (1%): 70.00, paper 79.99 (1.25)
        0.0: {"labelwave": (0.81, 0.81, 0.81),       # LabelWave: 81.00, paper 81.00 (1.28)
              "gwa": (0.78, 0.79, 0.80)}}            # GWA: 79.00, paper 81.57 (0.96); no GD


def make_root(root: Path) -> None:
    for run in expand("table1_cifar10"):
        if run.role != "table" or (run.model, run.variant) != ("vit", "noise0"):
            continue
        sel = {c: {"epoch": 3 + k, "test_acc": accs[run.seed]}
               for k, (c, accs) in enumerate(VIT0[run.split].items())}
        write_run(run.workdir(root), selected=sel)


def find(rows, row, model="vit", group="CIFAR-10", column="0%"):
    return next(r for r in rows if (r.row, r.model, r.column_group, r.column)
                == (row, model, group, column))


def test_compare_cells_on_a_synthetic_sweep(tmp_path):
    make_root(tmp_path)
    spec = T.table_specs()["table1_cifar10"]
    results, planned = T.collect(spec.plan, tmp_path)
    rows = compare_cells("table1_cifar10", spec, T.build_cells(spec, results, planned))
    assert len(rows) == 5 * 6  # Every cell of the CIFAR-10 half of the paper's Table 1.
    val10 = find(rows, "Val Set (10%)")
    assert (val10.ours, val10.paper, val10.spread) == pytest.approx((81.0, 81.10, 1.14))
    assert val10.delta == pytest.approx(0.10) and not val10.flagged and val10.n_seeds == 3
    gwa = find(rows, "GWA")
    assert gwa.ours == pytest.approx(79.0) and gwa.delta == pytest.approx(2.57)
    assert gwa.flagged  # 2.57 > the paper's spread 0.96.
    val1 = find(rows, "Val Set (1%)")
    assert val1.delta == pytest.approx(9.99) and val1.flagged
    lw = find(rows, "LabelWave")
    assert lw.delta == 0 and not lw.flagged
    gd = find(rows, "GD")  # No GD selection in the runs: nothing to compare, not flagged.
    assert gd.ours is None and gd.delta is None and not gd.flagged and gd.paper == 79.22
    other = find(rows, "GWA", model="convnext", column="17%")
    assert other.ours is None and other.paper == 82.55

    md = comparison_markdown("table1_cifar10", rows, command="make_tables.py table1_cifar10")
    assert "4 of 30 cells have runs; 2 of 4 with a paper spread differ by more than it." in md
    assert "| GWA | ViT CIFAR-10 0% | 79.00 | 81.57 | 2.57 | 0.96 | **yes** |" in md
    assert "| Val Set (10%) | ViT CIFAR-10 0% | 81.00 | 81.10 | 0.10 | 1.14 | no |" in md
    assert "| GD | ViT CIFAR-10 0% | – | 79.22 | – | 11.00 | – |" in md


def test_relative_rows_compare_differences_and_cannot_be_flagged_without_a_spread():
    """Table 5 prints 90/1 and 90/0 as differences to 90/10 without spreads."""
    spec = T.table_specs()["table5"]
    values = {("90/10", "vit", "noise0"): [81.0, 82.0, 80.0],   # mean 81.00, paper 81.10
              ("90/1", "vit", "noise0"): [80.5, 80.5, 80.5],    # -0.50 vs paper -0.07
              ("90/0", "vit", "noise0"): [82.0, 82.0, 82.0]}    # +1.00 vs paper -0.12
    cells = [[T.Cell(list(values.get((row.label, row.model, col.variant), [])), 3)
              for col in spec.columns] for row in spec.rows]
    rows = compare_cells("table5", spec, cells)
    assert len(rows) == 6 * 4
    ref = find(rows, "90/10")
    assert ref.relative_to is None and ref.delta == pytest.approx(0.10) and ref.spread is None
    r1 = find(rows, "90/1")
    assert r1.relative_to == "90/10" and r1.ours == pytest.approx(-0.5)
    assert r1.paper == -0.07 and r1.delta == pytest.approx(0.43) and not r1.flagged
    r0 = find(rows, "90/0")
    assert r0.ours == pytest.approx(1.0) and r0.delta == pytest.approx(1.12)
    # A relative row without our reference row has nothing to compare.
    assert find(rows, "90/1", model="convnext").ours is None
    md = comparison_markdown("table5", rows)
    assert "| 90/0 | ViT CIFAR-10 0% | +1.00 | -0.12 | 1.12 | – | – |" in md
    assert "3 of 24 cells have runs; 0 of 0 with a paper spread" in md


def test_unknown_family_is_refused():
    spec = T.table_specs()["fmnist_n"]
    with pytest.raises(KeyError, match="fmnist_n: the paper prints no numbers"):
        compare_cells("fmnist_n", spec, [])


def load_make_tables():
    spec = importlib.util.spec_from_file_location("_make_tables", REPO / "scripts" /
                                                  "make_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_tables_prints_ours_beside_the_papers(tmp_path, capsys):
    root, out = tmp_path / "runs", tmp_path / "results"
    make_root(root)
    script = load_make_tables()
    assert script.main(["table1_cifar10", "--root", str(root), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "table1_cifar10 beside the paper's Table 1 (Sec. 4.1)" in stdout
    assert "| GWA | ViT CIFAR-10 0% | 79.00 | 81.57 | 2.57 | 0.96 | **yes** |" in stdout
    assert "| Val Set (10%) | ViT CIFAR-10 0% | 81.00 | 81.10 | 0.10 | 1.14 | no |" in stdout
    written = (out / "table1_cifar10" / "paper_comparison.md").read_text()
    assert written in stdout and "make_tables.py table1_cifar10" in written
    # --no-paper: no comparison; tables without paper numbers never get one.
    assert script.main(["table1_cifar10", "--root", str(root), "--out", str(tmp_path / "o2"),
                        "--no-paper"]) == 0
    assert "beside the paper" not in capsys.readouterr().out
    assert not (tmp_path / "o2" / "table1_cifar10" / "paper_comparison.md").exists()
