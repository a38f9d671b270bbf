"""What the trainer watches for in every run: divergence, and runs going wrong early.

* Divergence: a non-finite loss (checked every step) or parameter (checked at every log line
  and before every checkpoint) stops the run with :class:`Diverged`. Nothing is saved after
  it, so the newest checkpoint is the last good one.
* Runs going wrong, logged as warnings (``"event": "warning"`` in ``metrics.jsonl``) but not
  stopped, each checked when the fixed-seed sample grid is drawn:

  - a discriminator right about nearly every image for many steps in a row;
  - samples whose mean pairwise distance falls below a fraction of the data's;
  - a posterior that has collapsed: a KL to the prior near zero, or reconstructions of
    different images that all look alike;
  - at the end of training, samples farther from every real image than real images are
    from each other: the model has not learned the data yet.

The watch knows no architecture. It reads the family from the losses a model reports: a
``loss_d`` makes it adversarial (its warnings speak of a generator and a discriminator), a
``kl`` variational (a decoder and a posterior), and a model may be both (VAE-GAN).
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
"""Real images the samples are compared with; as many again, when the data has them, set the scale of 'near'."""
KL_COLLAPSED = 0.5
"""Nats per image: a mean KL to the prior below this means the latent code carries next to nothing."""
UNLIKE_DATA = 2.0
"""A final grid whose images lie this many times farther from their nearest real image than
held-out real images do counts as unlike the data (healthy runs measure about 1, a generator
still drawing noise about 3)."""


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


def mean_nearest_distance(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean Euclidean distance from each image to its nearest image of ``reference``."""
    return float(torch.cdist(images.flatten(1).float(), reference.flatten(1).float()).min(1).values.mean())


class CollapseWatch:
    def __init__(self, data_images: torch.Tensor, patience: int, floor: float) -> None:
        """``data_images``: a fixed sample of the real images, floats in [0, 1]; the first
        :data:`DIVERSITY_IMAGES` are the reference, the next as many (if any) held out."""
        self.patience, self.floor = patience, floor
        data_images = data_images.cpu()
        self.real = data_images[:DIVERSITY_IMAGES]
        self.reference = mean_pairwise_distance(self.real)
        held_out = data_images[DIVERSITY_IMAGES : 2 * DIVERSITY_IMAGES]
        # the scale of "near the data": how far held-out real images lie from the reference
        self.real_nearest = mean_nearest_distance(held_out, self.real) if len(held_out) >= 8 else None
        self.adversarial = self.variational = False
        self._pinned_since: int | None = None
        self._warned_pinned = False
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def after_step(self, step: int, losses: dict[str, float]) -> dict[str, Any] | None:
        """A warning entry the first time the discriminator has been pinned for ``patience`` steps."""
        self.adversarial |= "loss_d" in losses
        self.variational |= "kl" in losses
        for key in ("d_accuracy", "kl"):
            if key in losses:
                self._sums[key] = self._sums.get(key, 0.0) + float(losses[key])
                self._counts[key] = self._counts.get(key, 0) + 1
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

    def _recent(self, key: str) -> float | None:
        """The mean of ``key`` over the steps since the last grid."""
        return self._sums[key] / self._counts[key] if self._counts.get(key) else None

    def after_samples(
        self, step: int, samples: torch.Tensor, reconstructions: torch.Tensor | None = None, final: bool = False
    ) -> list[dict[str, Any]]:
        """The diversity event of this grid, then its warnings.

        ``reconstructions``: a model with an encoder's reconstructions of the reference images;
        ``final``: the grid of the last step, where samples unlike the data are warned about.
        """
        samples = samples[:DIVERSITY_IMAGES].cpu()
        diversity = mean_pairwise_distance(samples)
        ratio = diversity / self.reference if self.reference > 0 else math.inf
        event: dict[str, Any] = {"event": "diversity", "step": step, "sample_diversity": diversity, "data_diversity": self.reference, "ratio": ratio}
        kl, accuracy = self._recent("kl"), self._recent("d_accuracy")
        self._sums, self._counts = {}, {}
        if kl is not None:
            event["kl"] = kl
        recon_ratio = None
        if reconstructions is not None and self.reference > 0:
            recon_ratio = mean_pairwise_distance(reconstructions[: len(self.real)].cpu()) / self.reference
            event["reconstruction_ratio"] = recon_ratio
        unlike = None
        if self.real_nearest:
            unlike = mean_nearest_distance(samples, self.real) / self.real_nearest
            event["nearest_real_ratio"] = unlike
        entries = [event]

        collapsed_posterior = self.variational and (
            (kl is not None and kl < KL_COLLAPSED) or (recon_ratio is not None and recon_ratio < self.floor)
        )
        if collapsed_posterior:
            evidence = [f"the KL to the prior is {kl:.3g} nats per image"] if kl is not None else []
            if recon_ratio is not None:
                evidence.append(f"reconstructions of {len(self.real)} different images are {recon_ratio:.0%} as diverse as the images")
            entries.append(self._warning(
                step, "posterior_collapse",
                f"the posterior has collapsed: {' and '.join(evidence)}, so the decoder ignores the latent code and draws "
                "much the same image for every input; train longer, or bring the KL term in more slowly",
                kl=kl, reconstruction_ratio=recon_ratio,
            ))
        elif ratio < self.floor:
            measured = f"samples are {ratio:.0%} as diverse as the data (mean pairwise distance {diversity:.3g} vs {self.reference:.3g}, floor {self.floor:.0%})"
            if self.adversarial:
                why = "the generator maps most of its noise to one pattern: mode collapse"
            elif self.variational:
                why = "the decoder draws near-average images from the prior, which a KL weight above 1 or an under-used latent code does"
            else:
                why = "the model draws much the same image whatever its noise"
            entries.append(self._warning(step, "low_diversity", f"{measured}: {why}", ratio=ratio))
        if final and unlike is not None and unlike > UNLIKE_DATA:
            measured = (
                f"training ended with samples unlike the data: they lie {unlike:.1f} times farther from the nearest real "
                "image than held-out real images do"
            )
            if self.adversarial:
                told = f", and the discriminator told real from generated {accuracy:.0%} of the time" if accuracy is not None else ""
                why = f"{told}: the generator has not learned the data yet; train longer"
            else:
                why = ": the model has not learned the data yet; train longer"
            entries.append(self._warning(step, "unlike_data", measured + why, nearest_real_ratio=unlike))
        return entries

    @staticmethod
    def _warning(step: int, kind: str, message: str, **fields: Any) -> dict[str, Any]:
        return {"event": "warning", "kind": kind, "step": step, **{k: v for k, v in fields.items() if v is not None}, "message": f"step {step}: {message}"}
