"""The VAE family: ``vae``, ``beta-vae`` and ``cvae`` entry points, one model (``model.py``).

The three plugins share the networks and differ in their defaults: ``beta-vae`` weights the
KL by beta = 4 (and offers Burgess et al.'s capacity annealing as ``objective=capacity``);
``cvae`` conditions encoder and decoder on the class label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.contract import DataSpec, Plugin
from zoo.plugins.vae.config import BetaVAEConfig, VAEConfig

if TYPE_CHECKING:
    import torch

    from zoo.plugins.vae.model import VAEModel


class VAE(Plugin):
    name = "vae"
    summary = "Variational autoencoder: conv encoder to a Gaussian posterior, conv decoder, ELBO training"
    family = "vae"
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes, arXiv:1312.6114"
    version = "1"
    Config: type = VAEConfig
    default_dataset = "digits"
    graphs = ("generator", "encoder")
    example_shapes = ((1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 128, 128))
    precisions = ("fp32", "bf16", "fp16")

    def build(self, config: VAEConfig, data: DataSpec, device: "torch.device | str" = "cpu") -> "VAEModel":
        from zoo.plugins.vae.model import VAEModel

        return VAEModel(config, data, device, conditional=self.conditional)


class BetaVAE(VAE):
    name = "beta-vae"
    summary = "beta-VAE: KL weighted by beta (default 4); capacity-annealed variant with --set objective=capacity"
    paper = (
        "Higgins et al. 2017, beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework, ICLR; "
        "capacity annealing: Burgess et al. 2018, Understanding disentangling in beta-VAE, arXiv:1804.03599"
    )
    Config = BetaVAEConfig


class ConditionalVAE(VAE):
    name = "cvae"
    summary = "Class-conditional VAE: the label goes to encoder and decoder; zoo sample cvae --label 3"
    paper = "Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep Conditional Generative Models, NeurIPS"
    conditional = True
