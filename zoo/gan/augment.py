"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs trained on little data.

The same random translation, cutout and colour changes are applied to real and generated
images before the discriminator sees them, in a way gradients flow through, so D cannot
memorise the few real images and G is not taught to produce augmented ones. Images are in
[-1, 1]. Written after the authors' reference implementation (mit-han-lab/data-efficient-gans).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    for name in policy:
        x = AUGMENTATIONS[name](x)
    return x


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)  # brightness
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros."""
    n, _, h, w = x.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=x.device)
    grid_y = torch.arange(h, device=x.device).view(1, h, 1) + ty + 1
    grid_x = torch.arange(w, device=x.device).view(1, 1, w) + tx + 1
    grid_y, grid_x = grid_y.clamp(0, h + 1).expand(n, h, w), grid_x.clamp(0, w + 1).expand(n, h, w)
    padded = F.pad(x, [1, 1, 1, 1])  # the one-pixel zero border is what out-of-range shifts read
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, grid_y, grid_x].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the image size at a random place in each image."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device)
    ys = (torch.arange(size_y, device=x.device).view(1, size_y, 1) + oy - size_y // 2).clamp(0, h - 1)
    xs = (torch.arange(size_x, device=x.device).view(1, 1, size_x) + ox - size_x // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    mask[batch, ys.expand(n, size_y, size_x), xs.expand(n, size_y, size_x)] = 0
    return x * mask.unsqueeze(1)


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}
