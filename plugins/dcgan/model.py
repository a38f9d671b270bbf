"""DCGAN (Radford, Metz & Chintala 2016, arXiv:1511.06434).

The generator maps z through a stack of transposed convolutions (BatchNorm + ReLU, tanh
output); the discriminator mirrors it with strided convolutions (LeakyReLU 0.2, BatchNorm
on every layer but the first, no pooling). Both are sized from the dataset's image shape:
the image side is halved until it reaches a small base (4 for 16/32/64 px, 7 for 28 px),
one (transposed) convolution per halving.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.contract import DataSpec
from zoo.conv_layout import conv_layout
from zoo.errors import UsageError
from zoo.gan.model import GANModel
from zoo.plugins.dcgan.config import DCGANConfig


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


def init_weights(module: nn.Module, std: float) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


class DCGANModel(GANModel):
    """DCGAN's networks in the shared GAN step: non-saturating loss, one D update per G update."""

    def __init__(self, config: DCGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.height != data.width:
            raise UsageError(f"dcgan needs square images, got {data.height}x{data.width}: pass --image-size")
        generator = Generator(config.latent_dim, config.generator_width, data.channels, data.height)
        discriminator = Discriminator(config.discriminator_width, data.channels, data.height)
        for net in (generator, discriminator):
            net.apply(lambda m: init_weights(m, config.init_std))
        super().__init__(config, data, device, generator, discriminator)
