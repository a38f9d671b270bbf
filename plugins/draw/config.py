from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zoo.config import option


@dataclass(frozen=True)
class DRAWConfig:
    """DRAW's knobs. The defaults are the paper's MNIST model (its Table 3) except ``steps``,
    cut from 64 to 16 so a CPU trains it in minutes."""

    steps: int = option(16, "glimpses T: encoder/decoder steps, each adding to the canvas (the paper uses 64 on MNIST)")
    encoder_hidden: int = option(256, "units of the encoder LSTM (the paper: 256 on MNIST)")
    decoder_hidden: int = option(256, "units of the decoder LSTM (the paper: 256 on MNIST)")
    latent_dim: int = option(100, "size of z_t, the latent drawn at each step (the paper: 100 on MNIST)")
    attention: bool = option(True, "Gaussian-filterbank read and write (False: read the whole image, write the whole canvas)")
    read_n: int = option(2, "attention only: the read glimpse is a read_n x read_n grid of filters (the paper: 2)")
    write_n: int = option(5, "attention only: the written patch is write_n x write_n (the paper: 5)")
    binarize: Literal["dynamic", "none"] = option(
        "dynamic", "resample binary pixels from the intensities every step (dynamic) or fit grey values (none)"
    )
    lr: float = option(1e-3, "Adam learning rate (the paper does not give one)")
    grad_clip: float = option(10.0, "clip the global gradient norm to this, for the LSTMs unrolled over T steps (0: no clipping)")

    def __post_init__(self) -> None:
        for name in ("steps", "encoder_hidden", "decoder_hidden", "latent_dim", "read_n", "write_n"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.grad_clip >= 0:
            raise ValueError(f"grad_clip must be 0 or more, got {self.grad_clip}")
