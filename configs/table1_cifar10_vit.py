"""Table 1/2, Fig. 2-4: the CIFAR ViT (ViT/CIFAR-4) from scratch on CIFAR-10 / CIFAR-10-N.

Paper Table 4: Adam 1e-4 (b = 0.9, 0.999), batch 256, 35000 steps, cosine schedule, 32 px,
the authors' train chain (``hlzl/gwa`` ``numpy_files``: bilinear resize 32 -> 36, their
RandAugment 2 ops magnitude 1 on the 36 px image, random 32 px crop, flip; eval: the 32 px
image), no mixup, no weight decay, no clipping.
Model ``vit_cifar4``: patch 4, width 512, depth 6, MLP 512, 8 heads, sincos2d, GAP.
CIFAR-10-C (Table 2) is evaluated on the kept checkpoints by default.

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``noise``: 0 (CIFAR-10 ``label``), 0.09 (CIFAR-10-N ``aggre_label``), 0.17
  (``random_label1``) or 0.4 (``worse_label``). Default 0.
* ``split``: validation fraction 0.1, 0.01 or 0 (0 = all training data; GD is on). Default 0.
* ``seed``: training seed. Default 0.
* ``corrupted``: evaluate CIFAR-10-C on the kept checkpoints (Table 2). Default true.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/table1_cifar10_vit.py:noise=0.09,split=0,seed=2 \\
        --workdir runs/table1_cifar10_vit/noise0.09_split0_seed2
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.paper import CIFAR10_NOISE, SPLITS, runlocal, set_cifar10_noise, set_split


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/table1_cifar10_vit.py",
                  choices={"noise": tuple(CIFAR10_NOISE), "split": SPLITS},
                  noise=0.0, split=0.0, seed=0, corrupted=True, runlocal=False)
    c = default_config()
    c.seed = a.seed
    c.batch_size = 256
    c.eval_batch_size = 1024
    c.total_steps = 35000

    set_cifar10_noise(c, a.noise)
    set_split(c, a.split)
    c.dataset.image_size = 32
    c.dataset.test_sets = ("cifar10_corrupted",) if a.corrupted else ()

    # Resize, RandAugment, crop and flip run in JAX in the train step.
    c.augment.crop = "resize_crop"
    c.augment.resize_to = 36
    c.augment.flip = True
    c.augment.randaug_ops = "authors"
    c.augment.randaug_num_ops = 2
    c.augment.randaug_magnitude = 1
    c.augment.mixup = 0.0

    c.model.name = "vit_cifar4"

    c.optim.name = "adam"
    c.optim.lr = 1e-4
    c.optim.weight_decay = 0.0
    c.optim.grad_clip_norm = None
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 0
    return runlocal(c) if a.runlocal else c
