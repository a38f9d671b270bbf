"""What people do with a VAE's latent space, for any :class:`~zoo.contract.LatentModel`.

* :func:`reconstruct`: images -> posterior means -> decoded images, with the error;
* :func:`interpolate`: a path between two latents (of two images, or two seeds);
* :func:`traverse`: vary one latent dimension at a time, dimensions ranked by their KL;
* :func:`save_latents` / :func:`load_latents`: images as a compact latent file (float16
  posterior means in safetensors), the "compression" use, and back.

The CLI verbs ``zoo reconstruct|interpolate|traverse|encode|decode`` are thin wrappers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

from zoo import atomic
from zoo.contract import LatentModel, Model
from zoo.errors import UsageError

LATENT_DTYPE = torch.float16
"""Stored latents: posterior means need ~3 significant digits; float16 halves the file."""


def require_latent(model: Model, name: str) -> LatentModel:
    if not isinstance(model, LatentModel):
        raise UsageError(f"{name} has no encoder: this verb needs a latent-variable model such as vae, beta-vae, cvae or vaegan")
    return model


@dataclasses.dataclass(frozen=True)
class ReconstructionError:
    mse: float
    """Mean squared error per pixel, images in [0, 1]."""

    @property
    def psnr(self) -> float:
        return 10 * math.log10(1 / self.mse) if self.mse > 0 else math.inf

    def __str__(self) -> str:
        return f"MSE {self.mse:.4f} per pixel, PSNR {self.psnr:.1f} dB"


def reconstruction_error(original: torch.Tensor, reconstruction: torch.Tensor) -> ReconstructionError:
    return ReconstructionError(float((original - reconstruction).pow(2).mean()))


def reconstruct(model: LatentModel, images: torch.Tensor, labels: Any = None) -> torch.Tensor:
    """Decode the posterior mean of each image (the deterministic reconstruction)."""
    mean, _ = model.encode(images, labels)
    return model.decode(mean, labels)


def side_by_side(originals: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """Interleave originals and reconstructions: a grid of 2k columns shows k pairs per row."""
    return torch.stack([originals, reconstructions], dim=1).flatten(0, 1)


def slerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: keeps the norm typical of Gaussian latents (White 2016)."""
    cos = torch.nn.functional.cosine_similarity(start, end, dim=-1).clamp(-1, 1)
    omega = torch.acos(cos)
    if float(omega) < 1e-4:
        return start + t[:, None] * (end - start)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * start + (torch.sin(t * omega) / so)[:, None] * end


def interpolate(
    model: LatentModel, start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "lerp", labels: Any = None
) -> torch.Tensor:
    """``steps`` images along the path from latent ``start`` to ``end`` (both ``(latent_dim,)``)."""
    if steps < 2:
        raise UsageError(f"--steps must be at least 2, got {steps}")
    t = torch.linspace(0, 1, steps)
    if method == "lerp":
        path = start + t[:, None] * (end - start)
    elif method == "slerp":
        path = slerp(start, end, t)
    else:
        raise UsageError(f"--method must be lerp or slerp, got {method!r}")
    return model.decode(path, labels)


def kl_per_dimension(model: LatentModel, images: torch.Tensor, labels: Any = None) -> torch.Tensor:
    """Mean KL(q(z_d | x) || N(0, 1)) over ``images``, per latent dimension d, in nats."""
    mean, logvar = model.encode(images, labels)
    return (0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)).mean(0)


def traverse(
    model: LatentModel,
    base: torch.Tensor,
    dimensions: list[int],
    span: float = 3.0,
    steps: int = 9,
    labels: Any = None,
) -> torch.Tensor:
    """One row per dimension in ``dimensions``: ``base`` with that coordinate swept over [-span, span].

    Rows come in the order given (:func:`kl_per_dimension` sorted high to low is the usual one:
    dimensions the model uses first, collapsed ones last). Returns ``(rows * steps, C, H, W)``.
    """
    if steps < 2:
        raise UsageError(f"--steps must be at least 2, got {steps}")
    if not span > 0:
        raise UsageError(f"--span must be positive, got {span}")
    values = torch.linspace(-span, span, steps)
    latents = base.repeat(len(dimensions) * steps, 1)
    for row, dim in enumerate(dimensions):
        latents[row * steps : (row + 1) * steps, dim] = values
    return model.decode(latents, labels)


# -- latent files ----------------------------------------------------------------------------


@dataclasses.dataclass
class LatentFile:
    """Encoded images: float16 posterior means plus where they came from."""

    latents: torch.Tensor
    labels: torch.Tensor | None
    model: str
    run: str
    step: int
    checkpoint_sha256: str
    image_shape: tuple[int, int, int]
    names: list[str]


def save_latents(path: Path, encoded: LatentFile) -> int:
    """Write ``encoded`` as safetensors (atomically); return the file's size in bytes."""
    from zoo import tensor_files

    tensors = {"latents": encoded.latents.to(LATENT_DTYPE).contiguous()}
    if encoded.labels is not None:
        tensors["labels"] = encoded.labels.to(torch.uint8).contiguous()
    metadata = {
        "zoo.model": encoded.model,
        "zoo.run": encoded.run,
        "zoo.step": str(encoded.step),
        "zoo.checkpoint_sha256": encoded.checkpoint_sha256,
        "zoo.image_shape": json.dumps(list(encoded.image_shape)),
        "zoo.names": json.dumps(encoded.names),
    }
    with atomic.atomic_path(path) as tmp:
        tensor_files.save(tensors, tmp, metadata=metadata)
    return path.stat().st_size


def load_latents(path: Path) -> LatentFile:
    """Read a file written by :func:`save_latents`; a foreign or damaged file is a one-line error."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise UsageError(f"{path} does not exist; write one with `zoo encode NAME --input IMAGES --out {path}`")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path} is not a latent file ({detail}); write one with `zoo encode`") from None
    if "latents" not in tensors or "zoo.model" not in metadata:
        raise UsageError(f"{path} is a safetensors file but not one written by `zoo encode` (no latents / zoo.model)")
    return _typed(path, tensors, metadata)


def _typed(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> LatentFile:
    """The file's tensors and metadata checked one by one; the first that does not fit is named."""
    from zoo.printable import printable

    def damaged(what: str) -> UsageError:
        return UsageError(printable(f"{path} is damaged: {what}; write it again with `zoo encode`"))

    def field(key: str, parse=lambda text: text):
        if key not in metadata:
            raise damaged(f"its metadata has no {key}")
        try:
            return parse(metadata[key])
        except (ValueError, TypeError):
            raise damaged(f"its {key} is {metadata[key]!r:.60}") from None

    latents = tensors["latents"]
    if latents.dim() != 2 or not latents.dtype.is_floating_point:
        raise damaged(f"its latents are {latents.dtype} {tuple(latents.shape)}, not one float row per image")
    labels = tensors.get("labels")
    if labels is not None and (labels.dim() != 1 or len(labels) != len(latents) or labels.dtype.is_floating_point):
        raise damaged(f"its labels are {labels.dtype} {tuple(labels.shape)}, not one integer per image")

    def names_list(text: str) -> list[str]:
        names = json.loads(text)
        if not (isinstance(names, list) and len(names) == len(latents) and all(isinstance(n, str) and n for n in names)):
            raise ValueError(text)
        return names

    def shape(text: str) -> tuple[int, int, int]:
        value = json.loads(text)
        if not (isinstance(value, list) and len(value) == 3 and all(type(v) is int and v > 0 for v in value)):
            raise ValueError(text)
        return tuple(value)

    return LatentFile(
        latents=latents.float(),
        labels=labels.long() if labels is not None else None,
        model=field("zoo.model"),
        run=field("zoo.run"),
        step=field("zoo.step", int),
        checkpoint_sha256=field("zoo.checkpoint_sha256"),
        image_shape=field("zoo.image_shape", shape),
        names=field("zoo.names", names_list),
    )
