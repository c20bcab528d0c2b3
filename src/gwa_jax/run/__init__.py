"""A run's life on disk and in the process: the workdir and its lock
(:mod:`~gwa_jax.run.workdir`, :mod:`~gwa_jax.run.workdir_lock`), signals
(:mod:`~gwa_jax.run.interrupt`), checkpoints and resuming (:mod:`~gwa_jax.run.checkpoints`,
:mod:`~gwa_jax.run.resume`), the run format and its checks (:mod:`~gwa_jax.run.run_format`,
:mod:`~gwa_jax.run.run_files`, :mod:`~gwa_jax.run.integrity`), start-up guards
(:mod:`~gwa_jax.run.run_guard`), progress lines and TensorBoard
(:mod:`~gwa_jax.run.progress`, :mod:`~gwa_jax.run.tensorboard_writer`).

Imports nothing: :mod:`~gwa_jax.run.interrupt` and :mod:`~gwa_jax.run.run_guard` run before
JAX loads.
"""
