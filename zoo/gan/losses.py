"""GAN objectives and regularisers, on discriminator logits (one per image).

* ``nonsaturating`` (Goodfellow et al. 2014): D minimises BCE(real -> 1, fake -> 0); G
  maximises log D(G(z)) rather than minimising log(1 - D(G(z))), whose gradient vanishes.
* ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1 - real) + relu(1 + fake);
  G minimises -fake.
* ``wasserstein`` (Arjovsky et al. 2017): the critic minimises fake - real; G minimises -fake.
  Needs a Lipschitz constraint: the gradient penalty of Gulrajani et al. 2017.

``r1_penalty`` (Mescheder et al. 2018) penalises the gradient on real images only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSSES = ("nonsaturating", "hinge", "wasserstein")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # BCE with targets 1 and 0
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wasserstein":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; one of {', '.join(LOSSES)}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "nonsaturating":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; one of {', '.join(LOSSES)}")


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad critic(x_hat)|| - 1)^2] on random points between real and fake images (WGAN-GP)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    between = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """E[||grad D(x)||^2] on real images; the loss adds gamma / 2 times it."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
