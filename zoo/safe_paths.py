"""One rule for every path zoo writes from names it read in a file: it stays inside the folder the user named.

A latent file lists the names its images are decoded to; a file someone sends may say
``../../.bashrc.png`` or ``/etc/x.png``. :func:`inside` refuses any name that is absolute,
climbs out with ``..``, or resolves (through links) outside the folder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from zoo.errors import ZooError
from zoo.printable import printable


def inside(root: Path, name: str, source: str) -> Path:
    """``root / name``, or a :class:`ZooError` naming ``source`` (the file the name came from) if it would leave ``root``."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise ZooError(f"{source} names an output {printable(repr(name))}, which is not a file name; refusing to write it")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive or ".." in parts:
        raise ZooError(f"{source} names an output {printable(repr(name))} outside the folder {root}; refusing to write it")
    target = root / Path(*parts)
    base = root.resolve()
    if not target.resolve().is_relative_to(base):
        raise ZooError(f"{source} names an output {printable(repr(name))} that leads outside {root} (through a link); refusing to write it")
    return target
