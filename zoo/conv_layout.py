"""Sizing a convolutional pyramid from the image side, shared by the built-in architectures.

Two rules, for two kinds of network:

* :func:`pyramid` (the GANs): the side is halved, rounding up, down to a 3 or 4 pixel base,
  so every image size gets the depth of DCGAN's 4 x 4 start: 28 -> 14 -> 7 -> 4, exactly as
  32 -> 16 -> 8 -> 4. Each stage is one 4 x 4 stride-2 (transposed) convolution; a stage whose
  larger side is odd pads by 2 instead of 1 (see :func:`stage_padding`).
* :func:`conv_layout` (the VAE): exact halvings down to a base of 4..8 pixels (28 -> 14 -> 7),
  a shallower network whose likelihood results the VAE's benchmarks were measured with.

:func:`stage_widths` gives the pyramids' channels: doubling inward from the width, capped
at :data:`WIDEST` times it, so 128 and 256 pixels add stages without tens of millions of
parameters. Third-party plugins may use any of these.
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


MIN_PYRAMID_SIDE = 8


def pyramid(side: int, model: str) -> tuple[int, ...]:
    """The feature-map sides from the base up to ``side``: ``28 -> (4, 7, 14, 28)``, ``64 -> (4, 8, 16, 32, 64)``.

    At 28 x 28 the exact-halving rule stops at 7 x 7 with one layer fewer than DCGAN has at
    32 x 32, and the network it gave had under half the recipe's capacity; halving with
    rounding up keeps the recipe's depth and widths at every size. ``model`` names the
    architecture in the error for sides below 8.
    """
    if side < MIN_PYRAMID_SIDE:
        raise UsageError(f"{model} needs images of at least {MIN_PYRAMID_SIDE} x {MIN_PYRAMID_SIDE} pixels, got {side}: pass --image-size 16 (or 28, 32, 64)")
    sides = [side]
    while sides[-1] > 4:
        sides.append((sides[-1] + 1) // 2)
    return tuple(reversed(sides))


WIDEST = 8
"""The widest stage, in multiples of the width: DCGAN's 512 = 8 x 64 channels at 64 x 64.
Above 64 x 64 (the GANs' pyramids) the extra stages keep that width instead of doubling on (a 256 x 256
generator would otherwise start at 2,048 channels and 48 M parameters), as the
progressive-growing GANs cap theirs at 512."""


def stage_widths(width: int, stages: int, widest: int = WIDEST) -> list[int]:
    """Channels of each stage from the image inward: ``width``, doubling, at most ``widest x width``."""
    return [min(width * 2**i, width * widest) for i in range(stages)]


def stage_padding(larger: int) -> tuple[int, int]:
    """``(padding, output_padding)`` of the 4 x 4 stride-2 convolution between ``larger`` and
    ``(larger + 1) // 2``: a convolution down from ``larger`` uses ``padding``, a transposed
    convolution up to it both. An even side needs (1, 0); an odd one (2, 1), since 7 = 2 * 4 - 1."""
    return (1, 0) if larger % 2 == 0 else (2, 1)
