"""Fine-tuning testbed on a CPU (paper Sec. 4.4, Table 3, Fig. 5, scaled down).

A small ViT (``vit_fmnist``) is pretrained on Fashion-MNIST classes 0-4 (T-shirt, trouser,
pullover, dress, coat), then fine-tuned from that run's last checkpoint on classes 5-9
(sandal, shirt, sneaker, bag, ankle boot) with a new head, label noise 0% or 17% symmetric,
a validation split of 10%, 1% or 0% of the fine-tuning pool, seeds 0-5. The table reports
Val Set (10%) / (1%), GWA and the fine-tuning rule ``gwa_finetune`` (first local minimum of
GWA, then its maximum) as in Table 3; Fig. 5 shows whether GWA first dips.

Recipe: pretraining on a 10,000-image pool for 20 epochs (batch 64, Adam 1e-3, cosine, 10%
warm-up, pad-crop + flip); fine-tuning on a 2,000-image pool for 15 epochs (465 steps, batch
64, Adam 1e-4 with 10% warm-up and cosine, pad-crop + flip, the whole network trained),
the fine-tuning learning rate a tenth of the pretraining one as in the paper's Table 4.
Measured here (2 CPU cores): pretraining about 6 minutes, each fine-tuning run about 1.5.

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``stage``: ``pretrain`` or ``finetune``. Default finetune.
* ``pretrained``: workdir of the pretraining run (fine-tuning only). Default
  ``runs/finetune_fmnist/stage-pretrain`` (where ``scripts/sweep.py finetune_fmnist`` puts it).
* ``noise``: symmetric label-noise rate of the fine-tuning labels. Default 0.
* ``split``: validation fraction of the fine-tuning pool: 0.1, 0.01 or 0. Default 0.
* ``seed``: training seed. Default 0.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/finetune_fmnist.py:stage=pretrain \\
        --workdir runs/finetune_fmnist/stage-pretrain
    gwa-train --config configs/finetune_fmnist.py:noise=0.17,split=0.01,seed=1 \\
        --workdir runs/finetune_fmnist/stage-finetune_noise0.17_split0.01_seed1

Augmentation: the host's pad-crop + flip on the 28 px grey images, not the authors' CIFAR
chain (resize 36, RandAugment, crop, flip; made for 32 px RGB, and run in the train step).
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import parse_arg
from gwa_jax.experiments.paper import SPLITS, runlocal, set_subset_split

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
FINETUNE_CLASSES = (5, 6, 7, 8, 9)
CLASS_SIZE = 6000  # Fashion-MNIST training images per class.
PRETRAINED = "runs/finetune_fmnist/stage-pretrain"


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/finetune_fmnist.py",
                  choices={"stage": ("pretrain", "finetune"), "split": SPLITS},
                  stage="finetune", pretrained=PRETRAINED, noise=0.0, split=0.0, seed=0,
                  runlocal=False)
    c = default_config()
    c.seed = a.seed
    c.batch_size = 64
    c.eval_batch_size = 100
    c.dataset.name = "fashion_mnist"
    c.model.name = "vit_fmnist"
    c.augment.crop = "pad_crop"
    c.augment.flip = True
    c.augment.randaug_magnitude = 0
    c.augment.mixup = 0.0
    c.optim.name = "adam"
    c.optim.schedule = "cosine"
    full = CLASS_SIZE * len(FINETUNE_CLASSES)

    if a.stage == "pretrain":
        c.dataset.classes = PRETRAIN_CLASSES
        set_subset_split(c, 10_000, 0.0, full)
        c.total_steps = 20 * (10_000 // c.batch_size)
        c.optim.lr = 1e-3
    else:
        c.dataset.classes = FINETUNE_CLASSES
        set_subset_split(c, 2000, a.split, full)
        c.dataset.label_noise.kind = "symmetric" if a.noise > 0 else "none"
        c.dataset.label_noise.rate = a.noise
        c.total_steps = 15 * (2000 // c.batch_size)
        c.optim.lr = 1e-4
        c.model.init_from = a.pretrained
        c.model.init_kind = "latest"
    c.optim.warmup_steps = c.total_steps // 10
    c.criteria.gd.num_batches = 5
    if a.stage == "pretrain":
        c.criteria.gd.enabled = False  # No stop is selected from the pretraining run.
    return runlocal(c) if a.runlocal else c
