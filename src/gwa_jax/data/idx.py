"""Offline Fashion-MNIST from the idx files of the Debian package ``dataset-fashion-mnist``.

The package installs ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` under
``/usr/share/datasets/fashion-mnist``. Ids are the row index in the idx file (the order of the
original Zalando release), which differs from the TFDS ``fashion_mnist`` order.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

DEFAULT_FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
FMNIST_ENV = "GWA_FMNIST_DIR"

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _reason(err: BaseException) -> str:
    return str(err).split(":")[0] if str(err) else type(err).__name__


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one idx file (optionally gzip-compressed).

    Returns:
      The array with the shape stored in the file header, e.g. uint8 (N, 28, 28) for images
      and uint8 (N,) for labels.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError.
        raise ValueError(f"{path} is damaged or truncated ({_reason(err)}); reinstall it (the "
                         f"Debian package dataset-fashion-mnist) or fix config.dataset.data_dir"
                         ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an idx file.")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    array = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims}, found {array.size} values.")
    return array.reshape(dims)


def _file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def has_fmnist_files(directory: str | os.PathLike | None) -> bool:
    """Whether ``directory`` holds the four Fashion-MNIST idx files (gzipped or not)."""
    if not directory:
        return False
    directory = Path(directory)
    return all(_file(directory, stem) is not None for pair in _FILES.values() for stem in pair)


def find_fmnist_dir(data_dir: str | None = None) -> Path | None:
    """Finds the idx directory: ``data_dir`` when given, else ``$GWA_FMNIST_DIR``, then the
    Debian path.

    Returns:
      The first candidate holding the four files, or ``None`` (use the TFDS fallback).
    """
    # A data_dir that is given is the only place looked at (no silent fallback elsewhere).
    candidates = (data_dir,) if data_dir else (os.environ.get(FMNIST_ENV), DEFAULT_FMNIST_DIR)
    for candidate in candidates:
        if has_fmnist_files(candidate):
            return Path(candidate)
    return None


@functools.lru_cache(maxsize=2)
def load_fmnist_idx(directory: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Loads both splits; cached, and the arrays are read-only.

    Returns:
      ``{"train": (images uint8 (60000, 28, 28, 1), labels int32 (60000,)),
      "test": (images uint8 (10000, 28, 28, 1), labels int32 (10000,))}``.
    """
    out = {}
    for split, (image_stem, label_stem) in _FILES.items():
        images = read_idx(_file(Path(directory), image_stem))[..., None]
        labels = read_idx(_file(Path(directory), label_stem)).astype(np.int32)
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{directory}: {split} images and labels differ in length.")
        images.setflags(write=False)
        labels.setflags(write=False)
        out[split] = (images, labels)
    return out
