"""The two sizing rules of zoo.conv_layout: exact halvings (the VAE) and the rounded-up pyramid (the GANs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.conv_layout import conv_layout, pyramid, stage_padding
from zoo.errors import UsageError


@pytest.mark.parametrize(
    "side, sides",
    [(8, (4, 8)), (16, (4, 8, 16)), (24, (3, 6, 12, 24)), (28, (4, 7, 14, 28)), (32, (4, 8, 16, 32)), (64, (4, 8, 16, 32, 64))],
)
def test_pyramid_halves_rounding_up_to_a_base_of_three_or_four(side, sides):
    assert pyramid(side, "m") == sides


@pytest.mark.parametrize("side", [8, 20, 24, 28, 30, 32, 48, 64])
def test_stage_padding_makes_4x4_stride_2_layers_land_on_each_side(side):
    sides = pyramid(side, "m")
    up = torch.zeros(1, 1, sides[0], sides[0])
    for larger in sides[1:]:
        up = nn.ConvTranspose2d(1, 1, 4, 2, *stage_padding(larger))(up)
        assert up.shape[-1] == larger
    down = torch.zeros(1, 1, side, side)
    for larger, smaller in zip(reversed(sides[1:]), reversed(sides[:-1])):
        down = nn.Conv2d(1, 1, 4, 2, stage_padding(larger)[0])(down)
        assert down.shape[-1] == smaller


def test_a_side_too_small_for_a_pyramid_names_the_model():
    with pytest.raises(UsageError, match="my-gan needs images of at least 8"):
        pyramid(6, "my-gan")


def test_conv_layout_keeps_exact_halvings():
    assert conv_layout(28, "vae") == (7, 2)
    assert conv_layout(32, "vae") == (4, 3)
    with pytest.raises(UsageError, match="vae needs square images"):
        conv_layout(30, "vae")
