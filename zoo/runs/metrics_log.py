"""``metrics.jsonl``, a run's log: one JSON object a line, appended by the trainer (a line per
``log_every`` steps, and events such as warnings) and by ``zoo evaluate`` (lines with
``"event": "evaluate"``). This module is its only writer and reader.

Reading never fails on the log itself: a line cut short by a crash, one that is not JSON or
not an object, or bytes that are not UTF-8 are skipped, so one bad line cannot hide a run
from ``zoo runs``, ``compare`` or ``report``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.atomic import naming

FILE = "metrics.jsonl"


def append(run_dir: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` as one line (a single write, so processes appending at once keep whole lines)."""
    path = Path(run_dir) / FILE
    with naming(path), open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def read(run_dir: Path) -> list[dict[str, Any]]:
    """Every readable line of the log, oldest first; empty when there is no log."""
    path = Path(run_dir) / FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return []
    entries = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def training_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The trainer's step lines: no event (evaluations, warnings) and a whole step number, each
    with only its numeric values (a damaged value is dropped, never shown or summed)."""
    return [{key: value for key, value in entry.items() if is_number(value)} for entry in read(run_dir) if is_training_line(entry)]


def is_training_line(entry: dict[str, Any]) -> bool:
    """A line the trainer wrote for a step it trained (not an event)."""
    return "event" not in entry and is_step(entry.get("step"))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
