"""``gwa-inspect``: the most negatively aligned (likely mislabelled) training samples of a run.

    gwa-inspect runs/qs                      # at the GWA-selected epoch, K = 15
    gwa-inspect runs/qs --epoch 12 -k 30 --out results/qs_inspect
    gwa-inspect runs/qs --epoch last --per-class 8

Reads ``alignment/epoch_NNNN.npy`` and ``alignment/meta.npz`` of the workdir; ``--epoch`` is
a number, ``last`` or a criterion of ``summary.json`` (``gwa``, ``val``, ``labelwave``).
Writes to ``--out`` (default ``<workdir>/inspect``):

* ``misaligned_epochNNNN.csv``: rank, id, score, given label, true label, noisy flag of the
  K most negatively aligned training samples;
* ``misaligned_epochNNNN_class<c>.png``: per given class, its ``--per-class`` most
  negatively aligned images (score above each; the true label in red where it differs);
* ``inspect_epochNNNN.json``: epoch, K, and with label noise precision@K, the AUROC of
  -score over all trained samples, and the noise rate (a random pick's precision).

Bad input (no run there, a damaged run file, an unknown epoch, ``-k`` below 1, a negative
``--per-class``, an ``--out`` that is a file, images that cannot be loaded) is one
``gwa-inspect: error: ...`` line and exit 2, with nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gwa_jax.experiments.checks import (
    OneLineParser,
    non_negative_int,
    output_dir_problem,
    positive_int,
)
from gwa_jax.run.run_guard import USAGE_EXIT

PROG = "gwa-inspect"


def _grid_png(images, found, classes, path: Path, title: str) -> Path:
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    import matplotlib

    matplotlib.use("Agg")
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    import matplotlib.pyplot as plt

    n = len(found.ids)
    cols = min(n, 8)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for j, (img, s, t, noisy) in enumerate(zip(images, found.scores, found.true_labels,
                                               found.noisy, strict=True)):
        ax = axes[j // cols, j % cols]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img,
                  cmap="gray" if img.shape[-1] == 1 else None)
        name = classes[int(t)] if classes else str(int(t))
        ax.set_title(f"{s:+.3f}" + (f"\ntrue {name}" if noisy else ""), fontsize=7,
                     color="red" if noisy else "black")
    fig.suptitle(title, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Writes the inspection; returns the exit status (0 ok, 2 bad input).

    Bad input (no run, a damaged run file, an unknown epoch, ``-k`` below 1, a negative
    ``--per-class``, an ``--out`` that is a file, training images that cannot be loaded) is
    one line and exit 2, before anything is written.
    """
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.experiments.checks import (
        BadRunFile,
        check_meta,
        check_scores,
        check_summary,
        read_json_object,
    )
    from gwa_jax.experiments.mislabels import (
        InspectError,
        most_misaligned,
        resolve_epoch,
    )
    from gwa_jax.experiments.results import RunResult
    from gwa_jax.run.integrity import DamagedRunError

    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a bad option (one line printed).
        return int(stop.code or 0)

    def fail(message: str) -> int:
        print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
        return USAGE_EXIT

    workdir = Path(args.workdir)
    if not workdir.exists():
        return fail(f"{workdir} does not exist")
    if not workdir.is_dir():
        return fail(f"{workdir} is a file, not a gwa-train workdir")
    if not (workdir / "alignment" / "meta.npz").exists() and not (
            workdir / "summary.json").exists():
        return fail(f"{args.workdir} holds no gwa-train run (no alignment/meta.npz)")
    out = Path(args.out or workdir / "inspect")
    problem = output_dir_problem(out, "--out")
    if problem:
        return fail(problem)
    try:  # Damaged files: one line naming the file (RunResult.load would skip or crash).
        summary = check_summary(workdir / "summary.json") if os.path.lexists(
            workdir / "summary.json") else None
        config = read_json_object(workdir / "config.json") if os.path.lexists(
            workdir / "config.json") else None
        if not (workdir / "alignment" / "meta.npz").exists():
            return fail(f"{args.workdir} holds no per-sample scores (no alignment/meta.npz)")
        ids = check_meta(workdir / "alignment" / "meta.npz")["ids"]
    except BadRunFile as err:
        return fail(str(err))
    run = RunResult.load(workdir) if summary is not None else None
    if run is None:  # Unfinished runs can be inspected too: no summary.json yet.
        run = RunResult(workdir, {"selected": {}}, config)
    try:
        epoch = resolve_epoch(run, args.epoch)
        check_scores(workdir / "alignment" / f"epoch_{epoch:04d}.npy",
                     int(ids.max()) + 1 if ids.size else 0, read=True)
        found = most_misaligned(run, epoch, args.k)
        grids = _class_grids(run, epoch, args.per_class) if args.per_class > 0 else []
    except (InspectError, BadRunFile, DamagedRunError) as err:
        return fail(str(err))
    _write(out, args.workdir, epoch, found, grids)
    return 0


def _parser() -> OneLineParser:
    doc = __doc__ or ""
    p = OneLineParser(prog=PROG, description=doc.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="\n\n".join(doc.split("\n\n")[1:]))
    p.add_argument("workdir", help="a finished (or running) gwa-train workdir")
    p.add_argument("--epoch", default="gwa",
                   help="epoch number, 'last' or a criterion name (default: gwa)")
    p.add_argument("-k", type=positive_int, default=15, help="how many samples (default 15)")
    p.add_argument("--per-class", type=non_negative_int, default=8,
                   help="images per class in the PNG grids; 0: no images (default 8)")
    p.add_argument("--out", help="output directory (default: <workdir>/inspect)")
    return p


def _write(out: Path, workdir: str, epoch: int, found, grids: list) -> None:
    """The table (CSV), the report (JSON) and the per-class image grids (PNG)."""
    # A deliberate late import to keep start-up light: argument errors and --help answer
    # before the heavy modules load.
    from gwa_jax.experiments.mislabels import to_csv

    out.mkdir(parents=True, exist_ok=True)
    stem = f"misaligned_epoch{epoch:04d}"
    (out / f"{stem}.csv").write_text(to_csv(found))
    report = {"workdir": str(workdir), "epoch": epoch, "k": len(found.ids),
              "num_scored": found.num_scored, "precision_at_k": found.precision,
              "auroc": found.auroc, "noise_rate": found.noise_rate}
    (out / f"inspect_epoch{epoch:04d}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"epoch {epoch}: the {len(found.ids)} most negatively aligned of {found.num_scored} "
          f"training samples -> {out / (stem + '.csv')}")
    if found.noise_known:
        print(f"precision@{len(found.ids)} {found.precision:.3f} (noise rate "
              f"{found.noise_rate:.3f}), AUROC of -score {found.auroc:.3f}")
    for c, images, per in grids:
        _grid_png(images, per, None, out / f"{stem}_class{c}.png",
                  f"given class {c}: most negatively aligned at epoch {epoch} "
                  f"(red: mislabelled, with its true class)")
    if grids:
        print(f"per-class image grids: {out / (stem + '_class*.png')}")


def _class_grids(run, epoch: int, per_class: int) -> list:
    """(class, images, picks) per given class, images loaded before anything is written;
    :class:`~gwa_jax.experiments.mislabels.InspectError` when they cannot be loaded."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.data import train_images
    from gwa_jax.experiments.mislabels import InspectError, most_misaligned

    if run.config is None:
        raise InspectError(f"no config.json in {run.workdir}: cannot load the images "
                           f"(--per-class 0 writes the table only)")
    meta = run.meta()
    grids = []
    for c in sorted(set(meta["train_labels"][meta["ids"]].tolist())):
        per = most_misaligned(run, epoch, per_class, classes=[c])
        if not len(per.ids):
            continue
        try:
            images = train_images(run.config, per.ids)
        except Exception as err:  # noqa: BLE001 - data not available here: one line.
            raise InspectError(f"cannot load the training images: {err} (--per-class 0 "
                               f"writes the table only)") from None
        grids.append((c, images, per))
    return grids


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
