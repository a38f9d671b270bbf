"""Frame sequences as sequence models see and show them: cut into context and target, and
truth laid beside forecast for a GIF or a PNG strip. Shared by training previews, ``zoo
sample``, the report and the forecast scores."""

from __future__ import annotations

import torch


def split(frames: torch.Tensor, context_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, T, C, H, W)`` -> the first ``context_frames`` frames and the rest."""
    return frames[:, :context_frames], frames[:, context_frames:]


def side_by_side(frames: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Truth and forecast as one animation: ``(T, 2N, C, H, W)``, each truth sequence followed
    by the same context continued by the model, so a 2-column grid shows them side by side."""
    context_frames = frames.shape[1] - prediction.shape[1]
    continued = torch.cat([frames[:, :context_frames], prediction], dim=1)
    pairs = torch.stack([frames, continued], dim=1)  # (N, 2, T, C, H, W)
    return pairs.flatten(0, 1).transpose(0, 1)


def strip(frames: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """For a PNG with one row per sequence of truth, then one of context + forecast: ``(2N*T, C, H, W)``."""
    return side_by_side(frames, prediction).transpose(0, 1).flatten(0, 1)
