"""One train step of a real model on meshes of 1, 2 and 4 simulated CPU devices.

Run by ``tests/test_multidevice.py`` in a subprocess started with 4 host devices (the device
count is fixed when JAX starts, so it cannot run inside the pytest process). The state and
the per-sample buffers are replicated and the batch is sharded along its leading axis, as
``gwa-train`` places them (``gwa_jax.train.sharding``); each mesh runs the same jitted step from
the same initial state on the same batch. Prints one JSON object:
``{"1": {...}, "2": {...}, "4": {...}}`` with, per device count, the flattened gradient of
the training loss, the parameters after one SGD step, the per-sample alignment scores and
predictions, and the Gradient Disparity batch gradient, as lists.
"""

from __future__ import annotations

import functools
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gwa_jax import models
from gwa_jax.config_base import default_config
from gwa_jax.latents import LATENT_COLLECTION
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.sharding import DATA_AXIS
from gwa_jax.train.step import EpochBuffers, batch_gradient, create_train_state, make_train_step

BATCH, CLASSES, NUM_IDS = 32, 10, 40


def _flat(tree) -> list[float]:
    leaves = jax.tree.leaves(jax.device_get(tree))
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in leaves]).tolist()


def _batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int32)
    return {"image": rng.normal(size=(BATCH, 28, 28, 1)).astype(np.float32),
            "label": labels,
            "target": np.eye(CLASSES, dtype=np.float32)[labels],
            "id": rng.permutation(NUM_IDS)[:BATCH].astype(np.int32)}


def _loss(apply_fn, params, batch, dropout_rng):
    logits, _ = apply_fn({"params": params}, batch["image"], train=True,
                         rngs={"dropout": dropout_rng}, mutable=[LATENT_COLLECTION])
    return optax.softmax_cross_entropy(logits, batch["target"]).mean()


def _state(model, tx, repl):
    state = create_train_state(model, tx, (28, 28, 1), seed=0)
    # The ViT's head starts at zero (all scores 0, equal losses): give it random weights.
    head = dict(state.params["head"])
    head["kernel"] = jnp.asarray(np.random.default_rng(1).normal(
        0, 0.5, head["kernel"].shape), jnp.float32)
    params = {**state.params, "head": head}
    return jax.device_put(state.replace(params=params, opt_state=tx.init(params)), repl)


def one_step(num_devices: int) -> dict[str, list[float]]:
    """Runs the step on a mesh of the first ``num_devices`` devices; returns flat results.

    Parameters are compared after one SGD step (``p - lr * g``): after one Adam step they
    move by ``lr * g / (|g| + eps)``, which turns a rounding difference in a gradient entry
    near zero into a difference of up to ``lr``, whatever the sharding (Adam's moments after
    its first step are ``(1 - b1) g`` and ``(1 - b2) g**2``, covered by the gradients).
    """
    mesh = Mesh(np.asarray(jax.devices()[:num_devices]), (DATA_AXIS,))
    repl = NamedSharding(mesh, PartitionSpec())
    sharded = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    model = models.create("vit_fmnist_tiny", CLASSES)
    optim = default_config().optim
    optim.name, optim.lr, optim.schedule = "sgd", 0.1, "constant"
    sgd, _ = make_optimizer(optim, 100)
    state = _state(model, sgd, repl)
    buffers = jax.device_put(EpochBuffers.create(NUM_IDS), repl)
    batch = jax.device_put(_batch(), sharded)
    rng = jax.random.fold_in(jax.random.wrap_key_data(state.dropout_key), 0)
    grads = jax.jit(jax.grad(functools.partial(_loss, model.apply)), out_shardings=repl)(
        state.params, batch, rng)
    gd_grads = jax.jit(functools.partial(batch_gradient, model.apply), out_shardings=repl)(
        state.params, batch, rng)
    new_state, new_buffers = jax.jit(make_train_step(), out_shardings=(repl, repl))(
        state, buffers, batch)
    return {"grads": _flat(grads), "params_sgd": _flat(new_state.params),
            "gd_grads": _flat(gd_grads),
            "scores": np.asarray(new_buffers.scores.values, np.float64).tolist(),
            "seen": np.asarray(new_buffers.scores.seen).astype(int).tolist(),
            "preds": np.asarray(new_buffers.preds.values).tolist(),
            "loss_sum": [float(new_buffers.loss_sum)]}

if __name__ == "__main__":
    counts = [int(n) for n in sys.argv[1:]] or [1, 2, 4]
    if jax.device_count() < max(counts):
        sys.exit(f"needs {max(counts)} devices, JAX sees {jax.device_count()}")
    print(json.dumps({str(n): one_step(n) for n in counts}))
