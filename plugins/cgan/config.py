from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option
from zoo.gan.config import GANConfig


@dataclass(frozen=True)
class CGANConfig(GANConfig):
    generator_width: int = option(64, "channels of the generator's last hidden layer; doubles per layer inward")
    discriminator_width: int = option(64, "channels of the discriminator's first layer; doubles per layer")
    class_lr_multiplier: float = option(
        10.0, "learning rate of the generator's per-class gains and biases, as a multiple of lr_generator"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_width", "discriminator_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.class_lr_multiplier > 0:
            raise ValueError(f"class_lr_multiplier must be positive, got {self.class_lr_multiplier}")
