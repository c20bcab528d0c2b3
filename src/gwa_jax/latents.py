"""Conventions shared by every gwa-jax model: where the pre-head latent and head live.

Linen models call ``self.sow("latent_embeddings", "x", z)`` on their (B, D) pre-head latent
and end with a ``Dense`` named ``head``. NNX models call
``self.sow(nnx.Intermediate, "latent_embeddings", z)`` and end with an ``nnx.Linear``
attribute named ``head``. These helpers read both back, so ``head_alignment`` can be dropped
into any Flax train step that follows the convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx, traverse_util

LATENT_COLLECTION = "latent_embeddings"
LATENT_NAME = "x"
HEAD_NAME = "head"
# Leaf names that hold the latent: linen sows "x" into the "latent_embeddings" collection;
# NNX has no collections, so the variable itself is named "latent_embeddings".
_LATENT_LEAVES = (LATENT_NAME, LATENT_COLLECTION)


def _unwrap(value: Any) -> Any:
    """An ``nnx.Variable`` becomes its value; anything else is returned as is."""
    return value.get_value() if isinstance(value, nnx.Variable) else value


def latent_from_collection(mutable_vars: Mapping[str, Any] | nnx.State) -> jax.Array:
    """Returns the (B, D) sown pre-head latent.

    Accepts
      * linen: the mutable-variables dict returned by ``apply(..., mutable=[...])`` or its
        ``latent_embeddings`` collection (the latent is the leaf named ``x``);
      * NNX: the ``nnx.State`` returned by ``nnx.pop(model, nnx.Intermediate)`` or by
        ``nnx.capture(model, nnx.Intermediate)(x)`` (the latent is the ``Intermediate``
        named ``latent_embeddings``, or ``x``), or any ``nnx.State``/dict holding it.

    ``sow`` stores a tuple; the last value (the latest call) is returned. Exactly one latent
    must be present and it must be 2-D.

    Raises:
      TypeError: for anything that is not a mapping / ``nnx.State``.
      KeyError: when no latent or several are found.
      ValueError: when the latent is not (B, D).
    """
    if not isinstance(mutable_vars, Mapping | nnx.State):
        raise TypeError(
            "latent_from_collection expects the mutable variables of "
            f"apply(..., mutable=['{LATENT_COLLECTION}']) (linen) or the nnx.State of "
            "nnx.pop(model, nnx.Intermediate) / nnx.capture(model, nnx.Intermediate) (NNX), "
            f"got {type(mutable_vars).__name__}."
        )
    coll = mutable_vars
    if isinstance(coll, nnx.State):
        coll = nnx.to_pure_dict(coll)  # Variables become their values (the sown tuples).
    coll = dict(coll)
    if isinstance(coll.get(LATENT_COLLECTION), Mapping):  # linen: {collection: {...}}.
        coll = dict(coll[LATENT_COLLECTION])
    flat = traverse_util.flatten_dict(coll, keep_empty_nodes=False, is_leaf=_is_sow_leaf)
    hits = [v for k, v in flat.items() if k and k[-1] in _LATENT_LEAVES]
    if len(hits) != 1:
        raise KeyError(
            f"expected exactly one sown latent, found {len(hits)} (keys: "
            f"{sorted('/'.join(map(str, k)) for k in flat)}). linen: call "
            f"self.sow('{LATENT_COLLECTION}', '{LATENT_NAME}', z) once and apply with "
            f"mutable=['{LATENT_COLLECTION}']; NNX: call "
            f"self.sow(nnx.Intermediate, '{LATENT_COLLECTION}', z) once."
        )
    value = _unwrap(hits[0])
    if isinstance(value, tuple | list):
        value = value[-1]
    value = _unwrap(value)
    if not hasattr(value, "ndim") or value.ndim != 2:
        shape = getattr(value, "shape", type(value).__name__)
        raise ValueError(
            f"the sown latent must be (B, D), got {shape}; pool or flatten the pre-head "
            "features to (B, D) before sowing them."
        )
    return value


def _is_sow_leaf(_path: tuple[str, ...], value: Any) -> bool:
    return isinstance(value, tuple | list | nnx.Variable) or hasattr(value, "shape")


def head_kernel(params: Mapping[str, Any] | nnx.State | nnx.Module) -> jax.Array:
    """The (D, C) kernel of the top-level ``Dense``/``nnx.Linear`` named ``head``.

    Accepts linen ``params`` (or ``{"params": params}``), ``nnx.state(model, nnx.Param)``,
    or an NNX model itself. In an NNX train step read the kernel before
    ``optimizer.update(model, grads)``, which updates the model in place (or compute the
    alignment inside the loss function, as the README does).
    """
    if isinstance(params, nnx.Module):
        params = nnx.state(params, nnx.Param)
    if isinstance(params, Mapping | nnx.State) and HEAD_NAME not in params and \
            "params" in params:
        params = params["params"]
    try:
        kernel = _unwrap(params[HEAD_NAME]["kernel"])
    except (KeyError, TypeError) as err:
        keys = sorted(params) if isinstance(params, Mapping | nnx.State) else type(params)
        raise KeyError(
            f"no '{HEAD_NAME}/kernel' in params (top-level keys: {keys}); the model's "
            f"classifier must be a Dense named '{HEAD_NAME}' (NNX: an nnx.Linear attribute "
            f"named '{HEAD_NAME}')."
        ) from err
    return kernel
