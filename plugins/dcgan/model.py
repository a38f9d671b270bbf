"""DCGAN (Radford, Metz & Chintala 2016, arXiv:1511.06434).

The generator maps z through a stack of transposed convolutions (BatchNorm + ReLU, tanh
output); the discriminator mirrors it with strided convolutions (LeakyReLU 0.2, BatchNorm
on every layer but the first, no pooling). Both are sized from the dataset's image shape.
The networks live in ``zoo.gan.networks`` (wgan-gp and vaegan build on them too); this
plugin pairs them with the shared GAN step.
"""

from __future__ import annotations

import torch

from zoo.contract import DataSpec
from zoo.errors import UsageError
from zoo.gan.model import GANModel
from zoo.gan.networks import DCGANDiscriminator, DCGANGenerator, dcgan_init
from zoo.plugins.dcgan.config import DCGANConfig


class DCGANModel(GANModel):
    """DCGAN's networks in the shared GAN step: non-saturating loss, one D update per G update."""

    def __init__(self, config: DCGANConfig, data: DataSpec, device: torch.device | str = "cpu") -> None:
        if data.height != data.width:
            raise UsageError(f"dcgan needs square images, got {data.height}x{data.width}: pass --image-size")
        generator = DCGANGenerator(config.latent_dim, config.generator_width, data.channels, data.height, "dcgan")
        discriminator = DCGANDiscriminator(config.discriminator_width, data.channels, data.height, "dcgan")
        for net in (generator, discriminator):
            net.apply(lambda m: dcgan_init(m, config.init_std))
        super().__init__(config, data, device, generator, discriminator)
