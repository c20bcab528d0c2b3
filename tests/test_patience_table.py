"""scripts/patience_table.py: hand-made run folders with hand-computed stops, selections and
accuracy changes, and the committed results/early_stop/ regenerated from the committed runs."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from gwa_jax.run.integrity import seal_run

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "early_stop"


def load():
    spec = importlib.util.spec_from_file_location("_pt", REPO / "scripts" / "patience_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(workdir: Path, gwa, test, init_from=None, warmup=0.1) -> None:
    """A run folder shaped like results/quickstart: config.json, metrics.jsonl (10 steps an
    epoch), summary.json (whole-epoch total_steps), checksums.json."""
    workdir.mkdir(parents=True)
    config = json.loads((REPO / "results" / "quickstart" / "config.json").read_text())
    config["model"]["init_from"] = init_from
    config["gwa"]["warmup_fraction"] = warmup
    config["total_steps"] = 10 * len(gwa) + 5  # Rounded down to whole epochs by gwa-train.
    config.pop("format_version")  # Format 1, as most committed runs.
    (workdir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "gwa": g, "gwa_se": 0.01, "labelwave": None,
             "test_acc": a, "train_acc": a, "train_loss": 1.0}
            for e, (g, a) in enumerate(zip(gwa, test, strict=True))]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n"
                                                   for r in rows))
    summary = {"num_epochs": len(gwa), "total_steps": 10 * len(gwa), "selected": {},
               "requested_total_steps": config["total_steps"]}
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    assert seal_run(workdir) == []


# GWA over 10 epochs; the warm-up (10% of 100 steps) covers epoch 1 (step 10) only.
PLAIN_GWA = [0.9, 0.1, 0.3, 0.5, 0.4, 0.45, 0.6, 0.2, 0.1, 0.05]
PLAIN_TEST = [0.30, 0.40, 0.50, 0.60, 0.62, 0.64, 0.70, 0.72, 0.71, 0.69]
# GWA undefined at epochs 2-3 (the warm-up, 20% of 60 steps, covers epoch 1), defined from 4.
UNDEF_GWA = [0.9, None, None, 0.2, 0.3, 0.25]
UNDEF_TEST = [0.30, 0.40, 0.50, 0.60, 0.70, 0.65]
# Fine-tuning: initial minimum 0.2 at epoch 3 (confirmed by epoch 4), max after it at epoch 7.
FT_GWA = [0.5, 0.3, 0.2, 0.4, 0.35, 0.3, 0.6, 0.5]
FT_TEST = [0.50, 0.55, 0.60, 0.65, 0.70, 0.72, 0.80, 0.78]


@pytest.fixture()
def table(tmp_path):
    root = tmp_path / "results"
    write_run(root / "study_a" / "runs" / "plain", PLAIN_GWA, PLAIN_TEST)
    write_run(root / "study_a" / "runs" / "undefined", UNDEF_GWA, UNDEF_TEST, warmup=0.2)
    write_run(root / "study_a" / "runs_v1" / "plain", PLAIN_GWA, PLAIN_TEST)  # Superseded.
    write_run(root / "ft" / "runs" / "stage-finetune_x", FT_GWA, FT_TEST,
              init_from="ft/runs/stage-pretrain")
    out = tmp_path / "out"
    assert load().main(["--root", str(root), "--out", str(out), "--max-patience", "20"]) == 0
    with open(out / "patience.csv", newline="") as f:
        rows = {(r["run"], int(r["patience"])): r for r in csv.DictReader(f)}
    return out, rows


def test_hand_computed_rows(table):
    out, rows = table
    assert {run for run, _ in rows} == {"study_a/runs/plain", "study_a/runs/undefined",
                                        "ft/runs/stage-finetune_x"}  # runs_v1 skipped.
    plain = {p: rows["study_a/runs/plain", p] for p in range(1, 21)}
    assert plain[1]["study"] == "study_a" and plain[1]["criterion"] == "gwa"
    assert plain[1]["format"] == "1" and plain[1]["full_selected_epoch"] == "7"
    # Patience 1: epochs 2-4 raise the maximum, epoch 5 (0.4 < 0.5) does not -> stop after 5;
    # the selection up to it is epoch 4 (0.5): 60% vs the full run's epoch 7 (70%).
    assert [plain[1][k] for k in ("stop_epoch", "epochs", "epochs_saved", "fraction_saved",
                                  "selected_epoch", "acc_change")] == \
        ["5", "10", "5", "0.5000", "4", "-10.0000"]
    # Patience 2: epochs 5 and 6 bring no new maximum -> stop after 6, same selection.
    assert [plain[2][k] for k in ("stop_epoch", "epochs_saved", "fraction_saved",
                                  "selected_epoch", "acc_change")] == \
        ["6", "4", "0.4000", "4", "-10.0000"]
    # Patience 3: epoch 7 is a new maximum; 8, 9, 10 complete the count only at the last epoch,
    # where gwa-train stops nothing: no stop, nothing saved, the full run's selection.
    for p in (3, 10, 20):  # 20 > the run's 10 epochs.
        assert [plain[p][k] for k in ("stop_epoch", "epochs_saved", "fraction_saved",
                                      "selected_epoch", "acc_change")] == \
            ["", "0", "0.0000", "7", "0.0000"]

    undefined = {p: rows["study_a/runs/undefined", p] for p in (1, 2, 3)}
    # Patience 1 and 2: undefined GWA at epochs 2 (and 3) counts as no new maximum -> stop
    # before any defined GWA after the warm-up: no selection, no change.
    assert [undefined[1][k] for k in ("stop_epoch", "selected_epoch", "acc_change")] == \
        ["2", "", ""]
    assert [undefined[2][k] for k in ("stop_epoch", "epochs_saved", "acc_change")] == \
        ["3", "3", ""]
    # Patience 3: epoch 4 is the first maximum; 0.3 at epoch 5 a new one; 6 no -> no stop.
    assert undefined[3]["stop_epoch"] == "" and undefined[3]["acc_change"] == "0.0000"
    assert undefined[3]["full_selected_epoch"] == "5"

    ft = {p: rows["ft/runs/stage-finetune_x", p] for p in (1, 2, 3)}
    assert ft[2]["criterion"] == "gwa_finetune" and ft[2]["full_selected_epoch"] == "7"
    # Counted from epoch 4 (after the minimum at 3): 4 new max, 5 and 6 not -> stop after 6;
    # the fine-tuning selection up to it is epoch 4 (65%) vs epoch 7 (80%). (The plain `gwa`
    # rule would have stopped after epoch 3.)
    assert [ft[2][k] for k in ("stop_epoch", "epochs_saved", "fraction_saved",
                               "selected_epoch", "acc_change")] == \
        ["6", "2", "0.2500", "4", "-15.0000"]
    assert ft[1]["stop_epoch"] == "5" and ft[3]["stop_epoch"] == ""

    # patience.md: the study_a row at patience 1 aggregates the two runs: both stopped, one
    # without a selection, mean fraction (5/10 + 4/6) / 2, the change of the other one.
    md = (out / "patience.md").read_text()
    assert ("| study_a | `vit_fmnist` | gwa | 1 | 1 | 2 | 2 | 1 | 0.583 | -10.00 | -10.00 | 1 |"
            in md)
    assert "| study_a | `vit_fmnist` | gwa | 1 | 3 | 2 | 0 | 0 | 0.000 | +0.00 | +0.00 | 0 |" in md
    assert "| ft | `vit_fmnist` | gwa_finetune | 1 | 2 | 1 | 1 | 0 | 0.250 | -15.00 |" in md
    assert "format 1" in md  # The older-format note.
    assert (out / "patience.png").stat().st_size > 0
    assert (out / "command.txt").read_text().startswith("python scripts/patience_table.py ")


def test_no_runs(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert load().main(["--root", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no run with a gwa column" in capsys.readouterr().err


def test_committed_table_regenerates(tmp_path):
    """results/early_stop/ is what the script writes from the committed runs."""
    command = (COMMITTED / "command.txt").read_text().split()
    assert command[:2] == ["python", "scripts/patience_table.py"]
    args = command[2:]
    out_at = args.index("--out") + 1
    root_at = args.index("--root") + 1
    args[out_at] = str(tmp_path / "out")
    args[root_at] = str(REPO / args[root_at])
    assert load().main(args) == 0
    assert (tmp_path / "out" / "patience.csv").read_text() == \
        (COMMITTED / "patience.csv").read_text()
    body = lambda p: p.read_text().split("\n", 1)[1]  # noqa: E731  (line 1: the command)
    assert body(tmp_path / "out" / "patience.md") == body(COMMITTED / "patience.md")
    # The README's table rows are rows of patience.md.
    md_rows = set(body(COMMITTED / "patience.md").splitlines())
    readme_rows = [line for line in (COMMITTED / "README.md").read_text().splitlines()
                   if line.startswith("| ") and not line.startswith("| study")]
    assert readme_rows and all(row in md_rows for row in readme_rows)
