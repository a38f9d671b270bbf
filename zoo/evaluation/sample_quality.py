"""Sample-quality metrics between real and generated images, in one extractor's feature space.

The numbers come from maintained libraries, computed on features extracted once per image
set (a pass-through module hands the stored features to torchmetrics):

* FID (Heusel et al. 2017) and KID, mean and std over subsets (Binkowski et al. 2018):
  ``torchmetrics.image``;
* the Inception-style score, exp E[KL(p(y|x) || p(y))], from the extractor's class
  posterior: ``torchmetrics.image.InceptionScore`` (10 splits);
* precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)
  with k = 5 nearest neighbours: the authors' ``prdc`` package. They are computed on equal
  numbers of real and generated images (a random subset of the larger set), as the papers do.

:func:`real_floor` measures the same between two halves of the real images: what the
metrics give for a perfect generator at that sample size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from zoo.errors import UsageError
from zoo.features.extractor import FeatureExtractor

METRICS = ("fid", "kid", "is", "prdc")
NEAREST_K = 5


@dataclasses.dataclass
class FeatureSet:
    """Features (N, D) and class logits (N, K) or None, of one set of images."""

    features: torch.Tensor
    logits: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, index: torch.Tensor) -> "FeatureSet":
        return FeatureSet(self.features[index], None if self.logits is None else self.logits[index])


def extract(
    extractor: FeatureExtractor,
    batches: Iterator[torch.Tensor],
    total: int,
    *,
    desc: str,
    progress: bool = True,
) -> FeatureSet:
    """Run ``extractor`` over image batches (in [0, 1]) with a progress bar."""
    from tqdm.auto import tqdm

    features, logits = [], []
    with tqdm(total=total, disable=not progress, unit="img", desc=desc) as bar:
        for images in batches:
            batch_features, batch_logits = extractor.extract(images.float().cpu())
            features.append(batch_features.double())
            if batch_logits is not None:
                logits.append(batch_logits.double())
            bar.update(len(images))
    return FeatureSet(torch.cat(features), torch.cat(logits) if logits else None)


class _Precomputed(nn.Module):
    """Hands stored features to a torchmetrics metric as if it had extracted them."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def sample_quality(real: FeatureSet, fake: FeatureSet, metrics: list[str], *, seed: int = 0) -> dict[str, Any]:
    """The requested metrics of ``fake`` against ``real``; keys as in ``metrics.jsonl``."""
    if len(real) < 2 or len(fake) < 2:
        raise UsageError(f"the metrics need at least 2 images on each side, got {len(real)} real and {len(fake)} generated")
    with warnings.catch_warnings():
        # torchmetrics warns that KID and IS keep their inputs in memory: here they are features.
        warnings.filterwarnings("ignore", message=r"Metric `(Kernel Inception Distance|InceptionScore)` will save")
        return _sample_quality(real, fake, metrics, seed)


def _sample_quality(real: FeatureSet, fake: FeatureSet, metrics: list[str], seed: int) -> dict[str, Any]:
    from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance

    dims = real.features.shape[1]
    out: dict[str, Any] = {}
    if "fid" in metrics:
        fid = FrechetInceptionDistance(feature=_Precomputed(dims), normalize=True)
        fid.set_dtype(torch.float64)
        fid.update(real.features, real=True)
        fid.update(fake.features, real=False)
        out["fid"] = fid.compute().item()
    if "kid" in metrics:
        # Half the smaller set at most, so that the 100 subsets differ and the std means something.
        subset_size = min(1000, len(real) // 2, len(fake) // 2)
        kid = KernelInceptionDistance(feature=_Precomputed(dims), subsets=100, subset_size=subset_size, normalize=True)
        kid.update(real.features, real=True)
        kid.update(fake.features, real=False)
        with torch.random.fork_rng():  # KID draws its subsets from the global generator
            torch.manual_seed(seed)
            mean, std = kid.compute()
        out.update(kid_mean=mean.item(), kid_std=std.item(), kid_subset_size=subset_size)
    if "is" in metrics:
        if fake.logits is None:
            raise UsageError("the Inception-style score needs an extractor with class logits (inception or classifier:D)")
        score = InceptionScore(feature=_Precomputed(fake.logits.shape[1]), splits=10)
        score.update(fake.logits)
        with torch.random.fork_rng():  # IS shuffles before splitting
            torch.manual_seed(seed)
            mean, std = score.compute()
        out.update(is_mean=mean.item(), is_std=std.item())
    if "prdc" in metrics:
        out.update(prdc(real, fake, seed=seed))
    return out


def prdc(real: FeatureSet, fake: FeatureSet, *, seed: int = 0) -> dict[str, float]:
    """Precision, recall, density and coverage (k = 5) on equal numbers of images."""
    from prdc import compute_prdc

    n = min(len(real), len(fake))
    if n <= NEAREST_K:
        raise UsageError(f"precision/recall need more than {NEAREST_K} images on each side, got {n}")
    generator = torch.Generator().manual_seed(seed)
    real_index = torch.randperm(len(real), generator=generator)[:n]
    fake_index = torch.randperm(len(fake), generator=generator)[:n]
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        values = compute_prdc(
            real_features=real.features[real_index].numpy(),
            fake_features=fake.features[fake_index].numpy(),
            nearest_k=NEAREST_K,
        )
    return {**{key: float(value) for key, value in values.items()}, "prdc_n": n}


def real_floor(real: FeatureSet, metrics: list[str], *, seed: int = 0) -> dict[str, Any]:
    """The metrics between two random halves of the real images."""
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    half = len(real) // 2
    return sample_quality(real.subset(order[:half]), real.subset(order[half : 2 * half]), metrics, seed=seed)


def image_batches(draw: Callable[[int, int], torch.Tensor], n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """``draw(count, batch_index)`` called until ``n`` images have been produced."""
    for index, start in enumerate(range(0, n, batch_size)):
        yield draw(min(batch_size, n - start), index)
