"""How far a run's training got, how it ended, and its last losses, from what its folder holds.

``zoo runs``, ``zoo compare``, ``zoo report`` (through :func:`zoo.tools.compare.summarize`) and
the last line of ``zoo train`` all read a run's state here, so that they agree.

status
    ``running`` while a process holds the run's :data:`TRAIN_LOCK` (:mod:`zoo.locks`; the
    operating system drops the lock when that process ends, however it ends). Otherwise the
    newest training session decides: ``failed`` if it logged a ``diverged`` or ``failed``
    event, ``finished`` if it reached its target, else ``interrupted``: stopped by Ctrl-C or
    SIGTERM (which checkpoint first), or killed outright. A session begins with the run, or
    with the ``resumed`` event a ``--resume`` logs. A record without a target reads
    ``stopped``: it cannot tell finished from interrupted.
step
    the newest step trained: the step of the last training line written or of the newest
    checkpoint, whichever is later. A run in progress logs every ``log_every`` steps and
    checkpoints far less often, so this is its real progress.
target
    the step the newest session trains to: its ``resumed`` event's, else ``training.steps``
    of ``config.json`` (which a resume leaves as the run began).
last losses
    the means the trainer logged over the last logged interval: the steps after the previous
    log line (or resume) up to and including the last one, at most ``log_every`` of them.
    A single batch's losses are noise; these are what the log keeps, for every reader alike.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from zoo import locks
from zoo.errors import ZooError
from zoo.runs import metrics_log
from zoo.runs.record import RunRecord

TRAIN_LOCK = ".train.lock"
"""Held in a run folder by the process training it."""
STATUSES = ("running", "finished", "interrupted", "failed", "stopped")
FAILURE_EVENTS = ("diverged", "failed")
"""Events with which the trainer records that a session ended in an error."""
RESUMED = "resumed"
"""The event that starts a resumed session: ``{"event": "resumed", "step": S, "target": T}``."""
BOOKKEEPING = ("step", "epoch", "time", "images_per_s")
"""Keys of a training line that say when and how fast, not how the model is doing."""
LOSS_SCALING = ("loss_scale", "skipped_steps")
"""Keys an fp16 run adds to its training lines: the loss scaler's state, not the model's losses."""
LAST_LOSSES = "mean of the last logged interval"
"""What "last losses" are, for headers that name them."""


@dataclasses.dataclass(frozen=True)
class LastLosses:
    """The values the model's ``train_step`` returned, averaged over the last logged interval."""

    values: dict[str, float]
    first_step: int | None = None
    last_step: int | None = None
    """The interval, both ends included; None when nothing was logged yet."""

    def text(self) -> str:
        """``loss_d 0.5079, d_accuracy 0.9453, loss_g 2.095``."""
        return ", ".join(f"{key} {value:.4g}" for key, value in self.values.items())

    def describe(self) -> str:
        """``mean of steps 1951-2000``; ``step 7 alone`` for an interval of one step."""
        if self.last_step is None:
            return "nothing logged yet"
        if self.first_step == self.last_step:
            return f"step {self.last_step} alone"
        return f"mean of steps {self.first_step}-{self.last_step}"


def last_losses(log: list[dict[str, Any]]) -> LastLosses:
    """The last losses (see the module docstring) of a run's log, as :func:`metrics_log.read` gives it."""
    training = [(index, entry) for index, entry in enumerate(log) if metrics_log.is_training_line(entry)]
    if not training:
        return LastLosses({})
    index, last = training[-1]
    step = last["step"]
    # the interval starts after the latest step logged, or resumed from, before this one
    earlier = [e["step"] for e in log[:index] if (metrics_log.is_training_line(e) or e.get("event") == RESUMED) and metrics_log.is_step(e.get("step"))]
    previous = max((s for s in earlier if s < step), default=0)
    values = {
        key: value
        for key, value in last.items()
        if metrics_log.is_number(value) and key not in BOOKKEEPING and key not in LOSS_SCALING
    }
    return LastLosses(values, previous + 1, step)


@dataclasses.dataclass(frozen=True)
class Progress:
    status: str
    """One of :data:`STATUSES`."""
    step: int
    """The newest step trained (0 before the first log line or checkpoint)."""
    target: int | None
    checkpoint_step: int | None
    """The newest checkpoint's step, what sampling and ``--resume`` start from."""
    last_losses: LastLosses
    failure: str | None = None
    """Why the newest session failed, as its event says."""


def read_progress(run_dir: Path, record: RunRecord, log: list[dict[str, Any]] | None = None) -> Progress:
    """The run's :class:`Progress`; ``log`` is its :func:`metrics_log.read`, read here if not given."""
    from zoo.runs.checkpoint import list_checkpoints

    log = metrics_log.read(run_dir) if log is None else log
    checkpoints = list_checkpoints(run_dir)
    checkpoint_step = checkpoints[-1][0] if checkpoints else None
    target = record.training.get("steps")
    target = target if metrics_log.is_step(target) else None
    logged_step, failure = None, None
    for entry in log:
        event = entry.get("event")
        if metrics_log.is_training_line(entry):
            logged_step = entry["step"]
        elif event == RESUMED:
            target = entry["target"] if metrics_log.is_step(entry.get("target")) else None
            failure = None
        elif event in FAILURE_EVENTS:
            failure = str(entry.get("reason") or event)
    step = max(logged_step or 0, checkpoint_step or 0)
    if is_training(run_dir):
        status = "running"
    elif failure is not None:
        status = "failed"
    elif target is None:
        status = "stopped"
    else:
        status = "finished" if step >= target else "interrupted"
    return Progress(status, step, target, checkpoint_step, last_losses(log), failure if status == "failed" else None)


def is_training(run_dir: Path) -> bool:
    """True while another process holds the run's :data:`TRAIN_LOCK`.

    Asks by trying the lock without waiting and letting go at once; a folder with no lock
    file was never trained and gets none made here. A lock that cannot be opened (a read-only
    folder) reads as not held.
    """
    path = run_dir / TRAIN_LOCK
    if not path.is_file():
        return False
    try:
        with locks.locked(path, wait=False, patience=0):
            return False
    except locks.Busy:
        return True
    except ZooError:
        return False
