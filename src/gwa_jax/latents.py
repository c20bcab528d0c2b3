"""Conventions shared by every gwa-jax model: where the pre-head latent and head live.

Every model calls ``self.sow("latent_embeddings", "x", z)`` on its (B, D) pre-head latent
and ends with a ``Dense`` named ``head``. These helpers read both back, so ``head_alignment``
can be dropped into any Flax train step that follows the same convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import traverse_util

LATENT_COLLECTION = "latent_embeddings"
LATENT_NAME = "x"
HEAD_NAME = "head"


def latent_from_collection(mutable_vars: Mapping[str, Any]) -> jax.Array:
    """Returns the (B, D) latent sown under ``latent_embeddings/.../x``.

    Accepts either the whole mutable-variables dict returned by ``apply(..., mutable=[...])``
    or the ``latent_embeddings`` collection itself. ``sow`` stores a tuple; the last value
    (the latest call) is returned. Exactly one ``x`` must be present.
    """
    coll = mutable_vars.get(LATENT_COLLECTION, mutable_vars)
    flat = traverse_util.flatten_dict(dict(coll), keep_empty_nodes=False, is_leaf=_is_sow_leaf)
    hits = [v for k, v in flat.items() if k[-1] == LATENT_NAME]
    if len(hits) != 1:
        raise KeyError(
            f"expected exactly one sown '{LATENT_COLLECTION}/{LATENT_NAME}' latent, found "
            f"{len(hits)} (keys: {sorted('/'.join(k) for k in flat)}). Call "
            f"self.sow('{LATENT_COLLECTION}', '{LATENT_NAME}', z) once on the pre-head latent "
            f"and apply with mutable=['{LATENT_COLLECTION}']."
        )
    value = hits[0]
    return value[-1] if isinstance(value, tuple) else value


def _is_sow_leaf(_path: tuple[str, ...], value: Any) -> bool:
    return isinstance(value, tuple) or hasattr(value, "shape")


def head_kernel(params: Mapping[str, Any]) -> jax.Array:
    """The (D, C) kernel of the top-level ``Dense`` named ``head``."""
    try:
        return params[HEAD_NAME]["kernel"]
    except KeyError as err:
        raise KeyError(
            f"no '{HEAD_NAME}/kernel' in params (top-level keys: {sorted(params)}); the model's "
            f"classifier must be a Dense named '{HEAD_NAME}'."
        ) from err
