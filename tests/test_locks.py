"""zoo.locks: one holder at a time, and a non-waiting lock that outlasts a momentary probe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from zoo import locks


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding ``path``'s lock for ``seconds``; returns once it holds it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from zoo import locks
        with locks.locked(Path({str(path)!r}), wait=False, patience=0):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_non_waiting_lock_outlasts_a_momentary_holder(tmp_path: Path) -> None:
    path = tmp_path / ".train.lock"
    holder = hold(path, 0.2)  # as long as a slow zoo runs probe, and then some
    started = time.monotonic()
    with locks.locked(path, wait=False, what="run x"):  # Busy here would fail the test
        waited = time.monotonic() - started
    holder.wait()
    assert waited > 0.1, "the holder was still there when the lock was first tried"


def test_a_non_waiting_lock_refuses_a_real_holder(tmp_path: Path) -> None:
    path = tmp_path / ".train.lock"
    holder = hold(path, 30)
    try:
        with pytest.raises(locks.Busy, match="run x is in use by another process"):
            with locks.locked(path, wait=False, what="run x", patience=0.2):
                pass
        started = time.monotonic()
        with pytest.raises(locks.Busy):
            with locks.locked(path, wait=False, patience=0):
                pass
        assert time.monotonic() - started < locks.PROBE_PATIENCE * 0.9, "patience 0 asks once rather than waiting"
    finally:
        holder.kill()
        holder.wait()
    with locks.locked(path, wait=False, patience=0):  # the system dropped the lock with its holder
        pass
