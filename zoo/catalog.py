"""``registry.json``: the catalog of architectures with their defaults and measured results.

``zoo evaluate ... --record`` adds its results here. A result replaces an earlier one of the
same model, metric, dataset, split and feature extractor, so re-measuring updates the figure rather than piling
up copies. The file is rewritten atomically: an interrupted write leaves the old catalog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo import atomic
from zoo.errors import UsageError, ZooError

DEFAULT_PATH = Path("registry.json")
RESULT_KEY = ("metric", "dataset", "split", "extractor")


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
    """Add ``results`` to ``model``'s entry in the catalog at ``path``."""
    catalog = read(path)
    entries = [m for m in catalog["models"] if m.get("name") == model]
    if not entries:
        raise UsageError(f"{path} has no entry for {model!r}; add the model to the catalog first")
    entry = entries[0]
    replaced = {tuple(r.get(key) for key in RESULT_KEY) for r in results}
    kept = [r for r in entry.get("results", []) if tuple(r.get(key) for key in RESULT_KEY) not in replaced]
    entry["results"] = kept + results
    atomic.write_text(path, json.dumps(catalog, indent=2) + "\n")
