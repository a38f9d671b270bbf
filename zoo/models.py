"""Models: the ``zoo.models`` entry-point group, timm-style (a name is all a user needs).

    >>> import zoo
    >>> zoo.list_models()
    ['dcgan', ...]
    >>> plugin = zoo.get_model("dcgan")
    >>> model = plugin.build(plugin.Config(), zoo.DataSpec(1, 28, 28))
"""

from __future__ import annotations

from zoo import registry
from zoo.contract import Plugin, contract_violations

registry.register_validator(registry.MODELS, contract_violations)


def list_models(include_broken: bool = False) -> list[str]:
    """Names of the installed models that load and conform (all names with ``include_broken``)."""
    return [e.name for e in registry.load_all(registry.MODELS) if include_broken or e.status == "ok"]


def get_model(name: str) -> Plugin:
    """The plugin registered as ``name``, ready to ``build``; a one-line error if it cannot be."""
    return registry.get(registry.MODELS, name)()


def model_entries() -> list[registry.Entry]:
    """Every registered model with its status (ok, broken, conflict) and error, for listings."""
    return registry.load_all(registry.MODELS)
