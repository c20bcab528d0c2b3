"""GWA inside a hand-written Flax NNX train loop, on digits or Fashion-MNIST (offline).

The NNX twin of ``custom_loop_digits.py``: the model sows its pre-head latent as an
``nnx.Intermediate``, the alignment is computed inside the loss function (so it uses the head
kernel of that forward pass, before ``optimizer.update`` changes the model in place), the
scores stay on the device in a ``SampleBuffer``, and an ``EpochTracker`` picks the GWA-best
epoch and stops early.

    python scripts/custom_loop_nnx.py --epochs 30 --noise 0.2
    python scripts/custom_loop_nnx.py --dataset fashion_mnist --train-size 5000 --epochs 20
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
import optax
from flax import nnx

from gwa_jax import (
    EpochAlignment,
    EpochTracker,
    SampleBuffer,
    finalize_epoch,
    head_alignment,
    head_kernel,
    latent_from_collection,
)


class MLP(nnx.Module):
    """(B, F) features -> (B, C) logits; sows its (B, width) latent, head is ``self.head``."""

    def __init__(self, in_dim: int, num_classes: int, width: int = 128, *, rngs: nnx.Rngs):
        self.hidden1 = nnx.Linear(in_dim, width, rngs=rngs)
        self.hidden2 = nnx.Linear(width, width, rngs=rngs)
        self.head = nnx.Linear(width, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        z = nnx.relu(self.hidden2(nnx.relu(self.hidden1(x))))
        self.sow(nnx.Intermediate, "latent_embeddings", z)
        return self.head(z)


@nnx.jit(donate_argnames="scores")
def train_step(model, optimizer, scores, images, labels, ids):
    def loss_fn(model):
        logits, inter = nnx.capture(model, nnx.Intermediate)(images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        # Inside the loss: the kernel of this forward pass, before optimizer.update.
        gamma = head_alignment(head_kernel(model), logits, latent_from_collection(inter), labels)
        return loss, gamma

    (loss, gamma), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)  # Updates the model in place.
    return scores.update(ids, gamma), loss


def predict(model: MLP, images: jax.Array) -> np.ndarray:
    """(B,) argmax predictions; ``nnx.capture`` keeps the sown latent off the model."""
    logits, _ = nnx.capture(model, nnx.Intermediate)(images)
    return np.asarray(logits).argmax(-1)


HEADER = "epoch  loss    GWA      mean    kurt    test_acc  mean(clean)  mean(flipped)"


def print_epoch(epoch: int, loss: float, ep: EpochAlignment, acc: float, clean: np.ndarray,
                flipped: np.ndarray) -> None:
    """One table row; the mean scores of clean and flipped ids (N,) index ``ep.scores``."""
    print(f"{epoch:5d}  {loss:.4f}  {ep.gwa:+.4f}  {ep.mean:+.4f}  {ep.kurtosis:+.3f}  "
          f"{acc:.4f}    {np.nanmean(ep.scores[clean]):+.4f}       "
          f"{np.nanmean(ep.scores[flipped]):+.4f}")


def load_data(name: str, train_size: int | None, seed: int):
    """(x (N, F) float32, y (N,) int32, train ids, test ids) of ``digits`` or ``fashion_mnist``."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x, y = (x / 16.0).astype(np.float32), y.astype(np.int32)
        perm = rng.permutation(len(x))
        test_idx, train_idx = perm[:360], perm[360:]
    else:
        from gwa_jax.data.idx import find_fmnist_dir, load_fmnist_idx

        directory = find_fmnist_dir()
        if directory is None:
            raise SystemExit("custom_loop_nnx.py: error: no Fashion-MNIST idx files; "
                             "apt-get install dataset-fashion-mnist or set GWA_FMNIST_DIR")
        splits = load_fmnist_idx(str(directory))
        x = np.concatenate([splits["train"][0], splits["test"][0]]).reshape(70000, -1)
        x, y = (x / 255.0).astype(np.float32), np.concatenate([splits["train"][1],
                                                               splits["test"][1]])
        train_idx, test_idx = np.arange(60000), np.arange(60000, 70000)
    if train_size:
        train_idx = rng.permutation(train_idx)[:train_size]
    return x, y, train_idx, test_idx


def main(argv: list[str] | None = None) -> EpochTracker:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "fashion_mnist"), default="digits")
    parser.add_argument("--train-size", type=int, default=None, help="subsample the train set")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--noise", type=float, default=0.2, help="symmetric label noise rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--patience", type=int, default=0,
                        help="stop when GWA has not improved for this many epochs (0: never)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y, train_idx, test_idx = load_data(args.dataset, args.train_size, args.seed)
    rng = np.random.default_rng(args.seed)
    labels = y.copy()
    flip = rng.choice(train_idx, int(round(args.noise * len(train_idx))), replace=False)
    labels[flip] = (labels[flip] + rng.integers(1, 10, flip.size)) % 10  # Other classes only.

    model = MLP(x.shape[1], 10, rngs=nnx.Rngs(args.seed))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    steps_per_epoch = len(train_idx) // args.batch_size
    scores = SampleBuffer.create(len(x))
    tracker = EpochTracker(total_steps=args.epochs * steps_per_epoch)
    print(HEADER)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(train_idx)
        for s in range(steps_per_epoch):
            ids = order[s * args.batch_size:(s + 1) * args.batch_size]
            scores, loss = train_step(model, optimizer, scores, x[ids], labels[ids], ids)
        ep = finalize_epoch(scores, epoch=epoch)  # The one device-to-host transfer.
        scores = scores.reset()
        tracker.update(ep, step=epoch * steps_per_epoch, epoch=epoch)
        if tracker.is_best("gwa"):
            best = nnx.clone(model)  # Keep (or checkpoint) the GWA-best model.
        acc = float((predict(model, x[test_idx]) == y[test_idx]).mean())
        print_epoch(epoch, float(loss), ep, acc, np.setdiff1d(train_idx, flip), flip)
        if args.patience and tracker.should_stop(patience=args.patience):
            print(f"stopping: GWA has not improved for {args.patience} epochs")
            break
    if tracker.best_epoch("gwa") is not None:
        acc = float((predict(best, x[test_idx]) == y[test_idx]).mean())
        print(f"GWA-best epoch {tracker.best_epoch('gwa')}: test_acc {acc:.4f}")
    return tracker


if __name__ == "__main__":
    main()
