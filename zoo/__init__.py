"""zoo: image generators (GANs, VAEs, recurrent models) behind one plugin interface.

The Python API mirrors the CLI::

    import zoo
    zoo.list_models()                       # zoo list
    plugin = zoo.get_model("dcgan")         # zoo info dcgan
    run = zoo.load_run("runs/dcgan/...")    # zoo sample dcgan --run ...
    images = run.sample(16, seed=0)         # (16, C, H, W) in [0, 1]

Training is :func:`zoo.training.trainer.train` (``zoo train``).
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

from zoo.contract import Batch, DataSpec, ExportGraph, Model, Plugin, TensorSpec
from zoo.errors import UsageError, ZooError
from zoo.models import get_model, list_models

try:
    __version__ = metadata.version("zoo")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from zoo.runs import LoadedRun


def load_run(path: Any, device: str = "cpu") -> "LoadedRun":
    """Load the newest checkpoint of a run directory; the result can ``.sample(n, seed)``."""
    from zoo.runs import load

    return load(path, device=device)


__all__ = [
    "Batch",
    "DataSpec",
    "ExportGraph",
    "Model",
    "Plugin",
    "TensorSpec",
    "UsageError",
    "ZooError",
    "__version__",
    "get_model",
    "list_models",
    "load_run",
]
