"""SNGAN (Miyato, Kataoka, Koyama & Yoshida 2018, arXiv:1802.05957).

Spectral normalisation divides each discriminator weight W by its largest singular value
sigma(W), so every layer is (for convolutions, roughly) 1-Lipschitz and so is D. sigma comes
from a power iteration per forward pass whose vectors u, v persist between passes
(``torch.nn.utils.parametrizations.spectral_norm``); a convolution's kernel is normalised as
the matrix (out, in * kh * kw), as in the paper. D is trained with the hinge loss, one
update per generator update, with the shared Adam defaults (the paper's setting C). The
generator can be normalised too (``sn_generator``); the shared GAN base folds the
normalised weights into plain ones before sampling and export.

Two bodies, chosen by ``architecture`` (``auto``: resnet for 32x32 colour, dcgan otherwise):

``resnet``, the paper's CIFAR-10 ResNet (Appendix B.4, after Gulrajani et al. 2017). G:
    linear z -> 4x4 maps, up-sampling residual blocks (BN, ReLU, nearest 2x, 3x3 conv, BN,
    ReLU, 3x3 conv; shortcut 2x then 1x1 conv) to the image side, BN, ReLU, 3x3 conv, tanh.
    D: an "optimised" first block (conv, ReLU, conv, 2x2 average pool; shortcut pool then
    1x1 conv), down-sampling blocks to 8x8, two plain blocks, ReLU, global sum pooling,
    linear -> 1. One width throughout each network. Sides 16, 32, 64, ...: each doubling
    past 32 adds one up and one down block.
``dcgan``, the paper's "standard CNN" (Table 3) sized by ``conv_layout.pyramid``. G: linear z ->
    base x base maps (BN, ReLU), 4x4 stride-2 transposed convolutions (BN, ReLU) halving the
    channels, 3x3 conv, tanh. D: per halving a 3x3 conv and a 4x4 stride-2 conv doubling the
    channels, a last 3x3 conv, linear -> 1; LeakyReLU 0.1 and no BatchNorm.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from zoo.contract import DataSpec
from zoo.conv_layout import pyramid, stage_padding
from zoo.errors import UsageError
from zoo.gan.model import GANModel
from zoo.plugins.sngan.config import SNGANConfig


def xavier(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Conv2d | nn.Linear:
    """Glorot-uniform weights and zero biases, the ResNet's initialisation in the paper's code."""
    nn.init.xavier_uniform_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    # sqrt(2) compensates the ReLU in front of each residual-branch convolution
    return xavier(nn.Conv2d(in_channels, out_channels, 3, 1, 1), math.sqrt(2))


# -- ResNet ---------------------------------------------------------------------------------


class GeneratorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            conv3x3(in_channels, out_channels),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            conv3x3(out_channels, out_channels),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), xavier(nn.Conv2d(in_channels, out_channels, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class OptimisedBlock(nn.Module):
    """D's first block: no ReLU on the raw image, and pooling before the 1x1 shortcut is cheaper."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            conv3x3(in_channels, out_channels), nn.ReLU(), conv3x3(out_channels, out_channels), nn.AvgPool2d(2)
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), xavier(nn.Conv2d(in_channels, out_channels, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class DiscriminatorBlock(nn.Module):
    def __init__(self, channels: int, downsample: bool) -> None:
        super().__init__()
        pool = [nn.AvgPool2d(2)] if downsample else []
        # not in place: x also feeds the shortcut
        self.residual = nn.Sequential(nn.ReLU(), conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels), *pool)
        self.shortcut = nn.Sequential(xavier(nn.Conv2d(channels, channels, 1)), *pool) if downsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


def resnet_doublings(side: int) -> int:
    """How many times the ResNet doubles 4x4 maps to reach ``side``; refuses other sides."""
    if side < 16 or side & (side - 1):
        raise UsageError(
            f"sngan's resnet architecture needs a side of 16, 32, 64, ... (4 x 2^k), got {side}: "
            "pass --set architecture=dcgan or --image-size 32"
        )
    return side.bit_length() - 3


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, side: int) -> None:
        super().__init__()
        self.width = width
        self.linear = xavier(nn.Linear(latent_dim, 4 * 4 * width))
        self.blocks = nn.Sequential(*(GeneratorBlock(width, width) for _ in range(resnet_doublings(side))))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), xavier(nn.Conv2d(width, channels, 3, 1, 1)), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (N, latent_dim) -> images in [-1, 1]."""
        return self.out(self.blocks(self.linear(z).view(z.shape[0], self.width, 4, 4)))


class ResNetDiscriminator(nn.Module):
    def __init__(self, width: int, channels: int, side: int) -> None:
        super().__init__()
        halvings = resnet_doublings(side) - 1  # down to 8x8
        self.blocks = nn.Sequential(
            OptimisedBlock(channels, width),
            *(DiscriminatorBlock(width, downsample=True) for _ in range(halvings - 1)),
            DiscriminatorBlock(width, downsample=False),
            DiscriminatorBlock(width, downsample=False),
        )
        self.linear = xavier(nn.Linear(width, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> one logit per image, (N,)."""
        features = torch.relu(self.blocks(images)).sum(dim=(2, 3))  # sum, not mean: the paper's pooling
        return self.linear(features).flatten()


# -- the standard CNN -----------------------------------------------------------------------


def narrower(width: int, halvings: int) -> int:
    """``width`` halved ``halvings`` times, keeping at least one channel (tiny widths, large images)."""
    return max(width >> halvings, 1)


class ConvGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, side: int) -> None:
        super().__init__()
        sides = pyramid(side, "sngan")
        self.width, self.base = width, sides[0]
        # no biases in front of BatchNorm: its shift makes them redundant
        self.linear = nn.Linear(latent_dim, self.base * self.base * width, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(width), nn.ReLU(True)]
        for i, larger in enumerate(sides[1:]):
            wide, narrow = narrower(width, i), narrower(width, i + 1)
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, *stage_padding(larger), bias=False), nn.BatchNorm2d(narrow), nn.ReLU(True)]
        layers += [nn.Conv2d(narrower(width, len(sides) - 1), channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (N, latent_dim) -> images in [-1, 1]."""
        return self.net(self.linear(z).view(z.shape[0], self.width, self.base, self.base))


class ConvDiscriminator(nn.Module):
    def __init__(self, width: int, channels: int, side: int) -> None:
        super().__init__()
        sides = pyramid(side, "sngan")
        halvings = len(sides) - 1
        layers: list[nn.Module] = []
        hidden = channels
        for i, larger in enumerate(reversed(sides[1:])):
            out = narrower(width, halvings - i)
            layers += [nn.Conv2d(hidden, out, 3, 1, 1), nn.LeakyReLU(0.1, True)]
            layers += [nn.Conv2d(out, out, 4, 2, stage_padding(larger)[0]), nn.LeakyReLU(0.1, True)]
            hidden = out
        layers += [nn.Conv2d(hidden, width, 3, 1, 1), nn.LeakyReLU(0.1, True), nn.Flatten(), nn.Linear(sides[0] ** 2 * width, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> one logit per image, (N,)."""
        return self.net(images).flatten()


def normal_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, as DCGAN and the paper's standard CNN."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)


# -- the model ------------------------------------------------------------------------------


def spectrally_normalise(net: nn.Module, power_iterations: int) -> None:
    """Reparametrise every convolution and linear layer's weight as W / sigma(W)."""
    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(module, n_power_iterations=power_iterations)


def choose_architecture(config: SNGANConfig, data: DataSpec) -> str:
    if config.architecture != "auto":
        return config.architecture
    return "resnet" if (data.channels, data.height) == (3, 32) else "dcgan"


class SNGANModel(GANModel):
    """Hinge loss and a spectrally normalised discriminator in the shared GAN step."""

    loss = "hinge"

    def __init__(self, config: SNGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.height != data.width:
            raise UsageError(f"sngan needs square images, got {data.height}x{data.width}: pass --image-size")
        self.architecture = choose_architecture(config, data)
        generator_width, discriminator_width = config.widths(self.architecture)
        if self.architecture == "resnet":
            generator = ResNetGenerator(config.latent_dim, generator_width, data.channels, data.height)
            discriminator = ResNetDiscriminator(discriminator_width, data.channels, data.height)
        else:
            generator = ConvGenerator(config.latent_dim, generator_width, data.channels, data.height)
            discriminator = ConvDiscriminator(discriminator_width, data.channels, data.height)
            for net in (generator, discriminator):
                net.apply(normal_init)
        spectrally_normalise(discriminator, config.power_iterations)
        if config.sn_generator:
            spectrally_normalise(generator, config.power_iterations)
        super().__init__(config, data, device, generator, discriminator)
        self.n_critic = config.n_critic
