"""Table 3 / Fig. 5: fine-tuning an ImageNet-21k AugReg ViT/B-16 on ImageNet-1k, iNat18 and
Places365 (paper Table 4, last column; settings after "How to train your ViT?").

SGD with momentum 0.9, no weight decay, batch 512, linear warm-up 500 steps + cosine,
gradient clipping 1.0, 224 px, inception crop, the authors' RandAugment (in the train step),
flip. Per dataset:

==================  ======  =======  ==========================  =====
dataset             lr      steps    RandAugment (2 ops, mag.)   mixup
==================  ======  =======  ==========================  =====
imagenet2012        0.01    26000    0                           0.0
i_naturalist2018    0.05    17500    2                           0.1
places365_small     0.01    37500    0                           0.0
==================  ======  =======  ==========================  =====

The backbone starts from the AugReg ``.npz`` (``model.init_from``; check the file with
``python data_prep/vit_b16_augreg.py PATH``), the head is fresh. The GWA criterion for
fine-tuning is ``gwa_finetune`` (the first dip of GWA is skipped, Sec. 4.4).

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``dataset``: ``imagenet2012`` (alias ``imagenet``), ``i_naturalist2018`` (``inat18``) or
  ``places365_small`` (``places365``). Default imagenet2012.
* ``split``: validation fraction 0.1, 0.01 or 0. Default 0.
* ``seed``: training seed. Default 0.
* ``init``: the AugReg checkpoint. Default ``$GWA_AUGREG_NPZ`` or
  ``pretrained/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz``.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/table3_finetune_vit.py:dataset=inat18,split=0.01,seed=0 \\
        --workdir runs/table3_finetune_vit/dataset-i_naturalist2018_split0.01_seed0
"""

import os

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.paper import SPLITS, runlocal, set_split

AUGREG_B16 = "pretrained/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz"
ALIASES = {"imagenet": "imagenet2012", "inat18": "i_naturalist2018",
           "places365": "places365_small"}
# dataset: (lr, total_steps, RandAugment magnitude, mixup alpha)
FINETUNE = {
    "imagenet2012": (0.01, 26000, 0, 0.0),
    "i_naturalist2018": (0.05, 17500, 2, 0.1),
    "places365_small": (0.01, 37500, 0, 0.0),
}


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/table3_finetune_vit.py",
                  choices={"dataset": (*FINETUNE, *ALIASES), "split": SPLITS},
                  dataset="imagenet2012", split=0.0, seed=0,
                  init=os.environ.get("GWA_AUGREG_NPZ", AUGREG_B16), runlocal=False)
    dataset = ALIASES.get(a.dataset, a.dataset)
    lr, steps, randaug, mixup = FINETUNE[dataset]
    c = default_config()
    c.seed = a.seed
    c.batch_size = 512
    c.eval_batch_size = 1024
    c.total_steps = steps

    c.dataset.name = dataset  # imagenet2012 adds the imagenet_v2 and ReaL test sets.
    set_split(c, a.split)
    c.dataset.image_size = 224

    c.augment.crop = "inception"
    c.augment.flip = True
    c.augment.randaug_ops = "authors"
    c.augment.randaug_num_ops = 2
    c.augment.randaug_magnitude = randaug
    c.augment.mixup = mixup

    c.model.name = "vit_b16"
    c.model.init_from = a.init

    c.optim.name = "sgd"
    c.optim.lr = lr
    c.optim.momentum = 0.9
    c.optim.weight_decay = 0.0
    c.optim.grad_clip_norm = 1.0
    c.optim.schedule = "warmup_cosine"
    c.optim.warmup_steps = 500
    return runlocal(c) if a.runlocal else c
