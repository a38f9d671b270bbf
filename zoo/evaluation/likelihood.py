"""How well a model explains held-out images: the negative ELBO and the IWAE bound on -log p(x).

Works on any :class:`~zoo.contract.LikelihoodModel`. For each image the model draws ``k``
latents from its posterior and returns the importance weights ``log w_i = log p(x, z_i) -
log q(z_i | x)``. Then

* negative ELBO  = -mean_i log w_i                    (Kingma & Welling 2014)
* IWAE NLL       = -(logsumexp_i log w_i - log k)     (Burda, Grosse & Salakhutdinov 2016)

both in nats per image; the IWAE bound is never above the ELBO and tightens as ``k`` grows.
Bits per dimension divide by ``C * H * W * ln 2``. The weights are computed in pieces of at
most ``budget`` decoded images, so memory stays bounded whatever ``k`` and the dataset size.

Models of binary pixels (``pixel_model == "bernoulli"``) see binarised images: ``dynamic``
draws each pixel once from Bernoulli(intensity) with a fixed seed, so the numbers are
repeatable; ``threshold`` sets pixels above 0.5 to one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from zoo.contract import Batch, LikelihoodModel
from zoo.datasets.source import ImageSet
from zoo.errors import UsageError, ZooError

BINARIZATIONS = ("dynamic", "threshold")
DEFAULT_K = 1000
DEFAULT_BUDGET = 8192
"""Decoded images per model call: about 8192 x C x H x W floats of activations per layer."""


@dataclasses.dataclass(frozen=True)
class LikelihoodResult:
    neg_elbo: float
    """Negative ELBO, nats per image (mean over images)."""
    iwae_nll: float
    """IWAE estimate of the negative log-likelihood, nats per image."""
    k: int
    n: int
    dims: int
    """Dimensions per image, C * H * W."""
    binarization: str
    """How the pixels were presented to the model, in words."""

    def bits_per_dim(self, nats: float) -> float:
        return nats / (self.dims * math.log(2))

    def metrics(self) -> dict[str, Any]:
        """Flat numbers for metrics.jsonl."""
        return {
            "neg_elbo": self.neg_elbo,
            "neg_elbo_bpd": self.bits_per_dim(self.neg_elbo),
            "iwae_nll": self.iwae_nll,
            "iwae_nll_bpd": self.bits_per_dim(self.iwae_nll),
            "iwae_k": self.k,
            "n": self.n,
            "binarization": self.binarization,
        }


def describe_binarization(model: LikelihoodModel, mode: str, seed: int) -> str:
    if model.pixel_model != "bernoulli":
        return "none (8-bit pixels, 256 levels)"
    if mode == "dynamic":
        return f"dynamic: each pixel drawn once from Bernoulli(intensity), seed {seed}"
    return "fixed threshold: pixel > 0.5"


def binarize(images: torch.Tensor, mode: str, seed: int) -> torch.Tensor:
    """Binary copies of images in [0, 1] (on the CPU, so a seed gives the same bits everywhere)."""
    if mode == "dynamic":
        return torch.bernoulli(images.cpu(), generator=torch.Generator().manual_seed(seed))
    if mode == "threshold":
        return (images > 0.5).to(images.dtype)
    raise UsageError(f"--binarize must be one of {', '.join(BINARIZATIONS)}, got {mode!r}")


def evaluate_likelihood(
    model: LikelihoodModel,
    data: ImageSet,
    *,
    k: int = DEFAULT_K,
    binarization: str = "dynamic",
    seed: int = 0,
    progress: bool = True,
) -> LikelihoodResult:
    """Negative ELBO and IWAE NLL of every image of ``data`` under ``model``, decoding at most
    :data:`DEFAULT_BUDGET` images per call to the model."""
    from tqdm.auto import tqdm

    if not isinstance(model, LikelihoodModel):
        raise UsageError(f"{type(model).__name__} defines no likelihood (it is not a zoo.contract.LikelihoodModel)")
    if k < 1:
        raise UsageError(f"-k must be at least 1, got {k}")
    if binarization not in BINARIZATIONS:
        raise UsageError(f"--binarize must be one of {', '.join(BINARIZATIONS)}, got {binarization!r}")
    if len(data) == 0:
        raise UsageError(f"{data.name} {data.split} holds no images to evaluate")
    # Images per call, and latents per image per call, so that their product fits the budget.
    budget = DEFAULT_BUDGET
    images_per_call = max(1, min(len(data), budget // min(k, budget), 256))
    k_per_call = max(1, min(k, budget // images_per_call))
    neg_elbo, iwae_nll = torch.zeros(len(data), dtype=torch.float64), torch.zeros(len(data), dtype=torch.float64)
    if model.pixel_model == "bernoulli":
        # once for the whole set, so the bits do not depend on how the work is cut up
        binary = binarize(data.images.float().div_(255), binarization, seed)
        data = dataclasses.replace(data, images=binary.mul_(255).to(torch.uint8))
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), tqdm(total=len(data), disable=not progress, unit="img", desc="likelihood") as bar:
        torch.manual_seed(seed)
        for start in range(0, len(data), images_per_call):
            index = torch.arange(start, min(start + images_per_call, len(data)))
            batch = data.batch(index)
            batch = Batch(images=batch.images.to(model.device), labels=batch.labels)
            pieces, remaining = [], k
            while remaining:
                draw = min(k_per_call, remaining)
                pieces.append(model.log_weights(batch, draw).double().cpu())
                remaining -= draw
            log_w = torch.cat(pieces)  # (k, images)
            neg_elbo[index] = -log_w.mean(0)
            iwae_nll[index] = -(torch.logsumexp(log_w, 0) - math.log(k))
            bar.update(len(index))
    if not (torch.isfinite(neg_elbo).all() and torch.isfinite(iwae_nll).all()):
        raise ZooError("the model gives non-finite log-likelihoods on these images; is the checkpoint damaged?")
    c, h, w = data.spec.shape
    return LikelihoodResult(
        neg_elbo=float(neg_elbo.mean()),
        iwae_nll=float(iwae_nll.mean()),
        k=k,
        n=len(data),
        dims=c * h * w,
        binarization=describe_binarization(model, binarization, seed),
    )
