"""Text from files shown on the terminal: control characters escaped, so metadata cannot drive it.

An ONNX file's metadata, a latent file's names or a run's record can hold any string, and a
raw ESC sequence printed from one can retitle the terminal, hide text or worse. Everything
zoo prints that came from a file it read goes through :func:`printable`.
"""

from __future__ import annotations

import unicodedata


def printable(text: object) -> str:
    """``str(text)`` with every control or format character (C0, DEL, C1, bidi overrides) as an escape."""
    return "".join(ch if not _is_control(ch) else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf") and ch != "\n"
