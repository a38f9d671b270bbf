"""CIFAR-10, read from its own files without unpickling anything but arrays, lists and strings.

The python version (``cifar-10-batches-py/``, what torchvision downloads) is a set of pickles,
and a pickle may name any callable to run as it loads. These are files a user hands in, so
they are read with :class:`_ArraysOnly`, an unpickler that resolves only the numpy functions
that rebuild an array (and the latin-1 encoding Python 3's protocol 2 uses for bytes), and each
batch is then checked for shape, type and labels. The binary
version (``cifar-10-batches-bin/``: per image, a label byte and 3,072 pixel bytes) needs no
pickle at all, and is read when the python one is absent.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, one_line, to_uint8_images
from zoo.errors import ZooError

PYTHON_FOLDER = "cifar-10-batches-py"
BINARY_FOLDER = "cifar-10-batches-bin"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PIXELS = 3 * 32 * 32
"""Bytes per image: the red plane, then green, then blue, each 32 x 32 row by row."""


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """What protocol 2 pickles written by Python 3 call to make bytes: ``_codecs.encode(text,
    "latin1")``, allowed for that encoding alone."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"it encodes with {encoding!r}, which a CIFAR-10 batch never does")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    # the functions numpy's own pickles name, under numpy 1's module names and numpy 2's
    reconstruct = np.empty(0).__reduce__()[0]
    frombuffer = (np._core if hasattr(np, "_core") else np.core).numeric._frombuffer
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1_bytes}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArraysOnly(pickle.Unpickler):
    """Loads plain containers, numbers, strings, bytes and numpy arrays; any other global is refused."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never does") from None


def read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch as ``(N, 3072)`` uint8 rows and ``(N,)`` labels, checked."""
    try:
        with open(path, "rb") as f:
            entry = _ArraysOnly(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ZooError(f"{path} is not a CIFAR-10 batch: {one_line(exc)}") from None
    if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
        raise ZooError(f"{path} is not a CIFAR-10 batch: it holds no 'data' and 'labels'")
    rows, labels = entry["data"], entry["labels"]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != PIXELS:
        described = f"{rows.dtype} {rows.shape}" if isinstance(rows, np.ndarray) else type(rows).__name__
        raise ZooError(f"{path} is not a CIFAR-10 batch: its data is {described}, not uint8 rows of {PIXELS} bytes")
    if not isinstance(labels, list) or not all(isinstance(label, int) for label in labels):
        raise ZooError(f"{path} is not a CIFAR-10 batch: its labels are not a list of integers")
    return rows, np.asarray(labels, dtype=np.int64)


def read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``.bin`` batch (a label byte, then 3,072 pixel bytes, per image) as rows and labels."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % (PIXELS + 1):
        raise ZooError(f"{path} is not a CIFAR-10 binary batch: {raw.size:,} bytes is not a whole number of {PIXELS + 1}-byte records")
    records = raw.reshape(-1, PIXELS + 1)
    return records[:, 1:], records[:, 0].astype(np.int64)


def read_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split's images as ``(N, 3, 32, 32)`` uint8 and its labels, from whichever version is there."""
    python, binary = data_dir / PYTHON_FOLDER, data_dir / BINARY_FOLDER
    if python.is_dir() or not binary.is_dir():
        paths, read = [python / name for name in BATCHES[split]], read_python_batch
    else:
        paths, read = [binary / f"{name}.bin" for name in BATCHES[split]], read_binary_batch
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{paths[0].parent} has no {', '.join(missing)}")
    parts = [read(path) for path in paths]
    rows = np.concatenate([r for r, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    if labels.size and not (labels.min() >= 0 and labels.max() < len(CLASS_NAMES)):
        raise ZooError(f"CIFAR-10 {split} labels in {paths[0].parent} run from {labels.min()} to {labels.max()}, not 0 to 9")
    return rows.reshape(-1, 3, 32, 32), labels


class CIFAR10(DatasetSource):
    """CIFAR-10: 50,000 train and 10,000 test colour images, 32x32, 10 classes."""

    name = "cifar10"
    labelled = True
    summary = "CIFAR-10 photos, 32x32 colour, 10 classes (cifar-10-batches-py/ or -bin/ under --data-dir)"
    default_size = 32
    default_channels = 3

    def load(self, request: LoadRequest) -> ImageSet:
        data_dir = request.local_dir(self.name)
        if request.download and not (data_dir / PYTHON_FOLDER).is_dir() and not (data_dir / BINARY_FOLDER).is_dir():
            _download(data_dir)
        try:
            images, labels = read_split(data_dir, request.split)
        except FileNotFoundError as exc:
            raise ZooError(f"CIFAR-10 not found in {data_dir / PYTHON_FOLDER}/ ({exc}); pass --download to fetch it into {data_dir}") from None
        return ImageSet(
            self.name,
            request.split,
            to_uint8_images(torch.from_numpy(np.ascontiguousarray(images)), request.image_size, request.channels),
            torch.from_numpy(labels),
            num_classes=len(CLASS_NAMES),
            class_names=CLASS_NAMES,
        )


def _download(data_dir: Path) -> None:
    """The python version from its authors' site, checked against its published md5."""
    from torchvision.datasets import CIFAR10 as Reference
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(Reference.url, str(data_dir), filename=Reference.filename, md5=Reference.tgz_md5)
    except (RuntimeError, OSError) as exc:  # a failed download (URLError) or a bad archive
        raise ZooError(f"could not download CIFAR-10 into {data_dir}: {one_line(exc)}") from exc
