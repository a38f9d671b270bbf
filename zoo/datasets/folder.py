"""``folder:PATH``: every image file under a directory, as one unlabelled training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest
from zoo.errors import UsageError, ZooError
from zoo.runtime import open_image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (any depth, extension case ignored), in sorted path order."""
    found = [p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class ImageFolder(DatasetSource):
    """Images read from ``PATH`` recursively, sorted by path so every load has the same order.

    Each image is scaled so its short side is the target size, centre-cropped to a square,
    and converted to greyscale or RGB as asked (alpha is dropped). There is one split,
    ``train``, holding every image; there are no labels.
    """

    name = "folder"
    summary = "every .png/.jpg/.jpeg/.bmp/.webp under a directory: folder:PATH (unlabelled)"
    default_size = 64
    default_channels = 3
    splits = ("train",)
    needs_data_dir = False
    takes_argument = True

    def load(self, request: LoadRequest) -> ImageSet:
        if not request.argument:
            raise UsageError("dataset 'folder' needs an argument: use folder:PATH")
        root = Path(request.argument).expanduser()
        if not root.is_dir():
            state = "is not a directory" if root.exists() else "does not exist"
            raise ZooError(f"folder:{request.argument}: {root} {state}")
        paths = find_images(root)
        if not paths:
            raise ZooError(f"folder:{request.argument}: no images found under {root} (looked for {', '.join(EXTENSIONS)})")
        images, _ = read_images(paths, request.image_size, request.channels)
        return ImageSet(self.name, request.split, images)


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
        reason = " ".join(str(exc).split())
        raise ZooError(f"cannot read image {path}: {reason}") from exc
    return np.asarray(img).reshape(image_size, image_size, channels), resized
