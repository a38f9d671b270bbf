"""How a run trains (:class:`TrainOptions`) and the defaults behind it, each declared once.

Torch-free, so the CLI can build ``zoo train``'s flags from these fields without importing
the training loop: every field declared with :func:`zoo.config.option` is a flag of that name.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from zoo.config import SEED_MAX, check_bounds, option

DEFAULT_BATCH_SIZE = 64
"""Used when neither --batch-size nor the plugin's ``default_batch_size`` says otherwise."""
DEFAULT_STEPS = 2000
"""Steps a run trains for when neither --steps nor --epochs is given."""


@dataclasses.dataclass
class TrainOptions:
    """How a run trains. Each field declared with ``option()`` is also ``zoo train``'s flag of that name."""

    steps: int | None = option(None, f"Total optimisation steps [default: {DEFAULT_STEPS}].", low=1)
    epochs: int | None = option(None, "Train for this many passes over the data instead.", low=1)
    batch_size: int | None = option(None, f"Examples per step [default: the model's, else {DEFAULT_BATCH_SIZE}].", low=1, high=65536)
    seed: int = option(0, "Seed for initialisation, batches and noise.", low=0, high=SEED_MAX)
    log_every: int = option(50, "Steps between metrics lines.", low=1)
    sample_every: int = option(500, "Steps between sample grids.", low=1)
    checkpoint_every: int = option(1000, "Steps between checkpoints.", low=1)
    keep_checkpoints: int = option(2, "Checkpoints kept in the run folder, the newest.", low=1)
    n_samples: int = option(64, "Images (or sequences, a few) in each sample grid.", low=1, high=1024)
    progress: bool = True
    collapse_patience: int = option(200, "Warn when the discriminator has been right on 99% of images for this many steps.", low=1)
    diversity_floor: float = option(
        0.1, "Warn when the samples' mean pairwise distance (or a VAE's reconstructions') falls below this fraction of the data's.",
        low=0,
        high=1,
    )
    precision: Literal["fp32", "bf16", "fp16"] = option(
        "fp32", "bf16 or fp16: autocast, where the hardware computes in it natively; fp16 with loss scaling."
    )
    compile: bool = option(False, "torch.compile the model's modules (slow first steps; measure with zoo bench --compile).")
    channels_last: bool = option(
        False, "Weights and image batches in channels-last memory format (often faster convolutions; measure with zoo bench)."
    )

    def __post_init__(self) -> None:
        check_bounds(self)
