"""``python -m gwa_jax`` is ``gwa-train``."""

from gwa_jax.cli.train import main

if __name__ == "__main__":
    main()
