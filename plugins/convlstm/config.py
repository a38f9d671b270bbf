from __future__ import annotations

from dataclasses import dataclass

from zoo.config import option


@dataclass(frozen=True)
class ConvLSTMConfig:
    """ConvLSTM's knobs. The paper's Moving MNIST model is 3 layers of 256, 128 and 64 hidden
    channels with 5x5 kernels on 4x4 patches. The defaults (2 layers of 32 channels, 3x3
    kernels) cost a CPU core about a second per batch of 16 sequences of 64x64 frames; the
    paper's sizes cost about 25 times that."""

    context_frames: int = option(10, "frames given as input; the rest of each training sequence is the target (the paper: 10 in, 10 out)")
    patch_size: int = option(4, "frames are cut into patch_size x patch_size patches, stacked as channels, before the ConvLSTMs (the paper: 4)")
    hidden_channels: int = option(32, "hidden channels of each ConvLSTM layer (the paper: 256, 128, 64)")
    layers: int = option(2, "ConvLSTM layers in the encoder, and as many in the forecaster (the paper: 3)")
    kernel_size: int = option(3, "side of the input-to-state and state-to-state kernels (the paper: 5)")
    lr: float = option(1e-3, "Adam learning rate (the paper: RMSProp at 1e-3)")
    grad_clip: float = option(10.0, "clip the global gradient norm to this, for the cells unrolled over the sequence (0: no clipping)")

    def __post_init__(self) -> None:
        for name in ("context_frames", "patch_size", "hidden_channels", "layers", "kernel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so frames keep their size, got {self.kernel_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.grad_clip >= 0:
            raise ValueError(f"grad_clip must be 0 or more, got {self.grad_clip}")
