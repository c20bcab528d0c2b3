"""curve_facts.py on a run folder written by the test (hand-computed rows)."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("_cf", REPO / "scripts" / "curve_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(workdir: Path, gwa, se, test, train, selected, labelwave=None) -> None:
    workdir.mkdir(parents=True)
    (workdir / "config.json").write_text(json.dumps({"seed": 0}))
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "gwa": g, "gwa_se": s, "test_acc": a,
             "train_acc": t, "epoch_time_s": 2.5}
            for e, (g, s, a, t) in enumerate(zip(gwa, se, test, train, strict=True))]
    for row, changes in zip(rows, labelwave or [], strict=False):
        row.update(labelwave=changes, align_seen=200)
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"selected": {k: {"epoch": e, "test_acc": test[e - 1]} for k, e in selected.items()}}
    (workdir / "summary.json").write_text(json.dumps(summary))


def test_rows_and_ranges(tmp_path):
    write_run(tmp_path / "root" / "a_split0", gwa=[0.5, 0.1, 0.3, 0.28], se=[0.1, 0.1, 0.05, 0.1],
              test=[0.5, 0.6, 0.7, 0.65], train=[0.4, 0.6, 0.8, 0.9],
              selected={"gwa": 1, "gwa_finetune": 3, "val": 4}, labelwave=[None, 50, 20, 30])
    write_run(tmp_path / "root" / "b_split0", gwa=[None, 0.2, 0.4], se=[None, 0.01, 0.2],
              test=[0.3, 0.4, 0.35], train=[0.3, 0.5, 0.7], selected={"gwa": 3})
    write_run(tmp_path / "root" / "c_split0.1", gwa=[0.1], se=[0.1], test=[0.1], train=[0.1],
              selected={"gwa": 1})
    cf = load()
    out = tmp_path / "facts.md"
    assert cf.main([str(tmp_path / "root"), "--match", "split0_", "--out", str(out)]) == 1
    assert cf.main([str(tmp_path / "root"), "--match", "_split0", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[2:-1]]
            for line in lines if line.startswith("| `") or line.startswith("| range")}
    assert set(rows) == {"a_split0", "b_split0", "c_split0.1", "range"}
    # a: GWA 0.5 at epoch 1 (stop), min 0.1 at epoch 2; within 1 SE of 0.5 - 0.1: epoch 1 only.
    assert rows["a_split0"] == ["4", "90.0", "65.00", "3", "70.00", "0.500", "0.100", "2", "0.280",
                                "1", "0.500", "50.00", "3", "70.00", "1", "10.0", "25.0", "15.0",
                                "4", "65.00", "10"]
    # LabelWave changes over 200 scored ids: 50, 20, 30 -> min 10%, max 25%, last 15%.
    # b: GWA undefined at epoch 1; stop at 3 (0.4, SE 0.2): 0.2 >= 0.2 counts, so 2 epochs.
    assert rows["b_split0"][5:11] == ["–", "0.200", "2", "0.400", "3", "0.400"]
    assert rows["b_split0"][12:14] == ["–", "–"] and rows["b_split0"][14] == "2"
    assert rows["b_split0"][15:20] == ["–"] * 5  # No LabelWave column, no validation stop.
    assert rows["range"][0] == "1-4" and rows["range"][1] == "10.0-90.0"
