"""``inception``: the standard FID network, with weights from a file the user supplies.

FID as published (Heusel et al. 2017) uses TensorFlow's 2015 Inception-v3 graph; the
PyTorch port of its weights is ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's
release; torch-fidelity ships the same bytes as ``weights-inception-2015-12-05-6726825d.pth``).
zoo cannot download it at run time, so ``--weights PATH`` names a copy. The file must have
the published SHA-256, and it is read with ``torch.load(weights_only=True)``, which accepts
only tensors and plain containers: nothing in it can run code.

The network itself is torch-fidelity's ``FeatureExtractorInceptionV3`` (the one torchmetrics
uses): 2048 pool features, and the 1008 logits for the Inception Score.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import torch

from zoo.digest import sha256_of
from zoo.errors import UsageError, ZooError
from zoo.features.extractor import FeatureExtractor

FILENAME = "pt_inception-2015-12-05-6726825d.pth"
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FILENAME


def load_state_dict(path: Path | None, expected_sha256: str = SHA256) -> dict[str, torch.Tensor]:
    """The checked tensors of the FID Inception weights at ``path``, or a one-line error."""
    if path is None:
        raise UsageError(f"the inception extractor needs the FID Inception-v3 weights: download {URL} and pass --weights PATH")
    if not path.is_file():
        raise UsageError(f"no weights file at {path}; download {URL} and pass its path to --weights")
    found = sha256_of(path)
    if found != expected_sha256:
        raise UsageError(
            f"{path} is not the published FID Inception weights (sha256 {found[:12]}..., expected {expected_sha256[:12]}...); download {URL}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the restricted unpickler refuses anything but tensors and containers
        raise ZooError(f"{path} holds something other than plain tensors ({type(exc).__name__}); refusing to load it") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ZooError(f"{path} is not a state dict of tensors")
    return state


class InceptionFeatures(FeatureExtractor):
    summary: ClassVar[str] = "the standard FID Inception-v3 (2048 features); --weights " + FILENAME

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # torch-fidelity reads its weights with a full unpickler; it gets back only the
        # tensors the restricted loader already accepted, re-serialised here in memory.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        self.network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=buffer)
        self.name = "inception"
        self.description = "Inception-v3 with the TensorFlow FID weights (pool3, 2048 features)"
        self.num_features = 2048

    @classmethod
    def open(cls, argument: str | None, weights: Path | None) -> "InceptionFeatures":
        return cls(load_state_dict(weights))

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        # the network takes 8-bit RGB and resizes to 299 x 299 itself, as the TF original
        as_bytes = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        with torch.no_grad():
            features, logits = self.network(as_bytes)
        return features, logits
