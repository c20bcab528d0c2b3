"""The write-ups' numbers against the committed files they come from.

Generated blocks (``<!-- begin generated: NAME -->``) are regenerated from the committed runs
and diffed; the paired tests behind the comparative claims are checked against a brute-force
enumeration; numbers left in prose are recomputed one by one below.
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gwa_jax.experiments import claims
from gwa_jax.experiments.claims import BlockError, paired_test, render_blocks
from gwa_jax.experiments.results import RunResult, mislabel_auroc
from gwa_jax.experiments.writeups import (
    GENERATORS,
    finetune_dip,
    finetune_limits,
    generators,
    quickstart_facts,
)
from gwa_jax.train.sharding import simulated_devices_env
from gwa_jax.train.trainer import selection_table
from scripts_loader import load_script
from synthetic import write_run
from test_architecture import (
    LONG_FUNCTIONS_ALLOWED,
    _imports,
    find_cycle,
    module_files,
    uncommented_local_imports,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"




def write_ups() -> list[Path]:
    return load_script("make_claims").write_ups(ROOT)


# --- generated blocks ------------------------------------------------------------------------


@pytest.mark.parametrize("path", write_ups(), ids=lambda p: str(p.relative_to(ROOT)))
def test_generated_blocks_match_the_committed_files(path):
    text = path.read_text()
    fresh = render_blocks(text, generators(ROOT))
    stale = claims.changed_blocks(text, fresh)
    assert not stale, (f"{path}: generated blocks {stale} differ from the committed files; run "
                       "python scripts/make_claims.py")


def test_every_generator_is_used_and_every_block_has_one():
    used = {n for p in write_ups() for n in claims.block_names(p.read_text())}
    assert sorted(used) == sorted(GENERATORS), "unused generators or unknown blocks"


def test_make_claims_check_reports_a_stale_block_and_rewrites_only_blocks(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    shutil.copytree(RESULTS / "quickstart", tmp_path / "results" / "quickstart")
    readme = tmp_path / "README.md"
    readme.write_text("intro 67.50%\n<!-- begin generated: quickstart-table -->\nold 67.50%\n"
                      "<!-- end generated: quickstart-table -->\noutro\n")
    script = load_script("make_claims")
    assert script.main(["--root", str(tmp_path), "--check", str(readme)]) == 1
    assert "block quickstart-table differs" in capsys.readouterr().out
    assert "old 67.50%" in readme.read_text()  # --check writes nothing
    assert script.main(["--root", str(tmp_path), str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro 67.50%\n") and text.endswith("outro\n")
    committed = json.loads((RESULTS / "quickstart" / "summary.json").read_text())
    assert "old" not in text and selection_table(committed) in text
    assert script.main(["--root", str(tmp_path), "--check", str(readme)]) == 0


def test_malformed_markers_get_one_line(tmp_path, capsys):
    bad = {"unclosed": "<!-- begin generated: a -->\nx\n",
           "nested": "<!-- begin generated: a -->\n<!-- begin generated: b -->\n",
           "stray end": "<!-- end generated: a -->\n",
           "unknown": "<!-- begin generated: nope -->\n<!-- end generated: nope -->\n"}
    for text in bad.values():
        with pytest.raises(BlockError):
            render_blocks(text, generators(ROOT))
    path = tmp_path / "README.md"
    path.write_text(bad["unknown"])
    assert load_script("make_claims").main(["--check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no generator for block(s) nope" in err and "\n" not in err


# --- the paired tests ------------------------------------------------------------------------


def brute_force_p(d: np.ndarray) -> tuple[float, float]:
    """Exact two-sided sign and signed-rank p-values by enumerating every sign pattern of the
    nonzero differences (no ties among their absolute values)."""
    d = d[d != 0]
    n = len(d)
    ranks = stats.rankdata(np.abs(d))
    w_obs = ranks[d > 0].sum()
    k_obs = int((d > 0).sum())
    w_all, k_all = [], []
    for signs in itertools.product((0, 1), repeat=n):
        s = np.array(signs, bool)
        w_all.append(ranks[s].sum())
        k_all.append(s.sum())
    w_all, k_all = np.array(w_all), np.array(k_all)
    mean_w, mean_k = n * (n + 1) / 4, n / 2
    p_w = np.mean(np.abs(w_all - mean_w) >= abs(w_obs - mean_w) - 1e-12)
    p_k = np.mean(np.abs(k_all - mean_k) >= abs(k_obs - mean_k) - 1e-12)
    return float(p_k), float(p_w)


@pytest.mark.parametrize("d", [[1.0, 2.5, 3.0, 4.25, 5.5, -6.0],
                               [0.5, -1.5, 2.0, -2.5, 3.5, 4.0, 0.0, 5.25],
                               [-1.0, -2.0, -3.5],
                               [0.1 * k for k in range(1, 13)]])
def test_paired_test_equals_brute_force_enumeration(d):
    d = np.array(d)
    b = np.linspace(60, 70, len(d))
    t = paired_test(b + d, b)
    p_sign, p_wil = brute_force_p(np.round(d, 10))
    assert t.n == len(d) and (t.ahead, t.level, t.behind) == (
        int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum()))
    assert t.sign_p == pytest.approx(p_sign, abs=1e-9)
    assert t.wilcoxon_p == pytest.approx(p_wil, abs=1e-9)
    assert t.mean_diff == pytest.approx(d.mean())


def test_paired_test_hand_computed_cases_and_verdicts():
    # 5 ahead, 1 behind: sign p = 2 * (1 + 6) / 64.
    t = paired_test([2, 2, 2, 2, 2, 0], [1, 1, 1, 1, 1, 1])
    assert t.sign_p == pytest.approx(14 / 64) and not t.significant
    assert "not significant" in claims.verdict(t, "GWA", "last", "seeds")
    # 6 of 6 behind: p = 2 / 64 under both tests -> significant, direction "behind".
    t = paired_test([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12])
    assert t.sign_p == pytest.approx(2 / 64) and t.wilcoxon_p == pytest.approx(2 / 64)
    words = claims.verdict(t, "GWA", "last", "seeds")
    assert words.startswith("GWA behind last: -3.50 points") and "0/0/6 over 6 seeds" in words
    assert words.endswith("significant (p < 0.05, two-sided)")
    # Five seeds cannot reach 0.05 two-sided, whatever the differences.
    assert paired_test(np.arange(5) + 10.0, np.zeros(5)).p == pytest.approx(0.0625)
    # All level: nothing to test.
    t = paired_test([70.0, 71.0], [70.0, 71.0])
    assert (t.level, t.sign_p, t.wilcoxon_p) == (2, 1.0, 1.0)
    with pytest.raises(ValueError, match="equal-length"):
        paired_test([1.0, 2.0], [1.0])


# --- numbers in prose ------------------------------------------------------------------------


def selected(study: str, run: str) -> dict:
    return json.loads((RESULTS / study / "runs" / run / "summary.json").read_text())["selected"]


def test_quickstart_prose_numbers():
    f = quickstart_facts(RunResult.load_verified(RESULTS / "quickstart"))
    text = (RESULTS / "quickstart" / "README.md").read_text()
    assert f["train_acc_last"] > 0.8 + 0.05  # "ends far above the 80% clean fraction"
    assert f["best_acc"] > f["gwa_acc"] > f["last_acc"]  # "picks a better model than the last"
    assert f["labelwave_epoch"] > f["gwa_epoch"] and f["labelwave_acc"] > f["gwa_acc"]
    config = RunResult.load_verified(RESULTS / "quickstart").config
    noise = config["dataset"]["label_noise"]
    assert (noise["kind"], noise["rate"]) == ("symmetric", 0.2)
    assert "the 20% noisy labels" in text and "the 80% clean" in text
    # README.md: "trains a small ViT (`vit_fmnist`) on 2000 Fashion-MNIST images with 20%
    # symmetric label noise for 31 epochs (992 steps)".
    summary = RunResult.load_verified(RESULTS / "quickstart").summary
    intro = " ".join((ROOT / "README.md").read_text().split())
    assert (f"on {config['dataset']['train_subset']} Fashion-MNIST images with "
            f"{noise['rate']:.0%} symmetric label noise for {summary['num_epochs']} epochs "
            f"({summary['total_steps']} steps)") in intro
    assert config["model"]["name"] == "vit_fmnist"


def test_finetune_prose_numbers():
    failed = selected("finetune_fmnist", "stage-finetune_noise0.17_split0.01_seed2")
    drop = 100 * (failed["gwa_finetune"]["test_acc"] - failed["last"]["test_acc"])
    assert failed["gwa_finetune"]["epoch"] == failed["gwa"]["epoch"] == 3
    assert f"{drop:.2f}" == "-7.42"
    text = (RESULTS / "finetune_fmnist" / "README.md").read_text()
    assert "7.42 points" in text and "66.46%" in text and "73.88%" in text
    # The only fine-tuning run (of 18) where gwa_finetune is > 2 points below the last epoch.
    drops = []
    for run in (RESULTS / "finetune_fmnist" / "runs").glob("stage-finetune_*"):
        s = selected("finetune_fmnist", run.name)
        drops.append((100 * (s["gwa_finetune"]["test_acc"] - s["last"]["test_acc"]), run.name))
    assert len(drops) == 18 and [n for v, n in drops if v < -2] == [
        "stage-finetune_noise0.17_split0.01_seed2"]
    # "in the two runs where the fine-tuning rule and the plain rule agree on a late epoch".
    agree = [s for s in (selected("finetune_fmnist", f"stage-finetune_noise{n}_split0_seed{k}")
                         for n in ("0", "0.17") for k in range(3))
             if s["gwa"]["epoch"] == s["gwa_finetune"]["epoch"] and s["gwa"]["epoch"] > 5]
    assert len(agree) == 2 and "in the two runs" in text


def test_fmnist_n_asym_prose_numbers():
    accs = {k: {c: round(100 * v["test_acc"], 2) for c, v in selected(
        "fmnist_n_asym", f"model-vit_noise0.4_noise_kind-asymmetric_split0_seed{k}").items()}
        for k in range(3)}
    assert [(a["gwa"], a["labelwave"]) for a in accs.values()] == [
        (60.49, 60.33), (56.99, 61.94), (59.47, 58.23)]
    assert [a["labelwave"] > a["gwa"] for a in accs.values()] == [False, True, False]
    table = (RESULTS / "fmnist_n_asym" / "table1.md").read_text()
    row = {line.split("|")[1].strip(): line.split("|")[3].split()[0].strip("*<u>/")
           for line in table.splitlines() if line.startswith("| ") and "Early" not in line}
    ranked = sorted(row, key=lambda r: -float(row[r]))
    assert ranked.index("GWA") == 2 and len(ranked) == 5  # third of five at ViT 40%
    assert "third of five (58.98)" in (RESULTS / "fmnist_n_asym" / "README.md").read_text()


def test_early_stop_prose_numbers():
    import csv

    with open(RESULTS / "early_stop" / "patience.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = {int(r["epochs"]) for r in rows}
    assert (min(epochs), max(epochs)) == (15, 179)  # "runs of 15 to 179 epochs"
    at3 = [r for r in rows if r["study"] == "fmnist_n" and r["patience"] == "3"]
    for model in ("vit_fmnist", "convnext_fmnist"):  # "a run in four or five loses > 1 point"
        mine = [r for r in at3 if r["model"] == model]
        losing = sum(1 for r in mine if r["acc_change"] and float(r["acc_change"]) < -1)
        assert 4 <= len(mine) / losing <= 5


def test_committed_scores_stay_within_the_budget():
    from gwa_jax.experiments.writeups import SCORES_BUDGET, scores_sizes

    sizes = scores_sizes(ROOT)
    assert sum(b for _, b in sizes.values()) <= SCORES_BUDGET
    for path in RESULTS.rglob("scores.npz"):  # every packed run verifies and reads back
        run = RunResult.load_verified(path.parent)
        assert run is not None and run.score_epochs(), path


# --- tables quoted in the results write-ups -----------------------------------------------------

def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(any(c == x for x in it) for c in short)


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header, data rows) of every markdown table in ``text``."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|--"):
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(_cells(lines[j]))
                j += 1
            out.append((_cells(line), rows))
    return out


def _same_by_header(header: list[str], row: list[str], table) -> bool:
    """The row agrees with a committed row on every column the two headers share (at least
    three, beyond the label)."""
    c_header, c_rows = table
    shared = [(header.index(h), c_header.index(h)) for h in header[1:] if h in c_header]
    return len(shared) >= 3 and any(all(row[i] == c[k] for i, k in shared) for c in c_rows
                                    if len(c) == len(c_header))


@pytest.mark.parametrize("readme", sorted(RESULTS.glob("*/README.md")),
                         ids=lambda p: p.parent.name)
def test_quoted_table_rows_come_from_the_committed_tables(readme):
    """Every data row of a table in a results write-up (outside generated blocks) is a
    committed table's row of the same folder: its cells after the label are among that row's
    cells, or it agrees on every column the two headers share (a write-up may drop, reorder
    and rename columns and rows, not change a number)."""
    committed = [t for md in readme.parent.rglob("*.md") if md.name != "README.md"
                 for t in _tables(md.read_text())]
    committed_rows = [r for _, rows in committed for r in rows]
    bad = []
    for header, rows in _tables(claims._BLOCK.sub("", readme.read_text())):
        for r in rows:
            if not any(ch.isdigit() for c in r[1:] for ch in c):
                continue
            if not (any(_subsequence(r[1:], c) or set(r[1:]) <= set(c) for c in committed_rows)
                    or any(_same_by_header(header, r, t) for t in committed)):
                bad.append(r)
    assert not bad, f"{readme}: rows not in a committed table: {bad[:3]}"


def test_fmnist_n_format1_prose_says_nothing_is_significant():
    """results/fmnist_n/README.md: "pooled ... no row differs significantly from GWA"."""
    from gwa_jax.experiments.writeups import AGAINST, _pairs_over, study_values

    values = study_values(ROOT, "fmnist_n")
    for _, crit, _ in AGAINST:
        for model in ("vit", "convnext", None):
            a, b = _pairs_over(values, model, None, crit)
            assert len(a) >= 12 and not paired_test(a, b).significant, (crit, model)
    assert "no row differs significantly from GWA" in " ".join(
        (RESULTS / "fmnist_n" / "README.md").read_text().split())


def test_fmnist_n_format2_prose():
    """results/fmnist_n/README.md, "What the 48 runs show": each statement recomputed."""
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups import AGAINST, _pairs_over, column_label, study_values

    values = study_values(ROOT, "fmnist_n", runs="runs_format2")
    assert len({k[:3] for k in values if k[3] == "gwa"}) == 48
    sig = {}
    for _, crit, split in AGAINST:
        if split:
            assert not any(k[3] == crit for k in values)  # Val Set runs not in yet
            continue
        for model in ("convnext", None):  # pooled over ConvNeXt and over both models
            t = paired_test(*_pairs_over(values, model, None, crit))
            assert t.significant and t.mean_diff > 0, (crit, model)
        assert not paired_test(*_pairs_over(values, "vit", None, crit)).significant
        for model, variant in {k[:2] for k in values}:
            t = paired_test(*_pairs_over(values, model, variant, crit))
            if t.significant:
                sig.setdefault(column_label(model, variant), []).append(crit)
                assert t.mean_diff > 0
    assert set(sig) == {"ViT 40%", "ConvNeXt 17%", "ConvNeXt 40%"}
    vit0 = paired_test(*_pairs_over(values, "vit", "noise0", "last"))
    assert vit0.mean_diff < 0 and not vit0.significant
    noisy = [r for r in expand("fmnist_n") if r.role == "table" and r.split == 0.0
             and dict(r.args)["noise"] > 0]
    by_cell: dict = {}
    for r in noisy:
        run = RunResult.load_verified(RESULTS / "fmnist_n" / "runs_format2" / r.name)
        g, last = (mislabel_auroc(run, run.selected_epoch(c)) for c in ("gwa", "last"))
        by_cell.setdefault((r.model, r.variant), []).append(g > last)
    assert len(by_cell) == 6 and all(v == [True] * 6 for v in by_cell.values())
    text = " ".join((RESULTS / "fmnist_n" / "README.md").read_text().split())
    assert "(ViT 40%, ConvNeXt 17% and 40%)" in text and "in 6 of 6 seeds" in text


def test_early_stop_patience10_prose():
    """results/early_stop/README.md: at patience 10 every group of 15-35-epoch runs is within
    a third of a point of zero on average; the regime study's groups still lose."""
    import csv

    with open(RESULTS / "early_stop" / "patience.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["patience"] == "10"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["study"], r["model"], r["criterion"]), []).append(r)
    for key, runs in groups.items():
        changes = [float(r["acc_change"]) for r in runs if r["acc_change"]]
        if all(15 <= int(r["epochs"]) <= 35 for r in runs):
            assert abs(np.mean(changes)) <= 1 / 3, key
        elif key[0] == "regime":
            assert np.mean(changes) < 0, key


def _finetune_run(root: Path, name: str, gwa, test, train, stops) -> None:
    rows = [{"epoch": e + 1, "step": 10 * (e + 1), "gwa": g, "gwa_se": 0.004, "test_acc": a,
             "train_acc": t} for e, (g, a, t) in enumerate(zip(gwa, test, train, strict=True))]
    write_run(root / "results" / "finetune_fmnist" / "runs_format2" / name, metrics=rows,
              selected={k: {"epoch": e, "test_acc": test[e - 1]} for k, e in stops.items()})


def test_finetune_dip_and_limits_on_hand_made_runs(tmp_path):
    """Two 0%-split runs and a 1%-split one with hand-written curves: the sentences' ranges,
    counts and the one failure are the hand-computed ones."""
    assert finetune_dip(tmp_path) == finetune_limits(tmp_path) == "No run of this kind is " \
        "committed yet."
    last = {"gwa_finetune": 4, "last": 4}
    _finetune_run(tmp_path, "stage-finetune_noise0_split0_seed0", [0.5, 0.2, 0.1, 0.3],
                  [0.60, 0.70, 0.75, 0.80], [0.5, 0.6, 0.7, 0.8], {"gwa": 2, **last})
    _finetune_run(tmp_path, "stage-finetune_noise0.17_split0_seed1", [0.4, 0.1, 0.2, 0.25],
                  [0.60, 0.65, 0.70, 0.70], [0.5, 0.55, 0.6, 0.61], {"gwa": 4, **last})
    _finetune_run(tmp_path, "stage-finetune_noise0.17_split0.01_seed2", [0.4, 0.3, 0.2, 0.1],
                  [0.50, 0.60, 0.70, 0.80], [0.5, 0.6, 0.7, 0.8],
                  {"gwa": 1, "gwa_finetune": 1, "last": 4})
    assert finetune_dip(tmp_path) == (
        "GWA dips in 2 of 2 0%-split runs: it starts at 0.400-0.500 at epoch 1, falls to a "
        "minimum at epochs 2-3 (0.100) and ends at 0.250-0.300. The plain GWA rule (maximum "
        "after the 10% warm-up) stops before that minimum in 1 of 2 runs, at epoch 2, -10.00 "
        "points against the last epoch there. The fine-tuning rule (`gwa_finetune`: the first "
        "local minimum of GWA, then its maximum after it) stops at epoch 4 of 4, +0.00 points "
        "against the last epoch.")
    lines = finetune_limits(tmp_path).splitlines()
    assert lines[0] == ("- Training accuracy at the last epoch of the 0%-split runs: 80.0% at "
                        "0% noise; 61.0% at 17% noise. The best test epoch in hindsight is "
                        "epochs 3-4 of 4.")
    # Epochs with GWA >= the stop's GWA - SE (0.004): run 1 (stop 0.2) epochs 1, 2, 4; run 2
    # (stop 0.25) epochs 1 and 4.
    assert lines[1].endswith("(the stop included): 2-3.")
    assert lines[2] == ("- `stage-finetune_noise0.17_split0.01_seed2`: `gwa_finetune` stops at "
                        "epoch 1 (50.00%; the plain rule: epoch 1), the last epoch has 80.00%: "
                        "-30.00 points (one of the 3 fine-tuning runs, all splits).")


# --- results/bench, results/reliability, results/architecture: numbers left in prose ---------


def _flat(path: Path) -> str:
    return " ".join(path.read_text().split())


def _bench_json(name: str) -> dict:
    return json.loads((RESULTS / "bench" / name).read_text())


def test_bench_prose_settings_and_hardware():
    """results/bench/README.md: the machines, versions and run settings its prose names are
    those of the files (the measured numbers are in generated blocks)."""
    text = _flat(RESULTS / "bench" / "README.md")
    gpu = (RESULTS / "bench" / "gpu" / "gpu.txt").read_text().splitlines()
    h200 = (RESULTS / "bench" / "gpu" / "gpu_h200.txt").read_text().splitlines()
    name, driver, _ = (c.strip() for c in gpu[1].split(","))
    jax_v, flax_v = gpu[2].split()[:2]
    assert (f"one {name} (`gpu/gpu.txt`: driver {driver}, jax {jax_v}, flax {flax_v})"
            in text)
    assert h200[1].startswith("NVIDIA H200, 580.159.04,") and h200[2].startswith("0.11.2 ")
    assert "H200 (`gpu/gpu_h200.txt`: driver 580.159.04, jax 0.11.2)" in text
    for model in ("convnext_pico", "vit_cifar4", "vit_s16"):  # "300 single steps ... 15
        r = _bench_json(f"gpu/overhead_gpu_{model}_bf16.json")  # ... repetitions of 20 steps"
        assert (r["alt_steps"], r["reps"], r["steps_per_rep"]) == (300, 15, 20)
        assert r["device"] == f"gpu:{name} x1"
        assert r["command"].replace("python3 ", "python ") in " ".join(
            (RESULTS / "bench" / "README.md").read_text().replace("\\\n", " ").split())
    cpu = _bench_json("overhead_cpu_vit_fmnist.json")
    assert (cpu["alt_steps"], cpu["reps"], cpu["steps_per_rep"]) == (300, 15, 20)
    assert "300 single steps of each timed" in text and "15 interleaved streaming " \
        "repetitions of 20 steps" in text
    accum = _bench_json("overhead_cpu_vit_fmnist_accum4_quick.json")
    assert (accum["batch_size"], accum["accumulate_steps"]) == (128, 4)
    assert "batch 128 as 4 micro-batches of 32" in text
    offline = _bench_json("gpu/offline_full_size.json")
    assert offline["device"] == "gpu:NVIDIA H200 x1" and offline["jax"] == "0.11.2"
    epochs = {r["config"].split(":")[1].split(",")[0]: r["epochs"] for r in offline["runs"]}
    assert epochs == {"model=vit": 32, "model=convnext": 19}
    assert {r["batch_size"] for r in offline["runs"]} == {64}
    assert "(32 ViT, 19 ConvNeXt), batch 64" in text
    imagenet = _bench_json("loader_imagenet.json")
    assert (imagenet["batch_size"], imagenet["epoch_images"], imagenet["reps"]) == (1024, 2048, 3)
    assert imagenet["images"].startswith("256 distinct synthetic 375x500 JPEGs (quality 90, "
                                         "4:2:0) cycled to 2048 examples in a 4-shard")
    assert "batch 1024" in text and "One measurement is one epoch (two batches); 3 " \
        "repetitions, medians." in text
    fmnist = _bench_json("loader_fmnist.json")
    settings = fmnist["pipelines"]["new"]["settings"]
    rows = {m["images"] for m in fmnist["measurements"]}
    assert (settings["num_train"], settings["batch_size"], settings["steps_per_epoch"]) == (
        2000, 64, 32) and fmnist["reps"] == 5
    assert rows == {30 * 32 * 64} and "30 whole epochs (61440 batch rows)" in text
    assert "(2000 Fashion-MNIST images, batch 64, 32 batches per epoch)" in text


def test_reliability_prose():
    """results/reliability/README.md: the runs' sizes, the busy loops and the in-flight
    control's counts."""
    text = _flat(RESULTS / "reliability" / "README.md")
    for name, subset, epochs in (("device_divergence.json", 1024, 10),
                                 ("device_divergence_tiny.json", 512, 10)):
        report = json.loads((RESULTS / "reliability" / name).read_text())
        assert f"--config.dataset.train_subset={subset}" in report["command"]
        assert {len(r["per_epoch"]) for r in report["runs"].values()} == {epochs}
        assert sorted(report["runs"]) == ["2", "4"] and "1, 2 and 4 simulated CPU" in text
    assert "on 1,024 images for 10 epochs" in text and "on 512 images for 10 epochs" in text
    stress = json.loads((RESULTS / "reliability" / "multidevice_stress.json").read_text())
    assert (stress["busy_loops"], stress["cpus"]) == (2, 2)
    assert "two processes that each spin on a core of the 2-core machine" in text
    lines = (RESULTS / "reliability" / "inflight_control.txt").read_text().splitlines()
    tries = {mode: [ln for ln in lines if re.match(rf"^{mode} try \d+:", ln)]
             for mode in ("async", "settled")}
    aborted = sum("rc 134" in ln for ln in tries["async"])
    done = sum("rc 0, done" in ln for ln in tries["settled"])
    assert (f"aborting in {aborted} of {len(tries['async'])} tries" in text
            and f"completing in {done} of {len(tries['settled'])}" in text)
    # "simulated_devices_env raises that limit to 40 minutes": warning + abort time-outs.
    flags = dict(f.split("=") for f in simulated_devices_env(2, {})["XLA_FLAGS"].split())
    limit = sum(int(flags[f"--xla_cpu_collective_call_{k}_timeout_seconds"])
                for k in ("warn_stuck", "terminate"))
    assert f"raises that limit to {limit // 60} minutes" in text


def _tree_at(commit: str, dest: Path) -> Path:
    """``src/gwa_jax`` of ``commit``, extracted under ``dest``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit,
                          "src/gwa_jax"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter="data")
    return dest / "src" / "gwa_jax"


def layout_counts(root: Path) -> dict:
    """The architecture write-up's counts over a ``src/gwa_jax`` tree: files, lines, root
    modules, the longest function and those over 80 lines (config builders aside), one import
    circle, function-local gwa_jax import statements and blocks without a reason."""
    modules = module_files(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    local, functions = set(), []
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text())
        functions += [(n.end_lineno - n.lineno + 1, f"{module}.{n.name}") for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.name not in LONG_FUNCTIONS_ALLOWED]
        for target, line, is_local in _imports(tree, module, is_package, modules):
            edges[module] |= {target} - {module}
            if is_local:
                local.add((module, line))
    paths = [p for p, _ in modules.values()]
    return {"files": len(paths), "lines": sum(len(p.read_text().splitlines()) for p in paths),
            "root": len([p for p in root.glob("*.py")
                         if p.name not in ("__init__.py", "__main__.py")]),
            "longest": max(functions), "over_80": sum(n > 80 for n, _ in functions),
            "cycle": find_cycle(edges), "local": len(local),
            "unreasoned": sum(len(uncommented_local_imports(p)) for p in paths)}


def test_architecture_before_after_counts(tmp_path):
    """results/architecture/README.md, "Before and after": every count recomputed from the two
    commits it names (skipped where the history is not there, e.g. a shallow clone)."""
    commits = {"before": "eaded19", "after": "91dd726"}
    for c in [*commits.values(), "163768f"]:
        if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{c}^{{commit}}"],
                          capture_output=True).returncode:
            pytest.skip(f"commit {c} is not in this clone's history")
    b, a = (layout_counts(_tree_at(c, tmp_path / k)) for k, c in commits.items())
    text = _flat(RESULTS / "architecture" / "README.md")
    assert f"Python files: {b['files']} before, {a['files']} after" in text
    assert f"Lines: {b['lines']:,} before, {a['lines']:,} after." in text
    assert f"aside): {b['root']} before, {a['root']} after." in text
    (n_b, f_b), (n_a, f_a) = b["longest"], a["longest"]
    assert f"`{f_b.removeprefix('gwa_jax.')}`, {n_b} lines, before" in text
    assert f"`{f_a.removeprefix('gwa_jax.')}`, {n_a} lines, after" in text
    assert f"over 80 lines (config builders aside): {b['over_80']} before, {a['over_80']} " \
        "after." in text
    cycle = " -> ".join(m.removeprefix("gwa_jax.") for m in b["cycle"])
    assert a["cycle"] is None and f"Import circles: 1 before, `{cycle}`; 0 after." in text
    assert (f"{b['local']} statements, {b['unreasoned']} import blocks without a reason, "
            f"before; {a['local']} statements, each block with its reason") in text
    assert a["unreasoned"] == 0
    # "default_config was 107 lines at the layout change and is 113 since ... (6 lines)".
    def default_config_lines(source: str) -> int:
        (n,) = [n.end_lineno - n.lineno + 1 for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.FunctionDef) and n.name == "default_config"]
        return n

    then = default_config_lines(subprocess.run(
        ["git", "-C", str(ROOT), "show", "163768f:src/gwa_jax/config_base.py"],
        capture_output=True, text=True, check=True).stdout)
    now = default_config_lines((ROOT / "src" / "gwa_jax" / "config_base.py").read_text())
    assert f"was {then} lines at the layout change and is {now} since the " \
        f"`criteria.early_stop` keys ({now - then} lines) were added" in text
