"""Table 1 / Fig. 2-4: ConvNeXt-Pico from scratch on CIFAR-10 / CIFAR-10-N (paper Table 4).

Adam 1e-3 (b = 0.9, 0.999), batch 512, 9000 steps, cosine schedule, 32 px, the authors'
train chain (``hlzl/gwa`` ``numpy_files``: bilinear resize 32 -> 36, their RandAugment 2 ops
magnitude 1 on the 36 px image, random 32 px crop, flip; eval: the 32 px image), no mixup, no
weight decay, no clipping. The ConvNeXt uses the small-resolution stem
(``model.stem_stride=1``: 1x1 / stride 1 instead of 4x4 / 4, and 3x3 depthwise kernels, as the
authors' code).

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``noise``: 0 (CIFAR-10 ``label``), 0.09 (CIFAR-10-N ``aggre_label``), 0.17
  (``random_label1``) or 0.4 (``worse_label``, Fig. 16). Default 0.
* ``split``: validation fraction 0.1, 0.01 or 0 (0 = all training data; GD is on). Default 0.
* ``seed``: training seed (init, data order, augmentation). Default 0.
* ``corrupted``: also evaluate CIFAR-10-C on the kept checkpoints (Table 2). Default false.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/table1_cifar10_convnext.py:noise=0.17,split=0.01,seed=1 \\
        --workdir runs/table1_cifar10_convnext/noise0.17_split0.01_seed1

``python scripts/sweep.py table1_cifar10`` runs the whole matrix (3 noise x 3 splits x 3 seeds,
with the ViT); ``python scripts/make_tables.py table1_cifar10`` builds the table.
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.paper import CIFAR10_NOISE, SPLITS, runlocal, set_cifar10_noise, set_split


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/table1_cifar10_convnext.py",
                  choices={"noise": tuple(CIFAR10_NOISE), "split": SPLITS},
                  noise=0.0, split=0.0, seed=0, corrupted=False, runlocal=False)
    c = default_config()
    c.seed = a.seed
    c.batch_size = 512
    c.eval_batch_size = 1024
    c.total_steps = 9000

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

    c.model.name = "convnext_pico"
    c.model.stem_stride = 1  # 1x1 / stride-1 stem for 32 px (stage grids 32, 16, 8, 4).

    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.optim.weight_decay = 0.0
    c.optim.grad_clip_norm = None
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 0
    return runlocal(c) if a.runlocal else c
