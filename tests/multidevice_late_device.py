"""An all-reduce that simulated device 1 reaches ``DELAY`` seconds after device 0.

Run by ``tests/test_multidevice.py`` with 2 simulated CPU devices: a stand-in for a device
thread starved of CPU on a loaded machine. Prints the all-reduced sum (``3.0``) when the
process survives the wait; XLA aborts the process when the wait exceeds its collective
termination time-out (``--xla_cpu_collective_call_terminate_timeout_seconds``).
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import shard_map
from jax.sharding import Mesh, PartitionSpec

DELAY = float(sys.argv[1])


def _late(index: np.ndarray) -> np.float32:
    if int(index) == 1:
        time.sleep(DELAY)
    return np.float32(index)


def _sum(x: jax.Array) -> jax.Array:
    i = jax.lax.axis_index("d")
    late = jax.pure_callback(_late, jax.ShapeDtypeStruct((), jnp.float32), i)
    return jax.lax.psum(x + late, "d")


mesh = Mesh(np.asarray(jax.devices()[:2]), ("d",))
spec = PartitionSpec("d")
total = jax.jit(shard_map(_sum, mesh=mesh, in_specs=spec, out_specs=PartitionSpec()))(
    jnp.ones(2))
print(float(total[0]))
