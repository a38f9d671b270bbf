"""registry.json, the catalog, agrees with the installed entry points and plugin metadata."""

from __future__ import annotations

import json
from pathlib import Path

import zoo
from zoo import config, registry

CATALOG = Path(__file__).resolve().parents[1] / "registry.json"
RESULT_KEYS = {"metric", "value", "dataset", "command"}


def builtin_models() -> dict[str, registry.Entry]:
    return {n: e for n, e in registry.entries(registry.MODELS).items() if any(p.dist and p.dist.name == "zoo" for p in e.points)}


def test_every_builtin_entry_point_has_a_catalog_entry_and_back():
    catalog = {m["name"]: m for m in json.loads(CATALOG.read_text())["models"]}
    assert set(catalog) == set(builtin_models())


def test_catalog_entries_match_the_plugins():
    for entry in json.loads(CATALOG.read_text())["models"]:
        plugin = zoo.get_model(entry["name"])
        assert entry["entry_point"] == builtin_models()[entry["name"]].value
        assert entry["family"] == plugin.family and entry["paper"] == plugin.paper
        assert entry["plugin_version"] == plugin.version
        assert entry["default_dataset"] == plugin.default_dataset
        assert entry["default_config"] == config.to_dict(plugin.Config()), entry["name"]
        assert entry["graphs"] == list(plugin.graphs)
        for result in entry["results"]:
            assert RESULT_KEYS <= set(result), f"{entry['name']}: a result needs {sorted(RESULT_KEYS)}"
            assert result["command"].startswith("zoo "), "a result names the command that produced it"
            for key in ("command", "train_command"):
                assert not any(token.startswith("/") for token in (result.get(key) or "").split()), f"{entry['name']}: {key} has an absolute path"
