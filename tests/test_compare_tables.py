"""compare_tables.py on two hand-written make_tables CSVs."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "table,row_group,row,criterion,split,model,column_group,column,variant,metric,mean\n"


def load():
    spec = importlib.util.spec_from_file_location("_ct", REPO / "scripts" / "compare_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moved_cells_are_marked(tmp_path):
    old = tmp_path / "old.csv"
    new = tmp_path / "new.csv"
    old.write_text(HEADER + "t,,GWA,gwa,0,vit,F,0%,noise0,test_acc,73.80\n"
                            "t,,GD,gd,0,vit,F,0%,noise0,test_acc,77.67\n"
                            "t,,GD,gd,0,vit,F,9%,noise0.09,test_acc,\n"
                            "t,,LabelWave,labelwave,0,vit,F,40%,noise0.4,test_acc,60.00\n")
    new.write_text(HEADER + "t,,GWA,gwa,0,vit,F,0%,noise0,test_acc,75.10\n"
                            "t,,GD,gd,0,vit,F,0%,noise0,test_acc,77.40\n"
                            "t,,Val,val,0.1,vit,F,0%,noise0,test_acc,76.00\n")
    ct = load()
    both, only_old, only_new = ct.compare(ct.read_cells(old), ct.read_cells(new), 0.5)
    assert [(k[0], round(d, 2)) for k, _, _, d in both] == [("GWA", 1.3), ("GD", -0.27)]
    assert only_old == [("LabelWave", "vit", "F", "40%")]  # The empty 9% cell is skipped.
    assert only_new == [("Val", "vit", "F", "0%")]
    out = tmp_path / "c.md"
    assert ct.main([str(old), str(new), "--out", str(out)]) == 0
    text = out.read_text()
    assert "(1 of 2 moved by more than 0.5 points)" in text
    assert "| GWA | vit | F 0% | 73.80 | 75.10 | **+1.30** |" in text
    assert "| GD | vit | F 0% | 77.67 | 77.40 | -0.27 |" in text
