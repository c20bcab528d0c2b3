"""Shared helpers of the data_prep scripts: argparse skeleton and the TFDS build call.

Nothing heavy is imported at module import, so every script's ``--help`` works offline and
fast; TensorFlow Datasets is imported only when a build actually runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

DEFAULT_DATA_DIR = os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def parser(name: str, description: str, steps: str) -> argparse.ArgumentParser:
    """An argparse parser with ``--data_dir``, ``--manual_dir`` and ``--dry_run``.

    Args:
      name: what the script prepares (shown in the usage line).
      description: one paragraph on the dataset.
      steps: the numbered manual steps, shown as the epilog of ``--help``.
    """
    p = argparse.ArgumentParser(
        description=f"Prepare {name} for gwa-jax. {description}",
        epilog=textwrap.dedent(steps),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data_dir",
        default=DEFAULT_DATA_DIR,
        help="TFDS data dir; pass the same path as config.dataset.data_dir "
        "(default: $TFDS_DATA_DIR or ~/tensorflow_datasets).",
    )
    p.add_argument(
        "--manual_dir",
        default=None,
        help="directory holding the manually downloaded files "
        "(default: <data_dir>/downloads/manual).",
    )
    p.add_argument(
        "--dry_run",
        action="store_true",
        help="only print what would be built and where the files are expected.",
    )
    return p


def manual_dir(args: argparse.Namespace) -> str:
    """The manual directory TFDS will read."""
    return args.manual_dir or os.path.join(args.data_dir, "downloads", "manual")


def check_files(directory: str, files: list[str]) -> None:
    """Exits with a one-line message when a manual file is missing."""
    missing = [f for f in files if not os.path.exists(os.path.join(directory, f))]
    if missing:
        sys.exit(f"Missing in {directory}: {', '.join(missing)} (see --help).")


FILE_FORMAT = "array_record"  # Random access for the Grain input pipeline (tfds.data_source).


def build(names: list[str], args: argparse.Namespace) -> None:
    """Runs ``tfds.builder(name).download_and_prepare`` for each TFDS name (or prints them),
    writing the shards in the array_record format."""
    for name in names:
        print(f"[data_prep] {name} -> {args.data_dir}", flush=True)
        if args.dry_run:
            continue
        import tensorflow_datasets as tfds

        config = tfds.download.DownloadConfig(manual_dir=manual_dir(args))
        builder = tfds.builder(name, data_dir=args.data_dir)
        builder.download_and_prepare(download_config=config, file_format=FILE_FORMAT)
        print(f"[data_prep] done: {builder.info.splits}", flush=True)
