"""The run's metrics mirrored to TensorBoard, when tensorboard is installed (``zoo[tensorboard]``).

``metrics.jsonl`` is the run's record; the TensorBoard events are a view of it. So a failure to
write the view (a full disk, a file-size limit, a folder made read-only) stops the view with one
warning, not the run, and the traceback tensorboard's writer thread would print is kept off the
terminal: the same error reaches zoo through the writer's next call, where it is reported once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

FOLDER = "tensorboard"


class TensorBoardLog:
    """Scalars of each metrics line, written under ``RUN/tensorboard``."""

    def __init__(self, writer: Any, folder: Path, warn: Callable[[str], None]) -> None:
        self._writer: Any = writer
        self._folder = folder
        self._warn = warn
        self._previous_hook = threading.excepthook
        threading.excepthook = self._thread_failed

    @classmethod
    def open(cls, run_dir: Path, warn: Callable[[str], None]) -> "TensorBoardLog | None":
        """The log, or None when tensorboard is not installed or its folder cannot be written."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        folder = run_dir / FOLDER
        try:
            return cls(SummaryWriter(log_dir=str(folder)), folder, warn)
        except OSError as exc:
            warn(_stopped(folder, exc))
            return None

    def add_scalars(self, step: int, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        try:
            for key, value in values.items():
                self._writer.add_scalar(key, value, step)
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except OSError as exc:
            self._fail(exc)
        finally:
            self._writer = None
            if threading.excepthook is self._thread_failed:
                threading.excepthook = self._previous_hook

    def _fail(self, exc: OSError) -> None:
        writer, self._writer = self._writer, None
        self._warn(_stopped(self._folder, exc))
        try:
            writer.close()
        except OSError:
            pass  # the same failure again, already reported

    def _thread_failed(self, args: Any) -> None:
        if type(args.thread).__module__.startswith("tensorboard."):
            return  # raised again by the writer's next call, and reported there
        self._previous_hook(args)


def _stopped(folder: Path, exc: OSError) -> str:
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"TensorBoard logging stopped: {reason} ({exc.filename or folder}); metrics.jsonl still records every line"
