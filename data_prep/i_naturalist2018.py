"""Prepare iNaturalist 2018 for gwa-jax: ``--help`` for steps."""

from __future__ import annotations

import _tfds_prepare as prep

STEPS = """
No manual download: TFDS fetches the iNat 2018 competition archives (~120 GB, train_val2018
images + annotations) from ml-inat-competition-datasets.s3.amazonaws.com and builds
train (437,513 images, 8,142 classes = the id space), validation (24,426; gwa-jax's test
set) and test (unlabelled, unused).

  python data_prep/i_naturalist2018.py [--data_dir DIR]

Budget ~300 GB of free disk during the build. The first gwa-jax run caches the train labels
in <data_dir>/gwa_jax_index/ (or $GWA_INDEX_DIR).
"""


def main() -> None:
    args = prep.parser("i_naturalist2018", "8,142 species, long-tailed.", STEPS).parse_args()
    prep.build(["i_naturalist2018"], args)


if __name__ == "__main__":
    main()
