"""Helpers the tests import: a real ``zoo`` subprocess, and the one-line error check."""

from __future__ import annotations

import os
import subprocess
import sys


def run_zoo(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs ``python -m zoo`` as a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def assert_one_line_error(result, code: int | tuple[int, ...], *fragments: str) -> None:
    """A bad-input failure: the expected exit code, one line on stderr, no traceback."""
    codes = code if isinstance(code, tuple) else (code,)
    stderr = result.stderr.strip()
    exit_code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert exit_code in codes, f"exit code {exit_code}, stderr: {stderr!r}"
    assert "Traceback" not in stderr and "Traceback" not in (result.stdout or "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
