"""``folder:PATH``: a directory of images as users keep them.

Labels follow torchvision's ``ImageFolder`` convention: when every image lies under a
subfolder of ``PATH`` (``PATH/<class>/*.jpg``), the subfolders are the classes, in sorted
order, and the class names travel with the run. A folder holding images directly is one
unlabelled set.

Splits: ``PATH/train`` (and ``PATH/test`` when present) are used as they are. Otherwise the
``test`` split is a fixed one image in ten of each class, chosen by a permutation seeded with
:data:`SPLIT_SEED` over the sorted paths, so every load and every machine holds out the same
images; ``train`` is the rest. The split is made from the listing, before any image is
decoded, so skipping an unreadable file never moves another image between splits.

Images are decoded in parallel (DataLoader workers) with a progress bar on a terminal.
An unreadable file is an error naming it and the count, unless ``--skip-bad-images`` asks to
train without them (the run's note says how many and which).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, one_line
from zoo.errors import UsageError, ZooError
from zoo.runtime import open_image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLIT_SEED = 0
TEST_EVERY = 10
"""One image in ``TEST_EVERY`` of each class is held out when the folder has no ``test/``."""
PARALLEL_FROM = 256
"""Folders with fewer images decode in the main process: starting workers costs more."""
DECODE_BATCH = 64


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (any depth, extension case ignored), in sorted path order."""
    found = [p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


@dataclasses.dataclass(frozen=True)
class FolderSplit:
    """The files of one split of a folder, and their labels, before any is decoded."""

    paths: list[Path]
    labels: list[int] | None
    class_names: tuple[str, ...]
    how: str
    """How the split was made, for the run's note."""


def list_split(root: Path, split: str, label: str) -> FolderSplit:
    """The files of ``split`` under ``root``; ``label`` (``folder:PATH``) names it in errors."""
    if not root.is_dir():
        state = "is not a directory" if root.exists() else "does not exist"
        raise ZooError(f"{label}: {root} {state}")
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir():
        class_names = _classes(train_dir)
        if test_dir.is_dir():
            base = train_dir if split == "train" else test_dir
            paths, labels = _listing(base, class_names if class_names else None, label, known=class_names)
            return FolderSplit(paths, labels, class_names, f"{split}/ as given")
        root = train_dir
    class_names = _classes(root)
    paths, labels = _listing(root, class_names if class_names else None, label)
    train, test = _hold_out(paths, labels)
    chosen = train if split == "train" else test
    if split == "test" and not chosen:
        raise ZooError(
            f"{label}: {len(paths)} images are too few to hold out a test split (one in {TEST_EVERY} of each class); "
            f"add images or give {root}/test"
        )
    return FolderSplit(
        [paths[i] for i in chosen],
        None if labels is None else [labels[i] for i in chosen],
        class_names,
        f"{split}: {len(chosen)} of {len(paths)} images, one in {TEST_EVERY} of each class held out for test (seed {SPLIT_SEED})",
    )


def _classes(root: Path) -> tuple[str, ...]:
    """Class folder names if every image under ``root`` lies in a subfolder, else ``()``."""
    if any(p.suffix.lower() in EXTENSIONS and p.is_file() for p in root.iterdir()):
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))


def _listing(root: Path, class_names: tuple[str, ...] | None, label: str, known: tuple[str, ...] = ()) -> tuple[list[Path], list[int] | None]:
    if class_names is None:
        paths = find_images(root)
        if not paths:
            raise ZooError(f"{label}: no images found under {root} (looked for {', '.join(EXTENSIONS)} at any depth)")
        return paths, None
    names = _classes(root) if known else class_names
    unknown = sorted(set(names) - set(class_names))
    if unknown:
        raise ZooError(f"{label}: {root} has class folders that train/ lacks: {', '.join(unknown[:5])}; give both splits the same classes")
    index = {name: i for i, name in enumerate(class_names)}
    paths: list[Path] = []
    labels: list[int] = []
    for name in names:
        found = find_images(root / name)
        if not found:
            raise ZooError(f"{label}: class folder {root / name} holds no images; add images to it or remove it")
        paths += found
        labels += [index[name]] * len(found)
    if not paths:
        raise ZooError(f"{label}: no images found under {root} (looked for {', '.join(EXTENSIONS)} at any depth)")
    return paths, labels


def _hold_out(paths: list[Path], labels: list[int] | None) -> tuple[list[int], list[int]]:
    """Indices of the train and test images: one in TEST_EVERY of each class, seeded."""
    groups: dict[int, list[int]] = {}
    for i in range(len(paths)):
        groups.setdefault(0 if labels is None else labels[i], []).append(i)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    test: list[int] = []
    for members in groups.values():
        order = torch.randperm(len(members), generator=generator).tolist()
        test += [members[j] for j in order[: len(members) // TEST_EVERY]]
    held = set(test)
    return [i for i in range(len(paths)) if i not in held], sorted(test)


class ImageFolder(DatasetSource):
    """Images read from ``PATH``, with labels from class subfolders (see the module docstring).

    Each image is scaled so its short side is the target size, centre-cropped to a square,
    and converted to greyscale or RGB as asked (alpha is dropped).
    """

    name = "folder"
    summary = "images under a directory: folder:PATH (class subfolders give labels; train/ and test/ or a 1-in-10 hold-out)"
    default_size = 64
    default_channels = 3
    needs_data_dir = False
    takes_argument = True

    @classmethod
    def canonical_argument(cls, argument: str) -> str:
        return str(Path(argument).expanduser().resolve())

    def load(self, request: LoadRequest) -> ImageSet:
        name, label, listing = self._listing(request)
        images, kept, failures = decode_all(listing.paths, request.image_size, request.channels, label)
        return self._part(name, request, listing, images, kept, _note(label, listing, failures, request.skip_bad_images))

    def pieces(self, request: LoadRequest) -> Iterator[ImageSet]:
        name, label, listing = self._listing(request)
        failures: list[tuple[Path, str]] = []
        images, kept = [], []
        for i, image, error in decode(listing.paths, request.image_size, request.channels, label):
            if error is not None:
                failures.append((listing.paths[i], error))
                continue
            images.append(image)
            kept.append(i)
            if len(images) == PIECE:
                yield self._part(name, request, listing, _stack(images), kept, "")
                images, kept = [], []
        note = _note(label, listing, failures, request.skip_bad_images)  # raises before the last part if any failed
        yield self._part(name, request, listing, _stack(images, request.image_size, request.channels), kept, note)

    def _listing(self, request: LoadRequest) -> tuple[str, str, FolderSplit]:
        if not request.argument:
            raise UsageError("dataset 'folder' needs an argument: use folder:PATH")
        label = f"folder:{request.argument}"
        listing = list_split(Path(request.argument).expanduser(), request.split, label)
        return f"folder:{self.canonical_argument(request.argument)}", label, listing

    @staticmethod
    def _part(name: str, request: LoadRequest, listing: FolderSplit, images: torch.Tensor, kept: list[int], note: str) -> ImageSet:
        labels = None if listing.labels is None else torch.tensor([listing.labels[i] for i in kept], dtype=torch.long)
        return ImageSet(name, request.split, images, labels, num_classes=len(listing.class_names), note=note, class_names=listing.class_names)


PIECE = 4096
"""Images per part when a folder is written out by ``zoo data prepare`` (about 50 MB at 64 x 64 RGB)."""


def _stack(images: list[np.ndarray], size: int = 0, channels: int = 0) -> torch.Tensor:
    if not images:
        return torch.zeros((0, channels, size, size), dtype=torch.uint8)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _note(label: str, listing: FolderSplit, failures: list[tuple[Path, str]], skip: bool) -> str:
    """The split's note, or the error for files that could not be read (unless ``skip``)."""
    if not failures:
        return listing.how
    first, reason = failures[0]
    if not skip:
        raise ZooError(
            f"{label}: {len(failures)} of {len(listing.paths)} images cannot be read, the first {first}: {reason}; "
            "fix or remove them, or pass --skip-bad-images to leave them out"
        )
    return f"{listing.how}; skipped {len(failures)} unreadable images (the first {first})"


def decode_all(paths: list[Path], image_size: int, channels: int, label: str) -> tuple[torch.Tensor, list[int], list[tuple[Path, str]]]:
    """Every image at ``paths`` as uint8 ``(N, C, S, S)``, the indices that decoded, and the
    ``(path, reason)`` of those that did not."""
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    kept: list[int] = []
    failures: list[tuple[Path, str]] = []
    for i, image, error in decode(paths, image_size, channels, label):
        if error is None:
            out[len(kept)] = image
            kept.append(i)
        else:
            failures.append((paths[i], error))
    images = torch.from_numpy(out[: len(kept)]).permute(0, 3, 1, 2).contiguous()
    return images, kept, failures


def decode(paths: list[Path], image_size: int, channels: int, label: str = "") -> Iterator[tuple[int, np.ndarray | None, str | None]]:
    """``(index, HWC uint8 image or None, error or None)`` for every path, in order.

    Large folders are decoded by DataLoader workers, a batch of files each at a time; a
    progress bar shows on a terminal.
    """
    from tqdm import tqdm

    workers = decode_workers() if len(paths) >= PARALLEL_FROM else 0
    loader = torch.utils.data.DataLoader(
        _Decoder(paths, image_size, channels),
        batch_size=DECODE_BATCH,
        num_workers=workers,
        collate_fn=list,
    )
    with tqdm(total=len(paths), desc=f"reading {label or 'images'}", unit="img", disable=None, leave=False) as bar:
        for chunk in loader:
            yield from chunk
            bar.update(len(chunk))


def decode_workers() -> int:
    """Processes that decode a folder: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


class _Decoder(torch.utils.data.Dataset):
    def __init__(self, paths: list[Path], image_size: int, channels: int) -> None:
        self.paths, self.image_size, self.channels = paths, image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return i, _read(self.paths[i], self.image_size, self.channels)[0], None
        except ZooError as exc:  # the reason alone: the caller names the file
            reason = str(exc.__cause__) if exc.__cause__ else str(exc).removeprefix(f"{self.paths[i]} ")
            return i, None, " ".join(reason.split())


def read_images(paths: list[Path], image_size: int, channels: int) -> tuple[torch.Tensor, int]:
    """The images at ``paths`` as uint8 ``(N, C, S, S)``, and how many had to be resized."""
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    resized = 0
    for i, path in enumerate(paths):
        out[i], was_resized = _read(path, image_size, channels)
        resized += was_resized
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), resized


def read_input(path: str | Path, image_size: int, channels: int) -> tuple[torch.Tensor, list[Path], int]:
    """``--input``: one image file or every image under a folder, as :func:`read_images` gives them.

    Returns the images, their paths and the number resized; a path that is missing, holds no
    images or is not an image is a one-line :class:`~zoo.errors.UsageError`.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        paths = find_images(path)
        if not paths:
            raise UsageError(f"--input {path} holds no images (looked for {', '.join(EXTENSIONS)} at any depth)")
    elif path.is_file():
        paths = [path]
    else:
        raise UsageError(f"--input {path} does not exist; give an image file or a folder of images")
    try:
        images, resized = read_images(paths, image_size, channels)
    except ZooError as exc:
        raise UsageError(f"{exc}; --input takes {', '.join(EXTENSIONS)} images") from None
    return images, paths, resized


def _read(path: Path, image_size: int, channels: int) -> tuple[np.ndarray, bool]:
    from PIL import Image, ImageOps

    try:
        with open_image(path) as img:  # its size checked from the header, before a pixel is decoded
            resized = img.size != (image_size, image_size)
            img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
            if img.mode.startswith("I;16"):
                # Pillow clips 16-bit greyscale to 255 when converting; keep the high byte instead
                img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8))
            img = img.convert("RGB" if channels == 3 else "L")
            img = ImageOps.fit(img, (image_size, image_size), method=Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # Pillow: SyntaxError for a broken PNG
        raise ZooError(f"cannot read image {path}: {one_line(exc)}") from exc
    return np.asarray(img).reshape(image_size, image_size, channels), resized
