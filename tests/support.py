"""Helpers the tests import: a real ``zoo`` subprocess, the one-line error check, and a
third-party distribution written as pip would install it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


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


def install_distribution(
    site: Path, dist: str, entries: dict[str, str], modules: dict[str, str], group: str = "zoo.models"
) -> None:
    """Write a distribution as pip installs it: modules plus NAME-VERSION.dist-info with entry
    points (``entries``: name -> ``module:attribute``) in ``group``."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
