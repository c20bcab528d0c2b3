"""``gwa-train``: run one experiment config.

    gwa-train --config configs/quickstart.py --workdir runs/quickstart
    gwa-train --config configs/fmnist_n.py:noise=0.4,model=vit --workdir runs/x \\
        --config.total_steps=2000 --config.batch_size=256
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with an argument: FILE.py[:ARG].",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, scores.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Start afresh in a workdir that holds a run of a different config.")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _CONFIG.value is None or not _WORKDIR.value:
        raise app.UsageError("both --config and --workdir are required.")
    from gwa_jax.sharding import maybe_initialize_distributed
    from gwa_jax.trainer import NonFiniteError, print_selection_table, train_and_evaluate

    maybe_initialize_distributed()
    logging.set_verbosity(logging.INFO)
    try:
        summary = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except NonFiniteError as err:
        print(f"gwa-train: error: {err}", file=sys.stderr)
        return 1
    print_selection_table(summary, _WORKDIR.value)
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
