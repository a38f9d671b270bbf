"""The config fields every GAN plugin shares: optimiser settings and the stability options.

Imported by ``zoo list`` through the plugins' configs, so it must not import torch. A GAN
plugin's config subclasses :class:`GANConfig` and adds its own fields (widths, ...)::

    @dataclass(frozen=True)
    class DCGANConfig(GANConfig):
        generator_width: int = option(64, "...")
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; ``""`` means off."""
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in parts if p not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {', '.join(unknown)}; use a comma list of {', '.join(DIFFAUGMENT_POLICIES)}")
    return parts


@dataclass(frozen=True)
class GANConfig:
    latent_dim: int = option(100, "size of the latent vector z")
    lr_generator: float = option(2e-4, "Adam learning rate of the generator")
    lr_discriminator: float = option(
        2e-4, "Adam learning rate of the discriminator; a larger one than G's is the two time-scale rule (TTUR, Heusel et al. 2017)"
    )
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")
    ema_decay: float = option(
        0.0, "exponential moving average of the generator's weights, used to sample and export (0: off; 0.999 is usual; warmed up as min(decay, (1+n)/(10+n)))"
    )
    r1_gamma: float = option(0.0, "R1 penalty weight on D's gradient at real images (Mescheder et al. 2018; 0: off)")
    diffaugment: str = option(
        "", "DiffAugment policy for small datasets (Zhao et al. 2020): comma list of color, translation, cutout ('' off)"
    )

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {self.latent_dim}")
        for name in ("lr_generator", "lr_discriminator"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("beta1", "beta2", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.r1_gamma >= 0:
            raise ValueError(f"r1_gamma must be 0 or more, got {self.r1_gamma}")
        parse_policy(self.diffaugment)
