"""Table 1/2: ViT/S-16 from scratch on ImageNet-1k (paper Table 4, after "Better plain ViT
baselines for ImageNet-1k").

AdamW 1e-3 (b = 0.9, 0.999), weight decay 1e-4, batch 1024, 112650 steps (90 epochs),
linear warm-up 10000 steps + cosine, gradient clipping 1.0, 224 px, the authors' train chain
(``hlzl/gwa`` ``jpeg_directory``: inception crop, their RandAugment 2 ops magnitude 10, flip),
mixup 0.2 (one Beta(0.2, 0.2) weight per batch, a random permutation as partners). Model
``vit_s16`` (sincos2d, GAP). Tested on ImageNet val, ImageNet-V2 and ReaL; ImageNet-C
(Table 2) on the kept checkpoints by default.

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``split``: validation fraction 0.1, 0.01 or 0 (0 = all training data; GD is on). Default 0.
* ``seed``: training seed. Default 0.
* ``corrupted``: evaluate ImageNet-C on the kept checkpoints (Table 2). Default true.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/table1_imagenet_vit.py:split=0.01,seed=2 \\
        --workdir runs/table1_imagenet_vit/split0.01_seed2

The host decodes the JPEGs (array_record files prepared by ``data_prep/imagenet2012.py``)
and draws the inception crop; RandAugment, the flip and mixup run in JAX inside the jitted
train step. ``--config.augment.randaug_ops=timm14`` selects the 14-op timm list instead.
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.paper import SPLITS, runlocal, set_split


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/table1_imagenet_vit.py", choices={"split": SPLITS},
                  split=0.0, seed=0, corrupted=True, runlocal=False)
    c = default_config()
    c.seed = a.seed
    c.batch_size = 1024
    c.eval_batch_size = 1024
    c.total_steps = 112650

    c.dataset.name = "imagenet2012"  # + imagenet_v2 and imagenet2012_real test sets.
    set_split(c, a.split)
    c.dataset.image_size = 224
    c.dataset.test_sets = ("imagenet2012_corrupted",) if a.corrupted else ()

    c.augment.crop = "inception"
    c.augment.flip = True
    c.augment.randaug_ops = "authors"
    c.augment.randaug_num_ops = 2
    c.augment.randaug_magnitude = 10
    c.augment.mixup = 0.2

    c.model.name = "vit_s16"

    c.optim.name = "adamw"
    c.optim.lr = 1e-3
    c.optim.weight_decay = 1e-4
    c.optim.grad_clip_norm = 1.0
    c.optim.schedule = "warmup_cosine"
    c.optim.warmup_steps = 10000
    return runlocal(c) if a.runlocal else c
