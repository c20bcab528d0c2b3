"""The most negatively aligned training samples of a run: likely mislabelled data.

A negative alignment score means the sample's gradient pulls the head against its current
weights, which is what a wrong label does once the model has learnt the clean classes
(paper Sec. 5, Fig. 4 and 16). From ``alignment/epoch_NNNN.npy`` and
``alignment/meta.npz``:

    found = most_misaligned(RunResult.load("runs/x"), epoch=resolve_epoch(run, "gwa"), k=15)
    found.ids, found.scores          # (K,) ids and scores, most negative first
    found.precision, found.auroc     # with a noise mask: precision@K, AUROC of -score

Precision@K is the fraction of the K ids whose training label differs from the true label;
the AUROC ranks all trained ids by ``-score`` against that mask.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gwa_jax.experiments.results import RunResult, auroc
from gwa_jax.run.integrity import META, DamagedRunError


class InspectError(ValueError):
    """Missing files or an unknown epoch; the message is one line."""


def resolve_epoch(run: RunResult, epoch: str | int) -> int:
    """An epoch number, ``last``, or a criterion name of ``summary.json`` (``gwa``, ``val``,
    ``labelwave``, ...) -> an epoch with saved scores. A run file that differs from its
    checksum is refused (one line naming it)."""
    try:
        run.verify(("summary.json", "config.json", META))
    except DamagedRunError as err:
        raise InspectError(str(err)) from None
    saved = run.score_epochs()
    if not saved:
        raise InspectError(f"no alignment/epoch_*.npy in {run.workdir} (train with "
                           f"config.gwa.save_scores_every >= 1)")
    text = str(epoch).strip()
    if text.isdigit():
        number = int(text)
    elif text == "last" and run.selected_epoch("last") is None:
        number = saved[-1]
    else:
        number = run.selected_epoch(text)
        if number is None:
            names = ", ".join(run.summary.get("selected", {}))
            raise InspectError(f"epoch {text!r} is neither a number nor a criterion of "
                               f"{run.workdir}/summary.json ({names})")
    if run.score_problem(number):
        raise InspectError(f"{run.score_problem(number)}; refusing to rank its scores")
    if number not in saved:
        shown = ", ".join(map(str, saved[:8])) + (" ..." if len(saved) > 8 else "")
        raise InspectError(f"no saved scores for epoch {number} in {run.workdir}/alignment "
                           f"(saved: {shown})")
    return number


@dataclasses.dataclass
class Misaligned:
    """The K most negatively aligned trained samples at one epoch.

    Attributes:
      epoch: the epoch of the scores.
      ids, scores, given_labels, true_labels, noisy: (K,) arrays, most negative score first.
      noise_known: whether the run has mislabelled samples (precision and AUROC defined).
      precision: precision@K (None without noise).
      auroc: AUROC of ``-score`` for the mislabelled trained ids (None without noise).
      noise_rate: fraction of mislabelled ids among the scored ones (precision of a random
        pick).
      num_scored: trained ids with a finite score.
    """

    epoch: int
    ids: np.ndarray
    scores: np.ndarray
    given_labels: np.ndarray
    true_labels: np.ndarray
    noisy: np.ndarray
    noise_known: bool
    precision: float | None
    auroc: float | None
    noise_rate: float | None
    num_scored: int


def most_misaligned(run: RunResult, epoch: int, k: int = 15,
                    classes: np.ndarray | None = None) -> Misaligned:
    """The ``k`` trained ids with the lowest score at ``epoch`` (ties by id).

    Args:
      run: the run.
      epoch: an epoch with saved scores (see :func:`resolve_epoch`).
      k: how many.
      classes: optional given labels to restrict the pick to (precision@K and AUROC are
        computed over all scored ids regardless).
    """
    if run.score_problem(epoch):
        raise InspectError(f"{run.score_problem(epoch)}; refusing to rank its scores")
    try:
        meta, scores = run.meta(), run.scores(epoch)
    except DamagedRunError as err:
        raise InspectError(str(err)) from None
    if meta is None:
        raise InspectError(f"no alignment/meta.npz in {run.workdir}")
    if scores is None:
        raise InspectError(f"no alignment/epoch_{epoch:04d}.npy in {run.workdir}")
    if k < 1:
        raise InspectError(f"k must be >= 1, got {k}")
    ids = np.asarray(meta["ids"], np.int64)
    ids = ids[np.isfinite(scores[ids])]
    mask = np.asarray(meta["noise_mask"], bool)
    noise_known = bool(mask[ids].any())
    pool = ids if classes is None else ids[np.isin(meta["train_labels"][ids], classes)]
    order = pool[np.lexsort((pool, scores[pool]))][:k]
    noisy = mask[order]
    precision = float(noisy.mean()) if noise_known and len(order) else None
    value = auroc(-scores[ids], mask[ids]) if noise_known else math.nan
    return Misaligned(
        epoch=epoch, ids=order, scores=scores[order].astype(np.float64),
        given_labels=np.asarray(meta["train_labels"])[order],
        true_labels=np.asarray(meta["true_labels"])[order], noisy=noisy,
        noise_known=noise_known, precision=precision,
        auroc=None if math.isnan(value) else value,
        noise_rate=float(mask[ids].mean()) if noise_known else None, num_scored=len(ids))


def to_csv(found: Misaligned) -> str:
    """``rank,id,score,given_label,true_label,noisy`` (true labels and the noise flag come
    from ``meta.npz``: the dataset's clean labels, which equal the given ones in a run
    without label noise)."""
    lines = ["rank,id,score,given_label,true_label,noisy"]
    for r, (i, s, g, t, n) in enumerate(zip(found.ids, found.scores, found.given_labels,
                                            found.true_labels, found.noisy, strict=True), 1):
        lines.append(f"{r},{int(i)},{s:.6g},{int(g)},{int(t)},{int(bool(n))}")
    return "\n".join(lines) + "\n"
