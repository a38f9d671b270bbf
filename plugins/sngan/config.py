from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zoo.config import option
from zoo.gan.config import GANConfig

ARCHITECTURES = ("auto", "resnet", "dcgan")
# (G, D) at the coarsest resolution. The standard CNN's are Table 3's: at 128 its MNIST FID
# trailed the paper's network by far. The ResNet's G has 128 rather than the paper's 256, for
# CPU cost; its D has the paper's 128.
DEFAULT_WIDTHS = {"resnet": (128, 128), "dcgan": (512, 512)}


@dataclass(frozen=True)
class SNGANConfig(GANConfig):
    """The paper's setting C (Adam, betas (0.5, 0.999), one D step per G step, D at 2e-4), with G at twice D's rate and its EMA."""

    latent_dim: int = option(128, "size of the latent vector z (the paper's 128)")
    architecture: Literal["auto", "resnet", "dcgan"] = option(
        "auto", "resnet (the paper's CIFAR-10 ResNet), dcgan (its standard CNN); auto: resnet for 32x32 colour, else dcgan"
    )
    generator_width: int = option(
        0, "G channels at the coarsest resolution; 0: the architecture's default (standard CNN: the paper's 512, halved per "
        "layer outward; ResNet: 128 in every block, the paper's 256 halved for CPU cost)"
    )
    discriminator_width: int = option(
        0, "D channels at the coarsest resolution; 0: the architecture's default (standard CNN: the paper's 512, halved per "
        "layer outward; ResNet: the paper's 128 in every block)"
    )
    # Measured on MNIST at 2,500 steps (benchmarks/reference_recipes.py): with G at twice D's
    # rate and sampled through its EMA, dcgan's FID fell from 4.63 to 2.69, and cgan (hinge
    # loss, spectrally normalised D, as here) reached 1.26.
    lr_generator: float = option(
        4e-4, "Adam learning rate of the generator: twice the discriminator's (setting C has 2e-4 for both; see dcgan's)"
    )
    ema_decay: float = option(
        0.999, "exponential moving average of the generator's weights, used to sample and export (0: off); as dcgan's default"
    )
    n_critic: int = option(1, "discriminator updates per generator update (the paper's ResNet runs: 5, with betas (0, 0.9))")
    power_iterations: int = option(1, "power iterations per forward pass estimating each weight's spectral norm (the paper's 1)")
    sn_generator: bool = option(False, "spectrally normalise the generator's convolutions and linear layers too (BatchNorm stays)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_width", "discriminator_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (the architecture's default) or more, got {getattr(self, name)}")
        for name in ("n_critic", "power_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")

    def widths(self, architecture: str) -> tuple[int, int]:
        """(G, D) channels at the coarsest resolution for ``architecture``: the fields, or where 0 its default."""
        generator, discriminator = DEFAULT_WIDTHS[architecture]
        return self.generator_width or generator, self.discriminator_width or discriminator
