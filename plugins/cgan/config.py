from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option
from zoo.gan.config import GANConfig


@dataclass(frozen=True)
class CGANConfig(GANConfig):
    generator_width: int = option(64, "channels of the generator's last hidden layer; doubles per layer inward")
    discriminator_width: int = option(64, "channels of the discriminator's first layer; doubles per layer")
    # dcgan's measured defaults (plugins/dcgan/config.py): the same pyramid of transposed
    # convolutions learns best on MNIST with G at twice D's rate and sampled through its EMA.
    lr_generator: float = option(4e-4, "Adam learning rate of the generator: twice the discriminator's, as dcgan's default")
    ema_decay: float = option(
        0.999, "exponential moving average of the generator's weights, used to sample and export (0: off); as dcgan's default"
    )
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
