"""Regime study: does GWA's clean-data stop depend on the data and training regime?

The offline benchmark (``fmnist_n``) trains on 2,000 images without augmentation at a high
learning rate, far from the paper's CIFAR-10 recipe. Here both small models train on
Fashion-MNIST pools of 2,000 and 8,000 images with either

* ``recipe=paper``: the paper's CIFAR-10 recipe scaled down (Table 4: RandAugment(2, 1),
  pad-crop + flip; the 14-op timm RandAugment on the host, not the authors' ops and resize
  36 chain: those are tuned to 32 px RGB (10 px shifts, 8 px cutout, a contrast constant
  from the pixel count) and would run in the CPU-bound train step here), Adam 1e-3 for the
  ConvNeXt and 1e-4 for the ViT, cosine decay, no warm-up), or
* ``recipe=plain``: the offline benchmark's recipe (no augmentation, Adam 2e-3, cosine),

with 0% or 17% symmetric label noise, the same number of epochs for every pool size, and only
the 0% validation split (every criterion but the validation set's). The question: is GWA's
early stop on clean data (the ViT's in the offline table, ``results/fmnist_n/README.md``) a
small-data artefact or a property of the formula? ``scripts/regime_report.py``
tabulates, per run, the epoch where training accuracy reaches 95% of its final value, each
criterion's stop, the best test epoch in hindsight and the regret (best test accuracy minus
test accuracy at the stop).

Epochs: the same for every pool size, by default Table 4's CIFAR-10 counts for the paper
recipe (92 for the ConvNeXt, 179 for the ViT; the calibration in ``results/regime/README.md``
showed that 30 epochs of augmented training do not saturate even 2,000 images) and 30 for the
plain recipe; an epoch is ``ceil(pool / 64)`` steps (gwa-train pads the last batch and
scores every id), so 2,000 images take 32 steps an epoch. Sizing (2 CPU cores, batch 64,
measured on the seed-0 clean paper-recipe runs): ConvNeXt 10 min (2k) and 21 min (8k), ViT
25 min (2k) and about an hour (8k), so ~2 h per (noise, seed) for the paper recipe and ~0.4 h
for the plain one; the full 48-run study (``python scripts/sweep.py regime``: 2 models x 2
pools x 2 recipes x 2 noise x 3 seeds) is ~14 CPU hours and resumes across sessions.

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``model``: ``vit`` or ``convnext``. Default vit.
* ``pool``: training images (stratified, fixed order). Default 2000.
* ``recipe``: ``paper`` or ``plain``. Default paper.
* ``noise``: symmetric label-noise rate. Default 0.
* ``seed``: training seed. Default 0.
* ``epochs``: training epochs; 0 (default) for the recipe's own (above).
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/regime.py:model=vit,pool=8000,recipe=paper,noise=0,seed=0 \\
        --workdir runs/regime/model-vit_pool8000_recipe-paper_noise0_seed0
"""

from gwa_jax.config_base import default_config
from gwa_jax.experiments.args import ArgError, parse_arg
from gwa_jax.experiments.paper import FMNIST_TRAIN_SIZE, runlocal, set_subset_split
from gwa_jax.experiments.plan import REGIME_ARGS, REGIME_EPOCHS

MODELS = {"vit": "vit_fmnist", "convnext": "convnext_fmnist"}
#: (model, recipe) -> Adam learning rate.
LR = {("vit", "paper"): 1e-4, ("convnext", "paper"): 1e-3,
      ("vit", "plain"): 2e-3, ("convnext", "plain"): 2e-3}


def get_config(arg: str | None = None):
    a = parse_arg(arg, where="configs/regime.py",
                  choices={"model": tuple(MODELS), "recipe": ("paper", "plain")}, **REGIME_ARGS)
    if a.epochs < 0:
        raise ArgError(f"configs/regime.py: epochs={a.epochs}; give a positive count, or 0 for "
                       "the recipe's own")
    epochs = a.epochs or REGIME_EPOCHS[(a.model, a.recipe)]
    c = default_config()
    c.seed = a.seed
    c.batch_size = 64
    c.eval_batch_size = 100
    c.total_steps = epochs * -(-a.pool // c.batch_size)  # gwa-train: ceil(N / B) per epoch.

    c.dataset.name = "fashion_mnist"
    set_subset_split(c, a.pool, 0.0, FMNIST_TRAIN_SIZE)
    c.dataset.label_noise.kind = "symmetric" if a.noise > 0 else "none"
    c.dataset.label_noise.rate = a.noise

    paper = a.recipe == "paper"
    c.augment.crop = "pad_crop" if paper else "none"
    c.augment.flip = paper
    c.augment.randaug_ops = "timm14"  # 28 px grey images; see the docstring.
    c.augment.randaug_num_ops = 2
    c.augment.randaug_magnitude = 1 if paper else 0
    c.augment.mixup = 0.0

    c.model.name = MODELS[a.model]
    c.optim.name = "adam"
    c.optim.lr = LR[(a.model, a.recipe)]
    c.optim.weight_decay = 0.0
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 0
    c.criteria.gd.num_batches = 5
    return runlocal(c) if a.runlocal else c
