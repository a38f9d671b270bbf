from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option
from zoo.gan.config import GANConfig


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    generator_width: int = option(64, "channels of the generator's last hidden layer (ngf); doubles per layer inward, up to 8x (512 at the default)")
    discriminator_width: int = option(64, "channels of the discriminator's first layer (ndf); doubles per layer, up to 8x")
    init_std: float = option(0.02, "standard deviation of the N(0, std) weight initialisation")
    # Measured on MNIST at 2,500 steps (benchmarks/reference_recipes.py, seed 0; recipe 4.99):
    # FID 4.63 at the recipe's 2e-4 for both, 8.79 with TTUR's faster D (1e-4 / 4e-4), 3.20
    # with G at twice D's rate, and 2.69 with the EMA of that generator.
    lr_generator: float = option(
        4e-4, "Adam learning rate of the generator: twice the discriminator's (on MNIST this lowered FID by a third at 2,500 steps)"
    )
    ema_decay: float = option(
        0.999,
        "exponential moving average of the generator's weights, used to sample and export (0: off); warmed up as "
        "min(decay, (1+n)/(10+n)); at 4e-4 it lowered MNIST FID from 3.20 to 2.69 at 2,500 steps",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_width", "discriminator_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")
