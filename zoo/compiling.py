"""``--compile``: torch.compile of a model's modules, in place.

``nn.Module.compile`` swaps a module's call for the compiled one without wrapping it, so the
plugin's own calls (``self.generator(z)``) run compiled and ``state_dict`` keys, and with them
checkpoints, stay the same. Only the modules an optimizer trains are compiled; the first steps
pay for the compilation (tens of seconds on a CPU), which ``zoo bench --compile`` measures.
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


def compile_modules(model: "Model", backend: str = "inductor") -> list[str]:
    """Compile each module of ``model`` that has trainable parameters; return their names."""
    compiled = []
    for name, module in model.modules.items():
        if any(p.requires_grad for p in module.parameters()):
            module.compile(backend=backend)
            compiled.append(name)
    return compiled
