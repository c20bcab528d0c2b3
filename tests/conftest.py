"""Shared pytest set-up: CPU only, float64 available on request; the TensorFlow reference
values of the augmentation tests and the tiny prepared TFDS datasets of tests/fixtures/tfds (a
fresh copy per test)."""

import functools
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")


import numpy as np  # noqa: E402
import pytest  # noqa: E402

FMNIST_FILE = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
requires_fmnist = pytest.mark.skipif(
    not os.path.exists(FMNIST_FILE) and not os.environ.get("GWA_FMNIST_DIR"),
    reason="needs offline Fashion-MNIST: apt-get install -y dataset-fashion-mnist")

TF_REFERENCES = Path(__file__).parent / "fixtures" / "tf_references.npz"
TF_REFERENCES_COMMAND = "PYTHONPATH=src python tests/fixtures/make_tf_references.py"


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


# --- Tiny prepared TFDS datasets (tests/fixtures/make_tfds_fixtures.py) -----------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TFDS_FIXTURES = FIXTURES / "tfds"


@pytest.fixture(scope="session")
def tfds_expected() -> dict:
    """The values ``make_tfds_fixtures.py`` wrote into the fixture datasets (its docstring)."""
    with np.load(FIXTURES / "tfds_expected.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture
def tfds_dir(tmp_path, monkeypatch) -> Path:
    """A copy of ``tests/fixtures/tfds`` in ``tmp_path`` to use as the TFDS data_dir; label
    indices are cached inside it (``<copy>/gwa_jax_index``), never in the fixtures."""
    monkeypatch.delenv("GWA_INDEX_DIR", raising=False)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    return Path(shutil.copytree(TFDS_FIXTURES, tmp_path / "tfds"))


#: The CIFAR-10-C configs the fixture holds (TFDS names).
CIFAR10_CORRUPTED_FIXTURE = tuple(
    sorted(p.name for p in (TFDS_FIXTURES / "cifar10_corrupted").iterdir()))


@pytest.fixture
def fixture_corruptions(monkeypatch) -> dict[str, tuple[str, str]]:
    """Restricts build_data's expansion of corrupted datasets to the CIFAR-10-C configs of the
    fixture (:data:`CIFAR10_CORRUPTED_FIXTURE`); returns those test sets
    ``{key: (tfds name, group)}`` as :func:`gwa_jax.data.registry.corrupted_test_sets` names
    them."""
    from gwa_jax.data import build, registry

    written = {f"cifar10_corrupted/{c}" for c in CIFAR10_CORRUPTED_FIXTURE}

    def fixture_sets(name: str) -> dict[str, tuple[str, str]]:
        sets = registry.corrupted_test_sets(name)
        return {key: value for key, value in sets.items() if value[0] in written}

    monkeypatch.setattr(build, "corrupted_test_sets", fixture_sets)
    return fixture_sets("cifar10_corrupted")
