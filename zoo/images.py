"""Sample grids of torch images as PNG files (torchvision's save_image), written atomically.

The torch-free runtime has its own numpy grid writer, :func:`zoo.runtime.save_grid`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image

from zoo.atomic import atomic_path


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    """Write images in [0, 1] as one PNG grid, atomically."""
    nrow = nrow or max(1, int(round(len(images) ** 0.5)))
    with atomic_path(path) as tmp:
        save_image(images, tmp, nrow=nrow, padding=2, format="png")
    return path
