"""Prepare any TFDS dataset that needs no manual files, in the array_record format.

The equivalent of ``tfds build NAME --file_format=array_record`` that works without the tfds
CLI's extra dependencies (its ``tfds`` command imports apache-beam in tensorflow-datasets
4.9.10); ``--help`` for the steps.
"""

from __future__ import annotations

import _tfds_prepare as prep

STEPS = """
Example: python data_prep/tfds_build.py cifar10 fashion_mnist [--data_dir DIR]
TFDS downloads the files itself; NAME is "dataset" or "dataset/config".
"""


def main() -> None:
    p = prep.parser("TFDS datasets", "Downloads and prepares them with TFDS.", STEPS)
    p.add_argument("names", nargs="+", help='TFDS name, "dataset" or "dataset/config"')
    args = p.parse_args()
    prep.build(args.names, args)


if __name__ == "__main__":
    main()
