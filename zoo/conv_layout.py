"""Sizing a convolutional pyramid from the image side, shared by the built-in architectures.

A DCGAN-style network halves the image with stride-2 convolutions until it reaches a small
base (4 for 16/32/64 px, 7 for 28 px), one layer per halving; a generator or decoder mirrors
that with transposed convolutions. Third-party plugins may use it too.
"""

from __future__ import annotations

from zoo.errors import UsageError


def conv_layout(side: int, model: str) -> tuple[int, int]:
    """``(base, halvings)`` with ``side == base * 2**halvings`` and ``4 <= base <= 8``.

    ``model`` names the architecture in the error for sides that do not halve that way.
    """
    base, halvings = side, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        halvings += 1
    if halvings == 0 or base > 8:
        raise UsageError(
            f"{model} needs square images whose side halves down to 4..8 pixels (16, 28, 32, 64, ...); "
            f"got {side}: pass --image-size 32 (or 16, 28, 64)"
        )
    return base, halvings
