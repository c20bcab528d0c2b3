"""Prepare CIFAR-10N (CIFAR-10 with human noisy labels) for gwa-jax: ``--help`` for steps."""

from __future__ import annotations

import csv
import os
import sys

import _tfds_prepare as prep

EXPECTED_COLUMNS = (
    "clean_label",
    "aggre_label",
    "worse_label",
    "random_label1",
    "random_label2",
    "random_label3",
)

STEPS = """
The TFDS builder cifar10_n (v1.0.4) downloads the CIFAR-10 binaries itself but needs three
side files of the CIFAR-N release in the TFDS manual directory
(<data_dir>/downloads/manual, i.e. ~/tensorflow_datasets/downloads/manual by default):

  1. From https://github.com/UCSC-REAL/cifar-10-100n (folder data/) download
       side_info_cifar10N.csv
       CIFAR-10_human_ordered.npy
       image_order_c10.npy
     into the manual directory. (The CIFAR-10_human.pt file of that repository is the
     PyTorch-side copy of the same labels; TFDS does not read it.)
  2. Convert CIFAR-10_human_ordered.npy to CIFAR-10_human_annotations.csv (the CSV TFDS reads;
     columns clean_label, aggre_label, worse_label, random_label1..3):
       python data_prep/cifar10_n.py --convert_only
  3. Build the dataset (downloads CIFAR-10 from cs.toronto.edu, ~170 MB):
       python data_prep/cifar10_n.py [--data_dir DIR]
     Step 2 runs automatically before the build when the CSV is missing.

gwa-jax label keys: label (clean), aggre_label (~9% noise), random_label1 (~17%),
worse_label (~40%); set config.dataset.label_key accordingly.
"""

MANUAL_FILES = ["side_info_cifar10N.csv", "image_order_c10.npy"]
NPY, CSV = "CIFAR-10_human_ordered.npy", "CIFAR-10_human_annotations.csv"


def convert(directory: str) -> None:
    """Writes CIFAR-10_human_annotations.csv from the ordered .npy dict of label arrays.

    TFDS reads the CSV by column position (1 aggre, 2 worse, 3-5 random), so the columns are
    written in EXPECTED_COLUMNS order whatever the dict order.
    """
    import numpy as np

    src = os.path.join(directory, NPY)
    if not os.path.exists(src):
        sys.exit(f"Missing {src} (see --help).")
    annotations = np.load(src, allow_pickle=True)[()]
    missing = [c for c in EXPECTED_COLUMNS if c not in annotations]
    if missing:
        sys.exit(f"{src} lacks {missing}; found {list(annotations)}.")
    columns = EXPECTED_COLUMNS  # The column order TFDS's reader assumes (by position).
    rows = zip(*(np.asarray(annotations[c]).tolist() for c in columns), strict=True)
    with open(os.path.join(directory, CSV), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    print(f"[data_prep] wrote {os.path.join(directory, CSV)}")


def main() -> None:
    p = prep.parser("cifar10_n", "CIFAR-10 train images with human re-annotations.", STEPS)
    p.add_argument("--convert_only", action="store_true", help="only run step 2.")
    args = p.parse_args()
    directory = prep.manual_dir(args)
    if args.convert_only or not os.path.exists(os.path.join(directory, CSV)):
        if args.dry_run:
            print(f"[data_prep] would convert {NPY} -> {CSV} in {directory}")
        else:
            convert(directory)
        if args.convert_only:
            return
    if not args.dry_run:
        prep.check_files(directory, [*MANUAL_FILES, CSV])
    prep.build(["cifar10_n"], args)


if __name__ == "__main__":
    main()
