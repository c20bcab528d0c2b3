"""Prepare CIFAR-10-C (15 corruptions x 5 severities) for gwa-jax: ``--help`` for steps."""

from __future__ import annotations

import _tfds_prepare as prep

# Canonical corruption name -> TFDS config prefix (TFDS renames two of them).
TFDS_NAMES = {
    "gaussian_noise": "gaussian_noise",
    "shot_noise": "shot_noise",
    "impulse_noise": "impulse_noise",
    "defocus_blur": "defocus_blur",
    "glass_blur": "frosted_glass_blur",
    "motion_blur": "motion_blur",
    "zoom_blur": "zoom_blur",
    "snow": "snow",
    "frost": "frost",
    "fog": "fog",
    "brightness": "brightness",
    "contrast": "contrast",
    "elastic_transform": "elastic",
    "pixelate": "pixelate",
    "jpeg_compression": "jpeg_compression",
}

STEPS = """
No manual download: TFDS fetches CIFAR-10-C.tar (~2.9 GB) from zenodo.org once and builds one
TFDS config per corruption and severity (cifar10_corrupted/<corruption>_<1..5>), 75 in all.

  python data_prep/cifar10_corrupted.py [--data_dir DIR] [--corruptions fog,snow]
                                        [--severities 3,5]

gwa-jax uses it as an extra test set of cifar10 / cifar10_n:
config.dataset.test_sets = ("cifar10_corrupted",)  (or single sets such as
"cifar10_corrupted/gaussian_noise_3"). Keys use the canonical corruption names
(glass_blur, elastic_transform) even though TFDS calls them frosted_glass_blur and elastic.
"""


def main() -> None:
    p = prep.parser("cifar10_corrupted", "CIFAR-10 test images with 15 corruptions.", STEPS)
    p.add_argument("--corruptions", default=",".join(TFDS_NAMES), help="comma-separated.")
    p.add_argument("--severities", default="1,2,3,4,5", help="comma-separated.")
    args = p.parse_args()
    corruptions = [c for c in args.corruptions.split(",") if c]
    unknown = sorted(set(corruptions) - set(TFDS_NAMES))
    if unknown:
        p.error(f"unknown corruptions {unknown}; valid: {', '.join(TFDS_NAMES)}")
    severities = [int(s) for s in args.severities.split(",") if s]
    names = [
        f"cifar10_corrupted/{TFDS_NAMES[c]}_{s}" for c in corruptions for s in severities
    ]
    prep.build(names, args)


if __name__ == "__main__":
    main()
