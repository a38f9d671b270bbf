"""An example third-party zoo plugin: ``mlp-gan``, registered in this package's pyproject.toml.

This module stays light (``zoo list`` imports it): no torch, no networks. They live in
``model.py``, imported only when ``build`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo_plugin_example.config import MLPGANConfig

if TYPE_CHECKING:
    import torch

    from zoo_plugin_example.model import MLPGANModel


class MLPGAN(Plugin):
    name = "mlp-gan"  # must equal the entry point's name
    summary = "Fully-connected GAN: MLP generator and discriminator (example third-party plugin)"
    family = "gan"
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"
    version = "1"  # bump when saved weights stop being loadable
    Config = MLPGANConfig
    default_dataset = "digits"
    graphs = ("generator",)

    def build(self, config: MLPGANConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "MLPGANModel":
        from zoo_plugin_example.model import MLPGANModel

        return MLPGANModel(config, data, device)
