"""An exponential moving average of the generator's weights, with the decay warmed up.

``torch.optim.swa_utils.AveragedModel`` does the averaging; this supplies its update. A
constant decay of 0.999 keeps 0.999^n of the weights from n updates ago, which after a short
run is mostly the untrained generator (55% after 600 steps). As TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` does, the decay used at update n is
min(decay, (1 + n) / (10 + n)): it starts near 0.1, is 0.985 by step 600 and reaches 0.999
only after about 9,000 steps.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch import nn


def warmed_up_decay(decay: float, updates: int) -> float:
    return min(decay, (1 + updates) / (10 + updates))


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """A ``multi_avg_fn`` for AveragedModel: the library's EMA step at the warmed-up decay."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        get_ema_multi_avg_fn(warmed_up_decay(decay, int(num_averaged)))(averaged, current, num_averaged)

    return update


def averaged(generator: nn.Module, decay: float) -> AveragedModel:
    """The EMA copy of ``generator`` (buffers too, so BatchNorm statistics are averaged alike)."""
    return AveragedModel(generator, multi_avg_fn=ema_update(decay), use_buffers=True)
