"""The paper's Tables 1, 2, 3 and 5 as transcribed in gwa_jax.experiments.paper_numbers:
shapes counted from the paper, the best / second-best marks recomputed from the numbers, and
the numbers checked against the claims the paper's text makes about them."""

from __future__ import annotations

import numpy as np
import pytest

from gwa_jax.experiments import paper_numbers as P


def test_tables_have_the_papers_shape():
    # Table 1: 5 Early Stop rows x (2 models x (3 CIFAR noise levels + ImageNet Val/V2/ReaL)).
    assert P.TABLE1.shape == (5, 12)
    # Table 2: Val 10% / Val 1% / GWA x (CIFAR-C, ImageNet-C) x 4 corruption groups.
    assert P.TABLE2.shape == (3, 8)
    # Table 3: Val 10% / Val 1% / GWA x (ImageNet Val/V2/ReaL, iNat18, Places365).
    assert P.TABLE3.shape == (3, 5)
    # Table 5: 2 models x (90/10, 90/1, 90/0) x (CIFAR-10 0/9/17%, ImageNet-1k).
    assert P.TABLE5.shape == (6, 4)
    assert set(P.PAPER_TABLES) == {"table1", "table2", "table3", "table5"}
    for t in P.PAPER_TABLES.values():
        assert all(len(line) == len(t.columns) for line in t.cells)
        assert len(set(t.columns)) == len(t.columns)


def test_spreads_where_the_paper_prints_them():
    for t in (P.TABLE1, P.TABLE3):
        assert all(c.spread is not None and c.spread >= 0 for line in t.cells for c in line)
    for t in (P.TABLE2, P.TABLE5):
        assert all(c.spread is None for line in t.cells for c in line)
    assert P.TABLE1.cell("GD", ("vit", "ImageNet-1k", "Val")).spread == 13.65
    assert P.TABLE1.cell("GD", ("vit", "CIFAR-10", "0%")).spread == 11.0


def test_rule_marks_tie_rule():
    assert P.rule_marks([81.10, 79.99, 81.00, 79.22, 81.57]) == [2, 0, 0, 0, 1]
    # Ties share the mark; the second best is the next distinct value.
    assert P.rule_marks([71.24, 71.60, 71.23, 71.23, 71.25]) == [0, 1, 0, 0, 2]
    assert P.rule_marks([1.0, 1.0, 0.5]) == [1, 1, 2]
    assert P.rule_marks([0.5, 0.5]) == [1, 1]
    assert P.rule_marks([80.004, 80.0, 79.0]) == [1, 1, 2]  # Ranked at two decimals.


def test_visible_marks_match_the_marks_recomputed_from_the_numbers():
    visible = [(t.name, i, j, c.mark) for t in P.PAPER_TABLES.values()
               for i, line in enumerate(t.cells) for j, c in enumerate(line) if c.mark]
    # The text source keeps one mark: ConvNeXt ImageNet-1k V2, GWA 58.62 underlined.
    assert visible == [("table1", 4, 10, 2)]
    assert P.TABLE1.columns[10] == P.PaperColumn("convnext", "ImageNet-1k", "V2")
    for t in P.PAPER_TABLES.values():
        recomputed = P.table_rule_marks(t)
        for i, line in enumerate(t.cells):
            for j, c in enumerate(line):
                if c.mark:
                    assert recomputed[i][j] == c.mark, (t.name, i, j)
    assert not P.MARKS_COMPLETE
    # Only Table 1's caption defines marks.
    assert [t.name for t in P.PAPER_TABLES.values() if t.marked] == ["table1"]
    assert not any(any(line) for line in P.table_rule_marks(P.TABLE3))


def test_table1_marks_by_the_captions_rule():
    marks = np.array(P.table_rule_marks(P.TABLE1))
    gwa = P.TABLE1.row_index("GWA")
    # GWA is best in 7 of 12 columns (all of ViT's CIFAR-10 and V2, ConvNeXt 9%).
    assert marks[gwa].tolist() == [1, 1, 1, 2, 1, 2, 0, 1, 2, 2, 2, 2]
    val1 = P.TABLE1.row_index("Val Set (1%)")
    assert marks[val1].tolist() == [0, 2, 0, 1, 2, 1, 1, 2, 1, 1, 1, 1]
    assert (marks == 1).sum(axis=0).tolist() == [1] * 12  # No ties for the best.


def test_text_claims_reproduce_from_the_transcribed_numbers():
    t1 = P.TABLE1
    cifar = [j for j, c in enumerate(t1.columns) if c.group == "CIFAR-10"]
    gwa, val10, lw = (t1.row_index(r) for r in ("GWA", "Val Set (10%)", "LabelWave"))
    # Sec. 4.1: "on average 0.4% higher test accuracy compared to standard validation splits,
    # and 0.67% over LabelWave" (CIFAR-10/-N, both models): Table 1 is absolute.
    over_val = np.mean([t1.cells[gwa][j].value - t1.cells[val10][j].value for j in cifar])
    over_lw = np.mean([t1.cells[gwa][j].value - t1.cells[lw][j].value for j in cifar])
    assert over_val == pytest.approx(0.405, abs=1e-9) and round(over_val, 1) == 0.4
    assert over_lw == pytest.approx(0.6733, abs=1e-4)
    # "the test accuracies of LabelWave and GD are identical for ConvNeXt on ImageNet-1k".
    gd = t1.row_index("GD")
    for j, c in enumerate(t1.columns):
        if c.model == "convnext" and c.group == "ImageNet-1k":
            assert t1.cells[gd][j] == t1.cells[lw][j]
    # Sec. 4.2: "an average improvement of 0.55% on CIFAR-C and 0.67% on ImageNet-C".
    t2 = P.TABLE2
    g = t2.row_index("GWA")
    for group, claim in (("CIFAR-C", 0.55), ("ImageNet-C", 0.67)):
        mean = np.mean([t2.cells[g][j].value for j, c in enumerate(t2.columns)
                        if c.group == group])
        assert mean == pytest.approx(claim, abs=0.01)


def test_relative_rows_and_table5_reference_is_table1():
    t5 = P.TABLE5
    for model in ("vit", "convnext"):
        ref = t5.row_index("90/10", model)
        for j, col in enumerate(t5.columns):
            t1col = (model, col.group, col.label)
            assert t5.cells[ref][j].value == P.TABLE1.cell("Val Set (10%)", t1col).value
    i = t5.row_index("90/1", "convnext")
    assert t5.rows[i].reference == "90/10"
    assert t5.absolute(i, 2) == pytest.approx(82.30 - 1.12)
    t2 = P.TABLE2
    assert t2.absolute(t2.row_index("Val Set (1%)"), 0) == pytest.approx(81.19 - 0.88)
    assert t2.absolute(t2.row_index("GWA"), 6) == pytest.approx(62.43 + 0.93)
    assert P.TABLE3.absolute(2, 3) == 73.73


def test_family_mapping_covers_our_paper_tables():
    from gwa_jax.experiments.tables import table_specs

    specs = table_specs()
    for family, name in P.FAMILY_TO_PAPER.items():
        assert family in specs and name in P.PAPER_TABLES
