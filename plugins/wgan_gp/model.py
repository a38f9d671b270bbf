"""WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028).

The critic estimates the Wasserstein-1 distance between real and generated images: it
maximises E[D(real)] - E[D(fake)] while a gradient penalty, lambda = 10 times
E[(||grad D(x_hat)|| - 1)^2] on random points between real and fake images, keeps it close to
1-Lipschitz (in place of the original WGAN's weight clipping). The critic takes five updates
per generator update, all with Adam at lr 1e-4 and betas (0, 0.9), the paper's settings.

The generator is DCGAN's, from ``zoo.gan.networks`` (transposed convolutions with BatchNorm + ReLU, tanh output). The
critic mirrors it with strided convolutions and LeakyReLU 0.2 but has no BatchNorm: the
penalty is a per-sample gradient, and BatchNorm makes each output depend on the whole batch.
The paper swaps in layer normalisation, here ``GroupNorm(1, C)``: per sample over (C, H, W),
with a per-channel scale and shift. Its last convolution gives one unbounded score per
image (no sigmoid). Both networks are sized from the image side by ``conv_layout.pyramid``.

The generator's convolutions start from DCGAN's N(0, 0.02). PyTorch's default initialisation
takes a transposed convolution's fan-in from its output channels, which gives the output
layer (one or three channels) weights 4-7 times larger: a tenth of the pixels start in
tanh's flat tails, where they get no gradient, and on digits they stayed stuck at white as a
fixed grid of dots while the critic's Wasserstein estimate plateaued.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.contract import DataSpec
from zoo.conv_layout import pyramid, stage_padding, stage_widths
from zoo.errors import UsageError
from zoo.gan.model import GANModel
from zoo.gan.networks import DCGANGenerator
from zoo.plugins.wgan_gp.config import WGANGPConfig


class Critic(nn.Module):
    def __init__(self, width: int, channels: int, side: int, norm: str) -> None:
        super().__init__()
        sides = pyramid(side, "wgan-gp")
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, stage_padding(side)[0]), nn.LeakyReLU(0.2, True)]
        widths = stage_widths(width, len(sides) - 1)
        for larger, (hidden, wide) in zip(reversed(sides[1:-1]), zip(widths, widths[1:])):
            # the norm's per-channel shift makes a convolution bias redundant
            layers.append(nn.Conv2d(hidden, wide, 4, 2, stage_padding(larger)[0], bias=norm == "none"))
            if norm == "layer":
                layers.append(nn.GroupNorm(1, wide))
            layers.append(nn.LeakyReLU(0.2, True))
        hidden = widths[-1]
        # a bias would cancel in E[D(real)] - E[D(fake)] and never learn
        layers.append(nn.Conv2d(hidden, 1, sides[0], 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> one unbounded critic score per image, (N,)."""
        return self.net(images).flatten()


class WGANGPModel(GANModel):
    """The Wasserstein loss with a gradient penalty of 10 and five critic updates per generator update."""

    loss = "wasserstein"
    n_critic = 5
    gradient_penalty = 10.0

    def __init__(self, config: WGANGPConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.height != data.width:
            raise UsageError(f"wgan-gp needs square images, got {data.height}x{data.width}: pass --image-size")
        generator = DCGANGenerator(config.latent_dim, config.generator_width, data.channels, data.height, "wgan-gp")
        for module in generator.modules():
            if isinstance(module, nn.ConvTranspose2d):
                nn.init.normal_(module.weight, 0.0, config.init_std)
        critic = Critic(config.critic_width, data.channels, data.height, config.critic_norm)
        super().__init__(config, data, device, generator, critic)
