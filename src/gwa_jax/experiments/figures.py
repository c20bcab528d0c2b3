"""The paper's figures from run directories (matplotlib, Agg backend, PNG).

* Fig. 2: normalised validation accuracy (from the 10%-split twin), LabelWave's prediction
  changes and GWA over training of one 0%-split run, each criterion's stop marked; the score
  distribution at three epochs beside it.
* Fig. 3: max mean alignment vs final test accuracy across runs, Pearson / Spearman in the
  legend.
* Fig. 4: most and least aligned training images of two classes at three epochs.
* Fig. 6: online vs offline GWA over epochs (runs trained with ``gwa.offline_every=1``).
* Fig. 16: score histograms of clean vs mislabelled samples at three epochs.

Every ``fig*`` function returns the written path, or raises :class:`MissingInput` with a
one-line reason; :func:`make_figures` turns that into a "skipped" line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gwa_jax.experiments.plan import MODEL_NAMES  # noqa: E402
from gwa_jax.experiments.results import RunResult, correlation, mislabel_auroc  # noqa: E402

CRITERION_STYLE = {
    "val": ("Val. acc. (10%)", "tab:blue", "o"),
    "labelwave": ("LabelWave", "tab:orange", "s"),
    "gwa": ("GWA", "tab:green", "*"),
    "gd": ("GD", "tab:purple", "v"),
}
#: Two classes shown in Fig. 4 per dataset (the paper's dog and car for CIFAR-10).
FIG4_CLASSES = {"cifar10": (5, 1), "cifar10_n": (5, 1), "fashion_mnist": (0, 6)}


class MissingInput(Exception):
    """A figure's input is not there; the message is one line."""


def _normalise(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return values
    lo, hi = finite.min(), finite.max()
    return (values - lo) / (hi - lo) if hi > lo else values * 0.0


def _gwa_band(ax: Any, gwa: np.ndarray, gwa_se: np.ndarray, steps: np.ndarray,
              color: str) -> None:
    """GWA +- one bootstrap standard error, on the same normalised scale as the curve."""
    finite = gwa[np.isfinite(gwa)]
    if not np.isfinite(gwa_se).any() or len(finite) < 2 or finite.max() <= finite.min():
        return
    lo, span = finite.min(), finite.max() - finite.min()
    ax.fill_between(steps, (gwa - gwa_se - lo) / span, (gwa + gwa_se - lo) / span,
                    color=color, alpha=0.2, lw=0, label="GWA +- 1 bootstrap SE")
    ax.set_ylim(-0.1, 1.12)  # Near GWA's singularity the SE can dwarf the curve: clip it.


def three_epochs(run: RunResult) -> list[int]:
    """Early (5% of training), GWA-selected and last epoch, among the saved score epochs."""
    saved = run.score_epochs()
    if not saved:
        raise MissingInput(f"no alignment/epoch_*.npy in {run.workdir}")
    last = saved[-1]
    early = max(1, round(0.05 * last))
    gwa = run.selected_epoch("gwa") or saved[len(saved) // 2]
    wanted = [early, gwa, last]
    picked = [min(saved, key=lambda e, w=w: (abs(e - w), e)) for w in wanted]
    return sorted(dict.fromkeys(picked))


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _label(run: RunResult) -> str:
    cfg = run.config or {}
    ds = cfg.get("dataset", {})
    noise = ds.get("label_noise", {})
    text = f"{cfg.get('model', {}).get('name', '?')} on {ds.get('name', '?')}"
    if ds.get("label_key", "label") != "label":
        text += f" ({ds['label_key']})"
    if noise.get("kind", "none") != "none" and noise.get("rate"):
        text += f", {noise['kind']} noise {100 * noise['rate']:g}%"
    return text


def fig2(run: RunResult, val_run: RunResult | None, path: Path) -> Path:
    """Fig. 2: validation accuracy, LabelWave and GWA over training (normalised), stops
    marked; alignment-score distribution at three epochs on the right."""
    if not run.metrics:
        raise MissingInput(f"no metrics.jsonl in {run.workdir}")
    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]},
                                   layout="constrained")
    curves: dict[str, tuple[np.ndarray, np.ndarray, RunResult]] = {}
    if val_run is not None and val_run.metrics:
        curves["val"] = (*val_run.column("val_acc", "step"), val_run)
    curves["labelwave"] = (*run.column("labelwave", "step"), run)
    curves["gwa"] = (*run.column("gwa", "step"), run)
    if np.isfinite(run.column("gd")[1]).any():
        curves["gd"] = (*run.column("gd", "step"), run)
    for name, (steps, values, source) in curves.items():
        label, color, marker = CRITERION_STYLE[name]
        y = _normalise(values)
        ax.plot(steps, y, color=color, label=label, lw=1.6)
        if name == "gwa":
            _gwa_band(ax, values, source.column("gwa_se", "step")[1], steps, color)
        entry = source.selected(name)
        stop = None if entry is None else entry.get("step")
        if stop is not None and stop in set(steps.tolist()):
            i = int(np.flatnonzero(steps == stop)[0])
            if np.isfinite(y[i]):
                ax.plot([stop], [y[i]], marker=marker, color=color, ms=11, mec="k",
                        label=f"{label} stop (epoch {entry['epoch']})")
    steps, test = run.column("test_acc", "step")
    ax.plot(steps, _normalise(test), color="0.5", ls="--", lw=1, label="test acc. (0% split)")
    ax.set_xlabel("step")
    ax.set_ylabel("normalised value")
    ax.set_title(f"Fig. 2: {_label(run)}")
    ax.legend(fontsize=7, loc="best")
    try:
        for epoch in three_epochs(run):
            scores = run.scores(epoch)
            s = scores[np.isfinite(scores)]
            ax_d.hist(s, bins=60, histtype="step", density=True, lw=1.4, label=f"epoch {epoch}")
        ax_d.set_xlabel("alignment score")
        ax_d.set_title("score distribution")
        ax_d.legend(fontsize=7)
    except MissingInput:
        ax_d.text(0.5, 0.5, "no saved scores", ha="center", transform=ax_d.transAxes)
    return _save(fig, path)


def fig5(runs: Sequence[tuple[tuple[str, str, float, int], RunResult]], path: Path) -> Path:
    """Fig. 5: GWA over training of every 0%-split run (one panel per model and data
    variant, one line per seed, +- one bootstrap SE where recorded), the ``gwa`` and
    ``gwa_finetune`` stops marked, test accuracy on the right axis. In fine-tuning the paper
    finds GWA first dipping, then rising; ``gwa_finetune`` takes the maximum after the dip."""
    groups: dict[tuple[str, str], list[tuple[int, RunResult]]] = {}
    for (model, variant, split, seed), result in runs:
        if split == 0.0 and result.metrics:
            groups.setdefault((model, variant), []).append((seed, result))
    if not groups:
        raise MissingInput("no finished 0%-split run with metrics")
    keys = list(groups)[:8]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.8), squeeze=False,
                             layout="constrained")
    for ax, key in zip(axes[0], keys, strict=True):
        acc_ax = ax.twinx()
        later: list[float] = []  # GWA after the first epoch, to scale the axis (see below).
        first: list[float] = []
        for i, (seed, result) in enumerate(sorted(groups[key], key=lambda t: t[0])):
            color = f"C{i}"
            epochs, gwa = result.column("gwa")
            _, se = result.column("gwa_se")
            ax.plot(epochs, gwa, color=color, lw=1.5, label=f"GWA, seed {seed}")
            later += [float(v) for v in gwa[1:] if np.isfinite(v)]
            first += [float(v) for v in gwa[:1] if np.isfinite(v)]
            if np.isfinite(se).any():
                ax.fill_between(epochs, gwa - se, gwa + se, color=color, alpha=0.15, lw=0)
            for criterion, marker in (("gwa", "*"), ("gwa_finetune", "D")):
                epoch = result.selected_epoch(criterion)
                if epoch is not None and epoch in set(epochs.tolist()):
                    y = gwa[int(np.flatnonzero(epochs == epoch)[0])]
                    ax.plot([epoch], [y], marker=marker, color=color, mec="k",
                            ms=12 if marker == "*" else 7, ls="none")
            t_epochs, test = result.column("test_acc")
            acc_ax.plot(t_epochs, 100 * test, color=color, lw=0.9, ls="--", alpha=0.7)
        model, variant = key
        note = ""
        # The axis follows the GWA values, not the bands: near the singularity (kurtosis +
        # beta -> 0) a bootstrap SE can be orders of magnitude larger than GWA itself. A first
        # epoch far above the rest (the start of fine-tuning) would flatten the dip and the
        # rise after it, so it is left off scale, and the title says so.
        shown = list(later)
        if later and first and max(first) > max(later) + (max(later) - min(later)):
            note = f"\nepoch 1 off scale (GWA {min(first):.2f}-{max(first):.2f})"
        else:
            shown += first
        if shown:
            pad = 0.15 * (max(shown) - min(shown) or abs(max(shown)) or 1.0)
            ax.set_ylim(min(shown) - pad, max(shown) + pad)
        ax.set_title(f"{MODEL_NAMES.get(model, model)}, {variant}: GWA (solid), test acc. "
                     f"(dashed){note}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("GWA")
        acc_ax.set_ylabel("test accuracy [%]")
        ax.plot([], [], marker="*", color="0.3", mec="k", ls="none", label="gwa stop")
        ax.plot([], [], marker="D", color="0.3", mec="k", ls="none", label="gwa_finetune stop")
        ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def fig3(runs: Sequence[tuple[str, str, RunResult]], path: Path,
         metric: str = "test_acc") -> Path:
    """Fig. 3: max mean alignment vs final test accuracy across runs (model, variant, run)."""
    points = [(m, v, r.max_align_mean, r.value("last", metric)) for m, v, r in runs]
    points = [(m, v, x, 100 * y) for m, v, x, y in points if x is not None and y is not None]
    if len(points) < 2:
        raise MissingInput(f"needs at least 2 finished runs with max_align_mean, got "
                           f"{len(points)}")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    models = list(dict.fromkeys(p[0] for p in points))
    variants = list(dict.fromkeys(p[1] for p in points))
    markers = "osD^v<>Ph*"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for mi, model in enumerate(models):
        xs = [p[2] for p in points if p[0] == model]
        ys = [p[3] for p in points if p[0] == model]
        c = correlation(xs, ys)
        name = MODEL_NAMES.get(model, model)
        ax.scatter([], [], color=colors[mi % len(colors)],
                   label=f"{name}: Pearson {c['pearson']:.2f}, Spearman {c['spearman']:.2f}")
        for vi, variant in enumerate(variants):
            sel = [p for p in points if p[0] == model and p[1] == variant]
            if sel:
                ax.scatter([p[2] for p in sel], [p[3] for p in sel],
                           color=colors[mi % len(colors)], marker=markers[vi % len(markers)],
                           edgecolor="k", lw=0.4)
    for vi, variant in enumerate(variants):
        ax.scatter([], [], color="0.7", marker=markers[vi % len(markers)], edgecolor="k",
                   label=variant)
    c = correlation([p[2] for p in points], [p[3] for p in points])
    ax.set_title(f"Fig. 3: all runs Pearson {c['pearson']:.2f}, Spearman {c['spearman']:.2f} "
                 f"(n={c['n']})", fontsize=9)
    ax.set_xlabel(r"max$_T$ mean alignment $E[A_T]$")
    ax.set_ylabel("final test accuracy [%]")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # Off the points.
    return _save(fig, path)


def _load_images(run: RunResult, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Training images by id in [-1, 1] (:func:`gwa_jax.data.train_images`)."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.data import train_images

    if run.config is None:
        raise MissingInput(f"no config.json in {run.workdir}")
    ids = [int(i) for i in ids]
    try:
        images = train_images(run.config, ids)
    except Exception as err:  # noqa: BLE001 - any data problem skips the figure.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingInput(f"cannot load the training images: {first}") from None
    return {i: img.astype(np.float32) / 127.5 - 1.0 for i, img in zip(ids, images, strict=True)}


def fig4(run: RunResult, path: Path, classes: Sequence[int] | None = None, k: int = 4,
         epochs: Sequence[int] | None = None) -> Path:
    """Fig. 4: the ``k`` most and least aligned training images of two classes at three
    epochs (by training label; a red title marks a mislabelled image)."""
    meta = run.meta()
    if meta is None:
        raise MissingInput(f"no alignment/meta.npz in {run.workdir}")
    epochs = list(epochs or three_epochs(run))
    dataset = (run.config or {}).get("dataset", {}).get("name", "")
    classes = list(classes or FIG4_CLASSES.get(dataset, (0, 1)))
    ids, labels, noisy = meta["ids"], meta["train_labels"], meta["noise_mask"]
    picks: dict[tuple[int, int, str], list[int]] = {}
    for epoch in epochs:
        scores = run.scores(epoch)
        if scores is None:
            raise MissingInput(f"no scores for epoch {epoch} in {run.workdir}")
        for c in classes:
            members = ids[(labels[ids] == c) & np.isfinite(scores[ids])]
            if not len(members):
                raise MissingInput(f"no trained sample of class {c} has a score")
            order = members[np.argsort(-scores[members], kind="stable")]
            picks[(epoch, c, "most")] = order[:k].tolist()
            picks[(epoch, c, "least")] = order[::-1][:k].tolist()
    images = _load_images(run, sorted({i for v in picks.values() for i in v}))
    n_rows, n_cols = 2 * len(classes), k * len(epochs)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.1 * n_cols, 1.25 * n_rows + 0.6),
                             squeeze=False)
    for ci, c in enumerate(classes):
        for wi, which in enumerate(("most", "least")):
            r = 2 * ci + wi
            for ei, epoch in enumerate(epochs):
                scores = run.scores(epoch)
                for j, i in enumerate(picks[(epoch, c, which)]):
                    ax = axes[r, ei * k + j]
                    img = images.get(i)
                    if img is not None:
                        img = np.clip((img + 1.0) / 2.0, 0.0, 1.0)
                        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img,
                                  cmap="gray" if img.shape[-1] == 1 else None)
                    ax.set_title(f"{scores[i]:+.2f}", fontsize=6,
                                 color="red" if noisy[i] else "black")
                    ax.set_xticks([])
                    ax.set_yticks([])
            axes[r, 0].set_ylabel(f"class {c}\n{which}", fontsize=7)
    for ei, epoch in enumerate(epochs):
        axes[0, ei * k].annotate(f"epoch {epoch}", (0, 1.45), xycoords="axes fraction",
                                 fontsize=8, weight="bold")
    fig.suptitle(f"Fig. 4: most / least aligned training images, {_label(run)} "
                 f"(red: mislabelled)", fontsize=8)
    return _save(fig, path)


def fig6(runs: Sequence[RunResult], path: Path) -> Path:
    """Fig. 6: online vs offline GWA over epochs per run, and their scatter."""
    runs = [r for r in runs if np.isfinite(r.column("gwa_offline")[1]).any()]
    if not runs:
        raise MissingInput("no run with gwa_offline in metrics.jsonl (train one with "
                           "--config.gwa.offline_every=1, e.g. configs/fmnist_n.py:offline=1)")
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(4.2 * (len(runs) + 1), 3.6),
                             squeeze=False, layout="constrained")
    on_all, off_all = [], []
    for ax, run in zip(axes[0], runs, strict=False):
        e, on = run.column("gwa")
        _, off = run.column("gwa_offline")
        ax.plot(e, on, label="online (Alg. 1)", lw=1.6)
        ax.plot(e, off, label="offline (fixed weights)", lw=1.6, ls="--")
        ax.set_title(_label(run), fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("GWA")
        ax.legend(fontsize=7)
        keep = np.isfinite(on) & np.isfinite(off)
        on_all += on[keep].tolist()
        off_all += off[keep].tolist()
    ax = axes[0, -1]
    ax.scatter(off_all, on_all, s=12)
    if on_all:
        lo, hi = min(on_all + off_all), max(on_all + off_all)
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
    c = correlation(off_all, on_all)
    ax.set_title(f"Pearson {c['pearson']:.3f} (n={c['n']})", fontsize=9)
    ax.set_xlabel("offline GWA")
    ax.set_ylabel("online GWA")
    fig.suptitle("Fig. 6: online vs offline GWA", fontsize=10)
    return _save(fig, path)


def fig16(run: RunResult, path: Path, epochs: Sequence[int] | None = None) -> Path:
    """Fig. 16: alignment-score histograms of clean vs mislabelled samples at three epochs."""
    meta = run.meta()
    if meta is None:
        raise MissingInput(f"no alignment/meta.npz in {run.workdir}")
    if not run.noisy():
        raise MissingInput(f"{run.workdir} has no mislabelled training sample")
    epochs = list(epochs or three_epochs(run))
    ids, noisy = meta["ids"], meta["noise_mask"]
    fig, axes = plt.subplots(1, len(epochs), figsize=(4 * len(epochs), 3.2), squeeze=False,
                             layout="constrained")
    for ax, epoch in zip(axes[0], epochs, strict=True):
        scores = run.scores(epoch)
        if scores is None:
            raise MissingInput(f"no scores for epoch {epoch} in {run.workdir}")
        s, y = scores[ids], noisy[ids]
        keep = np.isfinite(s)
        bins = np.linspace(np.nanmin(s[keep]), np.nanmax(s[keep]), 60)
        ax.hist(s[keep & ~y], bins=bins, alpha=0.6, density=True, label="clean")
        ax.hist(s[keep & y], bins=bins, alpha=0.6, density=True, label="mislabelled")
        auc = mislabel_auroc(run, epoch)
        tag = " (GWA stop)" if epoch == run.selected_epoch("gwa") else ""
        ax.set_title(f"epoch {epoch}{tag}: AUROC {auc:.3f}" if auc is not None
                     else f"epoch {epoch}{tag}", fontsize=9)
        ax.set_xlabel("alignment score")
        ax.legend(fontsize=7)
    fig.suptitle(f"Fig. 16: {_label(run)}", fontsize=10)
    return _save(fig, path)


def pick(candidates: Sequence[tuple[Any, RunResult]], **want: Any) -> RunResult | None:
    """The first candidate whose key fields match ``want`` (None values are ignored)."""
    for key, result in candidates:
        fields = dict(zip(("model", "variant", "split", "seed"), key, strict=True))
        if all(v is None or _eq(fields[k], v) for k, v in want.items()):
            return result
    return None


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return a == b


def _single_run_and_twin(table: list, variants: list[str], *, model: str | None,
                         variant: str | None, seed: int, run_dir: str | None,
                         val_run_dir: str | None) -> tuple[RunResult | None, RunResult | None]:
    """The single-run figures' 0%-split run (``run_dir``, else ``model`` / ``variant`` /
    ``seed``, the noisiest variant with a finished run by default) and its 10%-split twin."""
    if run_dir:
        main = RunResult.load_verified(run_dir)
    elif variant is not None:
        main = pick(table, model=model, variant=variant, split=0.0, seed=seed)
    else:
        main = next((found for v in reversed(variants)  # The noisiest variant first.
                     if (found := pick(table, model=model, variant=v, split=0.0, seed=seed))
                     is not None), None)
    twin = None
    if main is not None:
        twin = RunResult.load_verified(val_run_dir) if val_run_dir else None
        if twin is None and not run_dir:
            key = next(k for k, r in table if r is main)
            twin = pick(table, model=key[0], variant=key[1], split=0.1, seed=key[3])
    return main, twin


def make_figures(plan: str, root: str | os.PathLike, out: str | os.PathLike, *,
                 only: Sequence[str] = ("fig2", "fig3", "fig4", "fig5", "fig6", "fig16"),
                 model: str | None = None, variant: str | None = None, seed: int = 0,
                 run_dir: str | None = None, val_run_dir: str | None = None,
                 offline_dirs: Sequence[str] = (), classes: Sequence[int] | None = None,
                 log: Any = print) -> list[Path]:
    """Draws the figures of ``plan``'s runs under ``root`` into ``out/<plan>/``.

    The single-run figures (2, 4, 16) use the 0%-split run of ``model`` / ``variant`` /
    ``seed`` (default: the first model, the noisiest variant that has a finished run) or
    ``run_dir``; Fig. 2's validation curve comes from its 10%-split twin (or ``val_run_dir``).
    Fig. 6 uses the plan's offline-GWA runs of ``model`` (or ``offline_dirs``). With ``model``
    set, the single-run figures and Fig. 6 are named ``fig*_<model>.png`` so that the figures
    of several models sit side by side; Fig. 3 always spans every model. A figure whose input
    is missing is skipped with one line through ``log``.
    """
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.experiments.plan import expand

    directory = Path(out) / plan
    runs = expand(plan)
    loaded = [(r, RunResult.load_verified(r.result_dir(root))) for r in runs]
    table = [((r.model, r.variant, r.split, r.seed), res) for r, res in loaded
             if res is not None and r.role == "table"]
    if not table and not run_dir:
        log(f"{plan}: no finished run under {root}; nothing to draw")
    variants = list(dict.fromkeys(r.variant for r in runs if r.role == "table"))
    main, twin = _single_run_and_twin(table, variants, model=model, variant=variant, seed=seed,
                                      run_dir=run_dir, val_run_dir=val_run_dir)
    written: list[Path] = []

    def attempt(name: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        if name not in only:
            return
        try:
            path = fn(*args, **kwargs)
        except MissingInput as err:
            log(f"{name}: skipped ({err})")
            return
        written.append(path)
        log(f"{name}: wrote {path}")

    def need_main(fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Path:
            if main is None:
                raise MissingInput(f"no finished 0%-split run of {plan} under {root}")
            return fn(main, *args, **kwargs)

        return wrapped

    tag = f"_{model}" if model else ""  # One set of single-run figures per model.
    attempt("fig2", need_main(fig2), twin, directory / f"fig2_training_curves{tag}.png")
    attempt("fig3", fig3, [(k[0], k[1], r) for k, r in table],
            directory / "fig3_alignment_vs_accuracy.png")
    attempt("fig4", need_main(fig4), directory / f"fig4_aligned_images{tag}.png",
            classes=classes)
    attempt("fig5", fig5, [(k, r) for k, r in table if model is None or k[0] == model],
            directory / f"fig5_gwa_over_training{tag}.png")
    offline = [RunResult.load_verified(d) for d in offline_dirs]
    offline += [res for r, res in loaded if res is not None and r.role == "fig6"
                and (model is None or r.model == model)]
    attempt("fig6", fig6, [r for r in offline if r is not None],
            directory / f"fig6_online_vs_offline{tag}.png")
    attempt("fig16", need_main(fig16), directory / f"fig16_clean_vs_mislabelled{tag}.png")
    return written
