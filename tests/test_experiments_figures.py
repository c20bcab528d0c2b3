"""make_figures on hand-made run directories: every figure is written as a non-empty PNG, and
missing inputs give one "skipped" line per figure instead of a traceback. The runs' configs
use scikit-learn's digits, so Fig. 4 loads real images through the input pipeline offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gwa_jax.config_base import default_config
from gwa_jax.data import build_data
from gwa_jax.experiments.figures import MissingInput, fig4, fig16, make_figures, three_epochs
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult
from synthetic import write_run

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 8
FIGS = ("fig2", "fig3", "fig4", "fig5", "fig6", "fig16")


@pytest.fixture(scope="module")
def digits():
    c = default_config()
    c.dataset.name = "digits"
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.3
    c.batch_size = 32
    return c, build_data(c).meta


def write_digits_run(workdir: Path, digits, *, seed: int, split: float, offline: bool = False,
                     quality: float = 0.0) -> None:
    config, meta = digits
    rng = np.random.default_rng(seed)
    ids, noisy = meta["ids"], meta["noise_mask"]
    metrics, scores = [], {}
    for e in range(1, EPOCHS + 1):
        s = np.full(len(noisy), np.nan, np.float32)
        s[ids] = np.where(noisy[ids], -0.1, 0.02 * e + quality) + 0.05 * rng.standard_normal(
            len(ids))
        scores[e] = s
        row = {"epoch": e, "step": 10 * e, "gwa": 0.1 * e - 0.012 * e * e + quality,
               "align_mean": 0.01 * e + quality, "labelwave": None if e == 1 else 100 / e,
               "test_acc": 0.5 + 0.04 * e - 0.003 * e * e + quality, "gd": 1.0 + 0.1 * e % 3,
               "gwa_se": 0.01 + 0.002 * e}
        if split:
            row["val_acc"] = 0.5 + 0.05 * e - 0.004 * e * e
        if offline:
            row["gwa_offline"] = row["gwa"] * 1.05
        metrics.append(row)
    sel = {"gwa": {"epoch": 4, "test_acc": 0.7}, "labelwave": {"epoch": 6, "test_acc": 0.68},
           "gd": {"epoch": 8, "test_acc": 0.65}, "last": {"epoch": 8, "test_acc": 0.62 + quality}}
    if split:
        sel = {"val": {"epoch": 5, "test_acc": 0.7}, "last": sel["last"]}
    write_run(workdir, config=config.to_dict(), metrics=metrics, scores=scores, meta=meta,
              selected=sel, total_steps=10 * EPOCHS)


@pytest.fixture(scope="module")
def root(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("runs")
    for run in expand("fmnist_n"):
        wanted = (run.role == "fig6" or (run.variant in ("noise0", "noise0.4")
                                        and run.split in (0.1, 0.0) and run.seed < 2))
        if wanted:
            write_digits_run(run.workdir(root), digits, seed=run.seed, split=run.split,
                             offline=run.role == "fig6", quality=0.01 * run.seed)
    return root


def test_make_figures_writes_every_png(root, tmp_path):
    lines = []
    written = make_figures("fmnist_n", root, tmp_path, log=lines.append)
    names = sorted(p.name for p in written)
    assert names == ["fig16_clean_vs_mislabelled.png", "fig2_training_curves.png",
                     "fig3_alignment_vs_accuracy.png", "fig4_aligned_images.png",
                     "fig5_gwa_over_training.png", "fig6_online_vs_offline.png"]
    for p in written:
        assert p.parent == tmp_path / "fmnist_n" and p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(line.startswith(("fig", "fmnist_n")) for line in lines), lines


def test_model_figures_are_named_per_model_and_fig6_keeps_that_model(root, tmp_path):
    lines = []
    written = make_figures("fmnist_n", root, tmp_path, model="vit", log=lines.append)
    names = sorted(p.name for p in written)
    assert names == ["fig16_clean_vs_mislabelled_vit.png", "fig2_training_curves_vit.png",
                     "fig3_alignment_vs_accuracy.png", "fig4_aligned_images_vit.png",
                     "fig5_gwa_over_training_vit.png", "fig6_online_vs_offline_vit.png"]
    # A model with no offline run has no Fig. 6 instead of borrowing another model's.
    lines.clear()
    make_figures("fmnist_n", root, tmp_path, model="resnet", only=["fig6"], log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("fig6: skipped (")


def test_script_entry_point_and_explicit_runs(root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("_mf", REPO / "scripts" / "make_figures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = next(r for r in expand("fmnist_n") if r.variant == "noise0.4" and r.split == 0
               and r.seed == 1 and r.model == "convnext")
    twin = next(r for r in expand("fmnist_n") if r.variant == "noise0.4" and r.split == 0.1
                and r.seed == 1 and r.model == "convnext")
    assert script.main(["fmnist_n", "--root", str(root), "--out", str(tmp_path), "--only",
                        "fig2", "fig16", "--run", str(run.workdir(root)), "--val-run",
                        str(twin.workdir(root))]) == 0
    out = capsys.readouterr().out
    assert "fig2: wrote" in out and "fig16: wrote" in out and "fig4" not in out
    assert (tmp_path / "fmnist_n" / "fig16_clean_vs_mislabelled.png").stat().st_size > 0


def test_missing_inputs_are_skipped_with_one_line(tmp_path):
    lines = []
    written = make_figures("fmnist_n", tmp_path / "empty", tmp_path / "out", log=lines.append)
    assert written == []
    assert lines[0].startswith("fmnist_n: no finished run under")
    skipped = [ln for ln in lines[1:]]
    assert [ln.split(":")[0] for ln in skipped] == list(FIGS)
    assert all("skipped (" in ln and "\n" not in ln for ln in skipped)
    assert not (tmp_path / "out").exists()


def test_run_without_scores_or_noise(tmp_path, digits):
    bare = write_run(tmp_path / "bare", selected={"gwa": {"epoch": 1, "test_acc": 0.5}},
                     metrics=[{"epoch": 1, "step": 1, "gwa": 0.1}])
    with pytest.raises(MissingInput, match="no alignment/meta.npz"):
        fig4(RunResult.load(bare), tmp_path / "x.png")
    with pytest.raises(MissingInput, match="no alignment/epoch"):
        three_epochs(RunResult.load(bare))
    config, meta = digits
    clean = dict(meta, noise_mask=np.zeros_like(meta["noise_mask"]))
    path = write_run(tmp_path / "clean", selected={"gwa": {"epoch": 1, "test_acc": 0.5}},
                     meta=clean, scores={1: np.zeros(len(clean["noise_mask"]))},
                     config=config.to_dict())
    with pytest.raises(MissingInput, match="no mislabelled"):
        fig16(RunResult.load(path), tmp_path / "y.png")


def test_three_epochs_are_early_gwa_and_last(root):
    run = next(r for r in expand("fmnist_n") if r.variant == "noise0.4" and r.split == 0
               and r.seed == 0 and r.model == "vit")
    assert three_epochs(RunResult.load(run.workdir(root))) == [1, 4, 8]


def test_gwa_band_is_one_standard_error_on_the_curves_scale():
    import matplotlib.pyplot as plt

    from gwa_jax.experiments.figures import _gwa_band, _normalise

    gwa = np.array([0.1, 0.4, np.nan, 0.3])
    se = np.array([0.02, 0.05, np.nan, 0.01])
    steps = np.array([10, 20, 30, 40])
    fig, ax = plt.subplots()
    _gwa_band(ax, gwa, se, steps, "C0")
    (band,) = ax.collections
    verts = np.concatenate([p.vertices for p in band.get_paths()])
    y = _normalise(gwa)
    span = 0.3  # max - min of the finite GWA values.
    for i in (0, 1, 3):  # Each defined epoch's band is y +- se / span at its step.
        at = verts[np.isclose(verts[:, 0], steps[i])][:, 1]
        assert at.min() == pytest.approx(y[i] - se[i] / span)
        assert at.max() == pytest.approx(y[i] + se[i] / span)
    assert not np.isclose(verts[:, 0], 30).any()  # No band where GWA is undefined.
    ax.clear()
    _gwa_band(ax, gwa, np.full(4, np.nan), steps, "C0")  # Runs without gwa_se: no band.
    assert not ax.collections
    plt.close(fig)


def test_fig5_panels_per_variant_and_stops_at_the_selected_epochs(root, tmp_path, monkeypatch):
    from gwa_jax.experiments import figures

    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig) or path)
    runs = [((r.model, r.variant, r.split, r.seed), RunResult.load(r.workdir(root)))
            for r in expand("fmnist_n") if r.role == "table"]
    runs = [(k, res) for k, res in runs if res is not None]
    figures.fig5(runs, tmp_path / "f.png")
    (fig,) = kept
    groups = sorted({(k[0], k[1]) for k, _ in runs if k[2] == 0.0})
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "GWA"]
    assert len(panels) == len(groups) == 4
    # Every 0%-split run: its GWA line, and a star at (selected gwa epoch, GWA there) = (4, .)
    for ax in panels:
        stars = [ln for ln in ax.lines if ln.get_marker() == "*" and len(ln.get_xdata())]
        seeds = [ln for ln in ax.lines if ln.get_label().startswith("GWA, seed")]
        assert len(stars) == len(seeds) == 2
        for star, line in zip(stars, seeds, strict=True):
            x, y = line.get_data()
            assert star.get_xdata()[0] == 4 and star.get_ydata()[0] == y[list(x).index(4)]
    plt.close(fig)
    with pytest.raises(MissingInput):
        figures.fig5([], tmp_path / "g.png")
