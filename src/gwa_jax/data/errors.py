"""The single error raised when a dataset is not available on this machine."""

from __future__ import annotations


class DatasetNotFoundError(Exception):
    """A dataset (or one of its splits) is not prepared locally.

    The message is always a single line that names the command (or the ``data_prep/`` script)
    which prepares the dataset, e.g. ``python data_prep/imagenet2012.py --help``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
