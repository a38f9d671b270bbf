"""Models: the ``zoo.models`` entry-point group, timm-style (a name is all a user needs).

    >>> import zoo
    >>> zoo.list_models()
    ['dcgan', ...]
    >>> plugin = zoo.get_model("dcgan")
    >>> model = plugin.build(plugin.Config(), zoo.DataSpec(1, 28, 28))
"""

from __future__ import annotations

from typing import Any

from zoo import registry
from zoo.contract import DataSpec, Model, Plugin, contract_violations
from zoo.errors import ZooError

registry.register_validator(registry.MODELS, contract_violations)


def list_models(include_broken: bool = False) -> list[str]:
    """Names of the installed models that load and conform (all names with ``include_broken``)."""
    return [e.name for e in registry.load_all(registry.MODELS) if include_broken or e.status == "ok"]


def get_model(name: str) -> Plugin:
    """The plugin registered as ``name``, ready to ``build``; a one-line error if it cannot be."""
    return registry.get(registry.MODELS, name)()


def build_model(plugin: Plugin, config: Any, data: DataSpec, device: Any = "cpu") -> Model:
    """``plugin.build(config, data, device)``; a failure of the plugin's own is a one-line error naming it.

    zoo's errors (a size the architecture refuses, say) pass through as they are; anything
    else the plugin raises, SystemExit included, is a :class:`~zoo.registry.BrokenEntry`.
    """
    try:
        return plugin.build(config, data, device)
    except (ZooError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - the plugin's failure, reported as its own
        origin = next((e.distribution for e in registry.load_all(registry.MODELS) if e.name == plugin.name), "unknown distribution")
        detail = " ".join(str(exc).split())[:300]
        raise registry.BrokenEntry(
            f"model {plugin.name!r} from {origin} failed to build for {data.shape} on {device}: {type(exc).__name__}: {detail}"
        ) from exc


def model_entries() -> list[registry.Entry]:
    """Every registered model with its status (ok, broken, conflict) and error, for listings."""
    return registry.load_all(registry.MODELS)


def dataset_refusal(plugin: Plugin, dataset: str, kind: str, labelled: bool) -> str | None:
    """Why ``plugin`` cannot train on ``dataset`` (one line), or None when it can.

    The one rule for pairing a model with data: ``zoo train`` applies it to the set it loaded,
    ``zoo info`` to what each installed source declares (``DatasetSource.kind`` and ``labelled``).
    ``kind`` is ``"images"`` or ``"sequences"``; ``labelled``: whether the images carry class labels.
    """
    if plugin.conditional and not labelled:
        return f"{plugin.name} is class-conditional but dataset {dataset!r} has no labels; pick a labelled dataset"
    if kind != plugin.data_kind:
        hint = "use --dataset moving-digits" if plugin.data_kind == "sequences" else f"pick an image dataset such as {plugin.default_dataset}"
        return f"{plugin.name} trains on {plugin.data_kind}, but dataset {dataset!r} gives {kind}; {hint}"
    return None
