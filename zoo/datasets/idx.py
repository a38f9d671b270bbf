"""MNIST and Fashion-MNIST, read straight from their idx files (gzipped or not).

Under ``--data-dir DIR`` a split's two files are looked for flat in ``DIR`` (as they are
distributed) and in torchvision's layout ``DIR/MNIST/raw`` (``DIR/FashionMNIST/raw``).
Both datasets use the same file names, so in the flat layout the folder alone says which
one is read: point ``fashion-mnist`` at a folder of Fashion-MNIST files.

With only the test files present, both splits are carved from them (see :meth:`IdxDataset.carve`).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, one_line, to_uint8_images
from zoo.errors import ZooError

CARVED_TEST_FRACTION = 0.1
"""When only the test files are present, this part of them is the test split (1,000 of MNIST's 10,000)."""
_UBYTE = 0x08
"""The idx type code for unsigned bytes, the only one MNIST-style files use."""


MAX_IDX_BYTES = 2 * 1024**3
"""The largest payload an idx header may announce (MNIST's train images are 47 MB)."""


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array in an idx file with ``ndim`` dimensions; ``ZooError`` if malformed.

    The header is read and checked first, and then exactly the bytes it announces (and one
    more, to tell a file that runs on): a gzip bomb is never decompressed past its header.
    """
    header = 4 + 4 * ndim
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(header)
            dims = _check_header(path, head, ndim)
            expected = int(np.prod(dims, dtype=np.int64))
            data = f.read(expected + 1)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ZooError(f"cannot read idx file {path}: {exc}") from exc
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ZooError(f"idx file {path} is {state}: expected {expected + header} bytes for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _check_header(path: Path, head: bytes, ndim: int) -> tuple[int, ...]:
    if len(head) < 4 + 4 * ndim:
        raise ZooError(f"idx file {path} is truncated: {len(head)} bytes, shorter than its header")
    if head[0] != 0 or head[1] != 0 or head[2] != _UBYTE or head[3] != ndim:
        raise ZooError(
            f"{path} is not an idx file of unsigned bytes with {ndim} dimension(s): magic number {head[:4].hex()}, "
            f"expected 0000{_UBYTE:02x}{ndim:02x}"
        )
    dims = tuple(int(d) for d in np.frombuffer(head, dtype=">u4", count=ndim, offset=4))
    if int(np.prod(dims, dtype=np.float64)) > MAX_IDX_BYTES:
        raise ZooError(f"idx file {path} announces shape {dims}, over {MAX_IDX_BYTES:,} bytes; it is damaged or not an image set")
    return dims


class IdxDataset(DatasetSource):
    """A 28x28 greyscale, 10-class dataset distributed as MNIST-style idx files."""

    default_size = 28
    default_channels = 1
    torchvision_name: ClassVar[str]
    """The torchvision dataset class, which is also its folder: ``DIR/<name>/raw``."""
    url: ClassVar[str]
    prefixes: ClassVar[dict[str, str]] = {"train": "train", "test": "t10k"}

    def load(self, request: LoadRequest) -> ImageSet:
        data_dir = request.local_dir(self.name)
        files = self.find(data_dir, request.split)
        if files is None and request.download:
            self.download(data_dir, request.split)
            files = self.find(data_dir, request.split)
        if self.find(data_dir, "train") is None and (test_files := self.find(data_dir, "test")):
            return self.carve(test_files, request)
        if files is None:
            raise ZooError(self.missing_message(data_dir, request.split))
        images, labels = self.read(files, request)
        return ImageSet(self.name, request.split, images, labels, num_classes=10)

    def carve(self, test_files: tuple[Path, Path], request: LoadRequest) -> ImageSet:
        """Both splits from the test files alone: a fixed 90% as ``train``, the other 10% as ``test``.

        The split is ``numpy.random.RandomState(0).permutation`` of the test images (a stream
        numpy keeps stable), so runs trained on ``train`` are evaluated on images they never saw.
        """
        images, labels = self.read(test_files, request)
        order = torch.from_numpy(np.random.RandomState(0).permutation(len(images)))
        held_out = max(1, round(len(images) * CARVED_TEST_FRACTION))
        index = order[-held_out:] if request.split == "test" else order[:-held_out]
        note = (
            f"{self.name} has only its test split in {request.data_dir}; using a fixed {len(images) - held_out:,} "
            f"of its {len(images):,} images as train and the other {held_out:,} as test (this is the {request.split} part)"
        )
        return ImageSet(self.name, request.split, images[index], labels[index], num_classes=10, note=note)

    def read(self, files: tuple[Path, Path], request: LoadRequest) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, label_path = files
        raw = read_idx(image_path, 3)
        labels = read_idx(label_path, 1)
        if len(raw) != len(labels):
            raise ZooError(f"{image_path} holds {len(raw)} images but {label_path} holds {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise ZooError(f"{label_path} holds label {labels.max()}; {self.name} labels are 0-9")
        images = to_uint8_images(torch.from_numpy(raw.copy()).unsqueeze(1), request.image_size, request.channels)
        return images, torch.from_numpy(labels.astype(np.int64))

    def folders(self, data_dir: Path) -> list[Path]:
        return [data_dir, data_dir / self.torchvision_name / "raw"]

    def stems(self, split: str) -> tuple[str, str]:
        prefix = self.prefixes[split]
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def find(self, data_dir: Path, split: str) -> tuple[Path, Path] | None:
        """The split's (images, labels) files in the first folder holding both, else None."""
        for folder in self.folders(data_dir):
            found = [self._either(folder, stem) for stem in self.stems(split)]
            if found[0] is not None and found[1] is not None:
                return found[0], found[1]
        return None

    @staticmethod
    def _either(folder: Path, stem: str) -> Path | None:
        for name in (f"{stem}.gz", stem):
            if (folder / name).is_file():
                return folder / name
        return None

    def missing_message(self, data_dir: Path, split: str) -> str:
        stems = self.stems(split)
        looked = ", ".join(str(folder / f"{stem}[.gz]") for folder in self.folders(data_dir) for stem in stems)
        return (
            f"{self.name} {split} split not found: looked for {looked}; "
            f"download the idx files from {self.url} into {data_dir}, or pass --download"
        )

    def download(self, data_dir: Path, split: str) -> None:
        """Fetch the split with torchvision into ``DIR/<torchvision_name>/raw``."""
        from torchvision import datasets

        try:
            getattr(datasets, self.torchvision_name)(root=str(data_dir), train=split == "train", download=True)
        except (RuntimeError, OSError) as exc:  # URLError is an OSError
            raise ZooError(f"could not download {self.name} into {data_dir}: {one_line(exc)}") from exc


class MNIST(IdxDataset):
    """The MNIST handwritten digits: 60,000 train and 10,000 test images, 28x28, labels 0-9."""

    name = "mnist"
    labelled = True
    summary = "MNIST handwritten digits, 28x28 greyscale, 10 classes (idx files under --data-dir)"
    torchvision_name = "MNIST"
    url = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class FashionMNIST(IdxDataset):
    """Zalando's Fashion-MNIST clothing images: 60,000 train and 10,000 test, 28x28, 10 classes."""

    name = "fashion-mnist"
    labelled = True
    summary = "Fashion-MNIST clothing images, 28x28 greyscale, 10 classes (idx files under --data-dir)"
    torchvision_name = "FashionMNIST"
    url = "https://github.com/zalandoresearch/fashion-mnist"
