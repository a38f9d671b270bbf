from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option
from zoo.gan.config import GANConfig


@dataclass(frozen=True)
class VAEGANConfig(GANConfig):
    latent_dim: int = option(32, "size of the latent vector z (the encoder's posterior and the decoder's input)")
    encoder_width: int = option(64, "channels of the encoder's first convolution; doubles per halving, up to 8x")
    decoder_width: int = option(64, "channels of the decoder's (generator's) last hidden layer; doubles per layer inward, up to 8x")
    discriminator_width: int = option(64, "channels of the discriminator's first convolution; doubles per halving, up to 8x")
    lr_encoder: float = option(2e-4, "Adam learning rate of the encoder")
    # dcgan's measured optimiser (same generator and discriminator): on MNIST at 1,000 steps
    # these with margin 0 took FID from the authors'-rule run's 33.6 (at 2,500) to 11.1
    lr_generator: float = option(4e-4, "Adam learning rate of the decoder (the generator): twice the discriminator's, as dcgan's")
    ema_decay: float = option(
        0.999,
        "exponential moving average of the decoder's weights, used to sample, decode and export (0: off); warmed up as "
        "min(decay, (1+n)/(10+n))",
    )
    gamma: float = option(
        0.01,
        "weight of the feature-wise reconstruction loss against the GAN loss in the decoder's update (the paper's gamma; "
        "0.01 is also the authors' code's default)",
    )
    margin: float = option(
        0.0,
        "equilibrium rule after the authors' code (their 0.4 rested D on 90-96% of MNIST steps here): skip D's update "
        "while its mean cross-entropy on real and fake images is below ln 2 - margin, the decoder's while above "
        "ln 2 + margin (0: always update both)",
    )
    init_std: float = option(0.02, "standard deviation of the N(0, std) initialisation of (transposed) convolutions")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("encoder_width", "decoder_width", "discriminator_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr_encoder > 0:
            raise ValueError(f"lr_encoder must be positive, got {self.lr_encoder}")
        if not self.gamma >= 0:
            raise ValueError(f"gamma must be 0 or more, got {self.gamma}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be 0 or more, got {self.margin}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")
