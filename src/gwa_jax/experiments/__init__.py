"""The experiment layer: paper configs' argument parsing, sweeps, tables and figures.

Scripts stay thin (``scripts/sweep.py``, ``scripts/make_tables.py``,
``scripts/make_figures.py``); the logic lives here:

* :mod:`~gwa_jax.experiments.args`: ``parse_arg("noise=0.17,split=0.01,seed=1", ...)`` for the
  big_vision style ``get_config(arg)`` of every file in ``configs/``;
  :mod:`~gwa_jax.experiments.paper` holds what the paper configs share (validation split,
  CIFAR-10-N label keys, ``runlocal``, loading a config file).
* :mod:`~gwa_jax.experiments.plan`: the run matrix of each paper table (model x data variant x
  split x seed), with a deterministic workdir per run and its ``gwa-train`` command.
* :mod:`~gwa_jax.experiments.sweep`: runs a plan one run after another (or prints it).
* :mod:`~gwa_jax.experiments.results`: reading run directories (``summary.json``,
  ``metrics.jsonl``, ``alignment/``), mislabel-detection AUROC, correlations.
* :mod:`~gwa_jax.experiments.tables`: the paper's tables as Markdown, CSV and LaTeX, and
  :mod:`~gwa_jax.experiments.reports`, which writes them to ``results/<name>/``.
* :mod:`~gwa_jax.experiments.figures`: Fig. 2, 3, 4, 6 and 16 (matplotlib, PNG).
* :mod:`~gwa_jax.experiments.synthetic`: hand-made run directories for tests and demos.
"""

from gwa_jax.experiments.args import ArgError, parse_arg

__all__ = ["ArgError", "parse_arg"]
