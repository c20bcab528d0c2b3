"""Progress lines for log files: compile time once, then every ``log_every_steps`` steps.

On a terminal tqdm draws its bar; when stdout is not a terminal (a log file, a scheduler)
:class:`StepProgress` logs instead

    compiling the train step (first step 1)
    train step compiled; first step (1) done in 4.1s
    step 200/1000 (epoch 7/33) | loss 1.2345 | 812 images/s | ETA 59s

The loss is the running mean of the current epoch, read from the on-device epoch buffers:
one scalar transfer every ``log_every_steps`` steps, none in between.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import jax
from absl import logging


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_eta(seconds: float) -> str:
    """``59s``, ``4m05s``, ``2h03m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class StepProgress:
    """Logs the first step's compile time and a line every ``log_every`` steps.

    Args:
      total_steps: steps of the whole run.
      batch_size: global batch size (images per step).
      log_every: steps between lines; 0 disables the periodic lines.
      num_epochs: for the ``epoch e/E`` field.
      enabled: log periodic lines (default: when stdout is not a terminal).
      log: ``log(fmt, *args)`` (default ``absl.logging.info``).
    """

    def __init__(self, total_steps: int, batch_size: int, log_every: int, num_epochs: int,
                 enabled: bool | None = None, log: Any = None):
        self.total_steps, self.batch_size = int(total_steps), int(batch_size)
        self.log_every, self.num_epochs = int(log_every), int(num_epochs)
        self.enabled = (not _is_terminal(sys.stdout)) if enabled is None else enabled
        self.log = log or logging.info
        self.compiled = False
        self._t = time.time()  # Create it just before the first step.
        self._step = 0

    def compiling(self, step: int) -> None:
        """Call just before the first train step: logs that compilation starts."""
        self.log("compiling the train step (first step %d)", step)
        self._t = time.time()

    def update(self, step: int, epoch: int, state: Any, buffers: Any) -> None:
        """Call after each train step.

        Args:
          step: steps done so far in the run (1-based, resumed runs count from their start).
          epoch: the current epoch.
          state: the train state the step returned (waited for once, after the first step).
          buffers: the epoch buffers (``loss_sum`` and ``count`` scalars on the device).
        """
        if not self.compiled:
            jax.block_until_ready(state)
            self.compiled = True
            self.log("train step compiled; first step (%d) done in %.1fs", step,
                     time.time() - self._t)
            self._t, self._step = time.time(), step
            return
        if not (self.enabled and self.log_every and step % self.log_every == 0):
            return
        loss_sum, count = jax.device_get((buffers.loss_sum, buffers.count))
        rate = (step - self._step) / max(time.time() - self._t, 1e-9)  # Steps/s since step 1.
        eta = (self.total_steps - step) / max(rate, 1e-9)
        self.log("step %d/%d (epoch %d/%d) | loss %.4f | %.0f images/s | ETA %s", step,
                 self.total_steps, epoch, self.num_epochs, float(loss_sum) / max(count, 1.0),
                 rate * self.batch_size, format_eta(eta))
