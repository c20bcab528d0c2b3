"""Orbax checkpoints of a run: ``latest`` (resume) and the best-by-criterion states.

Layout under ``WORKDIR/checkpoints/``: ``latest/``, ``best_gwa/``, ``best_val/`` (when a
validation split exists), each an orbax ``CheckpointManager`` keeping one step (the epoch).
A checkpoint holds the train state and a JSON ``meta`` item (epoch, the LabelWave
predictions are part of the state). Orbax finalises a step directory atomically, so a kill
during a save leaves the previous step intact.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

KINDS = ("latest", "best_gwa", "best_val")


class RunCheckpoints:
    """One orbax ``CheckpointManager`` per kind, each keeping a single epoch."""

    def __init__(self, workdir: str, kinds: tuple[str, ...] = KINDS):
        self.root = os.path.abspath(os.path.join(workdir, "checkpoints"))
        opts = ocp.CheckpointManagerOptions(max_to_keep=1, create=True)
        self.managers = {k: ocp.CheckpointManager(os.path.join(self.root, k), options=opts)
                         for k in kinds}

    def path(self, kind: str) -> str | None:
        step = self.managers[kind].latest_step()
        return None if step is None else os.path.join(self.root, kind, str(step))

    def latest_epoch(self, kind: str = "latest") -> int | None:
        return self.managers[kind].latest_step()

    def save(self, kind: str, epoch: int, state: Any, meta: dict[str, Any]) -> None:
        """Saves asynchronously; an existing step of the same epoch is replaced."""
        mngr = self.managers[kind]
        if epoch in mngr.all_steps():
            mngr.wait_until_finished()
            mngr.delete(epoch)
        mngr.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                 meta=ocp.args.JsonSave(meta)))

    def restore(self, kind: str, target: Any, epoch: int | None = None) -> tuple[Any, dict]:
        """Restores (state, meta) into the structure/shardings of ``target``."""
        mngr = self.managers[kind]
        epoch = mngr.latest_step() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no '{kind}' checkpoint under {self.root}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            out = mngr.restore(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"checkpoint {self.path(kind)} does not match this config's model/optimizer "
                f"({type(err).__name__}); use a fresh --workdir or --overwrite."
            ) from err
        return out.state, out.meta

    def wait(self) -> None:
        for m in self.managers.values():
            m.wait_until_finished()

    def close(self) -> None:
        for m in self.managers.values():
            m.close()
