from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option


@dataclass(frozen=True)
class MLPGANConfig:
    latent_dim: int = option(64, "size of the latent vector z")
    hidden: int = option(512, "width of the hidden layer of both networks")
    lr: float = option(2e-4, "Adam learning rate of both networks")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")

    def __post_init__(self) -> None:
        # Raised errors become a one-line `invalid config: ...` for `--set`.
        for name in ("latent_dim", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
