"""Quickstart: a small ViT on offline Fashion-MNIST with 20% symmetric label noise.

Sized for about 4 minutes on 2 CPU cores. It trains long enough to start memorising the
noisy labels, so the criteria disagree: GWA and LabelWave pick an early epoch, the last
epoch is past the best one. Run it with

    gwa-train --config configs/quickstart.py --workdir runs/quickstart

and shrink it for a smoke test with

    gwa-train --config configs/quickstart.py --workdir /tmp/qs --config.total_steps=40 \\
        --config.dataset.train_subset=1000 --config.batch_size=100
"""

from gwa_jax.config_base import default_config


def get_config(arg: str | None = None):
    del arg
    c = default_config()
    c.seed = 0
    c.batch_size = 128
    c.eval_batch_size = 1000
    c.total_steps = 1000

    c.dataset.name = "fashion_mnist"
    c.dataset.train_subset = 8000
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = 0.2
    c.dataset.label_noise.seed = 0

    c.model.name = "vit_fmnist"
    c.optim.name = "adam"
    c.optim.lr = 2e-3
    c.optim.schedule = "cosine"

    c.gwa.save_scores_every = 1
    return c
