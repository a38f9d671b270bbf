"""The feature-extractor contract: images in, features (and class logits) out.

Sample-quality metrics (FID, KID, precision/recall) compare two sets of images in the
feature space of some network, and every number depends on which network that is. An
extractor is registered under the ``zoo.features`` entry-point group, exactly as models are
(``pyproject.toml``)::

    [project.entry-points."zoo.features"]
    my-net = "my_package.features:MyFeatures"

The entry point names a subclass of :class:`FeatureExtractor`; ``zoo`` calls its ``open``
with the text after the colon (``classifier:mnist`` -> ``"mnist"``) and the ``--weights``
path, and reports the instance's ``name`` and ``description`` beside every number.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import torch


class FeatureExtractor(ABC):
    """Maps images to features for the metrics; built by ``open``."""

    summary: ClassVar[str]
    """One line for listings."""
    takes_argument: ClassVar[bool] = False
    """True when the name needs ``:ARGUMENT`` (``classifier:mnist``)."""

    name: str
    """The full name reported with each number, e.g. ``classifier:mnist``."""
    description: str
    """What the network is and how good it is, e.g. its held-out accuracy."""
    num_features: int

    @classmethod
    @abstractmethod
    def open(cls, argument: str | None, weights: Path | None) -> "FeatureExtractor":
        """A ready extractor, or a :class:`~zoo.errors.UsageError` saying what is missing."""

    @abstractmethod
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images (N, C, H, W) in [0, 1], any size and 1 or 3 channels, -> features (N, D)
        and class logits (N, K), or None where the network has no classes (no IS then)."""


def fit_images(images: torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    """``images`` in [0, 1] converted to the channels and size a network was trained on."""
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    if tuple(images.shape[2:]) != (height, width):
        images = torch.nn.functional.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return images.clamp(0, 1)
