"""Model zoo: ConvNeXt-V2 and ViT classifiers in Flax linen, created by name.

    model = create("vit_fmnist", num_classes=10, dtype="bfloat16")
    variables = model.init({"params": key}, images, train=False)    # {"params": ...}
    logits, mut = model.apply(variables, images, train=True, rngs={"dropout": key},
                              mutable=["latent_embeddings"])
    z = mut["latent_embeddings"]["x"][-1]                            # (B, D) float32

Every model

* takes float32 NHWC images (B, H, W, C) and returns float32 logits (B, num_classes);
* sows its pre-head latent z (B, D), cast to float32, with
  ``self.sow("latent_embeddings", "x", z)`` at the top-level module;
* ends with ``nn.Dense(num_classes, name="head")`` computed in float32 on that z, so
  ``logits == z @ params["head"]["kernel"] + params["head"]["bias"]``; the head kernel is
  initialised as the GWA authors' code: truncated normal(0.02) for ConvNeXt, zeros for ViT
  (``head_init_std``; the alignment scores of the very first step are then 0), the bias zeros;
* has a ``dtype`` field (float32 default, bfloat16 option) for the compute dtype of
  everything but the head; parameters are always float32;
* has no batch statistics (LayerNorm only): ``variables == {"params": ...}``;
* uses the ``"dropout"`` rng for dropout and stochastic depth, active only for ``train=True``.

Registered names (see each factory's docstring):

=====================  ======================================================================
``convnext_atto``      ConvNeXt-V2-Atto  (2,2,6,2) / (40,80,160,320), 3.7M @224/1000
``convnext_femto``     ConvNeXt-V2-Femto (2,2,6,2) / (48,96,192,384), 5.2M
``convnext_pico``      ConvNeXt-V2-Pico  (2,2,6,2) / (64,128,256,512), 9.1M
``convnext_nano``      ConvNeXt-V2-Nano  (2,2,8,2) / (80,160,320,640), 15.6M
``convnext_tiny``      ConvNeXt-V2-Tiny  (3,3,9,3) / (96,192,384,768), 28.6M
``convnext_fmnist``    small ConvNeXt-V2 for 28 px Fashion-MNIST on CPU
``convnext_fmnist_tiny``  very small ConvNeXt-V2 for tests
``vit_ti16``           ViT-Ti/16, sincos2d + GAP
``vit_s16``            ViT-S/16, sincos2d + GAP ("Better plain ViT baselines"), 22.1M
``vit_b16``            ViT-B/16, class token + learned posemb (AugReg i21k layout), 86.6M
``vit_cifar4``         CIFAR ViT of the paper's Table 4 (patch 4, 512 wide, 6 deep)
``vit_fmnist``         quickstart ViT for 28 px Fashion-MNIST (patch 4, 64 wide, 4 deep)
``vit_fmnist_tiny``    very small ViT for tests
=====================  ======================================================================

Small-resolution ConvNeXt (CIFAR, 32 px): the ImageNet variants keep the 4x4 / 4 patchify
stem by default (``stem_stride=4``); 32 px configs pass ``stem_stride=1`` as an override,
e.g. ``create("convnext_pico", 10, stem_stride=1)``, which makes the stem a 1x1 / stride-1
conv (grids 32, 16, 8, 4) and the depthwise kernels 3x3, as the GWA authors' code
(``kernel_size=7`` for the published ConvNeXt-V2 kernel, ``stem_kernel=3`` for a 3x3 stem).

ConvNeXt follows the authors' code by default (stem conv without bias, tanh GELU,
truncated-normal(0.02) kernels); the published ConvNeXt-V2 is
``create("convnext_pico", 10, stem_bias=True, gelu_approximate=False, kernel_init="normal",
kernel_size=7)`` (see :mod:`gwa_jax.models.convnext`).

Overrides are the dataclass fields of :class:`ConvNeXtV2` (``depths, dims, kernel_size,
stem_stride, stem_kernel, drop_path, dw_impl, dtype, head_init_std, stem_bias,
gelu_approximate, kernel_init``) or :class:`ViT` (``patch_size, width, depth, mlp_dim,
num_heads, posemb, pool, dropout, attention_dropout, drop_path, dtype, head_init_std``).

Your own model: ``create("my_pkg.my_models:small_net", 10)`` imports the factory, and
:func:`register` adds a name; see :mod:`gwa_jax.models.custom` for the contract check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from gwa_jax.models import convnext, custom, vit
from gwa_jax.models.augreg import load_augreg_npz
from gwa_jax.models.common import (
    HEAD_NAME,
    LATENT_COLLECTION,
    LATENT_NAME,
    canonical_dtype,
    num_params,
)
from gwa_jax.models.convnext import ConvNeXtV2
from gwa_jax.models.custom import ModelError, check_contract
from gwa_jax.models.vit import ViT

__all__ = [
    "HEAD_NAME",
    "LATENT_COLLECTION",
    "LATENT_NAME",
    "ConvNeXtV2",
    "ModelError",
    "ViT",
    "check_contract",
    "check_options",
    "create",
    "load_augreg_npz",
    "model_fields",
    "names",
    "num_params",
    "register",
]

_REGISTRY: dict[str, tuple[type[nn.Module], Callable[..., nn.Module]]] = {
    "convnext_atto": (ConvNeXtV2, convnext.convnext_atto),
    "convnext_femto": (ConvNeXtV2, convnext.convnext_femto),
    "convnext_pico": (ConvNeXtV2, convnext.convnext_pico),
    "convnext_nano": (ConvNeXtV2, convnext.convnext_nano),
    "convnext_tiny": (ConvNeXtV2, convnext.convnext_tiny),
    "convnext_fmnist": (ConvNeXtV2, convnext.convnext_fmnist),
    "convnext_fmnist_tiny": (ConvNeXtV2, convnext.convnext_fmnist_tiny),
    "vit_ti16": (ViT, vit.vit_ti16),
    "vit_s16": (ViT, vit.vit_s16),
    "vit_b16": (ViT, vit.vit_b16),
    "vit_cifar4": (ViT, vit.vit_cifar4),
    "vit_fmnist": (ViT, vit.vit_fmnist),
    "vit_fmnist_tiny": (ViT, vit.vit_fmnist_tiny),
}

_NOT_OVERRIDABLE = frozenset({"parent", "name", "num_classes"})


def register(name: str, factory: custom.Factory) -> None:
    """Makes ``factory`` available as ``config.model.name = name``.

    Args:
      name: a new name (not a zoo name, without ``:``).
      factory: ``factory(num_classes) -> nn.Module`` (a function or the module class).
    """
    custom.register(name, factory, reserved=_REGISTRY)


def names() -> list[str]:
    """Registered model names (the zoo and :func:`register`'s), sorted."""
    return sorted([*_REGISTRY, *custom.registered()])


def is_user_model(name: str) -> bool:
    """A :func:`register`-ed name or a ``package.module:factory`` import path."""
    return name not in _REGISTRY and (name in custom.registered() or custom.is_import_path(name))


def model_fields(name: str) -> list[str]:
    """The override keys accepted by :func:`create` for model ``name``, sorted."""
    if is_user_model(name):
        return custom.fields(name)
    cls, _ = _lookup(name)
    return sorted(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_OVERRIDABLE)


def _lookup(name: str) -> tuple[type[nn.Module], Callable[..., nn.Module]]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(names())}")
    return _REGISTRY[name]


def check_options(name: str, overrides: dict[str, Any]) -> None:
    """Checks the values of a zoo model's choice options (ConvNeXt: ``kernel_init``,
    ``stem_bias``, ``gelu_approximate``, ``dw_impl``); user models are not looked at.

    Raises:
      ValueError: one line naming the key and its choices.
    """
    if is_user_model(name):
        return
    cls, _ = _lookup(name)
    if cls is ConvNeXtV2:
        convnext.check_options(dict(overrides))


def create(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    """Creates a registered model.

    Args:
      name: one of :func:`names`, or ``package.module:factory`` (imported).
      num_classes: number of logits (> 0).
      **overrides: dataclass fields of the model class (see :func:`model_fields`), e.g.
        ``dtype="bfloat16"``, ``drop_path=0.1``, ``dropout=0.1``, ``stem_stride=1``,
        ``patch_size=8``. ``dtype`` may be a string ("float32" / "bfloat16") or a dtype;
        list values are converted to tuples.

    Returns:
      An unbound flax ``nn.Module``; call ``init`` / ``apply`` with images (B, H, W, C).

    Raises:
      ValueError: unknown ``name`` (lists the valid names), unknown override key (lists the
        valid fields), an option outside its choices (:func:`check_options`), unsupported
        dtype or non-positive ``num_classes``.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if is_user_model(name):
        kw = dict(overrides)
        if "dtype" in kw:  # config.model.dtype is always set; float32 needs no field.
            dtype = canonical_dtype(kw.pop("dtype"))
            if "dtype" in custom.fields(name):
                kw["dtype"] = dtype
            elif dtype != canonical_dtype("float32"):
                raise ModelError(f"model {name!r} has no 'dtype' field, so config.model.dtype "
                                 f"must stay float32")
        return custom.create(name, int(num_classes), **kw)
    cls, factory = _lookup(name)
    valid = model_fields(name)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown override(s) {unknown} for model {name!r}; valid fields: {', '.join(valid)}"
        )
    check_options(name, overrides)
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    if "dtype" in kw:
        kw["dtype"] = canonical_dtype(kw["dtype"])
    return factory(int(num_classes), **kw)

