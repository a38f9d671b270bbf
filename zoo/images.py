"""Torch images as files: PNG grids (torchvision's save_image) and GIFs, written atomically,
and frame sequences read from a GIF or a folder.

The torch-free runtime has its own numpy grid writer, :func:`zoo.runtime.save_grid`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from zoo import runtime
from zoo.atomic import atomic_path


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write images in [0, 1] as one PNG grid, atomically, each tile ``scale`` times enlarged."""
    nrow = nrow or max(1, int(round(len(images) ** 0.5)))
    if scale != 1:
        images = images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    with atomic_path(path) as tmp:
        save_image(images, tmp, nrow=nrow, padding=2, format="png")
    return path


def tile(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """Images ``(N, C, H, W)`` as one ``(C, H', W')`` grid, laid out as :func:`save_grid` does."""
    nrow = nrow or max(1, int(round(len(images) ** 0.5)))
    grid = make_grid(images, nrow=nrow, padding=2)
    return grid[: images.shape[1]]  # make_grid turns one channel into three


PROGRESS_BAR_HEIGHT = 3
"""Pixels (after enlarging) of the bar under each frame that ``progress=True`` adds."""


def save_animation(frames: torch.Tensor, path: Path, frame_ms: int = 100, loop: bool = True, progress: bool = False, scale: int | None = None) -> Path:
    """Write ``(T, C, H, W)`` frames in [0, 1] as an animated GIF (Pillow), atomically, enlarged
    by ``scale`` or by :func:`zoo.runtime.display_scale`'s rule.

    ``progress`` adds a bar under each frame, t/T of the width at frame t. Besides showing the
    step, it keeps every frame: Pillow merges a frame identical to the one before into it, so
    a step that changed nothing visible would otherwise leave fewer than T frames.
    """
    t, c, h, w = frames.shape
    scale = runtime.display_scale(max(h, w), scale)
    if progress:
        scale = max(scale, -(-t // w))  # one pixel of bar or more per frame, so bars differ
    pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    if progress:
        width = w * scale
        bar = torch.zeros(t, c, PROGRESS_BAR_HEIGHT, width, dtype=torch.uint8)
        for i in range(t):
            bar[i, :, 1:, : round(width * (i + 1) / t)] = 255  # a dark row, then the bar
        pixels = torch.cat([pixels, bar], dim=2)
    return runtime.save_gif(pixels.numpy(), path, frame_ms=frame_ms, loop=loop)


def read_frames(path: Path, channels: int, size: int) -> torch.Tensor:
    """A GIF's frames or a folder's images as floats in [0, 1], ``(T, channels, size, size)``."""
    return torch.from_numpy(runtime.read_frames(path, channels, size))

