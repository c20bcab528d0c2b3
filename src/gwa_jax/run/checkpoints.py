"""Orbax checkpoints of a run: ``latest`` (resume) and the best-by-criterion states.

Layout under ``WORKDIR/checkpoints/``: ``latest/`` (two epochs kept), ``best_gwa/`` and
``best_val/`` (when a validation split exists; one epoch each), and ``interrupted/`` (one
mid-epoch checkpoint saved on SIGINT or SIGTERM, by global step), each an orbax
``CheckpointManager``. A checkpoint holds the train state and a JSON ``meta`` item (epoch,
step, the run's metrics history). Orbax finalises a step directory atomically, so a kill
during a save leaves the previous step intact. Orbax checks only its index, not the data, so
every finished step gets a SHA-256 manifest (``checksums/KIND_STEP.json``); a step whose
files differ from it is damaged, and a step without one (a kill between the end of the save
and the manifest's write, or a deleted manifest) cannot be verified and is not trusted either:
orbax restores overwritten bytes without complaint, and a restored state being finite says
nothing about it being the saved one. :meth:`RunCheckpoints.restore_newest_good` and
:func:`read_params` skip such steps with a warning naming them, fall back to the previous
verified step, and raise :class:`DamagedCheckpointError` (one line saying what to do) when
none is left.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from gwa_jax.run.integrity import checksum_status, digest_dir, manifest_path, matches_manifest
from gwa_jax.run.run_files import write_json

KINDS = ("latest", "best_gwa", "best_val")
KEEP = {"latest": 2}  # Steps kept per kind (default 1): a damaged newest one has a fallback.
INTERRUPTED = "interrupted"
# Kinds whose save waits for the write and its manifest (seconds per epoch for large models);
# the best-by-criterion kinds stay asynchronous and get theirs at the next save or the end.
SEAL_AT_ONCE = ("latest", INTERRUPTED)


def _newest_verified(root: str, kind: str, steps: list[int], load: Any) -> Any:
    """``load(step)`` for the newest step that matches its manifest and that orbax reads;
    skipped steps are named in warnings.

    Raises:
      DamagedCheckpointError: steps exist but none is verified and readable.
    """
    skipped = []  # Why each step was passed over: "is damaged" or "cannot be verified (...)".
    for step in sorted(steps, reverse=True):
        where = os.path.join(root, kind, str(step))
        verdict, line = checksum_status(root, kind, step)
        if not verdict:
            skipped.append(f"checkpoint {where} is damaged" if verdict is False else
                           line.removesuffix(" and is not trusted"))
            logging.warning("%s; trying an older one", line)
            continue
        try:
            return load(step)
        except Exception as err:  # noqa: BLE001 - any unreadable step is damaged.
            skipped.append(f"checkpoint {where} is damaged")
            logging.warning("checkpoint %s is damaged (%s); trying an older one", where,
                            type(err).__name__)
    raise DamagedCheckpointError(f"{skipped[0]} and no older intact one exists; rerun with "
                                 f"--overwrite to start the run afresh")


class DamagedCheckpointError(ValueError):
    """No intact checkpoint of a kind is left; the message names the damaged one."""


class RunCheckpoints:
    """One orbax ``CheckpointManager`` per kind, each keeping a single epoch."""

    def __init__(self, workdir: str, kinds: tuple[str, ...] = KINDS):
        self.root = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self.managers = {
            k: ocp.CheckpointManager(os.path.join(self.root, k), options=(
                ocp.CheckpointManagerOptions(max_to_keep=KEEP.get(k, 1), create=True)))
            for k in kinds}
        self._unsealed: list[tuple[str, int]] = []

    def _sum_file(self, kind: str, step: int) -> str:
        return manifest_path(self.root, kind, step)

    def seal(self, block: bool = True) -> None:
        """Writes the checksum manifests of finished saves (with ``block``, waits for all
        pending saves first) and drops stale manifests."""
        if not self._unsealed:
            return
        if block:
            self.wait()
        pending = []
        for kind, step in self._unsealed:
            mngr = self.managers[kind]
            if mngr.is_saving_in_progress():
                pending.append((kind, step))
            elif step in mngr.all_steps():
                write_json(self._sum_file(kind, step),
                           digest_dir(os.path.join(self.root, kind, str(step))))
        self._unsealed = pending
        keep = {f"{k}_{s}.json" for k, m in self.managers.items() for s in m.all_steps()}
        sums = os.path.join(self.root, "checksums")
        for name in os.listdir(sums) if os.path.isdir(sums) else ():
            if name.endswith(".json") and name not in keep:
                os.unlink(os.path.join(sums, name))

    def verify(self, kind: str, step: int) -> bool | None:
        """True: the step matches its manifest; False: it differs; None: no manifest (a kill
        between the end of the save and the manifest's write)."""
        return matches_manifest(self.root, kind, step)

    def restore_newest_good(self, kind: str, target: Any) -> tuple[Any, dict, int] | None:
        """Restores the newest verified step of ``kind``: (state, meta, step), or None when
        the kind has no step. A damaged step (checksum mismatch, or orbax cannot read it) or
        one without its checksum manifest is skipped with a warning naming it.

        Raises:
          DamagedCheckpointError: steps exist but none is verified and readable.
        """
        steps = list(self.managers[kind].all_steps())
        if not steps:
            return None

        def load(step: int) -> tuple[Any, dict, int]:
            state, meta = self.restore(kind, target, step)
            return state, meta, step

        return _newest_verified(self.root, kind, steps, load)

    def delete_all(self, kind: str) -> None:
        mngr = self.managers[kind]
        mngr.wait_until_finished()
        for step in mngr.all_steps():
            mngr.delete(step)

    def path(self, kind: str, relative_to: str | None = None) -> str | None:
        """The newest step's directory (relative to ``relative_to`` when given)."""
        step = self.managers[kind].latest_step()
        if step is None:
            return None
        full = os.path.join(self.root, kind, str(step))
        return os.path.relpath(full, relative_to) if relative_to else full

    def latest_epoch(self, kind: str = "latest") -> int | None:
        return self.managers[kind].latest_step()

    def save(self, kind: str, epoch: int, state: Any, meta: dict[str, Any]) -> None:
        """Saves (asynchronously, except the kinds in ``SEAL_AT_ONCE``); an existing step of
        the same epoch is replaced."""
        mngr = self.managers[kind]
        if epoch in mngr.all_steps():
            mngr.wait_until_finished()
            if os.path.exists(self._sum_file(kind, epoch)):
                os.unlink(self._sum_file(kind, epoch))
            mngr.delete(epoch)
        self.seal(block=False)  # Saves finished since the last call get their manifests.
        mngr.save(epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                 meta=ocp.args.JsonSave(meta)))
        self._unsealed.append((kind, epoch))
        if kind in SEAL_AT_ONCE:  # What a resume restores is never left without a manifest.
            self.seal()

    def restore(self, kind: str, target: Any, epoch: int | None = None) -> tuple[Any, dict]:
        """Restores (state, meta) into the structure/shardings of ``target``."""
        mngr = self.managers[kind]
        epoch = mngr.latest_step() if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no '{kind}' checkpoint under {self.root}")
        if self.verify(kind, epoch) is False:
            raise DamagedCheckpointError(
                f"checkpoint {os.path.join(self.root, kind, str(epoch))} is damaged (checksum "
                f"mismatch); rerun with --overwrite to start the run afresh")
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
        self.seal(block=False)

    def drain(self) -> list[str]:
        """Waits for every save in flight without raising, for a run that is failing: no
        background write outlives the error the run reports (one left running at interpreter
        exit fails again there, with a traceback). Returns the kinds whose save failed; their
        unfinished steps are not in ``all_steps()`` and get no manifest."""
        failed = []
        for kind, mngr in self.managers.items():
            try:
                mngr.wait_until_finished()
            except Exception as err:  # noqa: BLE001 - the run already reports its own error.
                failed.append(kind)
                logging.info("checkpoint save of %s not finished (%s)", kind, type(err).__name__)
        return failed

    def close(self) -> None:
        self.seal()
        for m in self.managers.values():
            m.close()


def read_params(workdir: str, kind: str = "latest") -> tuple[dict[str, Any], int]:
    """The model parameters of another run's newest intact ``kind`` checkpoint, read-only.

    Nothing is written into ``workdir``. Steps are tried newest first; one whose files differ
    from its SHA-256 manifest, that has no manifest, or that orbax cannot read, is skipped
    with a warning.

    Args:
      workdir: a gwa-jax run directory (``WORKDIR/checkpoints/KIND/STEP``).
      kind: ``latest``, ``best_gwa`` or ``best_val``.

    Returns:
      ``(params, epoch)``: the params tree as nested dicts of arrays, and the checkpoint's
      epoch.

    Raises:
      FileNotFoundError: the run has no step of ``kind``.
      DamagedCheckpointError: steps exist but none is verified and readable.
    """
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    folder = os.path.join(root, kind)
    steps = sorted((int(n) for n in (os.listdir(folder) if os.path.isdir(folder) else ())
                    if n.isdigit()), reverse=True)
    if not steps:
        raise FileNotFoundError(f"no '{kind}' checkpoint under {root}")

    def load(step: int) -> tuple[dict[str, Any], int]:
        tree = ocp.StandardCheckpointer().restore(os.path.join(folder, str(step), "state"))
        state = tree["state"] if "state" in tree and "params" not in tree else tree
        return state["params"], step

    return _newest_verified(root, kind, steps, load)
