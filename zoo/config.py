"""Plugin configuration: dataclasses with a one-line help per field, and ``--set key=value``.

A plugin's config is a plain dataclass whose fields are declared with :func:`option`::

    @dataclass
    class DCGANConfig:
        latent_dim: int = option(100, "size of the latent vector z")

``apply_overrides(config, ["latent_dim=64"])`` converts each value to the field's type and
rejects unknown keys and bad values with an error that lists the valid keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Iterable, Literal, get_args, get_origin, get_type_hints

from zoo.errors import UsageError


SEED_MAX = 2**63 - 1
"""The largest seed: torch.manual_seed and numpy's generators take 64-bit seeds."""


def option(
    default: Any, help: str, *, flag: str | None = None, low: float | None = None, high: float | None = None, **kwargs: Any
) -> Any:
    """A dataclass field with a default and a one-line help text.

    The same declaration serves ``zoo info`` (a plugin's config) and the command line: the
    CLI generates a flag for each such field of its request dataclasses, ``--field-name``
    unless ``flag`` names another (``-n``), with this default and help, so neither is
    written twice. ``low`` and ``high`` bound a number (inclusive): the flag refuses a
    value outside them, and :func:`check_bounds` does for the dataclass itself.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults so configs stay immutable values")
    metadata = {"help": help, **({"flag": flag} if flag else {})}
    metadata |= {key: value for key, value in (("low", low), ("high", high)) if value is not None}
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


_KINDS = {
    "int": ((int,), "a whole number"), "int | None": ((int,), "a whole number"),
    "float": ((int, float), "a number"), "float | None": ((int, float), "a number"),
}


def check_bounds(values: Any) -> None:
    """A :class:`~zoo.errors.UsageError` for the first field of ``values`` of the wrong type (a
    number given as a string, in a hand-edited record) or outside its ``low``/``high`` (None passes)."""
    for f in dataclasses.fields(values):
        value = getattr(values, f.name)
        if value is None:
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        kind = str(f.type)
        if kind == "bool" and not isinstance(value, bool):
            raise UsageError(f"{flag} must be true or false, got {value!r}")
        if kind in _KINDS:
            types, what = _KINDS[kind]
            if isinstance(value, bool) or not isinstance(value, types):
                raise UsageError(f"{flag} must be {what}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        check_range(flag, value, f.metadata.get("low"), f.metadata.get("high"))


def check_range(flag: str, value: float | None, low: float | None = None, high: float | None = None) -> None:
    """A one-line :class:`~zoo.errors.UsageError` naming ``flag`` unless ``value`` is None or a finite number in [low, high]."""
    import math

    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value}")
    if low is not None and value < low:
        raise UsageError(f"{flag} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise UsageError(f"{flag} must be at most {high}, got {value}")


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    default: Any
    help: str


def describe(config_cls: type) -> list[FieldInfo]:
    """The fields of a config dataclass, for ``zoo info``."""
    hints = get_type_hints(config_cls)
    return [
        FieldInfo(f.name, _type_name(hints[f.name]), f.default, f.metadata.get("help", ""))
        for f in dataclasses.fields(config_cls)
    ]


def to_dict(config: Any) -> dict[str, Any]:
    return {f.name: jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}


def from_dict(config_cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config saved with :func:`to_dict` (unknown keys are an error)."""
    return apply_overrides(config_cls(), [(k, v) for k, v in values.items()])


def apply_overrides(config: Any, overrides: Iterable[str | tuple[str, Any]]) -> Any:
    """Return a copy of ``config`` with ``key=value`` overrides applied and type-converted."""
    hints = get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes: dict[str, Any] = {}
    for item in overrides:
        if isinstance(item, str):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UsageError(f"--set expects key=value, got {item!r}; valid keys: {', '.join(names)}")
        else:
            key, raw = item
        if key not in hints or key not in names:
            raise UsageError(f"unknown config key {key!r}; valid keys: {', '.join(names)}")
        try:
            changes[key] = convert(raw, hints[key])
        except ValueError as exc:
            raise UsageError(f"bad value for {key}: {exc}") from None
    try:
        return dataclasses.replace(config, **changes)
    except (ValueError, TypeError) as exc:  # a plugin's __post_init__ validation
        raise UsageError(f"invalid config: {exc}") from None


def convert(raw: Any, annotation: Any) -> Any:
    """Convert ``raw`` (a string from the command line, or a JSON value) to ``annotation``."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if type(None) in options and (raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null", ""))):
            return None
        errors = []
        for option_type in options:
            if option_type is type(None):
                continue
            try:
                return convert(raw, option_type)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        choices = get_args(annotation)
        for choice in choices:
            if raw == choice or str(raw) == str(choice):
                return choice
        raise ValueError(f"{raw!r} is not one of {', '.join(map(str, choices))}")
    if origin is tuple:
        item_type = get_args(annotation)[0]
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(convert(x.strip() if isinstance(x, str) else x, item_type) for x in items if x != "")
    if annotation is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{raw!r} is not a boolean (use true or false)")
    if annotation is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"{raw!r} is not an integer")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not an integer") from None
    if annotation is float:
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{raw!r} is not a finite number")
        return number
    if annotation is str:
        return str(raw)
    raise ValueError(f"fields of type {annotation!r} cannot be set from the command line")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "|".join(map(str, get_args(annotation)))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is tuple:
        return f"tuple[{_type_name(get_args(annotation)[0])}, ...]"
    return getattr(annotation, "__name__", str(annotation))


def jsonable(value: Any) -> Any:
    """A config value as JSON stores it (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value
