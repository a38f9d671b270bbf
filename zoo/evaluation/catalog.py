"""``registry.json``: the catalog of architectures with their defaults and measured results.

``zoo evaluate ... --record`` adds its results here. A result replaces an earlier one of the
same model, metric, dataset, split and feature extractor, so re-measuring updates the figure rather than piling
up copies. The file is rewritten atomically: an interrupted write leaves the old catalog; and under a lock
(``registry.json.lock``), so that processes recording at once all keep their results. Absolute
paths in a result's commands and notes are written relative to the catalog's folder (see
:func:`portable_command` and :func:`portable_text`), so a record reads the same on every checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from zoo import atomic, locks
from zoo.errors import UsageError, ZooError

DEFAULT_PATH = Path("registry.json")
RESULT_KEY = ("metric", "dataset", "split", "extractor")
COMMAND_KEYS = ("command", "train_command")
TEXT_KEYS = ("split_note",)


def portable_command(command: str, base: Path) -> str:
    """``command`` with each absolute path (alone or as an ``--option=PATH`` value) made
    relative to ``base``: ``--registry /home/me/zoo/registry.json`` -> ``--registry registry.json``."""

    def relative(token: str) -> str:
        option, equals, value = token.rpartition("=") if token.startswith("--") and "=" in token else ("", "", token)
        if not os.path.isabs(value):
            return token
        return option + equals + os.path.relpath(value, base)

    try:
        tokens = shlex.split(command)
    except ValueError:  # unbalanced quotes: leave it as it was typed
        return command
    return shlex.join(relative(t) for t in tokens)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/])/[^\s;,()'\"]+")


def portable_text(text: str, base: Path) -> str:
    """Free text (a split's note) with each absolute path in it made relative to ``base``."""
    return _ABSOLUTE_PATH.sub(lambda found: os.path.relpath(found.group(0), base), text)


def read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"no catalog at {path}; run from the zoo checkout or pass --registry PATH")
    try:
        catalog = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(f"{path} is not valid JSON ({exc}); fix or restore it before recording") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("models"), list):
        raise ZooError(f"{path} is not a zoo catalog (no 'models' list)")
    return catalog


def record_results(path: Path, model: str, results: list[dict[str, Any]]) -> None:
    """Add ``results`` to ``model``'s entry in the catalog at ``path``, holding its lock from read to write."""
    if not path.is_file():
        read(path)  # the missing-catalog message, before a lock file is made beside nothing
    with locks.locked(path.with_name(path.name + ".lock")):
        _record(path, model, results)


def _record(path: Path, model: str, results: list[dict[str, Any]]) -> None:
    catalog = read(path)
    entries = [m for m in catalog["models"] if m.get("name") == model]
    if not entries:
        raise UsageError(f"{path} has no entry for {model!r}; add the model to the catalog first")
    entry = entries[0]
    base = path.resolve().parent
    results = [
        {
            **r,
            **{k: portable_command(r[k], base) for k in COMMAND_KEYS if isinstance(r.get(k), str)},
            **{k: portable_text(r[k], base) for k in TEXT_KEYS if isinstance(r.get(k), str)},
        }
        for r in results
    ]
    replaced = {tuple(r.get(key) for key in RESULT_KEY) for r in results}
    kept = [r for r in entry.get("results", []) if tuple(r.get(key) for key in RESULT_KEY) not in replaced]
    entry["results"] = kept + results
    atomic.write_text(path, json.dumps(catalog, indent=2) + "\n")
