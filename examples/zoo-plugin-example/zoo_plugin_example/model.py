"""A fully-connected GAN (Goodfellow et al. 2014, arXiv:1406.2661).

The generator maps z through one hidden layer (LeakyReLU) to C*H*W pixels with a sigmoid, so
its images are in [0, 1] like the training batches; the discriminator is an MLP from the
flattened image to one logit. Both train with the non-saturating BCE loss and Adam.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.contract import Batch, DataSpec, ExportGraph, Model, TensorSpec
from zoo.errors import UsageError
from zoo_plugin_example.config import MLPGANConfig


class Generator(nn.Module):
    def __init__(self, latent_dim: int, hidden: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        pixels = shape[0] * shape[1] * shape[2]
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, pixels),
            nn.Sigmoid(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent`` (N, latent_dim) -> images in [0, 1], (N, C, H, W)."""
        return self.net(latent).view(-1, *self.shape)


class Discriminator(nn.Module):
    def __init__(self, hidden: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        pixels = shape[0] * shape[1] * shape[2]
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pixels, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> one logit per image, (N,)."""
        return self.net(images).flatten()


class MLPGANModel(Model):
    def __init__(self, config: MLPGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        self.generator = Generator(config.latent_dim, config.hidden, data.shape).to(self.device)
        self.discriminator = Discriminator(config.hidden, data.shape).to(self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)

    # Everything a checkpoint must hold: weights, and optimizer state.
    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        real = batch.images  # already on self.device, in [0, 1]
        n = real.shape[0]
        fake = self.generator(torch.randn(n, self.config.latent_dim, device=self.device))
        ones = torch.ones(n, device=self.device)
        zeros = torch.zeros(n, device=self.device)

        # Discriminator: real -> 1, fake -> 0 (fake detached: no gradient into G here).
        self.opt_d.zero_grad(set_to_none=True)
        logits_real = self.discriminator(real)
        logits_fake = self.discriminator(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(logits_real, ones) + F.binary_cross_entropy_with_logits(
            logits_fake, zeros
        )
        loss_d.backward()
        self.opt_d.step()

        # Generator, non-saturating: maximise log D(G(z)) instead of minimising log(1 - D(G(z))).
        self.opt_g.zero_grad(set_to_none=True)
        loss_g = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        loss_g.backward()
        self.opt_g.step()

        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        if label is not None:
            raise UsageError("mlp-gan is unconditional: it takes no --label")
        # Latents come from a CPU generator, so a seed gives the same images on every device.
        z = torch.randn(n, self.config.latent_dim, generator=self.noise_generator(seed))
        return self.generator(z.to(self.device)).clamp(0, 1).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        return {
            "generator": ExportGraph(
                module=self.generator,
                inputs=(TensorSpec("latent", (self.config.latent_dim,)),),
                outputs=("image",),
                description="latent z ~ N(0, I) -> image in [0, 1]",
            )
        }
