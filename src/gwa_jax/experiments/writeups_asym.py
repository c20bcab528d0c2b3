"""Generators of the asymmetric-noise Fashion-MNIST write-up's blocks
(``results/fmnist_n_asym/README.md``); registered with :func:`claims.generator` on import
(:mod:`gwa_jax.experiments.writeups` imports this module). The blocks shared with the
symmetric-noise study come from :mod:`gwa_jax.experiments.writeups_offline`; here the
score groups split the classes into those the map flips and those it never touches.
"""

from __future__ import annotations

import functools

from gwa_jax.data.noise import ASYMMETRIC_MAPS
from gwa_jax.experiments.claims import generator
from gwa_jax.experiments.writeups_offline import (
    changes_text,
    correlation_table,
    score_groups_table,
    stops_table,
)

STUDY = "fmnist_n_asym"
#: The classes whose labels the Fashion-MNIST map can flip (the others keep theirs).
FLIPPED = frozenset(ASYMMETRIC_MAPS["fashion_mnist"])

generator("fmnist-n-asym-stops")(functools.partial(stops_table, study=STUDY))
generator("fmnist-n-asym-changes")(functools.partial(changes_text, study=STUDY))
generator("fmnist-n-asym-correlation")(functools.partial(correlation_table, study=STUDY))
generator("fmnist-n-asym-score-groups")(
    functools.partial(score_groups_table, study=STUDY, flipped=FLIPPED))
