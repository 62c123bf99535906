"""Checks shared by the settings dataclasses of both methods (:mod:`.diffusionst._config`, :mod:`.spalstf._config`).

Each field's type is read from its annotation, so a value of the wrong type (``unet_mults=3``,
``lr="0.1"``) is refused with the field's name before any work starts, instead of failing later deep
inside torch. Each dataclass adds its own range checks in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, TypeVar

import numpy as np

C = TypeVar("C")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    return int(value)


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    return float(value)


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")
    return bool(value)


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, got {value!r}.")
    return value


def _as_int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of integers such as (1, 2, 4), got {value!r}.")
    items = tuple(_as_int(name, v) for v in value)
    if not items:
        raise ValueError(f"`{name}` must hold at least one integer, got {value!r}.")
    return items


_CONVERTERS = {"int": _as_int, "float": _as_float, "bool": _as_bool, "str": _as_str, "tuple[int, ...]": _as_int_tuple}


def coerce_field_types(config: Any) -> None:
    """Check every field of the frozen dataclass ``config`` against its annotation, in place.

    Annotations are read as written (``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``, each
    optionally ``| None``). NumPy scalars become Python scalars, integers given for a ``float`` become
    floats and sequences given for a tuple become tuples, so records stay plain.

    Raises
    ------
    TypeError
        When a field holds a value of another type, naming the field.
    ValueError
        When a number field holds NaN or an infinity.
    """
    for field in dataclasses.fields(config):
        annotation = str(field.type).replace(" ", "")
        optional = annotation.endswith("|None")
        kind = annotation.removesuffix("|None").replace(",...", ", ...")
        value = getattr(config, field.name)
        if value is None and optional:
            continue
        object.__setattr__(config, field.name, _CONVERTERS[kind](field.name, value))


def check_choice(config: Any, name: str, allowed: tuple[str, ...]) -> None:
    """Raise a clear error when the field ``name`` of ``config`` is not one of ``allowed``."""
    if getattr(config, name) not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}, got {getattr(config, name)!r}.")


def check_at_least(config: Any, names: tuple[str, ...], minimum: float, *, strict: bool = False) -> None:
    """Raise a clear error when a field in ``names`` (``None`` skipped) is below ``minimum`` (or equal, with ``strict``)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and (value < minimum or (strict and value == minimum)):
            if minimum == 0:
                bound = "positive" if strict else "non-negative"
            else:
                bound = f"greater than {minimum}" if strict else f"at least {minimum}"
            raise ValueError(f"`{name}` must be {bound}, got {value!r}.")


def resolve_preset(preset: object, device: Any, presets: Mapping[str, Any]) -> str:
    """The preset a run uses: ``"auto"`` is ``"paper"`` on a CUDA ``device`` and ``"fast"`` otherwise.

    Raises
    ------
    ValueError
        When ``preset`` is neither ``"auto"`` nor a key of ``presets``.
    """
    if not isinstance(preset, str) or preset not in ("auto", *presets):
        raise ValueError(f"`preset` must be one of {('auto', *presets)}, got {preset!r}.")
    if preset == "auto":
        return "paper" if device is not None and device.type == "cuda" else "fast"
    return preset


def with_overrides(cls: type[C], base: Mapping[str, Any], overrides: Mapping[str, Any], method: str) -> C:
    """Build ``cls`` from the preset values ``base`` with ``overrides`` on top, refusing unknown names.

    Raises
    ------
    TypeError
        For an override that is not a field of ``cls`` (as Python does for an unexpected keyword).
    """
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"Unknown {method} setting(s) {unknown}; valid settings are {sorted(known)}.")
    return cls(**{**base, **overrides})
