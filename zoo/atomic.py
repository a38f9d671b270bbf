"""Atomic file writes: write beside the target, then rename over it.

A crash or Ctrl-C mid-write leaves either the old file or the new one, never half of one. A
process killed outright (kill -9, the OOM killer) leaves its temporary file beside the target:
each is named ``.TARGET.HOST-PID.*.tmp``, and the next write of that target removes those of
processes of this machine that no longer run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with naming(target):
            yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp_path, plain_mode())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        with naming(target):
            yield tmp
        os.chmod(tmp, plain_mode(folder=True))
        if target.exists():
            _remove_tree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            _remove_tree(tmp)


def temporary_prefix(target: Path) -> str:
    """The start of the name of a temporary file or folder for ``target`` (end it in ``.tmp``)."""
    return f".{target.name}.{_host()}-{os.getpid()}."


def remove_stale(target: Path) -> None:
    """Remove the temporary files and folders for ``target`` left by processes of this machine
    that have ended (a process on another machine sharing the folder is never second-guessed)."""
    owner = re.compile(rf"\.{re.escape(target.name)}\.{re.escape(_host())}-(\d+)\.")
    for stale in target.parent.glob(f".{glob.escape(target.name)}.{_host()}-*.tmp"):
        found = owner.match(stale.name)
        if found and not _running(int(found.group(1))):
            if stale.is_dir() and not stale.is_symlink():
                _remove_tree(stale)
            else:
                stale.unlink(missing_ok=True)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's, or unknown: leave it
    return True


@contextlib.contextmanager
def naming(target: Path) -> Iterator[None]:
    """A failed write that names no file (Pillow's, on a full disk) names the one being written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def plain_mode(folder: bool = False) -> int:
    """The permissions a plain ``open()`` (or ``mkdir()``) would give under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask
