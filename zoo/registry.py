"""Discovery of models, datasets and exporters through ``importlib.metadata`` entry points.

Every extension, built-in or third-party, is an entry point in one of three groups:
``zoo.models``, ``zoo.datasets``, ``zoo.exporters``. Nothing is registered any other way.

Loading is lazy and fault-tolerant: the entry points are read from installed metadata (no
imports), an entry is imported only when asked for, and an entry that fails to import or
breaks its contract is reported as *broken* with its error instead of taking the CLI down.
Two distributions claiming one name are reported as a conflict, never silently shadowed.
"""

from __future__ import annotations

import dataclasses
import difflib
from importlib import metadata
from typing import Any, Callable

from zoo.errors import UsageError, ZooError

MODELS = "zoo.models"
DATASETS = "zoo.datasets"
EXPORTERS = "zoo.exporters"
FEATURES = "zoo.features"

KIND = {MODELS: "model", DATASETS: "dataset", EXPORTERS: "exporter", FEATURES: "feature extractor"}


class BrokenEntry(ZooError):
    """An entry point that could not be loaded or does not fulfil its contract."""


@dataclasses.dataclass
class Entry:
    """One name in one group, with every entry point that claims it."""

    group: str
    name: str
    points: list[metadata.EntryPoint]
    obj: Any = None
    error: str | None = None

    @property
    def value(self) -> str:
        return self.points[0].value

    @property
    def distribution(self) -> str:
        return _dist_label(self.points[0])

    @property
    def conflict(self) -> str | None:
        if len(self.points) < 2:
            return None
        claims = " and ".join(f"{_dist_label(p)} ({p.value})" for p in self.points)
        return f"{KIND[self.group]} name {self.name!r} is claimed by {claims}; uninstall one of them"

    @property
    def status(self) -> str:
        if self.conflict:
            return "conflict"
        return "broken" if self.error else ("ok" if self.obj is not None else "not loaded")


_validators: dict[str, Callable[[Any], list[str]]] = {}
_loaded: dict[tuple[str, str, str], tuple[Any, str | None]] = {}


def register_validator(group: str, validator: Callable[[Any], list[str]]) -> None:
    """Attach the contract check run on every object loaded from ``group``."""
    _validators[group] = validator


def subclass_violations(obj: Any, base: type) -> list[str]:
    """What keeps a loaded entry-point object from being a concrete subclass of ``base``."""
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return [f"{obj!r} is not a subclass of {base.__module__}.{base.__qualname__}"]
    abstract = sorted(getattr(obj, "__abstractmethods__", ()))
    return [f"does not implement {', '.join(abstract)}"] if abstract else []


def entries(group: str) -> dict[str, Entry]:
    """Every name registered in ``group``, sorted, without importing anything."""
    found: dict[str, Entry] = {}
    for point in metadata.entry_points(group=group):
        entry = found.setdefault(point.name, Entry(group, point.name, []))
        if not any(p.value == point.value and _dist_label(p) == _dist_label(point) for p in entry.points):
            entry.points.append(point)
    return dict(sorted(found.items()))


def load_all(group: str) -> list[Entry]:
    """Every entry of ``group`` with its object loaded (or its error recorded)."""
    result = []
    for entry in entries(group).values():
        if not entry.conflict:
            entry.obj, entry.error = _load(entry)
        result.append(entry)
    return result


def get(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``, or a one-line error saying why not."""
    known = entries(group)
    kind = KIND.get(group, group)
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = ", ".join(known) or "none installed"
        raise UsageError(f"unknown {kind} {name!r}; {hint}available: {listing}")
    entry = known[name]
    if entry.conflict:
        raise UsageError(entry.conflict)
    obj, error = _load(entry)
    if error:
        raise BrokenEntry(f"{kind} {name!r} from {entry.distribution} is broken: {error}")
    return obj


def _load(entry: Entry) -> tuple[Any, str | None]:
    point = entry.points[0]
    key = (entry.group, entry.name, point.value)
    if key not in _loaded:
        try:
            obj = point.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - any import failure is the plugin's, SystemExit too, reported
            _loaded[key] = (None, f"cannot import {point.value}: {type(exc).__name__}: {exc}")
        else:
            problems = _validators.get(entry.group, lambda _: [])(obj)
            problems += _name_mismatch(entry, obj)
            _loaded[key] = (obj, "; ".join(problems) or None)
    return _loaded[key]


def _name_mismatch(entry: Entry, obj: Any) -> list[str]:
    declared = getattr(obj, "name", entry.name)
    if isinstance(declared, str) and declared != entry.name:
        return [f"declares name {declared!r} but is registered as {entry.name!r}"]
    return []


def _dist_label(point: metadata.EntryPoint) -> str:
    dist = point.dist
    return f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
