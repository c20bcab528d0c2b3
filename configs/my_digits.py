"""Your own config family: digits, a small ConvNeXt and label smoothing.

The example of the README's "Your own experiments": arguments ``noise`` (symmetric label
noise rate, default 0) and ``seed`` (default 0). Sweep, tabulate, plot and inspect it with

    gwa-sweep --config configs/my_digits.py --grid noise=0,0.2 seed=0,1,2 --root runs/my
    gwa-report runs/my --out results/my --by noise
    gwa-inspect runs/my/my_digits/noise0.2_seed0 --epoch gwa -k 15

and check a single point first with

    gwa-train --config configs/my_digits.py:noise=0.2 --print_config

Augmentation: none (8 px grey digits; the authors' CIFAR chain is made for 32 px RGB).
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, where="configs/my_digits.py", noise=0.0, seed=0)
    c = default_config()
    c.seed = a.seed
    c.batch_size = 64
    c.eval_batch_size = 120
    c.total_steps = 600  # 22 steps of 64 per epoch.

    c.dataset.name = "digits"
    c.dataset.label_noise.kind = "symmetric"
    c.dataset.label_noise.rate = a.noise

    c.model.name = "convnext_fmnist_tiny"
    c.model.stem_stride = 1  # 8 px digits: no patchify downsampling (grids 8, 4, 2, 1).
    c.augment.label_smoothing = 0.1
    c.optim.lr = 2e-3
    c.checkpoint_every = 5
    return c
