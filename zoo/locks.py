"""Advisory file locks: one writer at a time for a file that several processes may update.

``registry.json`` is read, changed and rewritten by ``zoo evaluate --record``; two at once
would each write their own copy and lose the other's results. A run folder is trained by
one process at a time; two ``--resume`` of it would interleave their steps. Both take a lock
on a ``.lock`` file beside what they protect (POSIX ``flock``; ``msvcrt`` on Windows), which
the operating system releases when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

from zoo.errors import ZooError


class Busy(ZooError):
    """Another process holds the lock."""


PROBE_PATIENCE = 1.0
"""Seconds a ``wait=False`` lock keeps trying before it reports :class:`Busy`: enough to outlast
a probe (``zoo runs`` takes a run's lock for an instant to ask whether it trains), far too
short to wait out a real holder."""


@contextlib.contextmanager
def locked(path: Path, *, wait: bool = True, what: str = "", patience: float = PROBE_PATIENCE) -> Iterator[None]:
    """Hold the lock ``path`` (created if missing) for the ``with`` block.

    ``wait=False`` fails with :class:`Busy` (naming ``what``) if another process still holds it
    after ``patience`` seconds (0: at once).
    """
    try:
        handle = open(path, "a+b")
    except OSError as exc:
        raise ZooError(f"cannot lock {what or path}: {exc.strerror or exc} ({path})") from None
    try:
        deadline = time.monotonic() + patience
        while True:
            try:
                _lock(handle, wait)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(f"{what or path} is in use by another process; wait for it to finish, or stop it") from None
                time.sleep(0.02)
        yield
    finally:
        handle.close()  # closing releases the lock


def _lock(handle, wait: bool) -> None:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        mode = msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK
        try:
            msvcrt.locking(handle.fileno(), mode, 1)
        except OSError:
            raise BlockingIOError from None
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
