"""Which version of gwa-jax's run format wrote a run folder, and what an older one means.

Every ``config.json`` (the config key ``format_version``) and ``summary.json`` carries
:data:`FORMAT_VERSION`; a run folder without it was written by format 1. The versions:

1. ConvNeXt stem conv with a bias, exact (erf) GELU, plain normal(0.02) kernel and head init;
   the cosine learning-rate schedule spans the whole-epoch step count; an epoch is
   ``floor(N / B)`` steps (the last ``N mod B`` ids of each epoch's order skipped); validation
   on the training (noisy) labels.
2. The GWA authors' protocol (``configs/PROTOCOL.md``): ConvNeXt stem conv without bias,
   tanh-approximate GELU, truncated-normal(0.02) kernels and head
   (:mod:`gwa_jax.models.convnext`); the cosine spans the requested ``total_steps`` + 1
   (:func:`gwa_jax.train.optim.make_schedule`); an epoch is ``ceil(N / B)`` steps with the last
   batch padded and masked, so every id is scored; validation on the clean labels
   (``dataset.val_labels``). ViT parameters unchanged.

What an older run still allows: its metrics are reported as recorded (a note says which runs
are older); it cannot be resumed (the schedule and, for ConvNeXt, the parameters differ);
``model.init_from`` takes a format-1 ViT as before, and a format-1 ConvNeXt only into a model
with ``stem_bias=True``. Each refusal is one line (:func:`resume_refusal`,
:func:`init_from_refusal`). This module imports nothing heavy: the workdir checks use it
before JAX loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FORMAT_VERSION = 2
FORMAT_KEY = "format_version"
OLDEST = 1  # A run folder without FORMAT_KEY.
CHANGES: dict[int, str] = {
    1: "ConvNeXt stem conv with bias, exact GELU, normal(0.02) init; cosine over the "
       "whole-epoch steps; floor(N/B) steps an epoch; validation on the noisy labels",
    2: "the authors' protocol: ConvNeXt stem conv without bias, tanh GELU, "
       "truncated-normal(0.02) init; cosine over the requested total_steps + 1; every id "
       "scored each epoch (last batch padded); validation on the clean labels",
}
# The zoo's ConvNeXt models (gwa_jax.models registers them under this prefix).
CONVNEXT_PREFIX = "convnext_"
# model.kwargs that rebuild the format-1 ConvNeXt in format 2.
FORMAT1_CONVNEXT_KWARGS = {"stem_bias": True, "gelu_approximate": False, "kernel_init": "normal"}
_FORMAT1_FLAGS = " ".join(f"--config.model.kwargs.{k}={v}"
                          for k, v in FORMAT1_CONVNEXT_KWARGS.items())


def version_of(*docs: Mapping[str, Any] | None) -> int:
    """The format of a run from its parsed ``summary.json`` / ``config.json`` (the first
    that records one); :data:`OLDEST` when none does or a value is not a positive int."""
    for doc in docs:
        if isinstance(doc, Mapping) and FORMAT_KEY in doc:
            value = doc[FORMAT_KEY]
            if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return value
            return OLDEST
    return OLDEST


def describe(version: int) -> str:
    """``"format N (what it means)"``."""
    return f"format {version} ({CHANGES.get(version, 'unknown to this gwa-jax')})"


def stamped(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (a config's ``to_dict()``) with ``format_version`` set when absent: what
    gwa-train writes as ``config.json``."""
    out = dict(config)
    out.setdefault(FORMAT_KEY, FORMAT_VERSION)
    return out


def is_convnext(model_name: Any) -> bool:
    """Whether a config's ``model.name`` is one of the zoo's ConvNeXt models."""
    return isinstance(model_name, str) and model_name.startswith(CONVNEXT_PREFIX)


def _model_block(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    model = config.get("model") if isinstance(config, Mapping) else None
    return model if isinstance(model, Mapping) else {}


def resume_refusal(saved: Mapping[str, Any], workdir: str) -> str | None:
    """One line refusing to resume (or rebuild from its checkpoints) the run of ``saved``
    (its ``config.json``) when an older format wrote it; None for a current one."""
    version = version_of(saved)
    if version >= FORMAT_VERSION:
        return None
    hint = ""
    if is_convnext(_model_block(saved).get("name")):
        hint = f"; to train its format-1 ConvNeXt again pass {_FORMAT1_FLAGS}"
    return (f"workdir {workdir} holds a run written by {describe(version)}; this gwa-jax "
            f"writes {describe(FORMAT_VERSION)} and cannot resume it from its checkpoints; "
            f"start it in a new --workdir or pass --overwrite{hint}")


def init_from_refusal(source: Mapping[str, Any] | None, where: str,
                      target_kwargs: Mapping[str, Any]) -> str | None:
    """One line refusing ``model.init_from`` of a run whose parameters do not fit this
    format's model, or None.

    Args:
      source: the source run's parsed ``config.json``.
      where: the source run's path, for the message.
      target_kwargs: the new config's ``model.kwargs``.
    """
    version = version_of(source)
    if version >= FORMAT_VERSION or not is_convnext(_model_block(source).get("name")):
        return None
    if target_kwargs.get("stem_bias") is True:
        return None  # Same parameter tree as format 1.
    return (f"model.init_from: {where} was written by {describe(version)}; its ConvNeXt stem "
            f"has a bias this gwa-jax's default ConvNeXt lacks; pass {_FORMAT1_FLAGS} to "
            f"fine-tune it as trained, or start from a format-{FORMAT_VERSION} run")


def older_runs_note(versions: Sequence[int]) -> str | None:
    """One line for a report over runs of these formats when some are older, else None."""
    old = sorted({v for v in versions if v < FORMAT_VERSION})
    if not old:
        return None
    count = sum(1 for v in versions if v < FORMAT_VERSION)
    formats = "; ".join(describe(v) for v in old)
    return (f"note: {count} of {len(versions)} run(s) were written by {formats}; their "
            f"metrics are reported as recorded; this gwa-jax writes format {FORMAT_VERSION}")
