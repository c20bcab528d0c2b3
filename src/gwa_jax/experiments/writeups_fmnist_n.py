"""Generators of the symmetric-noise Fashion-MNIST write-up's blocks
(``results/fmnist_n/README.md``) beyond the means, paired tests and AUROC of
:mod:`gwa_jax.experiments.writeups` (``fmnist-n-f2-*``); registered with
:func:`claims.generator` on import (:mod:`gwa_jax.experiments.writeups` imports this
module). The blocks are those of :mod:`gwa_jax.experiments.writeups_offline` for the
study's format-2 runs in ``results/fmnist_n/runs_format2``, every class counting as one the
noise can relabel.
"""

from __future__ import annotations

import functools

from gwa_jax.experiments.claims import generator
from gwa_jax.experiments.writeups_offline import (
    changes_text,
    correlation_table,
    score_groups_table,
    stops_table,
)

STUDY = "fmnist_n"

generator("fmnist-n-stops")(functools.partial(stops_table, study=STUDY))
generator("fmnist-n-changes")(functools.partial(changes_text, study=STUDY))
generator("fmnist-n-correlation")(functools.partial(correlation_table, study=STUDY))
generator("fmnist-n-score-groups")(functools.partial(score_groups_table, study=STUDY))
