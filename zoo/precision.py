"""Training precision: ``fp32``, or ``bf16`` autocast where the hardware computes in bf16.

``bf16`` runs each plugin's ``train_step`` under ``torch.autocast``: matrix products and
convolutions in bfloat16, reductions and losses in float32, weights and optimizer state in
float32. No gradient scaler is needed (bf16 has float32's exponent range). It is refused on a
CPU without native bf16 (AVX512-BF16 or AMX), where it would be emulated and slower.

``fp16`` needs a gradient scaler between each plugin's ``backward`` and its optimizer step,
which the plugin contract does not give the trainer yet, so it is refused everywhere for now.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from zoo.errors import UsageError

PRECISIONS = ("fp32", "bf16", "fp16")


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def check(precision: str, device: torch.device | str) -> None:
    """Raise a one-line :class:`UsageError` if ``precision`` cannot (or should not) train on ``device``."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and not native_bf16(device):
        where = "this CPU has no native bf16 (AVX512-BF16 or AMX)" if device.type == "cpu" else f"{device} has no native bf16"
        raise UsageError(f"--precision bf16: {where}, so bf16 would be emulated and slower than fp32; use --precision fp32")
    if precision == "fp16":
        raise UsageError(
            "--precision fp16 needs a gradient scaler inside each plugin's step, which zoo does not provide yet; "
            "use --precision bf16 on hardware with native bf16, or fp32"
        )


def autocast(precision: str, device: torch.device | str) -> ContextManager:
    """The context ``train_step`` runs in: nothing for fp32, ``torch.autocast`` otherwise."""
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
