"""Shared pytest set-up: CPU only, quiet TensorFlow, float64 available on request."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
