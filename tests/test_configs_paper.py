"""The paper configs in configs/: Table 4 values, argument parsing, validation of every run
the sweeps plan, model construction at full size (jax.eval_shape) and one real train step
through each config's own input pipeline at batch 2, on the tiny prepared TFDS datasets of
tests/fixtures/tfds (array_record, read without TensorFlow; CIFAR-10-C cut to the fixture's four
configs, one per corruption group).

Reduced sizes, to keep XLA compile times low on a 2-core CPU: the step runs at batch 2 with
the config's model name, width, stem and image size, but the 224 px models and ConvNeXt-Pico
are cut to one block per stage (ConvNeXt ``depths=(1, 1, 1, 1)``) or two blocks (ViT
``depth=2``); ViT-B/16 (Table 3) also runs at 64 px with fresh weights (its AugReg .npz loading
is covered by tests/test_models.py::test_augreg_roundtrip). The full-depth models are traced
at full size with jax.eval_shape.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax import models
from gwa_jax.config_check import validate
from gwa_jax.data import build_data
from gwa_jax.data.splits import assign_splits
from gwa_jax.experiments.args import ArgError
from gwa_jax.experiments.paper import load_config
from gwa_jax.experiments.plan import PLANS
from gwa_jax.train.optim import make_optimizer
from gwa_jax.train.step import EpochBuffers, create_train_state, make_train_step, model_overrides

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAPER = ("table1_cifar10_convnext", "table1_cifar10_vit", "table1_imagenet_convnext",
         "table1_imagenet_vit", "table3_finetune_vit", "table5_fixed_trainsize", "fmnist_n")
# The project's own studies (sweep plans of their own, no paper table).
STUDIES = ("finetune_fmnist", "regime")


def cfg(name: str, arg: str | None = None):
    return load_config(CONFIGS / f"{name}.py", arg)


def planned_args() -> dict[str, set[str]]:
    """Every argument string a sweep uses, per config."""
    out: dict[str, set[str]] = {}
    for plan in PLANS.values():
        for run in plan():
            out.setdefault(run.config, set()).add(run.arg)
    return out


EXTRA_ARGS = {
    "table1_cifar10_convnext": ["", "noise=0.4", "corrupted", "runlocal"],
    "table1_cifar10_vit": ["", "noise=0.4,corrupted=false", "runlocal=true"],
    "table1_imagenet_convnext": ["", "corrupted=true", "runlocal"],
    "table1_imagenet_vit": ["", "runlocal"],
    "table3_finetune_vit": ["", "dataset=inat18", "dataset=places365", "dataset=imagenet",
                            "init=/tmp/x.npz", "runlocal"],
    "table5_fixed_trainsize": ["", "model=convnext,dataset=imagenet,split=0.1", "runlocal"],
    "fmnist_n": ["", "noise=0.3,noise_kind=asymmetric", "offline=1", "pool=500,steps=50",
                 "runlocal"],
    "finetune_fmnist": ["", "stage=pretrain,runlocal", "pretrained=/tmp/run,noise=0.4"],
    "regime": ["", "epochs=5,pool=500", "model=convnext,recipe=plain", "runlocal"],
}


def test_every_planned_and_documented_arg_validates():
    args = planned_args()
    assert set(args) == set(PAPER) | set(STUDIES)
    n = 0
    for name in PAPER + STUDIES:
        for arg in sorted(args[name] | set(EXTRA_ARGS[name])):
            validate(cfg(name, arg), check_files=False)
            n += 1
    assert n > 60


@pytest.mark.parametrize("name", PAPER + STUDIES)
def test_unknown_or_bad_argument_is_one_clear_error(name):
    with pytest.raises(ArgError, match=r"unknown argument key 'bogus'.*valid keys: .*seed"):
        cfg(name, "bogus=1")
    if name != "regime":  # The regime study has no validation split.
        with pytest.raises(ArgError, match="split=0.2 is not one of"):
            cfg(name, "split=0.2")
    with pytest.raises(ArgError, match="not a valid int"):
        cfg(name, "seed=one")


def test_docstrings_show_the_command_line():
    for name in PAPER + STUDIES:
        text = (CONFIGS / f"{name}.py").read_text()
        assert f"gwa-train --config configs/{name}.py:" in text, name


def test_table4_hyperparameters():
    c = cfg("table1_cifar10_convnext")
    assert (c.model.name, c.optim.name, c.optim.lr, c.batch_size, c.total_steps) == (
        "convnext_pico", "adam", 1e-3, 512, 9000)
    # The authors' CIFAR chain: resize 32 -> 36, their RandAugment, random 32 px crop, flip.
    assert (c.dataset.image_size, c.augment.crop, c.augment.resize_to, c.augment.flip) == (
        32, "resize_crop", 36, True)
    assert (c.augment.randaug_ops, c.augment.randaug_num_ops, c.augment.randaug_magnitude,
            c.augment.mixup) == ("authors", 2, 1, 0)
    assert c.optim.schedule == "cosine" and c.optim.grad_clip_norm is None
    c = cfg("table1_cifar10_vit")
    assert (c.model.name, c.optim.lr, c.batch_size, c.total_steps) == (
        "vit_cifar4", 1e-4, 256, 35000)
    assert c.dataset.test_sets == ("cifar10_corrupted",)
    for name, model in (("table1_imagenet_convnext", "convnext_femto"),
                        ("table1_imagenet_vit", "vit_s16")):
        c = cfg(name)
        assert (c.model.name, c.optim.name, c.optim.lr, c.optim.weight_decay) == (
            model, "adamw", 1e-3, 1e-4)
        assert (c.batch_size, c.total_steps, c.dataset.image_size) == (1024, 112650, 224)
        assert (c.augment.randaug_magnitude, c.augment.mixup, c.optim.grad_clip_norm) == (
            10, 0.2, 1.0)
        assert (c.optim.schedule, c.optim.warmup_steps, c.augment.crop,
                c.augment.randaug_ops) == ("warmup_cosine", 10000, "inception", "authors")
    assert cfg("table1_imagenet_vit").dataset.test_sets == ("imagenet2012_corrupted",)
    expected = {"imagenet2012": (0.01, 26000, 0, 0.0), "inat18": (0.05, 17500, 2, 0.1),
                "places365": (0.01, 37500, 0, 0.0)}
    for ds, (lr, steps, ra, mix) in expected.items():
        c = cfg("table3_finetune_vit", f"dataset={ds}")
        assert (c.optim.lr, c.total_steps, c.augment.randaug_magnitude, c.augment.mixup) == (
            lr, steps, ra, mix)
        assert (c.optim.name, c.optim.momentum, c.optim.grad_clip_norm, c.batch_size) == (
            "sgd", 0.9, 1.0, 512)
        assert (c.optim.schedule, c.optim.warmup_steps, c.model.name) == (
            "warmup_cosine", 500, "vit_b16")
        assert c.model.init_from
    assert cfg("table3_finetune_vit", "dataset=inat18").dataset.name == "i_naturalist2018"
    assert cfg("table3_finetune_vit", "dataset=places365").dataset.name == "places365_small"


def test_cifar10_n_label_keys_and_gd_only_without_validation():
    keys = {0: ("cifar10", "label"), 0.09: ("cifar10_n", "aggre_label"),
            0.17: ("cifar10_n", "random_label1"), 0.4: ("cifar10_n", "worse_label")}
    for noise, expected in keys.items():
        c = cfg("table1_cifar10_vit", f"noise={noise}")
        assert (c.dataset.name, c.dataset.label_key) == expected
    for name in PAPER:
        for split in (0.1, 0.01, 0):
            c = cfg(name, f"split={split}")
            assert c.dataset.val_fraction > 0 if split else c.dataset.val_fraction == 0
            assert c.criteria.gd.enabled == (split == 0), (name, split)


def test_seed_changes_only_the_training_seed():
    a, b = cfg("fmnist_n", "seed=0").to_dict(), cfg("fmnist_n", "seed=2").to_dict()
    assert a.pop("seed") == 0 and b.pop("seed") == 2 and a == b


def test_fmnist_pools_are_nested_and_train_sizes_match_the_split():
    labels = np.repeat(np.arange(10), 6000)
    pools, trains = {}, {}
    for split in (0.1, 0.01, 0):
        d = cfg("fmnist_n", f"split={split}").dataset
        s = assign_splits(labels, 10, val_fraction=d.val_fraction, train_subset=d.train_subset)
        trains[split] = int((s == 0).sum())
        pools[split] = set(np.flatnonzero(s < 2))
    assert trains == {0.1: 1800, 0.01: 1980, 0: 2000}
    assert pools[0.1] == pools[0.01] == pools[0]


def test_fmnist_n_epochs_are_whole_gwa_train_epochs_of_the_trained_ids():
    full = cfg("fmnist_n", "model=vit,noise=0.17,pool=60000,epochs=32")
    assert (full.dataset.train_subset, full.total_steps) == (60000, 32 * 938)  # ceil(N / 64).
    split = cfg("fmnist_n", "split=0.1,pool=4000,epochs=3")
    assert (split.dataset.train_subset, split.total_steps) == (3600, 3 * 57)
    assert cfg("fmnist_n", "model=convnext").total_steps == 600  # steps= or its default.
    with pytest.raises(ArgError, match="not both"):
        cfg("fmnist_n", "epochs=3,steps=5")


def test_table5_trains_on_90_percent_and_its_90_10_split_is_table1s():
    labels = np.repeat(np.arange(10), 5000)
    c1 = cfg("table1_cifar10_vit", "split=0.1").dataset
    c5 = cfg("table5_fixed_trainsize", "split=0.1").dataset
    assert c5.fixed_train_fraction == 0.9 and c1.fixed_train_fraction is None
    s1 = assign_splits(labels, 10, val_fraction=c1.val_fraction)
    s5 = assign_splits(labels, 10, val_fraction=c5.val_fraction,
                       fixed_train_fraction=c5.fixed_train_fraction)
    np.testing.assert_array_equal(s1, s5)
    for split in (0.01, 0):
        d = cfg("table5_fixed_trainsize", f"model=convnext,split={split}").dataset
        s = assign_splits(labels, 10, val_fraction=d.val_fraction,
                          fixed_train_fraction=d.fixed_train_fraction)
        assert (s == 0).sum() == 45000 and (s == 1).sum() == round(split * 50000)
    with pytest.raises(ArgError, match="needs dataset=cifar10"):
        cfg("table5_fixed_trainsize", "dataset=imagenet,noise=0.09")


def test_cifar_convnext_uses_the_small_resolution_stem():
    c = cfg("table1_cifar10_convnext")
    assert c.model.stem_stride == 1
    assert model_overrides(c.model)["stem_stride"] == 1
    for name in ("table1_imagenet_convnext", "fmnist_n"):
        assert cfg(name, "model=convnext" if name == "fmnist_n" else "").model.stem_stride is None


# --- models at full size ------------------------------------------------------------------------

FULL = [("table1_cifar10_convnext", 10, 32), ("table1_cifar10_vit", 10, 32),
        ("table1_imagenet_convnext", 1000, 224), ("table1_imagenet_vit", 1000, 224),
        ("table3_finetune_vit", 1000, 224), ("fmnist_n", 10, 28)]


@pytest.mark.parametrize("name,num_classes,size", FULL)
def test_model_builds_at_full_size(name, num_classes, size):
    c = cfg(name)
    model = models.create(c.model.name, num_classes, **model_overrides(c.model))
    channels = 1 if name == "fmnist_n" else 3
    x = jax.ShapeDtypeStruct((2, size, size, channels), jnp.float32)
    variables = jax.eval_shape(lambda k, x: model.init(k, x, train=False),
                               jax.random.key(0), x)
    logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    assert logits.shape == (2, num_classes)
    assert variables["params"]["head"]["kernel"].shape[1] == num_classes
    assert models.num_params(variables["params"]) > 1e5


# --- one train step through each config's own pipeline --------------------------------------------


def one_step(config, data_dir, *, image_size: int | None = None, shallow: dict | None = None):
    """Builds the config's data (the fixture's TFDS datasets or offline files in ``data_dir``)
    and model (``shallow``: depth overrides) and runs one jitted train step at batch 2; returns
    the data and the finished batch."""
    c = config.copy_and_resolve_references()
    c.batch_size, c.eval_batch_size = 2, 4
    c.dataset.data_dir = str(data_dir)
    if image_size is not None:
        c.dataset.image_size = image_size
    c.model.init_from = None
    data = build_data(c)
    host = next(iter(data.train.epoch(1)))
    assert host["image"].dtype == np.uint8
    assert host["image"].shape == (2, *data.train.preprocess.host_shape)
    # The augmentation (the authors' chain, crops, flips) and mixup run in the step.
    batch = jax.device_get(jax.jit(data.train.device_finish())(host))
    assert batch["image"].dtype == np.float32 and "aug_key" not in batch
    model = models.create(c.model.name, data.info.num_classes, **model_overrides(c.model),
                          **(shallow or {}))
    tx, _ = make_optimizer(c.optim, c.total_steps)
    state = create_train_state(model, tx, tuple(data.info.image_shape), c.seed)
    buffers = EpochBuffers.create(data.info.num_ids)
    step = jax.jit(make_train_step())
    new_state, buffers = step(state, buffers, batch)
    host = jax.device_get(buffers)
    assert int(new_state.step) == 1 and int(host.first_bad_step) == -1
    assert np.isfinite(float(host.loss_sum)) and float(host.count) == 2
    ids = np.asarray(batch["id"])
    assert np.isfinite(np.asarray(host.scores.values)[ids]).all()
    return data, batch


CONVNEXT_1 = {"depths": (1, 1, 1, 1)}
VIT_2 = {"depth": 2}
STEP_CASES = {
    "cifar_convnext": ("table1_cifar10_convnext", "noise=0.17,split=0.1", None, CONVNEXT_1),
    "cifar_vit_with_cifar10c": ("table1_cifar10_vit", "noise=0.09,split=0", None, None),
    "imagenet_convnext": ("table1_imagenet_convnext", "split=0.01", None, CONVNEXT_1),
    "imagenet_vit": ("table1_imagenet_vit", "split=0,corrupted=false", None, VIT_2),
    "finetune_inat18": ("table3_finetune_vit", "dataset=inat18,split=0.1", 64, VIT_2),
    "table5": ("table5_fixed_trainsize", "model=vit,noise=0.09,split=0.01", None, None),
}


@pytest.mark.parametrize("case", list(STEP_CASES))
def test_one_train_step_through_the_config_pipeline(case, tfds_dir, fixture_corruptions):
    name, arg, size, shallow = STEP_CASES[case]
    config = cfg(name, arg)
    data, batch = one_step(config, tfds_dir, image_size=size, shallow=shallow)
    expected = size or config.dataset.image_size
    assert batch["image"].shape[1:3] == (expected, expected)
    if config.augment.mixup:
        assert batch["target"].shape == (2, data.info.num_classes)
    if "cifar10_corrupted" in config.dataset.test_sets:
        assert set(data.tests) == {"test", *fixture_corruptions}
        groups = set(data.corruption_groups.values())
        assert groups == {"Blur", "Digital", "Noise", "Weather"}
    if config.dataset.name == "imagenet2012":
        assert {"imagenet_v2", "imagenet2012_real"} <= set(data.tests)


@pytest.mark.parametrize("model", ["vit", "convnext"])
def test_fmnist_n_step_on_the_offline_files(model, tmp_path):
    config = cfg("fmnist_n", f"model={model},noise=0.4,split=0.1")
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists():
        pytest.skip("needs apt-get install -y dataset-fashion-mnist")
    data, _ = one_step(config, Path("/usr/share/datasets/fashion-mnist"))  # As data_dir.
    meta = data.meta
    assert data.info.num_train == 1800 and (meta["split"] == 1).sum() == 200
    rate = meta["noise_mask"][meta["ids"]].mean()
    assert rate == pytest.approx(0.4, abs=0.01)


def test_runlocal_is_small():
    for name in PAPER + STUDIES:
        c = cfg(name, "runlocal")
        assert c.batch_size == 8 and c.total_steps == 16 and c.dataset.train_subset == 64
        validate(c, check_files=False)


def test_load_config_matches_the_cli(tmp_path):
    from gwa_jax.cli.train_run import parse_command_line

    arg = "model=convnext,noise=0.17,split=0.01,seed=1"
    config, workdir, _ = parse_command_line(
        ["gwa-train", f"--config={CONFIGS / 'fmnist_n.py'}:{arg}", f"--workdir={tmp_path}"],
        num_devices=1)
    assert config.to_dict() == cfg("fmnist_n", arg).to_dict()
