"""Fine-tuning support: class subsets (dataset.classes) and model.init_from=<workdir>."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import requires_fmnist
from gwa_jax import models
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, validate
from gwa_jax.data import build_data
from gwa_jax.run.checkpoints import DamagedCheckpointError, read_params
from gwa_jax.train import trainer
from gwa_jax.train.init_from import init_params, label_set, merge_params
from gwa_jax.train.step import create_train_state, model_overrides


def digits(classes=None, **noise):
    c = default_config()
    c.dataset.name = "digits"
    c.dataset.classes = classes
    for k, v in noise.items():
        c.dataset.label_noise[k] = v
    c.batch_size = 32
    return c


def test_class_subset_relabels_in_order_and_keeps_the_rows():
    full = build_data(digits())
    sub = build_data(digits((3, 1, 7), kind="symmetric", rate=0.3))
    rows = sub.meta["source_rows"]
    assert sub.info.num_classes == 3 and sub.info.num_ids == len(rows)
    lut = {3: 0, 1: 1, 7: 2}
    full_true = full.meta["true_labels"]
    assert set(np.unique(full_true[rows])) == {1, 3, 7}
    assert len(rows) == np.isin(full_true, (1, 3, 7)).sum()
    np.testing.assert_array_equal(sub.meta["true_labels"],
                                  [lut[int(t)] for t in full_true[rows]])
    # The symmetric noise is drawn among the 3 kept classes, with the exact count.
    train = sub.meta["train_labels"]
    assert train.max() == 2 and sub.meta["noise_mask"].sum() == round(0.3 * len(rows))
    # The training images of id i are those of row source_rows[i] of the full split.
    batch = next(iter(sub.train.epoch(1)))
    ref = full.train.eval_stream()
    ref_images = {}
    for b in ref:
        for i, img in zip(b["id"][b["mask"]], b["image"][b["mask"]], strict=True):
            ref_images[int(i)] = img
    for i, img in zip(batch["id"][:5], batch["image"][:5], strict=True):
        np.testing.assert_allclose(img / 127.5 - 1.0, ref_images[int(rows[i])], atol=1e-6)
    # The test set keeps exactly the test images of those classes, relabelled.
    full_test = [(b["image"][b["mask"]], b["label"][b["mask"]]) for b in full.tests["test"]]
    sub_test = [(b["image"][b["mask"]], b["label"][b["mask"]]) for b in sub.tests["test"]]
    fi, fl = (np.concatenate(x) for x in zip(*full_test, strict=True))
    si, sl = (np.concatenate(x) for x in zip(*sub_test, strict=True))
    keep = np.isin(fl, (1, 3, 7))
    np.testing.assert_array_equal(si, fi[keep])
    np.testing.assert_array_equal(sl, [lut[int(t)] for t in fl[keep]])


@pytest.mark.parametrize("classes", [(1, 1), (4,), (0, 10), ("a", 2)])
def test_bad_class_subsets_are_one_line(classes):
    with pytest.raises(ConfigError, match=r"^config\.dataset\.classes must be") as err:
        validate(digits(classes))
    assert "\n" not in str(err.value)


@requires_fmnist
def test_class_subset_refuses_asymmetric_noise():
    c = digits((0, 1), kind="asymmetric", rate=0.2)
    c.dataset.name = "fashion_mnist"
    with pytest.raises(ValueError, match="cannot be combined with asymmetric"):
        build_data(c)


def _tree(head_classes=3, width=4, dtype=jnp.float32):
    return {"body": {"kernel": jnp.ones((2, width), dtype), "bias": jnp.zeros((width,), dtype)},
            "head": {"kernel": jnp.full((width, head_classes), 7.0, dtype),
                     "bias": jnp.zeros((head_classes,), dtype)}}


def test_merge_params_takes_the_body_and_keeps_or_replaces_the_head():
    source = jax.tree.map(lambda x: x * 0 + 2.0, _tree(head_classes=5))
    target = _tree(head_classes=3, dtype=jnp.bfloat16)
    merged = merge_params(target, source, reinit_head=True)
    assert merged["body"]["kernel"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(merged["body"]["kernel"], np.float32), 2.0)
    np.testing.assert_array_equal(np.asarray(merged["head"]["kernel"], np.float32), 7.0)
    with pytest.raises(ValueError, match=r"'head/\w+' has shape .*reinit_head=True"):
        merge_params(target, source, reinit_head=False)
    same = merge_params(_tree(5), source, reinit_head=False)
    np.testing.assert_array_equal(same["head"]["kernel"], 2.0)
    with pytest.raises(ValueError, match=r"'body/kernel' has shape \(2, 4\).*\(2, 6\)"):
        merge_params(_tree(width=6), source, reinit_head=True)
    extra = {**source, "more": {"w": jnp.ones(1)}}
    with pytest.raises(ValueError, match="no place for \\(e.g. 'more/w'\\)"):
        merge_params(target, extra, reinit_head=True)
    with pytest.raises(ValueError, match="'body/bias' of the new model is missing"):
        merge_params(target, {"body": {"kernel": source["body"]["kernel"]}}, reinit_head=True)


def test_label_set_reads_dataset_classes_and_key():
    a = digits((0, 1)).to_dict()
    assert label_set(a) == ("digits", (0, 1), "label")
    assert label_set(a) != label_set(digits((1, 0)).to_dict())
    assert label_set(digits().to_dict()) == ("digits", None, "label")


def fmnist_run(classes, **kw):
    c = default_config()
    c.model.name = "vit_fmnist_tiny"
    c.model.kwargs.head_init_std = 0.02  # A non-zero fresh head, to tell it from a copy.
    c.dataset.classes = classes
    c.dataset.train_subset = 256
    c.batch_size = 64
    c.total_steps = 8  # 2 epochs.
    c.gwa.save_scores_every = 0
    for k, v in kw.items():
        c.model[k] = v
    return c


@requires_fmnist
def test_fine_tune_from_a_run_directory(tmp_path):
    pre = tmp_path / "pretrain"
    trainer.train_and_evaluate(fmnist_run((0, 1, 2, 3, 4)), str(pre))
    listing = sorted((p, os.path.getmtime(p)) for p in map(str, pre.rglob("*")))
    source, epoch = read_params(str(pre), "latest")
    assert epoch == 2

    # Other classes: the body is the pretrained one, the head a fresh one (automatic).
    fine = fmnist_run((5, 6, 7, 8, 9), init_from=str(pre))
    data = build_data(fine)
    model = models.create(fine.model.name, 5, **model_overrides(fine.model))
    fresh = create_train_state(model, optax.sgd(0.1), (28, 28, 1), fine.seed).params
    params = init_params(fine, fresh, image_size=28)
    flat = jax.tree_util.tree_leaves_with_path(params)
    src = dict(jax.tree_util.tree_leaves_with_path(source))
    fresh_leaves = dict(jax.tree_util.tree_leaves_with_path(fresh))
    for path, leaf in flat:
        want = fresh_leaves[path] if path[0].key == "head" else src[path]
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(want))
    assert data.info.num_classes == 5

    # The same label set keeps the pretrained head; reinit_head=True replaces it.
    again = fmnist_run((0, 1, 2, 3, 4), init_from=str(pre), init_kind="best_gwa")
    kept = init_params(again, fresh, image_size=28)
    best, _ = read_params(str(pre), "best_gwa")
    np.testing.assert_array_equal(kept["head"]["kernel"], best["head"]["kernel"])
    again.model.reinit_head = True
    np.testing.assert_array_equal(init_params(again, fresh, image_size=28)["head"]["kernel"],
                                  fresh["head"]["kernel"])

    # The whole fine-tuning run through the trainer; the source run is left untouched.
    summary = trainer.train_and_evaluate(fine, str(tmp_path / "fine"))
    assert summary["selected"]["last"]["epoch"] == 2
    assert sorted((p, os.path.getmtime(p)) for p in map(str, pre.rglob("*"))) == listing

    # A damaged newest `latest` step falls back to the older one (latest keeps two).
    newest = pre / "checkpoints" / "latest" / "2" / "state"
    victim = max((p for p in newest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.write_bytes(b"\0" * victim.stat().st_size)
    _, epoch = read_params(str(pre), "latest")
    assert epoch == 1
    older = pre / "checkpoints" / "latest" / "1" / "state"
    victim = max((p for p in older.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.write_bytes(b"\0" * victim.stat().st_size)
    with pytest.raises(DamagedCheckpointError):
        read_params(str(pre), "latest")

    # Bad sources are one line.
    bad = fmnist_run((5, 6, 7, 8, 9), init_from=str(tmp_path))
    with pytest.raises(ConfigError, match="is not a file or a gwa-jax run directory"):
        validate(bad)
    other = fmnist_run((5, 6, 7, 8, 9), init_from=str(tmp_path / "fine"))
    other.model.name = "vit_fmnist"
    with pytest.raises(ConfigError, match=r"model.init_from: parameter '.*' has shape"):
        trainer.train_and_evaluate(other, str(tmp_path / "other"))


def test_finetune_config_starts_from_the_plans_pretraining_run():
    from pathlib import Path

    from gwa_jax.experiments.paper import load_config
    from gwa_jax.experiments.plan import expand

    path = Path(__file__).resolve().parents[1] / "configs" / "finetune_fmnist.py"
    runs = expand("finetune_fmnist")
    pretrain = [r for r in runs if r.role == "pretrain"]
    assert len(pretrain) == 1 and runs[0] is pretrain[0]  # Trained before the others.
    pre = load_config(path, pretrain[0].arg)
    assert pre.model.init_from is None and pre.dataset.classes == (0, 1, 2, 3, 4)
    table = [r for r in runs if r.role == "table"]
    assert len(table) == 2 * 3 * 6
    for run in table:
        c = load_config(path, run.arg)
        validate(c, check_files=False)
        assert c.model.init_from == str(pretrain[0].workdir("runs"))
        assert c.model.name == pre.model.name and c.dataset.classes == (5, 6, 7, 8, 9)
        assert c.optim.lr == pytest.approx(pre.optim.lr / 10)
        # Every split fine-tunes on the same 2000-image pool.
        n_val = round(c.dataset.val_fraction * 30000)
        assert n_val + c.dataset.train_subset == 2000
