"""Data parallelism with ``jax.sharding``: one mesh axis ``data`` over every device.

The global batch is sharded along its leading axis, the train state and the per-sample
buffers are replicated. The same jitted step runs on 1 or N devices (and on several hosts
after :func:`maybe_initialize_distributed`); XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

T = TypeVar("T")
DATA_AXIS = "data"
_COORDINATOR_VARS = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS")


def maybe_initialize_distributed() -> None:
    """Calls ``jax.distributed.initialize()`` when a multi-host environment is configured.

    Set ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (or run
    under a cluster JAX auto-detects, e.g. SLURM with ``GWA_DISTRIBUTED=1``).
    """
    if any(os.environ.get(v) for v in _COORDINATOR_VARS) or os.environ.get("GWA_DISTRIBUTED"):
        jax.distributed.initialize()
        logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
                     jax.process_index(), jax.process_count(), jax.local_device_count(),
                     jax.device_count())


def simulated_devices_env(devices: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a JAX process that sees ``devices`` simulated CPU devices.

    For trying data parallelism on a CPU: ``subprocess.run([...], env=simulated_devices_env(4))``
    (the device count is fixed when JAX starts, so it needs a new process). XLA's CPU
    collectives abort the process (``rc 134``, "Termination timeout ... of 40 seconds
    exceeded") when one simulated device reaches an all-reduce more than 60 s after another
    (a warning at 20 s, the abort 40 s later), which a loaded machine produces; here that
    limit is 40 minutes, so a starved device makes the run slower instead of killing it, and
    Eigen's own thread pool is off so the simulated devices compete less for the cores.
    Every flag starts with ``--``: XLA stops reading ``XLA_FLAGS`` at the first token that
    does not.
    """
    flags = [f"--xla_force_host_platform_device_count={devices}",
             "--xla_cpu_multi_thread_eigen=false",
             "--xla_cpu_collective_call_warn_stuck_timeout_seconds=600",
             "--xla_cpu_collective_call_terminate_timeout_seconds=1800",
             "--xla_cpu_collective_timeout_seconds=1800"]
    return dict(os.environ if base is None else base, XLA_FLAGS=" ".join(flags),
                JAX_PLATFORMS="cpu")


@functools.cache
def one_program_at_a_time() -> bool:
    """Whether jitted calls must finish before the next is dispatched: several CPU devices.

    XLA's CPU runtime launches each device's share of a multi-device program on one shared
    pool of threads; with two such launches in flight, the pool can fill with one program's
    shares waiting at an all-reduce for a share of the same program queued behind them, a
    deadlock (the process aborts after XLA's collective time-out, or hangs once that is
    raised). ``tests/multidevice_inflight.py`` reproduces it within seconds on 4 simulated
    devices. GPUs and TPUs, and a single CPU device, are not affected.
    """
    return jax.device_count() > 1 and jax.default_backend() == "cpu"


def settle(tree: T) -> T:
    """Returns ``tree`` (outputs of a jitted call) once computed where
    :func:`one_program_at_a_time` holds; elsewhere at once, keeping dispatch asynchronous."""
    if one_program_at_a_time():
        jax.block_until_ready(tree)
    return tree


def make_mesh() -> Mesh:
    """A 1-D mesh over all (global) devices."""
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def put_batch(batch: dict[str, np.ndarray], mesh: Mesh, *,
              process_local: bool = False) -> dict[str, jax.Array]:
    """Places a host batch on the mesh, sharded along the leading (batch) axis.

    ``batch`` is the global batch (every process reads the same deterministic stream; with
    several processes each contributes its contiguous slice of it), or with ``process_local``
    this process's contiguous share of the global batch (a training stream's batches, see
    :attr:`gwa_jax.data.train.TrainStream.host_rows`); the global array is assembled from the
    processes' shares.
    """
    sharding = batch_sharded(mesh)
    if jax.process_count() == 1:
        return jax.device_put(batch, sharding)
    n, i = jax.process_count(), jax.process_index()

    def local(x: np.ndarray) -> jax.Array:
        if process_local:
            return jax.make_array_from_process_local_data(sharding, x)
        per = x.shape[0] // n
        return jax.make_array_from_process_local_data(sharding, x[i * per:(i + 1) * per])

    return jax.tree.map(local, batch)


def prefetch_to_mesh(batches: Iterable[dict[str, np.ndarray]], mesh: Mesh,
                     size: int = 2, *, process_local: bool = False
                     ) -> Iterator[dict[str, jax.Array]]:
    """Keeps ``size`` batches in flight on the devices ahead of the consumer
    (``process_local``: as :func:`put_batch`)."""
    queue: collections.deque[Any] = collections.deque()
    it = iter(batches)
    for batch in it:
        queue.append(put_batch(batch, mesh, process_local=process_local))
        if len(queue) >= size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
