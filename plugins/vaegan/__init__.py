"""VAE-GAN: the ``vaegan`` entry point. The networks live in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.vaegan.config import VAEGANConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.vaegan.model import VAEGANModel


class VAEGAN(Plugin):
    name = "vaegan"
    summary = "VAE-GAN: a VAE whose decoder is the GAN generator, reconstructing in the discriminator's features"
    family = "gan"
    paper = (
        "Larsen, Sønderby, Larochelle & Winther 2016, Autoencoding beyond pixels using a learned similarity metric, "
        "arXiv:1512.09300"
    )
    version = "2"
    Config = VAEGANConfig
    default_dataset = "digits"
    graphs = ("generator",)
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: VAEGANConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "VAEGANModel":
        from zoo.plugins.vaegan.model import VAEGANModel

        return VAEGANModel(config, data, device)
