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
from gwa_jax.experiments.claims import BlockError, fmt_p, paired_test, render_blocks
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


def test_finetune_format2_prose():
    """results/finetune_fmnist/README.md: each comparative statement's paired test, the plain
    rule's epoch-2 stops and the underfitting, recomputed from runs_format2/."""
    from gwa_jax.experiments.curve_facts import facts
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups import _pairs_over, study_values

    values = study_values(ROOT, "finetune_fmnist", runs="runs_format2")
    text = " ".join((RESULTS / "finetune_fmnist" / "README.md").read_text().split())

    def test(variant, crit):
        return paired_test(*_pairs_over(values, "vit", variant, crit, "gwa_finetune"))

    for variant in ("noise0", "noise0.17"):  # "in each column (6 of 6 seeds ahead, p = 0.031)"
        t = test(variant, "gwa")
        assert (t.n, t.ahead, fmt_p(t.sign_p)) == (6, 6, "0.031") and t.significant
        for crit in ("last", "labelwave", "val"):  # "val": the 10% split
            assert not test(variant, crit).significant, (variant, crit)
    t = test(None, "gwa")
    assert (t.n, t.ahead, fmt_p(t.sign_p), fmt_p(t.wilcoxon_p)) == (12, 12, "0.00049", "0.00049")
    assert "(12 of 12, sign p = 0.00049, Wilcoxon p = 0.00049)" in text
    t = test(None, "last")
    assert t.significant and t.mean_diff < 0
    assert f"1 ahead, 3 level, 8 behind; sign p = {fmt_p(t.sign_p)}, Wilcoxon p = " \
        f"{fmt_p(t.wilcoxon_p)}" in text and (t.ahead, t.level, t.behind) == (1, 3, 8)
    assert not test(None, "labelwave").significant and not test(None, "val").significant
    t = test(None, "val@0.01")  # the 1% split
    assert t.significant and (t.n, t.ahead, t.level, t.behind) == (12, 11, 0, 1)
    assert (f"11 ahead, 0 level, 1 behind, {t.mean_diff:+.2f} points; sign p = {fmt_p(t.sign_p)}, "
            f"Wilcoxon p = {fmt_p(t.wilcoxon_p)}") in text
    t17, t0 = test("noise0.17", "val@0.01"), test("noise0", "val@0.01")
    assert t17.significant and (t17.ahead, fmt_p(t17.sign_p)) == (6, "0.031")
    assert not t0.significant and "at 17% noise (6 of 6 seeds, sign p = 0.031)" in text
    zero = [r for r in expand("finetune_fmnist") if r.role == "table" and r.split == 0.0]
    rows = {r.name: facts(RunResult.load_verified(RESULTS / "finetune_fmnist" / "runs_format2"
                                                  / r.name)) for r in zero}
    assert len(rows) == 12 and {f["gwa_epoch"] for f in rows.values()} == {2}  # "epoch 2"
    noisy = [f for n, f in rows.items() if "noise0.17" in n]
    assert max(f["train_last"] for f in noisy) < 83  # "below the 83% clean fraction"
    auroc = {c: [] for c in ("gwa_finetune", "gwa", "last")}
    for name in (n for n in rows if "noise0.17" in n):
        run = RunResult.load_verified(RESULTS / "finetune_fmnist" / "runs_format2" / name)
        for c in auroc:
            auroc[c].append(mislabel_auroc(run, run.selected_epoch(c)))
    assert not paired_test(auroc["gwa_finetune"], auroc["last"]).significant
    t = paired_test(auroc["gwa"], auroc["last"])
    assert (t.behind, fmt_p(t.sign_p)) == (6, "0.031")
    assert "worse in all 6 seeds (sign p = 0.031)" in text


def test_early_stop_prose_numbers():
    import csv

    with open(RESULTS / "early_stop" / "patience.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = {int(r["epochs"]) for r in rows}
    assert (min(epochs), max(epochs)) == (14, 179)  # "runs of 14 to 179 epochs"
    # "the 36 finetune_fmnist/runs_format2/stage-finetune_* runs" use gwa_finetune.
    fine = {r["run"] for r in rows if r["criterion"] == "gwa_finetune"}
    assert len(fine) == 36 and all("runs_format2/stage-finetune_" in r for r in fine)
    at3 = [r for r in rows if r["study"] == "fmnist_n/runs_format2" and r["patience"] == "3"]
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


def test_early_stop_patience10_prose():
    """results/early_stop/README.md: at patience 10 every group of 14-35-epoch runs is within
    a third of a point of zero on average; the regime study's groups still lose."""
    import csv

    with open(RESULTS / "early_stop" / "patience.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["patience"] == "10"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["study"], r["model"], r["criterion"]), []).append(r)
    for key, runs in groups.items():
        changes = [float(r["acc_change"]) for r in runs if r["acc_change"]]
        if all(14 <= int(r["epochs"]) <= 35 for r in runs):
            assert abs(np.mean(changes)) <= 1 / 3, key
        elif key[0] in ("regime", "regime/runs_format2"):  # their 92- and 179-epoch runs
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
    assert len(lines) == 2
    assert lines[1] == ("- `stage-finetune_noise0.17_split0.01_seed2`: `gwa_finetune` stops at "
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


def _regime_run(root: Path, model: str, pool: int, seconds: float, test: list[float],
                runs: str = "runs") -> None:
    from gwa_jax.experiments.plan import expand

    (run,) = [r for r in expand("regime") if r.model == model and r.seed == 0
              and r.variant == f"pool{pool}_paper_noise0"]
    rows = [{"epoch": e, "step": 10 * e, "epoch_time_s": seconds, "test_acc": a,
             "train_acc": 0.5, "gwa": 0.1 * e} for e, a in enumerate(test, start=1)]
    write_run(root / "results" / "regime" / runs / run.name, metrics=rows,
              selected={"gwa": {"epoch": len(test)}, "last": {"epoch": len(test)}})


def test_regime_cost_blocks_on_hand_made_runs(tmp_path):
    """Calibration rates, the projection and the measured run times, by hand: calibration
    runs of 10 / 12 / 14 s (ViT) and 7 s (ConvNeXt) an epoch; four paper-recipe runs in
    ``runs_x`` (the folder parameter) of 2-3 epochs."""
    from gwa_jax.experiments.writeups_regime import (
        CALIBRATION,
        calibration_rates,
        regime_cost_estimate,
        regime_cost_measured,
        regime_items,
        study_hours,
    )

    for (name, _), pair in zip(CALIBRATION, [(8, 12), (12, 12), (14, 14), (6, 8)], strict=True):
        rows = [{"epoch": e, "step": e, "epoch_time_s": t, "test_acc": 0.5, "train_acc": 0.4}
                for e, t in enumerate(pair, start=1)]
        write_run(tmp_path / "results" / "regime" / "calibration" / name, metrics=rows,
                  selected={"gwa": {"epoch": 2}})
    assert calibration_rates(tmp_path) == {"vit": [10.0, 12.0, 14.0], "convnext": [7.0]}
    _regime_run(tmp_path, "convnext", 2000, 30.0, [0.6, 0.7], runs="runs_x")
    _regime_run(tmp_path, "convnext", 8000, 90.0, [0.6, 0.8], runs="runs_x")
    _regime_run(tmp_path, "vit", 2000, 40.0, [0.5, 0.6, 0.7], runs="runs_x")
    _regime_run(tmp_path, "vit", 8000, 200.0, [0.5, 0.7, 0.8], runs="runs_x")
    assert regime_items(tmp_path) == []  # the default folder, runs_format2/, is empty
    items = regime_items(tmp_path, "runs_x")
    # epochs x pool / 2,000 x rate: ConvNeXt 2 x 1 x 7 + 2 x 4 x 7 = 70 s; ViT 3 x 1 x (10 |
    # 14) + 3 x 4 x (10 | 14) = 150 | 210 s.
    lo, hi = study_hours(items, calibration_rates(tmp_path))
    assert (lo, hi) == pytest.approx((220 / 3600, 280 / 3600))
    estimate = regime_cost_estimate(tmp_path, runs="runs_x")
    assert estimate.startswith("- about 7-14 s per epoch per 2,000 images")
    assert "one 8k-pool ViT run of 3 epochs to 0.0 h and the 4 runs" in estimate
    assert estimate.endswith("to 0-0 CPU hours.")
    # Measured: 60 + 180 + 120 + 600 s = 0.27 h, more than the 0.06-0.08 h projected.
    assert regime_cost_measured(tmp_path, runs="runs_x") == (
        "The runs took more than that projection on the 2 cores: sum of epoch times a "
        "paper-recipe run 1 / 3 min for the ConvNeXt and 2 / 10 min for the ViT at 2k / 8k "
        "images, 0.3 CPU hours for all 4 runs (projected: 0-0). The ViT at 1e-4 learns within "
        "3 epochs: test accuracy at the last epoch 70.0% at 2k and 80.0% at 8k on clean labels "
        "(section above).")


def test_a_row_is_compared_only_once_all_its_runs_are_committed(tmp_path):
    """study_claims on hand-made runs of the fmnist_n_asym plan: every 0%-split run and 2 of
    the 12 10%-split runs committed. The Val Set rows are listed as missing, not tested; with
    complete_only=False the 10% split's 2 pairs are tested."""
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups import AGAINST, missing_rows, study_claims, study_values

    folder = tmp_path / "results" / "fmnist_n_asym" / "runs_format2"
    val = [r for r in expand("fmnist_n_asym") if r.split == 0.1][:2]
    for i, run in enumerate(r for r in expand("fmnist_n_asym") if r.split == 0.0):
        acc = 0.6 + 0.001 * i
        write_run(folder / run.name, selected={c: {"epoch": 2, "test_acc": acc - d} for c, d in
                                               (("gwa", 0), ("last", 0.01), ("labelwave", 0.02),
                                                ("gd", 0.01))})
    for run in val:
        write_run(folder / run.name, selected={"val": {"epoch": 3, "test_acc": 0.7}})
    values = study_values(tmp_path, "fmnist_n_asym", runs="runs_format2")
    assert missing_rows(values, "fmnist_n_asym", AGAINST) == {"Val Set (10%)": (2, 12),
                                                              "Val Set (1%)": (0, 12)}
    text = study_claims(tmp_path, "fmnist_n_asym", runs="runs_format2")
    assert "Val Set (10%):" not in text and "GWA - last epoch: both models | 24 | +1.00 |" in text
    assert text.endswith("Not compared until all their runs are committed: Val Set (10%) (2 of "
                         "12 runs); Val Set (1%) (0 of 12 runs).")
    loose = study_claims(tmp_path, "fmnist_n_asym", runs="runs_format2", complete_only=False)
    assert "| GWA - Val Set (10%): vit | 2 |" in loose and "Not compared" not in loose


def test_regime_rows_are_compared_only_once_all_their_runs_are_committed(tmp_path):
    """A partly committed regime sweep: the 6 clean paper-recipe ConvNeXt runs (GWA at epoch
    1, the last epoch 2: GWA - last = -2, -1, 0 points at 2k for seeds 0-2, -5 at 8k) and one
    ViT run. Only the rows whose planned runs are all in are tested, by hand; the others are
    listed with their counts."""
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups_regime import (
        regime_cell_claims,
        regime_changes,
        regime_claims,
        regime_stops,
    )

    def run(model, pool, seed, test):
        (r,) = [r for r in expand("regime") if dict(r.args) == {
            "model": model, "pool": pool, "recipe": "paper", "noise": 0.0, "seed": seed}]
        rows = [{"epoch": e, "step": 10 * e, "test_acc": a, "train_acc": 0.5 + 0.1 * e,
                 "gwa": 0.3 - 0.1 * e, "gwa_se": 0.01, "align_kurtosis": -0.5 * e}
                for e, a in enumerate(test, start=1)]
        write_run(tmp_path / "results" / "regime" / "runs_x" / r.name, metrics=rows,
                  selected={c: {"epoch": e, "test_acc": test[e - 1]} for c, e in (
                      ("gwa", 1), ("last", 2), ("labelwave", 2), ("gd", 2))})

    for seed in range(3):
        run("convnext", 2000, seed, [0.70 + 0.01 * seed, 0.72])
        run("convnext", 8000, seed, [0.70, 0.75])
    run("vit", 2000, 0, [0.70, 0.72])
    cells = regime_cell_claims(tmp_path, runs="runs_x", gpu=False)
    (row,) = [ln for ln in cells.splitlines() if ln.startswith("| convnext, paper recipe, 0%")]
    assert row.startswith("| convnext, paper recipe, 0% noise | 6 | -3.00 | 0/1/5 | 0.062 |")
    assert cells.count("| convnext") + cells.count("| vit") == 1
    assert cells.endswith(
        "Not compared until all their runs are committed: convnext, paper recipe, 17% noise (0 "
        "of 6 runs); convnext, plain recipe, 0% noise (0 of 6 runs); convnext, plain recipe, "
        "17% noise (0 of 6 runs); vit, paper recipe, 0% noise (1 of 6 runs); vit, paper recipe, "
        "17% noise (0 of 6 runs); vit, plain recipe, 0% noise (0 of 6 runs); vit, plain recipe, "
        "17% noise (0 of 6 runs).")
    assert "GPU loop" not in cells
    claims = regime_claims(tmp_path, runs="runs_x")
    assert claims.count("| GWA - ") == 0
    assert "No row has all its runs committed yet." in claims
    (pool,) = [ln for ln in claims.splitlines() if ln.startswith("| convnext, paper recipe, cl")]
    assert pool.startswith("| convnext, paper recipe, clean | 3 | +4.00 | 3/0/0 | 0.25 |")
    assert "GWA - last: paper recipe, 0% noise (7 of 12 runs)" in claims
    assert "convnext, paper recipe, clean + 17% (6 of 12 runs)" in claims
    assert "vit, paper recipe, clean (1 of 6 runs)" in claims
    stops = regime_stops(tmp_path, runs="runs_x").splitlines()
    assert [ln.split(" | ")[:2] for ln in stops[2:]] == [
        ["| ViT 2k paper 0%", "1 of 3"], ["| ConvNeXt 2k paper 0%", "3 of 3"],
        ["| ConvNeXt 8k paper 0%", "3 of 3"]]
    # GWA at epoch 1 (70-72%), LabelWave, GD and the last epoch at 2 (72%); best epoch 1 or 2
    # (72%); regret 2 / 1 / 0 points; GWA falls, so no other epoch is within 1 SE; kurtosis
    # -0.5 and -1.0; GWA defined in both epochs; training accuracy 70% at the last epoch.
    head = ("Model,Pool,Recipe,Noise,Seed,last epoch (acc),gwa epoch (acc),gwa regret\n")
    lines = [f"convnext,{pool},paper,0%,{s},92 ({80 + s:.2f}),{50 + 10 * s} ({79 - s:.2f}),"
             f"{1 + s:.2f}\n" for pool in (2000, 8000) for s in range(3)]
    (tmp_path / "results" / "regime" / "runs_f1.csv").write_text(head + "".join(lines))
    changes = regime_changes(tmp_path, runs="runs_x", previous="runs_f1.csv")
    # format 2: last epoch 72 / 75%, GWA at epoch 1 with 70-72% / 70%, regret 2-1-0 / 5
    assert changes.splitlines()[2:4] == [
        "| ConvNeXt 2k paper 0% | 81.00 -> 72.00 | 78.00 -> 71.00 | 60.0 -> 1.0 | 2.00 -> 1.00 |",
        "| ConvNeXt 8k paper 0% | 81.00 -> 75.00 | 78.00 -> 70.00 | 60.0 -> 1.0 | 2.00 -> 5.00 |"]
    assert "ViT 2k paper 0% (1 of 3 runs)" in changes.splitlines()[-1]
    assert stops[3] == ("| ConvNeXt 2k paper 0% | 3 of 3 | 1 (70.00-72.00) | 2 (72.00) | "
                        "2 (72.00) | 2 (72.00) | 1-2 (72.00) | 0.0-2.0 | 1 | -1.00 | 0 of 2 "
                        "| 70.0 |")


def test_regime_auroc_block_on_hand_made_runs(tmp_path):
    """Six noisy paper-recipe ViT runs (2k and 8k, seeds 0-2) whose scores rank the two
    mislabelled ids of four last at GWA's epoch (AUROC 1) and mix them at the last epoch
    (AUROC 0.5); seed 2 at 8k has no scores for its last epoch, then has them."""
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups_regime import regime_auroc

    meta = {"ids": np.arange(4), "noise_mask": np.array([0, 1, 0, 1], bool),
            "split": np.zeros(4, np.int8)}
    good, mixed = np.array([0.3, -0.2, 0.1, -0.1], np.float32), np.array(
        [0.3, 0.4, -0.1, -0.2], np.float32)

    def write(last_scores: bool) -> None:
        for r in expand("regime"):
            a = dict(r.args)
            if (a["model"], a["recipe"], a["noise"]) != ("vit", "paper", 0.17):
                continue
            scores = {1: good} | ({2: mixed} if last_scores or (a["pool"], a["seed"]) !=
                                  (8000, 2) else {})
            write_run(tmp_path / "results" / "regime" / "runs_x" / r.name,
                      selected={"gwa": {"epoch": 1}, "last": {"epoch": 2}},
                      metrics=[{"epoch": e, "step": e, "test_acc": 0.5} for e in (1, 2)],
                      scores=scores, meta=meta)

    write(last_scores=False)
    text = regime_auroc(tmp_path, runs="runs_x")
    assert text.startswith("No row has all its runs committed yet.")
    assert "ViT paper, 17% noise, with scores (5 of 6 runs); ConvNeXt paper" in text
    assert "; ViT plain, 17% noise (0 of 6 runs)" in text
    write(last_scores=True)
    (row,) = [ln for ln in regime_auroc(tmp_path, runs="runs_x").splitlines()
              if ln.startswith("| ViT paper")]
    assert row == "| ViT paper, 17% noise | 6 | 1.000 | 0.500 | 6/0/0 | 0.031 | 0.031 |"


def test_remaining_hours_on_hand_made_runs(tmp_path):
    """Four planned regime runs by hand: two with a format-2 run (30 and 50 min) and an
    earlier twin (20 and 30 min: ratio 80 / 50 = 1.6); a third with only its twin (60 min ->
    96 min left); the fourth with neither, at the mean format-2 minutes of its model."""
    from gwa_jax.experiments.plan import expand
    from gwa_jax.experiments.writeups import remaining_hours

    runs = expand("regime")
    vit = [r for r in runs if r.model == "vit"]

    def run(folder: str, r, minutes: float) -> None:
        write_run(tmp_path / "results" / "regime" / folder / r.name,
                  metrics=[{"epoch": 1, "step": 1, "epoch_time_s": 60 * minutes}],
                  selected={"gwa": {"epoch": 1}})

    for r, new, old in ((vit[0], 30, 20), (vit[1], 50, 30)):
        run("new", r, new)
        run("old", r, old)
    run("old", vit[2], 60)
    hours, ratio, n = remaining_hours(tmp_path, "regime", "regime", "new", "old")
    assert (ratio, n) == (pytest.approx(1.6), 2)
    # vit[2]: 96 min; every other missing run (45 of them): no twin, the ViT's mean 40 min or
    # the ConvNeXt's (no runs: 0 min).
    others = len([r for r in runs[3:] if r.model == "vit"]) * 40
    assert hours == pytest.approx((96 + others) / 60)
