"""Generators of the asymmetric-noise Fashion-MNIST write-up's blocks
(``results/fmnist_n_asym/README.md``); registered with :func:`claims.generator` on import
(:mod:`gwa_jax.experiments.writeups` imports this module). The blocks shared with the
symmetric-noise study come from :mod:`gwa_jax.experiments.writeups_offline`; this module adds
the split of the scores into the classes the map flips and those it never touches.
"""

from __future__ import annotations

import functools
from pathlib import Path

from gwa_jax.data.noise import ASYMMETRIC_MAPS
from gwa_jax.experiments.claims import generator, md_table
from gwa_jax.experiments.writeups_offline import (
    NO_RUNS,
    RUNS,
    changes_text,
    columns,
    correlation_table,
    label,
    score_groups,
    span,
    stops_table,
    study_runs,
)

STUDY = "fmnist_n_asym"
#: The classes whose labels the Fashion-MNIST map can flip (the others keep theirs).
FLIPPED = frozenset(ASYMMETRIC_MAPS["fashion_mnist"])

generator("fmnist-n-asym-stops")(functools.partial(stops_table, study=STUDY))
generator("fmnist-n-asym-changes")(functools.partial(changes_text, study=STUDY))
generator("fmnist-n-asym-correlation")(functools.partial(correlation_table, study=STUDY))


@generator("fmnist-n-asym-score-groups")
def asym_score_groups(root: Path, runs: str = RUNS) -> str:
    """Per column, ranges over the seeds of the 0%-split runs of :func:`score_groups` at
    GWA's epoch, :data:`FLIPPED` the flipped classes."""
    found = study_runs(root, STUDY, 0.0, runs)
    rows = []
    for model, variant in columns(found):
        groups = [score_groups(r, r.selected_epoch("gwa"), FLIPPED) for k, r in found.items()
                  if k[:2] == (model, variant)]
        col = {key: [g[key] for g in groups] for key in groups[0]}
        rows.append([label(model, variant), str(len(groups)),
                     span([100 * x for x in col["noisy_share"]], ".1f"),
                     *(span(col[k], ".3f") for k in ("auroc", "auroc_flipped", "clean_kept",
                                                      "clean_flipped", "noisy"))])
    if not rows:
        return NO_RUNS
    kept = ", ".join(str(c) for c in range(10) if c not in FLIPPED)
    head = ["column", "seeds", "mislabelled [% of trained ids]", "AUROC",
            "AUROC within the flipped classes",
            f"mean score: clean, classes never flipped ({kept})",
            "mean score: clean, flipped classes", "mean score: mislabelled"]
    return md_table(head, rows)
