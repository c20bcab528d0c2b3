"""GWA inside a hand-written Flax/Optax train loop, on scikit-learn's digits (offline).

Shows the calls a user adds to their own loop: ``head_alignment`` in the jitted step,
``SampleBuffer.update`` to keep the scores on the device, ``finalize_epoch`` once per epoch,
and an ``EpochTracker`` that picks the GWA-best epoch. The NNX twin is ``custom_loop_nnx.py``.

    python scripts/custom_loop_digits.py --epochs 30 --noise 0.2
"""

from __future__ import annotations

import argparse
import functools

import flax.linen as nn
import jax
import numpy as np
import optax
from flax.training import train_state
from sklearn.datasets import load_digits

from gwa_jax import (
    EpochTracker,
    SampleBuffer,
    finalize_epoch,
    head_alignment,
    head_kernel,
    latent_from_collection,
)


class MLP(nn.Module):
    """(B, 64) pixels -> (B, 10) logits; sows its (B, width) latent."""

    width: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        z = nn.relu(nn.Dense(self.width)(nn.relu(nn.Dense(self.width)(x))))
        self.sow("latent_embeddings", "x", z)
        return nn.Dense(10, name="head")(z)


@functools.partial(jax.jit, donate_argnums=(0, 1))
def train_step(state, scores, images, labels, ids):
    def loss_fn(params):
        logits, mutables = state.apply_fn({"params": params}, images,
                                          mutable=["latent_embeddings"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, (logits, latent_from_collection(mutables))

    (loss, (logits, z)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    # The alignment uses the kernel of this forward pass, before the update.
    gamma = head_alignment(head_kernel(state.params), logits, z, labels)
    return state.apply_gradients(grads=grads), scores.update(ids, gamma), loss


def main(argv: list[str] | None = None) -> EpochTracker:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--noise", type=float, default=0.2, help="symmetric label noise rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(x))
    test_idx, train_idx = perm[:360], perm[360:]
    labels = y.astype(np.int32).copy()
    flip = rng.choice(train_idx, int(round(args.noise * len(train_idx))), replace=False)
    labels[flip] = (labels[flip] + rng.integers(1, 10, flip.size)) % 10  # Other classes only.

    model = MLP()
    params = model.init(jax.random.key(args.seed), x[:1])["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params,
                                          tx=optax.adam(1e-3))
    scores = SampleBuffer.create(len(x))
    steps_per_epoch = len(train_idx) // args.batch_size
    tracker = EpochTracker(total_steps=args.epochs * steps_per_epoch)
    print("epoch  loss    GWA      mean    kurt    test_acc  mean(clean)  mean(flipped)")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(train_idx)
        for s in range(steps_per_epoch):
            ids = order[s * args.batch_size:(s + 1) * args.batch_size]
            state, scores, loss = train_step(state, scores, x[ids], labels[ids], ids)
        ep = finalize_epoch(scores, epoch=epoch)  # The one device-to-host transfer.
        scores = scores.reset()
        tracker.update(ep, step=epoch * steps_per_epoch, epoch=epoch)
        pred = np.asarray(model.apply({"params": state.params}, x[test_idx])).argmax(-1)
        acc = float((pred == y[test_idx]).mean())
        clean = np.setdiff1d(train_idx, flip)
        print(f"{epoch:5d}  {float(loss):.4f}  {ep.gwa:+.4f}  {ep.mean:+.4f}  "
              f"{ep.kurtosis:+.3f}  {acc:.4f}    {np.nanmean(ep.scores[clean]):+.4f}"
              f"       {np.nanmean(ep.scores[flip]):+.4f}")
    print(f"GWA-best epoch: {tracker.best_epoch('gwa')}")
    return tracker


if __name__ == "__main__":
    main()
