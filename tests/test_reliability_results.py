"""The numbers in results/reliability/README.md and the README, recomputed from the files."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "reliability"
RUNS = {"quickstart, 1,024 images": "device_divergence.json",
        "tiny ViT, 512 images": "device_divergence_tiny.json"}
FIELDS = ("scores_max_abs", "gwa_abs", "train_loss_abs", "test_acc_abs")


def _fmt(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def divergence_rows() -> list[str]:
    """The divergence table's rows as the README shows them."""
    rows = []
    for name, file in RUNS.items():
        report = json.loads((RESULTS / file).read_text())
        for devices, run in report["runs"].items():
            worst = [max(p[f] for p in run["per_epoch"]) for f in FIELDS]
            agree = "yes" if run["selections_agree"] else "no"
            rows.append(f"| {name} | {devices} | " + " | ".join(map(_fmt, worst))
                        + f" | {agree} |")
    return rows


def test_divergence_table_is_the_committed_runs():
    text = (RESULTS / "README.md").read_text()
    block = re.search(r"<!-- begin generated: reliability-divergence -->\n(.*?)"
                      r"<!-- end generated: reliability-divergence -->", text, re.S).group(1)
    table = [ln for ln in block.splitlines() if ln.startswith("|")]
    assert table[2:] == divergence_rows()


def test_every_run_compares_ten_epochs_and_agrees_on_every_selection():
    for file in RUNS.values():
        report = json.loads((RESULTS / file).read_text())
        assert sorted(report["runs"]) == ["2", "4"]
        for run in report["runs"].values():
            assert [p["epoch"] for p in run["per_epoch"]] == list(range(1, 11))
            assert run["selections_agree"]
            assert all(a == b for a, b in run["selected_epochs"].values())


def test_inflight_control_counts():
    lines = (RESULTS / "inflight_control.txt").read_text().splitlines()
    tries = [ln for ln in lines if re.match(r"^(async|settled) try \d+:", ln)]
    assert sum(ln.startswith("async") and "rc 134" in ln for ln in tries) == 5
    assert sum(ln.startswith("settled") and "rc 0, done 12288000.0" in ln for ln in tries) == 5
    assert len(tries) == 10


def stress_summary() -> tuple[int, int]:
    """(runs recorded, runs that failed) in multidevice_stress.json."""
    report = json.loads((RESULTS / "multidevice_stress.json").read_text())
    runs = report["runs"]
    assert [r["run"] for r in runs] == list(range(1, len(runs) + 1))
    return len(runs), sum(r["returncode"] != 0 for r in runs)


def test_stress_report_matches_what_the_readmes_say():
    runs, failed = stress_summary()
    report = json.loads((RESULTS / "multidevice_stress.json").read_text())
    assert report["busy_loops"] == 2 and report["failed_runs"] == failed
    claim = f"{runs} runs in a row, {failed} failed"
    assert claim in (RESULTS / "README.md").read_text()


def test_readme_quotes_the_quickstart_divergence():
    report = json.loads((RESULTS / "device_divergence.json").read_text())
    runs = report["runs"].values()
    score = max(max(p["scores_max_abs"] for p in r["per_epoch"]) for r in runs)
    gwa = max(max(p["gwa_abs"] for p in r["per_epoch"]) for r in runs)
    acc = max(max(p["test_acc_abs"] for p in r["per_epoch"]) for r in runs)
    text = " ".join((ROOT / "README.md").read_text().split())
    assert f"per-sample scores within {score:.1e}, GWA within {gwa:.1e}, test accuracy identical" \
        in text
    assert acc == 0 and all(r["selections_agree"] for r in runs)
