"""DCGAN's generator and discriminator pyramids (Radford, Metz & Chintala 2016), shared.

Several plugins build on these networks: dcgan uses both, wgan-gp the generator (its critic
has no BatchNorm), and vaegan both (the generator as its decoder, the discriminator's last
feature map as its learned similarity). They live here so that a fix reaches all of them.

Both are sized from the image side by ``conv_layout.pyramid``: the side is halved, rounding
up, down to a 3 or 4 pixel base (28 -> 14 -> 7 -> 4, as 32 -> 16 -> 8 -> 4), one stride-2 4x4
(transposed) convolution per halving, so 28 x 28 MNIST gets the recipe's 256/128/64 channels.

Initialise with ``dcgan_init``. PyTorch's default initialisation takes a transposed
convolution's fan-in from its *output* channels, which gives the generator's last layer (one
or three channels) weights several times too large: many pixels then start in tanh's flat
tails, where they get no gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.conv_layout import pyramid, stage_padding, stage_widths


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images in [-1, 1]: transposed convolutions, BatchNorm + ReLU, tanh.

    ``name`` is the plugin's, for the error ``pyramid`` gives on an unsupported side.
    """

    def __init__(self, latent_dim: int, width: int, channels: int, side: int, name: str) -> None:
        super().__init__()
        sides = pyramid(side, name)
        widths = stage_widths(width, len(sides) - 1)[::-1]  # widest at the base
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], sides[0], 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for larger, (wide, narrow) in zip(sides[1:-1], zip(widths, widths[1:])):
            padding, output_padding = stage_padding(larger)
            layers += [
                nn.ConvTranspose2d(wide, narrow, 4, 2, padding, output_padding, bias=False),
                nn.BatchNorm2d(narrow),
                nn.ReLU(True),
            ]
        padding, output_padding = stage_padding(side)
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, padding, output_padding, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (N, latent_dim) -> images in [-1, 1]."""
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Images in [-1, 1] -> one logit each: strided convolutions, LeakyReLU 0.2, BatchNorm
    on every layer but the first, and a final convolution over the base-sized map."""

    def __init__(self, width: int, channels: int, side: int, name: str) -> None:
        super().__init__()
        sides = pyramid(side, name)
        widths = stage_widths(width, len(sides) - 1)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, stage_padding(side)[0], bias=False), nn.LeakyReLU(0.2, True)]
        for larger, (narrow, wide) in zip(reversed(sides[1:-1]), zip(widths, widths[1:])):
            layers += [
                nn.Conv2d(narrow, wide, 4, 2, stage_padding(larger)[0], bias=False),
                nn.BatchNorm2d(wide),
                nn.LeakyReLU(0.2, True),
            ]
        hidden = widths[-1]
        layers.append(nn.Conv2d(hidden, 1, sides[0], 1, 0, bias=False))
        # One Sequential, body then head, so the state-dict keys are ``net.<i>.*``.
        self.net = nn.Sequential(*layers)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last feature map before the head, (N, C, base, base)."""
        return self.net[:-1](images)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """The head alone: ``features(images)`` -> one logit per image, (N,)."""
        return self.net[-1](features).flatten()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> one logit per image, (N,)."""
        return self.net(images).flatten()


def dcgan_init(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN's initialisation, for ``net.apply``: (transposed) convolutions from N(0, std),
    BatchNorm scales from N(1, std) and shifts at zero."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)
