"""WGAN-GP: the ``wgan-gp`` entry point. The networks live in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.wgan_gp.config import WGANGPConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.wgan_gp.model import WGANGPModel


class WGANGP(Plugin):
    name = "wgan-gp"
    summary = "Wasserstein GAN with gradient penalty: DCGAN generator, layer-normalised critic, 5 critic steps per G step"
    family = "gan"
    paper = "Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, Improved Training of Wasserstein GANs, arXiv:1704.00028"
    version = "2"
    Config = WGANGPConfig
    default_dataset = "digits"
    graphs = ("generator",)
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: WGANGPConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "WGANGPModel":
        from zoo.plugins.wgan_gp.model import WGANGPModel

        return WGANGPModel(config, data, device)
