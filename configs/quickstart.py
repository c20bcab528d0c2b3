"""Quickstart: a small ViT on offline Fashion-MNIST with 20% symmetric label noise.

Sized for under 5 minutes on 2 CPU cores: 2000 training images, 1000 steps (31 epochs of 32).
It trains long enough to memorise the noisy labels (train accuracy ends far above the 80%
clean fraction while test accuracy falls), so the criteria disagree: GWA peaks while the
model still generalises (epoch 11), LabelWave stops later (epoch 16), the last epoch is worse
than both (results/quickstart/). Run it with

    gwa-train --config configs/quickstart.py --workdir runs/quickstart

and shrink it for a smoke test with

    gwa-train --config configs/quickstart.py --workdir /tmp/qs --config.total_steps=40 \\
        --config.dataset.train_subset=1000 --config.batch_size=100

Augmentation: none (not the authors' CIFAR chain of resize 36, RandAugment, crop, flip:
that is made for 32 px RGB images, and on this CPU-only budget it would run in the train step).
"""

from gwa_jax.config_base import default_config


def get_config(arg: str | None = None):
    if arg:
        raise ValueError(f"quickstart.py takes no argument, got {arg!r}; drop ':{arg}'")
    c = default_config()
    c.seed = 0
    c.batch_size = 64
    c.eval_batch_size = 100  # CPU: 2.5x faster than 1000 (scripts/profile_quickstart.py)
    c.total_steps = 1000

    c.dataset.name = "fashion_mnist"
    c.dataset.train_subset = 2000
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.2
    c.dataset.label_noise.seed = 0

    c.model.name = "vit_fmnist"
    c.optim.name = "adam"
    c.optim.lr = 2e-3
    c.optim.schedule = "cosine"

    c.gwa.save_scores_every = 1
    return c
