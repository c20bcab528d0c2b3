"""Loading the public ImageNet-21k AugReg ViT checkpoints (``.npz``) into :class:`ViT`.

The AugReg checkpoints ("How to train your ViT?", Steiner et al. 2022; files in the public
bucket ``gs://vit_models/augreg/``, e.g.
``B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz``) are flat ``.npz`` archives
whose keys are the ``vit_jax`` parameter paths joined by "/", for example::

    embedding/kernel                                              (16, 16, 3, 768)
    cls                                                           (1, 1, 768)
    Transformer/posembed_input/pos_embedding                      (1, 197, 768)
    Transformer/encoderblock_0/LayerNorm_0/scale                  (768,)
    Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel   (768, 12, 64)
    Transformer/encoderblock_0/MultiHeadDotProductAttention_1/out/kernel     (12, 64, 768)
    Transformer/encoderblock_0/LayerNorm_2/bias                   (768,)
    Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel          (768, 3072)
    Transformer/encoder_norm/scale                                (768,)
    head/kernel                                                   (768, 21843)

Our :class:`gwa_jax.models.vit.ViT` with ``pool="tok"`` and ``posemb="learn"`` (the
``vit_b16`` variant) names its parameters identically, so loading is a by-name copy.
Checkpoints saved with Linen per-class numbering (``MultiHeadDotProductAttention_0``,
``LayerNorm_1``, ``MlpBlock_0``) are accepted as well. ``head/*`` and ``pre_logits/*`` of the
checkpoint are ignored: the head is taken from the ``params`` passed in (fresh, with the new
class count). Keys under ``opt/target/`` (older vit_jax files that also store the optimizer
state) are read with that prefix stripped.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import flax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage

POSEMB_KEY = "Transformer/posembed_input/pos_embedding"
_IGNORED_PREFIXES = ("head/", "pre_logits/")
_OPT_PREFIX = "opt/target/"
# Our (pre-Linen, checkpoint) module names -> Linen per-class names of the same modules.
_LINEN_ALIASES = {
    "/MultiHeadDotProductAttention_1/": "/MultiHeadDotProductAttention_0/",
    "/LayerNorm_2/": "/LayerNorm_1/",
    "/MlpBlock_3/": "/MlpBlock_0/",
}


def _candidates(key: str) -> list[str]:
    """Checkpoint keys that may hold our parameter ``key``."""
    out = [key]
    alt = key
    for ours, linen in _LINEN_ALIASES.items():
        alt = alt.replace(ours, linen)
    if alt != key:
        out.append(alt)
    return out


def _target_grid(
    n_grid: int, image_size: int | tuple[int, int] | None, patch: int | None
) -> tuple[int, int]:
    """(h, w) token grid of the target model, from ``image_size`` or assuming a square."""
    if image_size is not None:
        if patch is None:
            raise ValueError("image_size given but params have no 'embedding/kernel'")
        hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        grid = (hw[0] // patch, hw[1] // patch)
        if grid[0] * grid[1] != n_grid:
            raise ValueError(
                f"image_size {hw} with patch {patch} gives a {grid[0]}x{grid[1]} grid but the "
                f"model's {POSEMB_KEY} has {n_grid} grid tokens"
            )
        return grid
    side = math.isqrt(n_grid)
    if side * side != n_grid:
        raise ValueError(
            f"model's {POSEMB_KEY} has {n_grid} grid tokens (not a square); pass image_size"
        )
    return side, side


def resize_posemb(posemb: np.ndarray, num_prefix: int, new_grid: tuple[int, int]) -> np.ndarray:
    """Bilinearly resizes a (1, num_prefix + g*g, D) position embedding to a new grid.

    The prefix (class-token) rows are kept unchanged; the square g x g grid part is resized
    with ``scipy.ndimage.zoom(order=1)`` (as vit_jax does).

    Returns:
      (1, num_prefix + new_grid[0] * new_grid[1], D) array, same dtype.
    """
    if posemb.ndim != 3 or posemb.shape[0] != 1:
        raise ValueError(f"{POSEMB_KEY} must have shape (1, N, D), got {posemb.shape}")
    prefix, grid = posemb[:, :num_prefix], posemb[0, num_prefix:]
    side = math.isqrt(grid.shape[0])
    if side * side != grid.shape[0]:
        raise ValueError(
            f"checkpoint {POSEMB_KEY} has {grid.shape[0]} grid tokens, not a square grid"
        )
    d = grid.shape[-1]
    grid = grid.reshape(side, side, d).astype(np.float32)
    zoom = (new_grid[0] / side, new_grid[1] / side, 1.0)
    grid = scipy.ndimage.zoom(grid, zoom, order=1, output=np.float32)
    if grid.shape != (new_grid[0], new_grid[1], d):
        raise ValueError(f"position-embedding resize produced {grid.shape}, wanted {new_grid}")
    grid = grid.reshape(1, new_grid[0] * new_grid[1], d).astype(posemb.dtype)
    return np.concatenate([prefix, grid], axis=1)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a flat ``.npz`` checkpoint into ``{"a/b/c": array}``.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file is not a readable ``.npz`` archive.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"AugReg checkpoint not found: {path} (see data_prep/vit_b16_augreg.md)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: np.asarray(f[k]) for k in f.files}
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"cannot read {path} as a .npz checkpoint: {e}") from e


def load_augreg_npz(
    path: str | os.PathLike,
    params: Mapping[str, Any],
    *,
    image_size: int | tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Loads AugReg / vit_jax ViT weights from a local ``.npz`` into our ViT's params.

    Args:
      path: local ``.npz`` file (this function never downloads anything).
      params: freshly initialised params of the target model (e.g. ``create("vit_b16",
        num_classes).init(...)["params"]``; a ``{"params": ...}`` wrapper is accepted and
        kept). They define the expected keys and shapes, and supply the head.
      image_size: target image side (int) or (height, width); only needed to resize the
        position embedding to a non-square grid. Otherwise the target grid is read from the
        shape of ``params``' position embedding and assumed square.

    Returns:
      A params tree with the same structure as ``params``: every non-head parameter from the
      checkpoint (cast to the target dtype), the head from ``params``, and the position
      embedding bilinearly resized (class-token slot kept) when the grid sizes differ.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: unreadable file, a parameter missing from the checkpoint, a shape mismatch
        or checkpoint parameters the model has no place for (the message names the key).
    """
    wrapped = "params" in params and isinstance(params["params"], Mapping) and len(params) == 1
    tree = flax.core.unfreeze(params["params"] if wrapped else params)
    target = flax.traverse_util.flatten_dict(tree, sep="/")
    ckpt = read_npz(path)
    src = os.fspath(path)
    if any(k.startswith(_OPT_PREFIX) for k in ckpt):  # older vit_jax files hold optimizer state
        ckpt = {k[len(_OPT_PREFIX) :]: v for k, v in ckpt.items() if k.startswith(_OPT_PREFIX)}

    kernel = target.get("embedding/kernel")
    patch = int(kernel.shape[0]) if kernel is not None else None
    num_prefix = 1 if "cls" in target else 0

    out: dict[str, Any] = {}
    used: set[str] = set()
    for key, ref in target.items():
        if key.startswith(_IGNORED_PREFIXES):
            out[key] = ref
            continue
        ck = next((c for c in _candidates(key) if c in ckpt), None)
        if ck is None:
            raise ValueError(f"parameter {key!r} missing from checkpoint {src}")
        used.add(ck)
        value = ckpt[ck]
        if value.shape != tuple(ref.shape):
            if key == POSEMB_KEY and value.ndim == 3 and value.shape[2] == ref.shape[2]:
                grid = _target_grid(ref.shape[1] - num_prefix, image_size, patch)
                value = resize_posemb(value, num_prefix, grid)
            else:
                raise ValueError(
                    f"shape mismatch for {key!r}: checkpoint {value.shape}, "
                    f"model {tuple(ref.shape)} ({src})"
                )
        out[key] = jnp.asarray(value, dtype=ref.dtype)

    extra = sorted(k for k in ckpt if k not in used and not k.startswith(_IGNORED_PREFIXES))
    if extra:
        more = f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ValueError(
            f"checkpoint parameter {extra[0]!r}{more} has no place in the model ({src}); "
            "wrong architecture?"
        )
    result = flax.traverse_util.unflatten_dict(out, sep="/")
    return {"params": result} if wrapped else result
