"""Shared pytest set-up: CPU only, quiet TensorFlow, float64 available on request; the
TensorFlow reference values of the augmentation tests."""

import functools
import os
from collections.abc import Iterable
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import numpy as np  # noqa: E402
import pytest  # noqa: E402

FMNIST_FILE = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
requires_fmnist = pytest.mark.skipif(
    not os.path.exists(FMNIST_FILE) and not os.environ.get("GWA_FMNIST_DIR"),
    reason="needs offline Fashion-MNIST: apt-get install -y dataset-fashion-mnist")

TF_REFERENCES = Path(__file__).parent / "fixtures" / "tf_references.npz"
TF_REFERENCES_COMMAND = "python tests/fixtures/make_tf_references.py"


@functools.cache
def _tf_reference_arrays() -> dict[str, np.ndarray]:
    if not TF_REFERENCES.exists():
        pytest.fail(f"{TF_REFERENCES} is missing: write it from the repository root with"
                    f" `{TF_REFERENCES_COMMAND}` (needs TensorFlow)")
    with np.load(TF_REFERENCES, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


class TFReferences:
    """The arrays of ``tests/fixtures/tf_references.npz`` (TensorFlow's outputs, and their
    inputs, written by ``tests/fixtures/make_tf_references.py``) that one test file reads.

    Only the declared keys can be read, so :meth:`check` covers every read; a read while any
    declared key is missing fails with :meth:`check`'s message.
    """

    def __init__(self, keys: Iterable[str]):
        self.keys = frozenset(keys)

    def check(self) -> None:
        missing = sorted(self.keys - _tf_reference_arrays().keys())
        assert not missing, (f"{TF_REFERENCES} lacks {missing}: regenerate it from the"
                             f" repository root with `{TF_REFERENCES_COMMAND}` (needs TensorFlow)")

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.keys:
            raise KeyError(f"{key!r} is read but not declared among this file's TF references")
        self.check()
        return _tf_reference_arrays()[key]
