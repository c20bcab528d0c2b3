"""Parsing the argument string of a big_vision style ``get_config(arg)``.

``gwa-train --config configs/fmnist_n.py:noise=0.17,split=0.01,seed=1`` hands
``"noise=0.17,split=0.01,seed=1"`` to ``get_config``; the config calls

    a = parse_arg(arg, where="configs/fmnist_n.py", choices={"model": ("vit", "convnext")},
                  model="vit", noise=0.0, split=0.0, seed=0, runlocal=False)
    a.noise, a.seed  # 0.17 (float), 1 (int)

Every key must be one of the defaults; its value is converted to the default's type (bool:
``true/false/yes/no/1/0``, or the bare key for ``True``; float: also ``17%`` for 0.17).
Anything else raises :class:`ArgError` with one line naming the config, the bad key or value
and the valid choices.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ArgError(ValueError):
    """A bad config argument string; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Args(Mapping[str, Any]):
    """Parsed arguments: attribute and mapping access, in the order of the defaults."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def _convert(key: str, text: str, default: Any, where: str) -> Any:
    text = text.strip()
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            return float(text)
    except ValueError:
        kind = type(default).__name__
        raise ArgError(f"{where}: argument {key}={text!r} is not a valid {kind}") from None
    return text


def format_value(value: Any) -> str:
    """The canonical text of an argument value (the inverse of the parser's conversion)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(value)).removesuffix(".0") if value == int(value) else repr(value)
    return str(value)


def parse_arg(arg: str | None, *, where: str = "config",
              choices: Mapping[str, Sequence[Any]] | None = None, **defaults: Any) -> Args:
    """Parses ``"k1=v1,k2=v2"`` (or ``None`` / ``""``) against ``defaults``.

    Args:
      arg: the text after ``:`` in ``--config FILE.py:ARG``; ``None`` or empty for defaults.
      where: the config's name, used in error messages.
      choices: optional allowed values per key (compared after type conversion; floats with a
        1e-9 tolerance).
      **defaults: every accepted key with its default value; the default's type is the type
        of the key.

    Returns:
      :class:`Args` with every key of ``defaults``.

    Raises:
      ArgError: unknown key (with the nearest valid one), repeated key, malformed item, value
        of the wrong type or outside ``choices``.
    """
    values = dict(defaults)
    given: set[str] = set()
    for item in (arg or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, text = item.partition("=")
        key = key.strip()
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ArgError(f"{where}: unknown argument key '{key}'{hint}; valid keys: "
                           f"{', '.join(defaults)}")
        if key in given:
            raise ArgError(f"{where}: argument key '{key}' given twice")
        given.add(key)
        if not eq:
            if not isinstance(defaults[key], bool):
                raise ArgError(f"{where}: argument '{key}' needs a value ({key}=...)")
            values[key] = True
            continue
        values[key] = _convert(key, text, defaults[key], where)
    for key, allowed in (choices or {}).items():
        v = values[key]
        ok = any(abs(v - a) < 1e-9 if isinstance(v, float) else v == a for a in allowed)
        if not ok:
            shown = ", ".join(format_value(a) for a in allowed)
            raise ArgError(f"{where}: argument {key}={format_value(v)} is not one of: {shown}")
    return Args(values)


def format_arg(values: Mapping[str, Any]) -> str:
    """``{"noise": 0.17, "seed": 1} -> "noise=0.17,seed=1"`` (keys in the given order)."""
    return ",".join(f"{k}={format_value(v)}" for k, v in values.items())
