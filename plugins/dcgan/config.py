from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option
from zoo.gan.config import GANConfig


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    generator_width: int = option(64, "channels of the generator's last hidden layer (ngf); doubles per layer inward")
    discriminator_width: int = option(64, "channels of the discriminator's first layer (ndf); doubles per layer")
    init_std: float = option(0.02, "standard deviation of the N(0, std) weight initialisation")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_width", "discriminator_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")
