"""Datasets: the ``zoo.datasets`` entry-point group and :func:`load_dataset`.

Names are entry-point names (``digits``, ``mnist``, ...), or ``NAME:ARGUMENT`` for sources
that take one (``folder:/path/to/images``). See :mod:`zoo.datasets.source` for the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo import registry
from zoo.config import check_range
from zoo.errors import UsageError

DEFAULT_DATASET = "digits"
RESIDENCIES = ("auto", "memory", "stream")
MAX_IMAGE_SIZE = 1024
"""The largest --image-size: a 1024 x 1024 RGB image is 3 MB of pixels, and every image of a set
is held at that size."""


def _dataset_violations(obj: Any) -> list[str]:
    from zoo.datasets.source import DatasetSource  # imports torch: only once a dataset is loaded

    return registry.subclass_violations(obj, DatasetSource)


registry.register_validator(registry.DATASETS, _dataset_violations)


def parse_name(name: str) -> tuple[str, str | None]:
    """``"folder:/x"`` -> ``("folder", "/x")``; ``"mnist"`` -> ``("mnist", None)``."""
    base, sep, argument = name.partition(":")
    return base, (argument if sep else None)


def get_source(name: str):
    """The :class:`~zoo.datasets.source.DatasetSource` class registered for ``name``."""
    base, argument = parse_name(name)
    source = registry.get(registry.DATASETS, base)
    if source.takes_argument and not argument and source.default_argument is None:
        raise UsageError(f"dataset {base!r} needs an argument: use {base}:PATH")
    if argument and not source.takes_argument:
        raise UsageError(f"dataset {base!r} takes no argument; use plain {base!r}")
    return source


def canonical_name(name: str) -> str:
    """``name`` as a run records it: ``folder:data`` becomes ``folder:/abs/path/data``."""
    base, argument = parse_name(name)
    if argument is None:
        return name
    return f"{base}:{get_source(name).canonical_argument(argument)}"


def load_dataset(name: str = DEFAULT_DATASET, **options: Any):
    """Load a split of a registered dataset: an :class:`~zoo.datasets.source.ImageSet`, or a
    :class:`~zoo.datasets.source.SequenceSet` for sequence datasets (:func:`expect_kind` refuses
    the other kind). ``options`` are :func:`load_request`'s."""
    source, request = load_request(name, **options)
    return source().load(request)


def load_request(
    name: str,
    *,
    split: str = "train",
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = False,
    skip_bad_images: bool = False,
    residency: str = "auto",
):
    """The source class registered for ``name`` and the checked
    :class:`~zoo.datasets.source.LoadRequest` for one of its splits, defaults filled in.

    ``skip_bad_images``: leave out files that cannot be decoded instead of failing.
    ``residency``: ``auto``, ``memory`` or ``stream``; where a prepared set's images live while
    training (see :mod:`zoo.datasets.prepared`). Other sources are always in memory.
    """
    base, argument = parse_name(name)
    source = get_source(name)
    argument = argument or source.default_argument
    if source.splits and split not in source.splits:  # () : the source checks (prepared sets have their own)
        raise UsageError(f"dataset {base!r} has no split {split!r}; choose one of {', '.join(source.splits)}")
    check_range("--image-size", image_size, 4, MAX_IMAGE_SIZE)
    if channels not in (None, 1, 3):
        raise UsageError(f"--channels must be 1 or 3, got {channels}")
    if residency not in RESIDENCIES:
        raise UsageError(f"residency must be one of {', '.join(RESIDENCIES)}, got {residency!r}")
    if residency == "stream" and not source.streams:
        raise UsageError(f"dataset {base!r} is read into memory; to stream it, run zoo data prepare {name} --out DIR and train on prepared:DIR")
    if source.needs_data_dir and data_dir is None:
        raise UsageError(f"dataset {base!r} is read from local files: pass --data-dir DIR (and --download to fetch it)")
    from zoo.datasets.source import LoadRequest

    request = LoadRequest(
        split=split,
        image_size=image_size or source.default_size,
        channels=channels or source.default_channels,
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        download=download,
        argument=argument,
        skip_bad_images=skip_bad_images,
        residency=residency,
    )
    return source, request


def expect_kind(data, kind: str):
    """``data`` itself if it is of ``kind`` (``"images"`` or ``"sequences"``), else a one-line error."""
    if data.spec.kind != kind:
        hint = "an image dataset such as digits or mnist" if kind == "images" else "a sequence dataset such as moving-digits"
        raise UsageError(f"dataset {parse_name(data.name)[0]!r} gives {data.spec.kind}, but {kind} are needed here; use {hint}")
    return data
