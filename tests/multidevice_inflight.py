"""Many small multi-device programs in a row, each waited for (``settle``) or not.

Run by ``tests/test_multidevice.py`` with 4 simulated CPU devices and short collective
time-outs: ``python multidevice_inflight.py settled|async ITERATIONS``. A jitted function
whose output is reduced over a sharded batch (an all-reduce), as ``eval_step`` is, is called
``ITERATIONS`` times and its outputs summed on the device, as ``evaluate_accuracy`` does.
With ``async`` several calls are in flight at once, which deadlocks XLA's CPU runtime within
seconds (the process aborts at the collective time-out); with ``settled`` each call passes
through ``gwa_jax.train.sharding.settle``. Prints ``done`` and the sum on success.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gwa_jax.train.sharding import settle

mode, iterations = sys.argv[1], int(sys.argv[2])
mesh = Mesh(np.asarray(jax.devices()), ("d",))
weights = jax.device_put(jnp.ones((64, 64)), NamedSharding(mesh, PartitionSpec()))
sharded = NamedSharding(mesh, PartitionSpec("d"))
wait = settle if mode == "settled" else (lambda tree: tree)


@jax.jit
def step(w: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.sum(jnp.tanh(x @ w))


total = None
rng = np.random.default_rng(0)
for _ in range(iterations):
    x = jax.device_put(rng.random((64, 64), np.float32), sharded)
    out = wait(step(weights, x))
    total = out if total is None else wait(total + out)
print("done", float(total))
