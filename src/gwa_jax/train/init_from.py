"""Starting a run from pretrained parameters (``config.model.init_from``).

Two sources:

* an AugReg / vit_jax ``.npz`` file (ViT-B/16 for Table 3): :func:`load_augreg_npz`;
* another gwa-jax run's workdir: the params of its newest intact ``model.init_kind``
  checkpoint (``latest``, ``best_gwa`` or ``best_val``). Every parameter must match the new
  model by name and shape, except the classification head, which is re-initialised when the
  label set changes (another dataset, class subset or label key than the source run's, or
  another class count) or when ``model.reinit_head=True``; ``model.reinit_head=False`` keeps
  it (an error if its shape differs).

The optimizer state, step count and schedule start afresh: this is fine-tuning, not resuming.
A source run of an older run format whose parameters do not fit is refused with one line
(:func:`gwa_jax.run.run_format.init_from_refusal`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import flax
import jax.numpy as jnp
import ml_collections
from absl import logging

from gwa_jax.run.run_format import init_from_refusal

HEAD = "head"
INIT_KINDS = ("latest", "best_gwa", "best_val")


def is_run_dir(path: str) -> bool:
    """Whether ``path`` is a gwa-jax run directory (holds ``config.json`` and
    ``checkpoints/``)."""
    return (os.path.isfile(os.path.join(path, "config.json"))
            and os.path.isdir(os.path.join(path, "checkpoints")))


def label_set(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a classification head's outputs mean: (dataset, class subset, label key)."""
    ds = config.get("dataset", {})
    classes = ds.get("classes")
    return (ds.get("name"), None if classes is None else tuple(classes), ds.get("label_key"))


def merge_params(target: Mapping[str, Any], source: Mapping[str, Any], *,
                 reinit_head: bool, where: str = "the source run") -> dict[str, Any]:
    """``target``'s tree with every parameter taken from ``source`` (cast to the target
    dtype), the head's too unless ``reinit_head``.

    Args:
      target: freshly initialised params of the new model (defines keys, shapes, dtypes).
      source: params of the pretrained model.
      reinit_head: keep ``target``'s ``head`` parameters.

    Raises:
      ValueError (one line): a parameter missing from ``source``, a shape mismatch, or source
        parameters the new model has no place for.
    """
    flat_t = flax.traverse_util.flatten_dict(flax.core.unfreeze(target), sep="/")
    flat_s = flax.traverse_util.flatten_dict(flax.core.unfreeze(source), sep="/")
    is_head = lambda key: key.split("/")[0] == HEAD  # noqa: E731
    out = {}
    for key, value in flat_t.items():
        if reinit_head and is_head(key):
            out[key] = value
            continue
        if key not in flat_s:
            raise ValueError(f"model.init_from: parameter '{key}' of the new model is missing "
                             f"from {where}; use the same model (model.name and its options)")
        src = flat_s[key]
        if tuple(src.shape) != tuple(value.shape):
            hint = ("; set model.reinit_head=True to start a new head" if is_head(key)
                    else "; use the same model (model.name and its options)")
            raise ValueError(f"model.init_from: parameter '{key}' has shape {tuple(src.shape)} "
                             f"in {where}, {tuple(value.shape)} in the new model{hint}")
        out[key] = jnp.asarray(src, dtype=value.dtype)
    extra = sorted(k for k in flat_s if k not in flat_t and not (reinit_head and is_head(k)))
    if extra:
        raise ValueError(f"model.init_from: {where} has parameters the new model has no place "
                         f"for (e.g. '{extra[0]}'); use the same model")
    return flax.traverse_util.unflatten_dict(out, sep="/")


def init_params(config: ml_collections.ConfigDict, params: Mapping[str, Any],
                image_size: int) -> dict[str, Any]:
    """The initial params of a run: ``params`` (fresh) with ``config.model.init_from``
    loaded into them (see the module docstring); ``params`` unchanged when it is unset."""
    path = config.model.init_from
    if not path:
        return params
    if not os.path.isdir(path):
        # A deliberate late import: only this kind of source needs it.
        from gwa_jax.models import load_augreg_npz

        return load_augreg_npz(path, params, image_size=image_size)
    # A deliberate late import: only this kind of source needs it.
    from gwa_jax.run.checkpoints import read_params

    kind = config.model.get("init_kind", "latest")
    with open(os.path.join(path, "config.json")) as f:
        source_config = json.load(f)
    refusal = init_from_refusal(source_config, path, dict(config.model.get("kwargs") or {}))
    if refusal:
        raise ValueError(refusal)
    source, epoch = read_params(path, kind)
    reinit = config.model.get("reinit_head")
    if reinit is None:
        reinit = label_set(source_config) != label_set(config.to_dict())
    merged = merge_params(params, source, reinit_head=bool(reinit),
                          where=f"{path} ({kind}, epoch {epoch})")
    logging.info("Initialised from %s: '%s' checkpoint of epoch %d; head %s", path, kind, epoch,
                 "re-initialised" if reinit else "kept")
    return merged
