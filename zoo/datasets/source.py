"""The dataset contract: a named source of images, loaded whole into one tensor.

A dataset is a :class:`DatasetSource` subclass registered under the ``zoo.datasets``
entry-point group. ``load`` returns an :class:`ImageSet`: every image of the split as one
uint8 tensor ``(N, C, H, W)`` already resized and converted to the requested channels, so
the trainer draws batches by indexing a tensor instead of running per-image Python code.

A sequence dataset returns a :class:`SequenceSet` instead: the same interface (``len``,
``spec``, ``batch``, ``to``), with batches of frames ``(N, T, C, H, W)`` that it may make on
the fly, and ``spec.frames = T``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Iterable, Iterator

import torch
import torch.nn.functional as F

from zoo.contract import Batch, DataSpec
from zoo.errors import UsageError


@dataclasses.dataclass
class ImageSet:
    """All images of one split. ``images`` is uint8 ``(N, C, H, W)``; ``labels`` int64 or None."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int = 0
    note: str = ""
    """Anything the user should know about what was loaded (e.g. a split substituted)."""
    class_names: tuple[str, ...] = ()
    """The name of each class, by label, where the source has them (``folder:`` class folders)."""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """What moving the set to a device would occupy there."""
        return self.images.numel() * self.images.element_size()

    @property
    def spec(self) -> DataSpec:
        _, c, h, w = self.images.shape
        return DataSpec(channels=c, height=h, width=w, num_classes=self.num_classes if self.labels is not None else 0)

    def to(self, device: torch.device | str) -> "ImageSet":
        labels = None if self.labels is None else self.labels.to(device)
        return dataclasses.replace(self, images=self.images.to(device), labels=labels)

    def batches(self, indices: "Iterable[torch.Tensor]") -> Iterator[Batch]:
        """:meth:`batch` of each index tensor in turn (a streamed set reads them ahead)."""
        for index in indices:
            yield self.batch(index)

    def batch(self, index: torch.Tensor) -> Batch:
        """The images at ``index`` as floats in [0, 1] (on the images' device)."""
        index = index.to(self.images.device)
        images = self.images.index_select(0, index).float().div_(255.0)
        labels = None if self.labels is None else self.labels.index_select(0, index)
        return Batch(images=images, labels=labels)


class SequenceSet(ABC):
    """All sequences of one split, each ``frames`` frames of ``(C, H, W)``, unlabelled.

    Subclasses say how sequence ``i`` is made (:meth:`frames_at`); it must be a pure function
    of ``i``, so that a split is the same on every call and every machine.
    """

    name: str
    split: str
    note: str = ""
    labels: None = None
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def spec(self) -> DataSpec:
        """The frame shape, with ``frames`` set."""

    @abstractmethod
    def frames_at(self, index: torch.Tensor) -> torch.Tensor:
        """Sequences ``index`` as uint8 ``(len(index), T, C, H, W)`` on the CPU."""

    @property
    def nbytes(self) -> int:
        return 0  # made on the fly: nothing to move ahead of time

    def to(self, device: torch.device | str) -> "SequenceSet":
        return self

    def batches(self, indices: "Iterable[torch.Tensor]") -> Iterator[Batch]:
        for index in indices:
            yield self.batch(index)

    def batch(self, index: torch.Tensor) -> Batch:
        """Sequences ``index`` as floats in [0, 1], ``(N, T, C, H, W)``, on the CPU."""
        return Batch(images=self.frames_at(index.cpu()).float().div_(255.0))


def in_order(data: "ImageSet | SequenceSet", batch_size: int) -> Iterator[Batch]:
    """Every example of ``data`` once, in order, ``batch_size`` at a time (the last may be smaller)."""
    for start in range(0, len(data), batch_size):
        yield data.batch(torch.arange(start, min(start + batch_size, len(data))))


@dataclasses.dataclass(frozen=True)
class LoadRequest:
    """What a source is asked to load; :func:`zoo.datasets.load_dataset` fills in the defaults."""

    split: str
    image_size: int
    """Side length of the square images to return."""
    channels: int
    data_dir: Path | None = None
    download: bool = False
    argument: str | None = None
    """The ``ARGUMENT`` of ``NAME:ARGUMENT`` names (``folder:PATH``), else None."""
    skip_bad_images: bool = False
    """Leave out files that cannot be decoded (and say so in the note) instead of failing."""
    residency: str = "auto"
    """``auto``, ``memory`` or ``stream``: for sources that can stream (``streams``)."""

    def local_dir(self, dataset: str) -> Path:
        """``data_dir``, for a source that reads local files (``load_dataset`` asks for it first;
        this covers a source loaded directly)."""
        if self.data_dir is None:
            raise UsageError(f"dataset {dataset!r} is read from local files: pass --data-dir DIR")
        return self.data_dir


def one_line(exc: BaseException) -> str:
    """An exception's message on one line: torchvision's and Pillow's often span several."""
    return " ".join(str(exc).split()) or type(exc).__name__


class DatasetSource(ABC):
    """A dataset the zoo can load. Subclass it and register the class as an entry point."""

    name: ClassVar[str]
    summary: ClassVar[str]
    default_size: ClassVar[int]
    """Side length images are resized to unless ``--image-size`` says otherwise."""
    default_channels: ClassVar[int]
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    """The splits ``load`` accepts; ``()`` when they vary from one set to another (``prepared:``)."""
    needs_data_dir: ClassVar[bool] = True
    takes_argument: ClassVar[bool] = False
    """True for sources named ``NAME:ARGUMENT`` (``folder:PATH``)."""
    default_argument: ClassVar[str | None] = None
    """The ``ARGUMENT`` used when the name has none; None: the argument is required."""
    streams: ClassVar[bool] = False
    """True if ``load`` can return a set read from disk batch by batch (``residency``)."""
    kind: ClassVar[str] = "images"
    """What ``load`` returns: ``"images"`` (an :class:`ImageSet`) or ``"sequences"`` (a :class:`SequenceSet`)."""
    labelled: ClassVar[bool | None] = None
    """Whether its images carry class labels; None where that depends on the set (``folder:``
    class subfolders). ``zoo info`` reads these two, before loading anything, to list the
    datasets a model accepts (:func:`zoo.models.dataset_refusal`)."""

    @classmethod
    def canonical_argument(cls, argument: str) -> str:
        """``argument`` as a run records it, so that it means the same from any folder (a path
        made absolute). The default keeps it as given."""
        return argument

    @abstractmethod
    def load(self, request: LoadRequest) -> "ImageSet | SequenceSet":
        """Read ``request.split``, resized to ``request.image_size`` squared with ``request.channels``."""

    def pieces(self, request: LoadRequest) -> Iterator[ImageSet]:
        """The split as consecutive parts, for ``zoo data prepare`` to write out one at a time.

        The default is one part, the whole :meth:`load`; a source of sets larger than memory
        (``folder:``) yields them a bounded number of images at a time. The last part's
        ``note`` is the split's.
        """
        yield self.load(request)


def to_uint8_images(images: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` images (uint8, or floats in [0, 1]) and convert their channels.

    Greyscale to colour repeats the channel; colour to greyscale uses ITU-R 601 luma weights.
    Works in chunks so that large uint8 datasets never exist whole as floats.
    """
    chunks = [_convert(part, image_size, channels) for part in images.split(1024)]
    return torch.cat(chunks) if chunks else images.new_zeros((0, channels, image_size, image_size), dtype=torch.uint8)


def _convert(images: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] != channels:
        if x.shape[1] == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 3 and channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
            x = (x * weights).sum(dim=1, keepdim=True)
        else:
            raise ValueError(f"cannot convert {x.shape[1]} channels to {channels}")
    if x.shape[-2:] != (image_size, image_size):
        # antialias only matters when shrinking; bilinear keeps upscaled 8x8 digits smooth
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
