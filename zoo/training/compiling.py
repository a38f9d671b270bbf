"""Layout and compilation of a model's modules, in place: ``--channels-last`` and ``--compile``.

``channels_last`` stores every 4-D weight, and each batch of images, in NHWC order, which
oneDNN's and cuDNN's convolutions prefer; a model's outputs are the same up to rounding.

``nn.Module.compile`` swaps a module's call for the compiled one without wrapping it, so the
plugin's own calls (``self.generator(z)``) run compiled and ``state_dict`` keys, and with them
checkpoints, stay the same. Only the modules an optimizer trains are compiled; the first steps
pay for the compilation (tens of seconds on a CPU), which ``zoo bench --compile`` measures.
It works on several processes too, each compiling its own copy.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from zoo.errors import UsageError

if TYPE_CHECKING:
    import torch

    from zoo.contract import Model

COMPILERS = ("c++", "g++", "clang++")


def check(device: "torch.device") -> None:
    """Refuse ``--compile`` in one line where inductor cannot build its kernels."""
    if device.type == "cpu" and not any(shutil.which(name) for name in COMPILERS):
        raise UsageError("--compile on a CPU needs a C++ compiler (g++ or clang++) for torch.compile's kernels; install one or drop --compile")


def to_channels_last(model: "Model") -> None:
    """Every module of ``model`` in channels-last memory format (4-D tensors only)."""
    import torch

    for module in model.modules.values():
        module.to(memory_format=torch.channels_last)


def channels_last_batch(images: "torch.Tensor") -> "torch.Tensor":
    """A batch of images ``(N, C, H, W)`` in channels-last order; sequences are left as they are."""
    import torch

    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images


def compile_modules(model: "Model", backend: str = "inductor") -> list[str]:
    """Compile each module of ``model`` that has trainable parameters; return their names.

    On several processes the modules are compiled with DDP's hooks already in place
    (:func:`zoo.training.distributed.prepare` runs first), so dynamo traces through them.
    """
    import warnings

    # A compiled convolution may give a one-channel weight's gradient other (equally valid)
    # strides than DDP's gradient bucket has; DDP copies it, with a warning on every rank.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    compiled = []
    for name, module in model.modules.items():
        if any(p.requires_grad for p in module.parameters()):
            module.compile(backend=backend)
            compiled.append(name)
    return compiled
