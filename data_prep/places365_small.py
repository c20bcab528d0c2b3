"""Prepare Places365-Standard (small, 256 x 256) for gwa-jax: ``--help`` for steps."""

from __future__ import annotations

import _tfds_prepare as prep

STEPS = """
No manual download: TFDS fetches the 256x256 Places365-Standard archives (~30 GB) from
data.csail.mit.edu and builds train (1,803,460 images, 365 classes = the id space),
validation (36,500; gwa-jax's test set) and test (unlabelled, unused).

  python data_prep/places365_small.py [--data_dir DIR]

Budget ~70 GB of free disk during the build. The first gwa-jax run caches the train labels in
<data_dir>/gwa_jax_index/ (or $GWA_INDEX_DIR).
"""


def main() -> None:
    args = prep.parser("places365_small", "365 scene categories.", STEPS).parse_args()
    prep.build(["places365_small"], args)


if __name__ == "__main__":
    main()
