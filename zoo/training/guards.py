"""What the trainer watches for in every run: divergence, and signs of mode collapse.

* Divergence: a non-finite loss (checked every step) or parameter (checked at every log line
  and before every checkpoint) stops the run with :class:`Diverged`. Nothing is saved after
  it, so the newest checkpoint is the last good one.
* Collapse, logged as warnings (``"event": "warning"`` in ``metrics.jsonl``) but not stopped:
  a discriminator right about nearly every image for many steps in a row (from a
  ``d_accuracy`` loss entry, which the shared GAN step reports), and samples whose mean
  pairwise distance falls below a fraction of the data's (the fixed-seed sample grid, each
  time it is drawn).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.contract import Model
from zoo.errors import ZooError

D_PINNED = 0.99
"""Discriminator accuracy at or above this counts as pinned."""
DIVERSITY_IMAGES = 64


class Diverged(ZooError):
    """Training produced a non-finite loss or parameter."""

    every_rank = True  # the ranks' losses are averaged, and their parameters kept equal


def nonfinite_losses(losses: dict[str, float]) -> list[str]:
    return [key for key, value in losses.items() if not math.isfinite(value)]


@torch.no_grad()
def nonfinite_parameter(model: Model) -> str | None:
    """The name of the first parameter holding a NaN or an infinity, else None."""
    for module_name, module in model.modules.items():
        for name, parameter in module.named_parameters():
            if not bool(torch.isfinite(parameter).all()):
                return f"{module_name}.{name}"
    return None


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of images in [0, 1]: low when they look alike."""
    return float(torch.pdist(images.flatten(1).float()).mean())


class CollapseWatch:
    def __init__(self, data_images: torch.Tensor, patience: int, floor: float) -> None:
        """``data_images``: a fixed sample of the real images, floats in [0, 1]."""
        self.patience, self.floor = patience, floor
        self.reference = mean_pairwise_distance(data_images[:DIVERSITY_IMAGES].cpu())
        self._pinned_since: int | None = None
        self._warned_pinned = False

    def after_step(self, step: int, losses: dict[str, float]) -> dict[str, Any] | None:
        """A warning entry the first time the discriminator has been pinned for ``patience`` steps."""
        accuracy = losses.get("d_accuracy")
        if accuracy is None:
            return None
        if accuracy < D_PINNED:
            self._pinned_since, self._warned_pinned = None, False
            return None
        if self._pinned_since is None:
            self._pinned_since = step
        if not self._warned_pinned and step - self._pinned_since + 1 >= self.patience:
            self._warned_pinned = True
            return {
                "event": "warning",
                "kind": "discriminator_pinned",
                "step": step,
                "since_step": self._pinned_since,
                "message": (
                    f"step {step}: the discriminator has been right about {D_PINNED:.0%} or more of its images since "
                    f"step {self._pinned_since}; the generator may have collapsed or stopped learning"
                ),
            }
        return None

    def after_samples(self, step: int, samples: torch.Tensor) -> list[dict[str, Any]]:
        """The diversity of the fixed-seed samples, and a warning when it is below the floor."""
        diversity = mean_pairwise_distance(samples[:DIVERSITY_IMAGES])
        ratio = diversity / self.reference if self.reference > 0 else math.inf
        entries: list[dict[str, Any]] = [
            {"event": "diversity", "step": step, "sample_diversity": diversity, "data_diversity": self.reference, "ratio": ratio}
        ]
        if ratio < self.floor:
            entries.append(
                {
                    "event": "warning",
                    "kind": "low_diversity",
                    "step": step,
                    "ratio": ratio,
                    "message": (
                        f"step {step}: samples are {ratio:.0%} as diverse as the data (mean pairwise distance "
                        f"{diversity:.3g} vs {self.reference:.3g}, floor {self.floor:.0%}): a sign of mode collapse"
                    ),
                }
            )
        return entries
