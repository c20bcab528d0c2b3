"""Table 5: fixed training-set size. Every run trains on the same 90% of the train split and
holds out 10%, 1% or nothing for validation (val split 90/10, 90/1, 90/0); everything else is
the Table 1 config of the model and dataset (``configs/table1_*.py``).

The 90/10 run is the same split as Table 1's 10% run (``gwa_jax.data.splits``: train = the
last 90% of each class's fixed order, val = the first 10%, up to rounding ties), so
``scripts/sweep.py table5`` reuses the Table 1 run for that row, as the paper does.

Arguments (``--config FILE:ARG``, comma separated, all optional):

* ``model``: ``vit`` or ``convnext``. Default vit.
* ``dataset``: ``cifar10`` or ``imagenet``. Default cifar10.
* ``noise``: CIFAR-10-N noise level 0, 0.09, 0.17 (0 for ImageNet). Default 0.
* ``split``: validation fraction 0.1, 0.01 or 0 (of the full train split). Default 0.
* ``seed``: training seed. Default 0.
* ``runlocal``: a 16-step smoke test on 64 images.

    gwa-train --config configs/table5_fixed_trainsize.py:model=convnext,noise=0.17,split=0 \\
        --workdir runs/table5_fixed_trainsize/model-convnext_dataset-cifar10_noise0.17_split0_seed0
"""

from pathlib import Path

from gwa_jax.experiments.args import ArgError, format_arg, parse_arg
from gwa_jax.experiments.paper import CIFAR10_NOISE, SPLITS, load_config

FIXED_TRAIN_FRACTION = 0.9
HERE = Path(__file__).resolve().parent


def get_config(arg: str | None = None):
    where = "configs/table5_fixed_trainsize.py"
    a = parse_arg(arg, where=where,
                  choices={"model": ("vit", "convnext"), "dataset": ("cifar10", "imagenet"),
                           "noise": tuple(CIFAR10_NOISE), "split": SPLITS},
                  model="vit", dataset="cifar10", noise=0.0, split=0.0, seed=0, runlocal=False)
    inner = {"split": a.split, "seed": a.seed, "corrupted": False, "runlocal": a.runlocal}
    if a.dataset == "cifar10":
        inner["noise"] = a.noise
    elif a.noise:
        raise ArgError(f"{where}: noise={a.noise} needs dataset=cifar10")
    c = load_config(HERE / f"table1_{a.dataset}_{a.model}.py", format_arg(inner))
    c.dataset.fixed_train_fraction = FIXED_TRAIN_FRACTION
    return c
