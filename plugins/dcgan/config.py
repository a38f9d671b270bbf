from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option


@dataclass(frozen=True)
class DCGANConfig:
    latent_dim: int = option(100, "size of the latent vector z")
    generator_width: int = option(64, "channels of the generator's last hidden layer (ngf); doubles per layer inward")
    discriminator_width: int = option(64, "channels of the discriminator's first layer (ndf); doubles per layer")
    lr_generator: float = option(2e-4, "Adam learning rate of the generator")
    lr_discriminator: float = option(2e-4, "Adam learning rate of the discriminator")
    beta1: float = option(0.5, "Adam beta1 (0.5 as in the paper; the default 0.9 oscillates)")
    beta2: float = option(0.999, "Adam beta2")
    init_std: float = option(0.02, "standard deviation of the N(0, std) weight initialisation")

    def __post_init__(self) -> None:
        for name in ("latent_dim", "generator_width", "discriminator_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_generator", "lr_discriminator", "init_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
