"""Your own model: an importable factory (``package.module:factory``) or a registered name.

A model for gwa-jax is any flax ``nn.Module`` that follows the zoo's contract (see
:mod:`gwa_jax.models`): it sows its float32 pre-head latent z (B, D) with
``self.sow("latent_embeddings", "x", z)`` and ends with ``nn.Dense(num_classes,
name="head")`` on z. Two ways to train one with ``gwa-train``:

* name it in the config as ``package.module:factory``; the module is imported (it must be on
  ``PYTHONPATH``), and ``factory(num_classes)`` returns the module. ``factory`` may also be
  the ``nn.Module`` class itself when its only required field is ``num_classes``;
* or call :func:`register` from your own code before training, then use the name.

Architecture hyperparameters come from ``config.model.kwargs`` (e.g.
``--config.model.kwargs.depths=(1,1,1,1)``): each key must be a dataclass field of the
module and is applied with ``module.clone(**kwargs)`` (registered zoo models pass them to
their factory). :func:`check_contract` traces the model abstractly (``jax.eval_shape``,
nothing is computed) and names what is missing in one line.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Collection
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gwa_jax.config_base import ConfigError
from gwa_jax.latents import latent_from_collection
from gwa_jax.models.common import (
    HEAD_NAME,
    LATENT_COLLECTION,
    LATENT_NAME,
    num_params,
)

Factory = Callable[..., nn.Module]

#: Models added with :func:`register`: name -> factory(num_classes) -> nn.Module.
_USER: dict[str, Factory] = {}
_NOT_FIELDS = frozenset({"parent", "name", "num_classes"})


class ModelError(ConfigError):
    """A model that cannot be built or breaks the GWA contract; the message is one line."""


def register(name: str, factory: Factory, *, reserved: Collection[str] = ()) -> None:
    """Makes ``factory`` available as ``config.model.name = name``.

    Args:
      name: a new name (not a zoo name, without ``:``).
      factory: ``factory(num_classes) -> nn.Module`` (a function or the module class).
      reserved: names taken already (:func:`gwa_jax.models.register` passes the zoo's).
    """
    if ":" in name or name in reserved:
        raise ModelError(f"cannot register model {name!r}: the name contains ':' or is a zoo "
                         f"name")
    if not callable(factory):
        raise ModelError(f"register({name!r}, ...): the factory must be callable")
    _USER[name] = factory


def registered() -> list[str]:
    """Names added with :func:`register`, sorted."""
    return sorted(_USER)


def is_import_path(name: str) -> bool:
    """``"package.module:factory"`` rather than a registry name."""
    return ":" in name


def resolve(name: str) -> Factory:
    """The factory of a registered or ``package.module:factory`` model; :class:`ModelError`
    (one line) when it cannot be found."""
    if name in _USER:
        return _USER[name]
    if not is_import_path(name):
        raise ModelError(f"unknown model {name!r}")
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelError(f"cannot import the model module {module_name!r} of model.name "
                         f"{name!r} ({err}); put its directory on PYTHONPATH") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ModelError(f"module {module_name!r} has no {attr!r} (model.name {name!r})")
    if not callable(factory):
        raise ModelError(f"model.name {name!r} is not callable")
    return factory


def _instance(name: str, num_classes: int) -> nn.Module:
    factory = resolve(name)
    try:
        module = factory(num_classes)
    except Exception as err:  # noqa: BLE001 - any failure of user code is one line.
        raise ModelError(f"model factory {name!r} failed for num_classes={num_classes}: "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(module, nn.Module):
        raise ModelError(f"model factory {name!r} returned {type(module).__name__}, not a flax "
                         f"nn.Module")
    return module


def fields(name: str) -> list[str]:
    """The ``model.kwargs`` keys a user model accepts: its dataclass fields, sorted."""
    cls = type(_instance(name, 2))
    return sorted(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_FIELDS)


def create(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """``factory(num_classes).clone(**kwargs)`` with the kwargs checked against its fields."""
    module = _instance(name, num_classes)
    valid = sorted(f.name for f in dataclasses.fields(type(module))
                   if f.name not in _NOT_FIELDS)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ModelError(f"unknown model.kwargs {unknown} for model {name!r}; its fields: "
                         f"{', '.join(valid) or 'none'}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return module.clone(**kw) if kw else module


def check_contract(model: nn.Module, image_shape: tuple[int, int, int], num_classes: int,
                   name: str = "") -> int:
    """Checks abstractly that ``model`` sows its latent and has a ``Dense`` head ``head``.

    Args:
      model: the unbound module.
      image_shape: (H, W, C) of one input image.
      num_classes: C, the expected number of logits.
      name: the model's name for the message.

    Returns:
      The number of parameters.

    Raises:
      ModelError: one line naming the missing piece (sown latent, head, shapes).
    """
    label = f"model {name!r}" if name else "the model"
    x = jax.ShapeDtypeStruct((2, *image_shape), jnp.float32)

    def run(key: jax.Array, images: jax.Array) -> tuple[Any, Any, Any]:
        variables = model.init({"params": key}, images, train=False)
        logits, mut = model.apply(variables, images, train=True, mutable=[LATENT_COLLECTION],
                                  rngs={"dropout": key})
        return variables, logits, mut

    try:
        variables, logits, mut = jax.eval_shape(run, jax.random.key(0), x)
    except Exception as err:  # noqa: BLE001 - user code: report, do not crash.
        first = " ".join(str(err).split())[:300]
        raise ModelError(f"{label} cannot be applied to images of shape "
                         f"(B, {', '.join(map(str, image_shape))}) "
                         f"with train=True/False: {type(err).__name__}: {first}") from None
    params = variables.get("params", {})
    head = params.get(HEAD_NAME) if hasattr(params, "get") else None
    if head is None or "kernel" not in head or len(head["kernel"].shape) != 2:
        raise ModelError(f"{label} has no Dense head named '{HEAD_NAME}' at the top level "
                         f"(params: {', '.join(sorted(params)) or 'none'}); end the model "
                         f"with nn.Dense(num_classes, name='{HEAD_NAME}')")
    dim, classes = head["kernel"].shape
    coll = mut.get(LATENT_COLLECTION, {}) if hasattr(mut, "get") else {}
    try:
        z = latent_from_collection(coll)
    except KeyError:
        raise ModelError(f"{label} does not sow its pre-head latent; call self.sow("
                         f"'{LATENT_COLLECTION}', '{LATENT_NAME}', z) once on the (B, D) input "
                         f"of the head") from None
    if tuple(z.shape) != (2, dim):
        raise ModelError(f"{label} sows a latent of shape {tuple(z.shape)[1:]} per sample but "
                         f"its head takes ({dim},); sow exactly the head's input")
    if classes != num_classes or tuple(logits.shape) != (2, num_classes):
        raise ModelError(f"{label} returns logits of shape {tuple(logits.shape)[1:]} (head "
                         f"{classes} classes), expected ({num_classes},)")
    return num_params(params)
