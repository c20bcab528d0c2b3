"""Shared pytest set-up: CPU only, quiet TensorFlow, float64 available on request."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402

FMNIST_FILE = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
requires_fmnist = pytest.mark.skipif(
    not os.path.exists(FMNIST_FILE) and not os.environ.get("GWA_FMNIST_DIR"),
    reason="needs offline Fashion-MNIST: apt-get install -y dataset-fashion-mnist")
