"""Log-densities the likelihood models share (vae, draw): image likelihoods p(x|z), Gaussians over z.

Every function returns one value per image (or per latent vector), summed over its
dimensions, in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)
BINS = 256
"""Pixel values are 8-bit: the discretised logistic puts its mass on 256 bins."""


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) for pixels in [0, 1]; a proper likelihood when ``x`` is binary."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def discretized_logistic_log_prob(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log P(x) of 8-bit pixels ``x`` in [0, 1] under a logistic per pixel, binned to 256 values.

    As in PixelCNN++ (Salimans et al. 2017): ``mean`` lives in [-1, 1] like the rescaled pixels,
    each bin has width 2/255, and the two end bins take the tails (-inf, -1 + 1/255] and
    [1 - 1/255, inf) so the 256 probabilities sum to one.
    """
    x = x * 2 - 1
    centred = x - mean
    inv_scale = torch.exp(-log_scale)
    upper = inv_scale * (centred + 1 / (BINS - 1))
    lower = inv_scale * (centred - 1 / (BINS - 1))
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper), for the bottom bin
    log_one_minus_cdf_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)), for the top bin
    bin_mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    # When a bin's mass underflows float32, use the density at its centre times its width.
    middle = inv_scale * centred
    log_density_mid = middle - log_scale - 2 * F.softplus(middle) - math.log((BINS - 1) / 2)
    log_mass = torch.where(bin_mass > 1e-5, torch.log(bin_mass.clamp_min(1e-12)), log_density_mid)
    log_prob = torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_one_minus_cdf_lower, log_mass))
    return log_prob.flatten(1).sum(1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def normal_log_prob(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per latent dimension, shape like ``mean``."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)
