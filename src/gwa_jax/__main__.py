"""``python -m gwa_jax`` is ``gwa-train``."""

from gwa_jax.cli import run

if __name__ == "__main__":
    run()
