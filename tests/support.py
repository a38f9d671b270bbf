"""Helpers the tests import: a real ``zoo`` subprocess (on pipes, or with a terminal for its
stderr), the one-line error check, a third-party distribution written as pip would install it,
and a Python that cannot import torch."""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass
class TerminalRun:
    returncode: int
    stdout: str
    terminal: str
    """Everything written to the terminal (stderr), control characters included."""

    @property
    def screen(self) -> list[str]:
        """The terminal's lines as a person sees them once the command is done: each carriage
        return moves back to the line's start and what follows overwrites what was there."""
        lines, line, column = [], [], 0
        for char in self.terminal:
            if char == "\n":
                lines.append("".join(line).rstrip())
                line, column = [], 0
            elif char == "\r":
                column = 0
            else:
                line[column : column + 1] = [char]
                column += 1
        lines.append("".join(line).rstrip())
        return [text for text in lines if text]


def run_zoo_on_a_terminal(*args: str, timeout: float = 300) -> TerminalRun:
    """Runs ``python -m zoo`` with its stderr on a pseudo-terminal, as in a user's shell (stdout
    stays a pipe, as when a script reads the printed path)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    # a window of 50 x 200, as a terminal has (tqdm draws nothing on one of no size)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "zoo", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end
                    break
                if not data:
                    break
                chunks.append(data)
        else:
            process.kill()
            raise TimeoutError(f"zoo {' '.join(args)} ran past {timeout} s")
        stdout = process.stdout.read().decode()
        returncode = process.wait(timeout=30)
    finally:
        os.close(master)
        process.stdout.close()
    return TerminalRun(returncode, stdout, b"".join(chunks).decode(errors="replace"))


def assert_one_line_error(result, code: int | tuple[int, ...], *fragments: str) -> None:
    """A bad-input failure: the expected exit code, one line on stderr, no traceback, and not
    the CLI's catch-all for bugs (``error: unexpected ...``)."""
    codes = code if isinstance(code, tuple) else (code,)
    stderr = result.stderr.strip()
    exit_code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert exit_code in codes, f"exit code {exit_code}, stderr: {stderr!r}"
    assert "Traceback" not in stderr and "Traceback" not in (result.stdout or "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    assert not lines[0].startswith("error: unexpected "), f"reached the catch-all: {lines[0]!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def file_digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with its sha256 (lock files aside): equal
    before and after a command, nothing in the folder was written."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


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


def site_with_only(tmp_path: Path, packages: list[str]) -> Path:
    """A folder holding links to just these installed top-level packages (and their .libs)."""
    site = tmp_path / "only"
    site.mkdir()
    import onnxruntime

    source = Path(onnxruntime.__file__).resolve().parents[1]
    for name in packages:
        for entry in source.glob(f"{name}*"):
            if entry.name == name or entry.name.startswith((f"{name}.", f"{name}-", f"{name}_")) or entry.name == f"{name}.libs":
                (site / entry.name).symlink_to(entry)
    return site


def run_isolated(site: Path, code: str) -> subprocess.CompletedProcess:
    """python -S: no site-packages at all, only the stdlib and ``site``."""
    return subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_zoo_without_torch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``zoo ARGS`` in a Python that can import only onnxruntime, numpy, Pillow, click and zoo;
    it fails if anything imported torch."""
    site = site_with_only(tmp_path, ["onnxruntime", "numpy", "PIL", "pillow", "click"])
    (site / "zoo").symlink_to(Path(__file__).resolve().parents[1] / "zoo")
    argv = ["zoo", *map(str, args)]
    return run_isolated(site, f"sys.argv = {argv!r}; from zoo.cli import main\ntry:\n    main()\nfinally:\n    assert 'torch' not in sys.modules")
