"""Class-conditional GAN: the ``cgan`` entry point. The networks live in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.cgan.config import CGANConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.cgan.model import CGANModel


class CGAN(Plugin):
    name = "cgan"
    summary = "Class-conditional GAN: conditional-BatchNorm generator, projection discriminator, hinge loss; zoo sample cgan --label 3"
    family = "gan"
    paper = (
        "Miyato & Koyama 2018, cGANs with Projection Discriminator, arXiv:1802.05637; "
        "conditional BatchNorm: de Vries et al. 2017, arXiv:1707.00683, and Dumoulin et al. 2017, arXiv:1610.07629"
    )
    version = "2"
    Config = CGANConfig
    default_dataset = "digits"
    graphs = ("generator",)
    conditional = True
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: CGANConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "CGANModel":
        from zoo.plugins.cgan.model import CGANModel

        return CGANModel(config, data, device)
