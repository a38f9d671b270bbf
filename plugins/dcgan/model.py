"""DCGAN (Radford, Metz & Chintala 2016, arXiv:1511.06434).

The generator maps z through a stack of transposed convolutions (BatchNorm + ReLU, tanh
output); the discriminator mirrors it with strided convolutions (LeakyReLU 0.2, BatchNorm
on every layer but the first, no pooling). Both are sized from the dataset's image shape:
the image side is halved until it reaches a small base (4 for 16/32/64 px, 7 for 28 px),
one (transposed) convolution per halving.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import update_bn

from zoo.contract import Batch, DataSpec, ExportGraph, Model, TensorSpec
from zoo.conv_layout import conv_layout
from zoo.errors import UsageError
from zoo.plugins.dcgan.config import DCGANConfig

PRECISE_BN_LATENTS = 256  # x H x W positions per channel: plenty for a mean and a variance


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, side: int) -> None:
        super().__init__()
        base, halvings = conv_layout(side, "dcgan")
        hidden = width * 2 ** (halvings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, hidden, base, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(True),
        ]
        for _ in range(halvings - 1):
            layers += [
                nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(hidden // 2),
                nn.ReLU(True),
            ]
            hidden //= 2
        layers += [nn.ConvTranspose2d(hidden, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (N, latent_dim) -> images in [-1, 1]."""
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, width: int, channels: int, side: int) -> None:
        super().__init__()
        base, halvings = conv_layout(side, "dcgan")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        hidden = width
        for _ in range(halvings - 1):
            layers += [
                nn.Conv2d(hidden, hidden * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(hidden * 2),
                nn.LeakyReLU(0.2, True),
            ]
            hidden *= 2
        layers.append(nn.Conv2d(hidden, 1, base, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> one logit per image, (N,)."""
        return self.net(images).flatten()


class GeneratorImage(nn.Module):
    """Latent -> image in [0, 1]: the generator as users and exporters see it."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return (self.generator(latent) + 1) / 2


def init_weights(module: nn.Module, std: float) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class DCGANModel(Model):
    def __init__(self, config: DCGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        super().__init__(config, data, device)
        if data.height != data.width:
            raise UsageError(f"dcgan needs square images, got {data.height}x{data.width}: pass --image-size")
        self.generator = Generator(config.latent_dim, config.generator_width, data.channels, data.height)
        self.discriminator = Discriminator(config.discriminator_width, data.channels, data.height)
        for net in (self.generator, self.discriminator):
            net.apply(lambda m: init_weights(m, config.init_std))
            net.to(self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_generator, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_discriminator, betas=betas)
        self._inference: tuple[tuple[int, ...], GeneratorImage] | None = None

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        real = batch.images * 2 - 1
        n = real.shape[0]
        self.generator.train()
        self.discriminator.train()
        z = torch.randn(n, self.config.latent_dim, device=self.device)
        fake = self.generator(z)
        ones = torch.ones(n, device=self.device)
        zeros = torch.zeros(n, device=self.device)

        # Discriminator: real -> 1, fake -> 0; the fake is detached so G gets no gradient here.
        self.opt_d.zero_grad(set_to_none=True)
        logits_real = self.discriminator(real)
        logits_fake = self.discriminator(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(logits_real, ones) + F.binary_cross_entropy_with_logits(
            logits_fake, zeros
        )
        loss_d.backward()
        self.opt_d.step()

        # Generator, non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))).
        self.opt_g.zero_grad(set_to_none=True)
        logits_gen = self.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(logits_gen, ones)
        loss_g.backward()
        self.opt_g.step()

        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(logits_real).mean().item(),
            "d_fake": torch.sigmoid(logits_fake).mean().item(),
        }

    def inference_generator(self) -> GeneratorImage:
        """A copy of the generator in eval mode with precise BatchNorm statistics.

        The running averages BatchNorm keeps during training lag far behind the weights early
        on (they start at mean 0, variance 1 while the real variances are ~1e-3), so eval-mode
        samples of a young model come out as flat grey noise. The generator's inputs are just
        N(0, I) latents, so its population statistics can be recomputed exactly at the current
        weights ("precise BN", Wu & Johnson 2021) from one fixed batch of latents; the copy keeps
        the training module and its state untouched.
        """
        # Cached until a weight or buffer changes (a train step, a checkpoint load): every
        # in-place update bumps the tensor's version counter.
        versions = tuple(t._version for t in itertools.chain(self.generator.parameters(), self.generator.buffers()))
        if self._inference is None or self._inference[0] != versions:
            generator = copy.deepcopy(self.generator)
            reference = torch.randn(PRECISE_BN_LATENTS, self.config.latent_dim, generator=torch.Generator().manual_seed(0))
            update_bn([reference.to(self.device)], generator)
            self._inference = (versions, GeneratorImage(generator).eval())
        return self._inference[1]

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label: int | None = None) -> torch.Tensor:
        if label is not None:
            raise UsageError("dcgan is unconditional: it takes no --label (a conditional model such as cgan does)")
        z = torch.randn(n, self.config.latent_dim, generator=self.noise_generator(seed))
        return self.inference_generator()(z.to(self.device)).clamp(0, 1).cpu()

    def export_graphs(self) -> dict[str, ExportGraph]:
        return {
            "generator": ExportGraph(
                module=self.inference_generator(),
                inputs=(TensorSpec("latent", (self.config.latent_dim,)),),
                outputs=("image",),
                description="latent z ~ N(0, I) -> image in [0, 1]",
            )
        }
