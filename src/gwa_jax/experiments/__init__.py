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

Your own configs (the ``gwa-sweep``, ``gwa-report`` and ``gwa-inspect`` commands):

* :mod:`~gwa_jax.experiments.grid`: a grid over any config file's arguments and ``config.*``
  keys, as :class:`~gwa_jax.experiments.plan.Run` objects run by the same sweep.
* :mod:`~gwa_jax.experiments.run_table`: per run and criterion the selected epoch, its test
  accuracy, the best epoch in hindsight and the regret, grouped by any key;
  :mod:`~gwa_jax.experiments.run_report` writes them with the figures of any run folder.
* :mod:`~gwa_jax.experiments.mislabels`: the most negatively aligned training samples,
  precision@K and AUROC against the noise mask.
"""

from gwa_jax.experiments.args import ArgError, parse_arg

__all__ = ["ArgError", "parse_arg"]
