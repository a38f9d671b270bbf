"""Writing safetensors files so that a failed write is an ``OSError``, like any other file's.

safetensors reports a full disk, a file-size limit or a vanished folder as
``SafetensorError("Error while serializing: I/O error: File too large (os error 27)")``. The
CLI gives every ``OSError`` as the system's one-line reason and the path; this one it would
take for a bug in zoo.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.atomic import plain_mode

if TYPE_CHECKING:
    import torch

_OS_ERROR = re.compile(r"os error (\d+)")


def save(tensors: dict[str, "torch.Tensor"], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """``safetensors.torch.save_file`` with the permissions ``open()`` would give, raising
    ``OSError(errno, reason, path)`` when the write fails."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path), metadata=metadata)
        os.chmod(path, plain_mode())  # safetensors writes 0600; a run on a shared folder is read by others
    except SafetensorError as exc:
        found = _OS_ERROR.search(str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(path)) from None
