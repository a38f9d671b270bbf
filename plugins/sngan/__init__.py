"""SNGAN: the ``sngan`` entry point. The networks live in ``model.py``, imported on build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.sngan.config import SNGANConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.sngan.model import SNGANModel


class SNGAN(Plugin):
    name = "sngan"
    summary = "Spectrally normalised GAN: hinge loss, spectral norm on every D layer, ResNet (32x32 colour) or standard CNN"
    family = "gan"
    paper = "Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative Adversarial Networks, arXiv:1802.05957"
    version = "2"
    Config = SNGANConfig
    default_dataset = "digits"
    graphs = ("generator",)
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: SNGANConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "SNGANModel":
        from zoo.plugins.sngan.model import SNGANModel

        return SNGANModel(config, data, device)
