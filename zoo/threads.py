"""How many CPU threads zoo computes with: one rule, for PyTorch and onnxruntime alike.

PyTorch's default, a thread per core, is fast on an idle machine and slow on a shared one: on
a busy 2-core box zoo's demo trained at 30 to 85 images/s with torch's two threads and at about
1,100 with one, because every thread waits on the core the other process holds. So zoo picks:

1. ``--threads N`` where the command has it;
2. else ``$ZOO_THREADS``, else ``$OMP_NUM_THREADS`` (what a scheduler such as SLURM sets);
3. else half the cores this process may run on (``os.sched_getaffinity``), at least one;

and ``zoo train --nproc N`` gives each of its processes one thread unless told otherwise.
The count goes to torch (``torch.set_num_threads``, and ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
for what it starts) and to every onnxruntime session (``intra_op_num_threads``).

Torch-free: ``zoo generate`` uses it without importing torch.
"""

from __future__ import annotations

import os
import sys

ENV = "ZOO_THREADS"
MAX_THREADS = 1024

_chosen: int | None = None


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, which cgroups and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """The count zoo uses when ``--threads`` is not given (rules 2 and 3 above)."""
    for variable in (ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and 1 <= int(value) <= MAX_THREADS:
            return int(value)
    return max(1, available_cores() // 2)


def use(threads: int | None) -> int:
    """Compute with ``threads`` from now on (None: :func:`default_threads`); the count chosen."""
    global _chosen
    count = default_threads() if threads is None else threads
    _chosen = count
    # read by torch when it is imported and by the processes zoo starts (torchrun's workers, data
    # loaders), so they keep this count; torch's own count is set directly if it is loaded
    os.environ[ENV] = os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    return count


def chosen() -> int:
    """The count in use: what :func:`use` chose, else the default."""
    return _chosen if _chosen is not None else default_threads()


def describe(count: int) -> str:
    return f"{count} CPU thread{'s' if count != 1 else ''}"
