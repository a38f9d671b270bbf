from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zoo.config import option


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = option(32, "size of the latent vector z")
    width: int = option(32, "channels of the encoder's first convolution; doubles per halving (capped at 8x)")
    hidden: int = option(512, "size of the fully connected layer between the convolutions and z")
    likelihood: Literal["auto", "bernoulli", "logistic"] = option(
        "auto", "p(x|z): bernoulli (greyscale), logistic (discretised logistic, colour), auto picks by channels"
    )
    binarize: Literal["dynamic", "none"] = option(
        "dynamic", "bernoulli only: resample binary pixels from the intensities every step (dynamic) or fit grey values (none)"
    )
    objective: Literal["beta", "capacity"] = option(
        "beta", "beta: recon + beta*KL (Higgins 2017); capacity: recon + gamma*|KL - C| with C annealed (Burgess 2018)"
    )
    beta: float = option(1.0, "weight of the KL term (1 is the plain VAE; >1 trades reconstruction for disentanglement)")
    kl_warmup_steps: int = option(0, "ramp the KL weight linearly from 0 to beta over this many steps (0: no warm-up)")
    gamma: float = option(1000.0, "capacity objective: weight of |KL - C|")
    capacity_max: float = option(25.0, "capacity objective: final target KL C in nats")
    capacity_steps: int = option(10000, "capacity objective: steps over which C grows linearly from 0 to capacity_max")
    lr: float = option(1e-3, "Adam learning rate")

    def __post_init__(self) -> None:
        for name in ("latent_dim", "width", "hidden", "capacity_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.kl_warmup_steps < 0:
            raise ValueError(f"kl_warmup_steps must be 0 or more, got {self.kl_warmup_steps}")
        for name in ("beta", "gamma", "capacity_max"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class BetaVAEConfig(VAEConfig):
    """The beta-VAE defaults: the same fields, with beta = 4 (Higgins et al.'s choice for dSprites)."""

    beta: float = option(4.0, "weight of the KL term (>1 trades reconstruction for disentanglement)")
