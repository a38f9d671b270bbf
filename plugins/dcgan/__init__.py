"""DCGAN: the ``dcgan`` entry point. The networks live in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.dcgan.config import DCGANConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.dcgan.model import DCGANModel


class DCGAN(Plugin):
    name = "dcgan"
    summary = "Deep convolutional GAN: transposed-conv generator, strided-conv discriminator"
    family = "gan"
    paper = "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with DCGANs, arXiv:1511.06434"
    version = "2"
    Config = DCGANConfig
    default_dataset = "digits"
    graphs = ("generator",)
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: DCGANConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "DCGANModel":
        from zoo.plugins.dcgan.model import DCGANModel

        return DCGANModel(config, data, device)
