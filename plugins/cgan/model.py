"""A class-conditional GAN with a projection discriminator (Miyato & Koyama 2018, arXiv:1802.05637).

The generator is DCGAN's transposed-convolution pyramid (Radford et al. 2016) with
conditional BatchNorm after every hidden layer (de Vries et al. 2017; Dumoulin et al.
2017): the activations are normalised without learned affine parameters, then scaled and
shifted by a gain and a bias looked up for the image's class, so the label steers every
layer instead of entering only with z. Those per-class parameters learn at a multiple of
the generator's rate (``class_lr_multiplier``), or z decides the class long before the label can.

The discriminator mirrors it with strided convolutions and LeakyReLU 0.2, no BatchNorm,
plus one 3x3 convolution at the smallest resolution, and sums its last feature map over
positions into a vector phi(x). Its logit is

    D(x, y) = w . phi(x) + b + embed(y) . phi(x)

the projection form: the optimal discriminator's log density ratio takes it when p(y | x)
is log-linear in phi(x), and it beats feeding the label in by concatenation. Every layer,
the class embedding included, is spectrally normalised (Miyato et al. 2018), and the two
play the hinge loss, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from zoo.contract import DataSpec
from zoo.conv_layout import WIDEST, pyramid, stage_padding, stage_widths
from zoo.errors import UsageError
from zoo.gan.model import GANModel
from zoo.plugins.cgan.config import CGANConfig


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without its own affine transform, followed by a per-class gain and bias."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        # start as the identity, as plain BatchNorm does: every class sees the same network at first
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gain = self.gain(labels)[:, :, None, None]
        bias = self.bias(labels)[:, :, None, None]
        return self.norm(x) * gain + bias


class Generator(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, side: int, num_classes: int) -> None:
        super().__init__()
        sides = pyramid(side, "cgan")
        widths = stage_widths(width, len(sides) - 1)[::-1]
        convs = [nn.ConvTranspose2d(latent_dim, widths[0], sides[0], 1, 0, bias=False)]
        norms = [ConditionalBatchNorm2d(widths[0], num_classes)]
        for larger, (wide, narrow) in zip(sides[1:-1], zip(widths, widths[1:])):
            convs.append(nn.ConvTranspose2d(wide, narrow, 4, 2, *stage_padding(larger), bias=False))
            norms.append(ConditionalBatchNorm2d(narrow, num_classes))
        hidden = widths[-1]
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.to_image = nn.ConvTranspose2d(hidden, channels, 4, 2, *stage_padding(side))
        self.latent_dim = latent_dim

    def class_parameters(self) -> list[nn.Parameter]:
        """The per-class gains and biases: everything through which the label acts."""
        return [p for norm in self.norms for p in norm.parameters()]

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``z`` (N, latent_dim) and class labels (N,) -> images in [-1, 1]."""
        x = z.view(z.shape[0], self.latent_dim, 1, 1)
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x), labels))
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    def __init__(self, width: int, channels: int, side: int, num_classes: int) -> None:
        super().__init__()
        sides = pyramid(side, "cgan")
        layers: list[nn.Module] = []
        # 16 x: the base layer below is twice the widest stride-2 one at 64 x 64
        *widths, hidden = stage_widths(width, len(sides), widest=2 * WIDEST)
        previous = channels
        for larger, wide in zip(reversed(sides[1:]), widths):
            layers += [spectral_norm(nn.Conv2d(previous, wide, 4, 2, stage_padding(larger)[0])), nn.LeakyReLU(0.2)]
            previous = wide
        # one more layer at the base resolution widens each feature's view to about the whole
        # image before the sum: phi must tell the classes apart, not only real from fake
        layers += [spectral_norm(nn.Conv2d(previous, hidden, 3, 1, 1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(hidden, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, hidden))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] and class labels (N,) -> one logit per image, (N,)."""
        phi = self.features(images).sum(dim=(2, 3))  # global sum pooling, as in the paper
        return self.linear(phi).squeeze(1) + (self.embed(labels) * phi).sum(dim=1)


class CGANModel(GANModel):
    """The conditional networks in the shared GAN step: hinge loss, one D update per G update."""

    loss = "hinge"

    def __init__(self, config: CGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.num_classes < 2:
            raise UsageError("cgan needs a labelled dataset (digits, mnist, fashion-mnist, cifar10): it draws a class on request")
        if data.height != data.width:
            raise UsageError(f"cgan needs square images, got {data.height}x{data.width}: pass --image-size")
        generator = Generator(config.latent_dim, config.generator_width, data.channels, data.height, data.num_classes)
        discriminator = Discriminator(config.discriminator_width, data.channels, data.height, data.num_classes)
        super().__init__(config, data, device, generator, discriminator, num_classes=data.num_classes)

    def generator_param_groups(self, config: CGANConfig) -> list[dict]:
        # Adam moves each weight by about lr a step whatever its size: a large step next to a
        # convolution weight of ~1/sqrt(fan_in), a small one next to a gain of 1. At one rate
        # the generator learns to draw digits, with z choosing which, long before the label can
        # take that choice over; a faster rate for the class parameters lets it keep up.
        by_class = self.generator.class_parameters()
        shared = [p for p in self.generator.parameters() if all(p is not q for q in by_class)]
        return [{"params": shared}, {"params": by_class, "lr": config.lr_generator * config.class_lr_multiplier}]
