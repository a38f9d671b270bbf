from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zoo.config import option
from zoo.gan.config import GANConfig

ARCHITECTURES = ("auto", "resnet", "dcgan")


@dataclass(frozen=True)
class SNGANConfig(GANConfig):
    """The shared optimiser defaults (Adam 2e-4, betas (0.5, 0.999)) with one D step per G step: the paper's setting C."""

    latent_dim: int = option(128, "size of the latent vector z (the paper's 128)")
    architecture: Literal["auto", "resnet", "dcgan"] = option(
        "auto", "resnet (the paper's CIFAR-10 ResNet), dcgan (its standard CNN); auto: resnet for 32x32 colour, else dcgan"
    )
    generator_width: int = option(
        128, "G channels at the coarsest resolution: all ResNet blocks' (paper 256); dcgan halves them per layer outward (paper 512)"
    )
    discriminator_width: int = option(
        128, "D channels at the coarsest resolution: all ResNet blocks' (paper 128); dcgan halves them per layer outward (paper 512)"
    )
    n_critic: int = option(1, "discriminator updates per generator update (the paper's ResNet runs: 5, with betas (0, 0.9))")
    power_iterations: int = option(1, "power iterations per forward pass estimating each weight's spectral norm (the paper's 1)")
    sn_generator: bool = option(False, "spectrally normalise the generator's convolutions and linear layers too (BatchNorm stays)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_width", "discriminator_width", "n_critic", "power_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
