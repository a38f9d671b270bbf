"""Feature extractors for sample-quality metrics: the ``zoo.features`` entry-point group.

Names are entry-point names, or ``NAME:ARGUMENT`` (``classifier:mnist``). Built in:

``inception``
    the standard FID network (Inception-v3 with the TensorFlow FID weights), loaded from a
    file the user downloads and points to with ``--weights``;
``classifier:<dataset>``
    a small CNN that zoo trains on the dataset's labelled train split
    (``zoo features train --dataset mnist``) and caches; the usual substitute for Inception
    on MNIST-like data, where ImageNet features say little.

Trained classifiers are cached under ``$ZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/zoo``, else
``~/.cache/zoo``, in ``features/``. See :mod:`zoo.features.extractor` for the contract.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo import registry
from zoo.errors import UsageError


def _extractor_violations(obj: Any) -> list[str]:
    from zoo.features.extractor import FeatureExtractor  # imports torch: only when one is loaded

    return registry.subclass_violations(obj, FeatureExtractor)


registry.register_validator(registry.FEATURES, _extractor_violations)


def cache_root() -> Path:
    """Where zoo keeps what it builds once and reuses (trained feature classifiers)."""
    if os.environ.get("ZOO_CACHE_DIR"):
        return Path(os.environ["ZOO_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zoo"


def get_extractor(name: str, weights: str | Path | None = None):
    """The extractor registered as ``name`` (``NAME`` or ``NAME:ARGUMENT``), opened and ready."""
    base, sep, argument = name.partition(":")
    extractor = registry.get(registry.FEATURES, base)
    if extractor.takes_argument and not argument:
        raise UsageError(f"feature extractor {base!r} needs an argument: use {base}:DATASET, e.g. {base}:mnist")
    if argument and not extractor.takes_argument:
        raise UsageError(f"feature extractor {base!r} takes no argument; use plain {base!r}")
    return extractor.open(argument or None, Path(weights).expanduser() if weights else None)
