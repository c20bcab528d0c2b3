"""scores.npz: packing a run's per-sample scores (trained ids, float16, a few epochs) into an
exported run folder, and reading it back through RunResult, the tables, the figures' epoch
picks, gwa-inspect's ranking and the checksums (scripts/pack_scores.py, scripts/seal_runs.py).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.figures import three_epochs
from gwa_jax.experiments.mislabels import most_misaligned
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult, auroc, mislabel_auroc
from gwa_jax.experiments.scores_pack import PackError, default_epochs, pack_run
from gwa_jax.run.integrity import DamagedRunError, check_files, verify_run
from gwa_jax.run.packed_scores import PackedScoresError, pack_arrays, read_packed
from scripts_loader import load_script
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]
SPACE, TRAINED, EPOCHS, RATE = 6000, 2000, 12, 0.2
SELECTED = {"gwa": 5, "labelwave": 7, "last": EPOCHS}
#: Largest |AUROC(float16) - AUROC(float32)| allowed. float16 rounds monotonically, so it
#: only merges scores into ties (never swaps two); each tied clean / mislabelled pair moves
#: the AUROC by 1 / (2 n_pos n_neg) = 1.6e-6 here. With 2,000 scores spread over ~0.5 and a
#: float16 step of 2**-14 to 2**-11 there, some tens of such pairs are expected (2.7e-5 here).
#: Measured on real runs: <= 2.2e-5 over every epoch of 2,000-id quickstart runs, 7.3e-5 on
#: a 256-id run (66 noisy runs, 344 epochs); 5e-4 is 1/20 of the tables' last digit.
AUROC_BOUND = 5e-4
RUN = next(r for r in expand("fmnist_n") if r.model == "vit" and r.variant == "noise0.4"
           and r.split == 0 and r.seed == 0)




def make_run(workdir: Path, seed: int = 0) -> Path:
    """A finished run: 2,000 trained ids of 6,000, 20% mislabelled (lower scores), a score
    file every epoch, one trained id without a score at epoch 5."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(SPACE, TRAINED, replace=False))
    true = rng.integers(0, 10, SPACE).astype(np.int32)
    noisy = np.zeros(SPACE, bool)
    noisy[rng.choice(ids, int(RATE * TRAINED), replace=False)] = True
    given = np.where(noisy, (true + 1 + rng.integers(0, 9, SPACE)) % 10, true).astype(np.int32)
    split = np.full(SPACE, 2, np.int8)
    split[ids] = 0
    meta = {"ids": ids, "true_labels": true, "train_labels": given, "noise_mask": noisy,
            "split": split}
    scores = {}
    for epoch in range(1, EPOCHS + 1):
        s = np.full(SPACE, np.nan, np.float32)
        s[ids] = rng.normal(0.15, 0.12, TRAINED) - 0.02 * epoch * noisy[ids]
        if epoch == 5:
            s[ids[3]] = np.nan
        scores[epoch] = s
    metrics = [{"epoch": e, "step": 10 * e, "gwa": 0.1, "test_acc": 0.5} for e in
               range(1, EPOCHS + 1)]
    selected = {k: {"epoch": e, "test_acc": 0.6 + e / 100} for k, e in SELECTED.items()}
    return write_run(workdir, selected=selected, metrics=metrics, meta=meta, scores=scores,
                     config={"dataset": {"name": "fashion_mnist"}, "model": {"name": "vit"}})


def export(workdir: Path, dest: Path, seal: bool = True) -> Path:
    """An exported run folder: the run files without alignment/, sealed."""
    dest.mkdir(parents=True)
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        shutil.copy(workdir / name, dest / name)
    if seal:
        assert load_script("seal_runs").main([str(dest)]) == 0
    return dest


@pytest.fixture
def runs(tmp_path):
    src = make_run(RUN.workdir(tmp_path / "src"))
    dest = export(src, RUN.workdir(tmp_path / "out"))
    return src, dest


def test_packed_scores_and_meta_read_back_to_float16_precision(runs):
    src, dest = runs
    path = pack_run(src, dest)
    assert path == dest / "scores.npz" and verify_run(dest) == []  # Recorded in the manifest.
    a, b = RunResult.load_verified(src), RunResult.load_verified(dest)
    assert b.packed_run and not a.packed_run
    # Each criterion's epoch and the figures' early / GWA / last epochs; nothing else.
    assert b.score_epochs() == default_epochs(a) == sorted({1, *SELECTED.values()})
    assert three_epochs(b) == three_epochs(a)
    with np.load(path) as f:
        assert f["ids"].dtype == np.int32 and f["scores"].dtype == np.float16
        assert f["scores"].shape == (len(b.score_epochs()), TRAINED)
        assert f["by_id.train_labels"].dtype == np.int8 and f["by_id.split"].dtype == np.int8
    ma, mb = a.meta(), b.meta()
    ids = ma["ids"]
    np.testing.assert_array_equal(mb["ids"], ids)
    for key in ("true_labels", "train_labels", "noise_mask", "split"):
        assert mb[key].dtype == ma[key].dtype and mb[key].shape == ma[key].shape
        np.testing.assert_array_equal(mb[key][ids], ma[key][ids])
        others = np.setdiff1d(np.arange(SPACE), ids)
        assert np.all(mb[key][others] == (False if key == "noise_mask" else -1))
    for epoch in b.score_epochs():
        full, packed = a.scores(epoch), b.scores(epoch)
        assert packed.dtype == np.float32 and packed.shape == full.shape
        np.testing.assert_array_equal(packed, full.astype(np.float16).astype(np.float32))
        np.testing.assert_allclose(packed[ids], full[ids], rtol=2.0 ** -11, atol=2.0 ** -24)
        assert np.isnan(packed[np.setdiff1d(np.arange(SPACE), ids)]).all()
    assert np.isnan(b.scores(5)[ids[3]]) and b.scores(3) is None
    assert a.noisy() and b.noisy()


def test_auroc_from_float16_scores_only_moves_through_ties(runs):
    src, dest = runs
    pack_run(src, dest, epochs="all")
    a, b = RunResult.load(src), RunResult.load(dest)
    assert b.score_epochs() == list(range(1, EPOCHS + 1))
    y = a.meta()["noise_mask"]
    ids = a.meta()["ids"]
    for epoch in b.score_epochs():
        diff = abs(mislabel_auroc(a, epoch) - mislabel_auroc(b, epoch))
        assert diff <= AUROC_BOUND
        s = b.scores(epoch)[ids]
        keep = np.isfinite(s)
        _, group = np.unique(s[keep], return_inverse=True)  # float16 ties.
        pos = np.bincount(group, weights=y[ids][keep])
        neg = np.bincount(group, weights=~y[ids][keep])
        n_pos, n_neg = pos.sum(), neg.sum()
        assert diff <= (pos * neg).sum() / (2 * n_pos * n_neg) + 1e-12
    # The rank formula on tied scores: a tie between a positive and a negative counts half.
    assert auroc([1.0, 1.0], [True, False]) == 0.5


def test_tables_give_the_same_auroc_cells_from_scores_npz(tmp_path):
    src = make_run(RUN.workdir(tmp_path / "src"))
    pack_run(src, export(src, RUN.workdir(tmp_path / "out")))
    spec = T.table_specs()["fmnist_n"]
    mds = []
    for root in (tmp_path / "src", tmp_path / "out"):
        results, planned = T.collect(spec.plan, root)
        aspec = T.auroc_spec(spec, results)
        mds.append(T.to_markdown(aspec, T.build_cells(aspec, results, planned)))
    assert mds[0] == mds[1]
    assert "ViT GWA epoch" in mds[1] and "ViT last epoch" in mds[1]


def test_mislabel_ranking_is_the_same_from_scores_npz(runs):
    src, dest = runs
    pack_run(src, dest)
    a, b = most_misaligned(RunResult.load(src), 5, k=20), most_misaligned(RunResult.load(dest),
                                                                           5, k=20)
    np.testing.assert_array_equal(a.given_labels, b.given_labels)
    np.testing.assert_array_equal(a.true_labels, b.true_labels)
    assert a.num_scored == b.num_scored and a.noise_rate == b.noise_rate
    assert len(set(a.ids.tolist()) & set(b.ids.tolist())) >= 18  # Only float16 ties reorder.


def test_seal_and_verify_catch_a_modified_scores_npz(runs, capsys):
    src, dest = runs
    seal = load_script("seal_runs")
    export_unsealed = export(src, dest.parent / "unsealed", seal=False)
    pack_run(src, export_unsealed)  # No manifest there yet: sealed afterwards.
    assert seal.main([str(export_unsealed)]) == 0
    assert "scores.npz" in (export_unsealed / "checksums.json").read_text()
    pack_run(src, dest)
    assert seal.main([str(dest), "--check"]) == 0
    data = bytearray((dest / "scores.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (dest / "scores.npz").write_bytes(bytes(data))
    capsys.readouterr()
    assert seal.main([str(dest), "--check"]) == 1
    assert "scores.npz is missing or damaged" in capsys.readouterr().err
    assert "scores.npz" in check_files(dest, repair=False).problems
    with pytest.raises(DamagedRunError, match="scores.npz"):
        RunResult.load_verified(dest)
    run = RunResult.load(dest)
    with pytest.raises(DamagedRunError, match="scores.npz"):
        run.meta()
    assert run.score_epochs() == [] and run.scores(5) is None  # Skipped, named in a warning.
    assert seal.main([str(dest)]) == 1  # Left as damaged, not blessed.


def test_never_overwrites_without_force_and_packs_reproducibly(runs, capsys):
    src, dest = runs
    pack = load_script("pack_scores")
    out = str(dest.parent)
    assert pack.main([str(src), "--out", out]) == 0
    first = hashlib.sha256((dest / "scores.npz").read_bytes()).hexdigest()
    capsys.readouterr()
    assert pack.main([str(src), "--out", out, "--epochs", "all"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scores.npz exists; pass --force" in err
    with pytest.raises(PackError, match="exists"):
        pack_run(src, dest)
    assert hashlib.sha256((dest / "scores.npz").read_bytes()).hexdigest() == first
    assert pack.main([str(src), "--out", out, "--epochs", "all", "--force"]) == 0
    assert RunResult.load(dest).score_epochs() == list(range(1, EPOCHS + 1))
    assert pack.main([str(src), "--out", out, "--force"]) == 0  # Same bytes again.
    assert hashlib.sha256((dest / "scores.npz").read_bytes()).hexdigest() == first
    assert verify_run(dest) == []


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere"], "is not a directory"),
    (["{src}", "--epochs", "3,x"], "--epochs must be"),
    (["{src}", "--epochs", "99"], "no saved scores for epoch(s) 99"),
    (["{tmp}"], "holds no finished run"),
])
def test_bad_input_is_one_line(runs, tmp_path, capsys, args, message):
    src, dest = runs
    pack = load_script("pack_scores")
    argv = [a.format(tmp=tmp_path, src=src) for a in args] + ["--out", str(tmp_path / "o")]
    assert pack.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pack_scores: error: ") and message in err


def test_pack_arrays_refuses_what_float16_cannot_hold_and_reader_refuses_junk(tmp_path):
    meta = {"ids": np.array([0, 2]), "noise_mask": np.array([0, 1, 0], bool)}
    with pytest.raises(PackedScoresError, match="does not fit float16"):
        pack_arrays(meta, {1: np.array([1e5, np.nan, 0.0], np.float32)})
    with pytest.raises(PackedScoresError, match="ids go up to 2"):
        pack_arrays(meta, {1: np.zeros(2, np.float32)})
    junk = tmp_path / "scores.npz"
    np.savez(junk, x=np.zeros(3))
    with pytest.raises(PackedScoresError, match="not a packed scores file"):
        read_packed(junk)


def test_export_runs_writes_the_run_files_scores_and_carries_the_checksums(tmp_path, capsys):
    src = make_run(RUN.workdir(tmp_path / "src"))
    unfinished = tmp_path / "src" / "unfinished"
    unfinished.mkdir()
    out = tmp_path / "results"
    script = load_script("export_runs")
    assert script.main([str(src), str(unfinished), "--out", str(out)]) == 0
    assert "not finished, skipped" in capsys.readouterr().out
    dest = out / src.name
    assert sorted(p.name for p in dest.iterdir()) == [
        "checksums.json", "config.json", "metrics.jsonl", "scores.npz", "summary.json"]
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        assert (dest / name).read_bytes() == (src / name).read_bytes()
    assert not check_files(dest, repair=False).lines()
    run, orig = RunResult.load_verified(dest), RunResult.load_verified(src)
    assert run.score_epochs() == default_epochs(orig)
    assert mislabel_auroc(run, 7) == pytest.approx(mislabel_auroc(orig, 7), abs=5e-4)
    # A second export skips the folder; --force replaces it with the same bytes.
    before = (dest / "scores.npz").read_bytes()
    assert script.main([str(src), "--out", str(out)]) == 0
    assert "exists, skipped" in capsys.readouterr().out
    assert script.main([str(src), "--out", str(out), "--force"]) == 0
    assert (dest / "scores.npz").read_bytes() == before
    # A damaged source run is refused with one line and nothing is exported.
    (src / "metrics.jsonl").write_text("{}\n")
    assert script.main([str(src), "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("export_runs: error: ") and "\n" not in err
    assert not (tmp_path / "other").exists()
