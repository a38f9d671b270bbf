"""Torch images as files, written atomically: PNG grids (torchvision's save_image) and GIFs.

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


GIF_MIN_SIDE = 112
"""Small frames are enlarged (nearest neighbour, by a whole factor) to at least this many pixels."""


def save_animation(frames: torch.Tensor, path: Path, frame_ms: int = 100, loop: bool = True) -> Path:
    """Write ``(T, C, H, W)`` frames in [0, 1] as an animated GIF (Pillow), atomically."""
    from PIL import Image

    _, c, h, w = frames.shape
    scale = max(1, -(-GIF_MIN_SIDE // max(h, w)))
    pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    mode = "L" if c == 1 else "RGB"
    images = [Image.fromarray(p[0].numpy() if c == 1 else p.permute(1, 2, 0).numpy(), mode) for p in pixels]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0 if loop else 1, disposal=1
        )
    return path
