"""DCGAN's shared networks: sized from the image side, in range, and initialised as DCGAN's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.errors import UsageError
from zoo.gan.networks import DCGANDiscriminator, DCGANGenerator, dcgan_init


@pytest.mark.parametrize("side, channels", [(16, 1), (24, 1), (28, 1), (32, 3), (64, 3)])
def test_generator_and_discriminator_fit_each_supported_side(side, channels):
    torch.manual_seed(0)
    generator = DCGANGenerator(16, 8, channels, side, "test")
    discriminator = DCGANDiscriminator(8, channels, side, "test")
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, channels, side, side)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (5,)


def test_features_then_score_is_the_whole_discriminator():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(8, 1, 28, "test").eval()
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    features = discriminator.features(images)
    assert features.shape == (4, 32, 4, 4)  # 28 -> 14 -> 7 -> 4, as 32 -> 16 -> 8 -> 4
    torch.testing.assert_close(discriminator.score(features), discriminator(images))


def test_an_unsupported_side_names_the_plugin():
    with pytest.raises(UsageError, match="my-gan"):
        DCGANGenerator(16, 8, 1, 6, "my-gan")


def test_at_28_pixels_the_networks_have_the_recipes_depth_and_widths():
    # the PyTorch examples' DCGAN at 32 x 32: 256/128/64 channels over three up-sampling layers
    generator = DCGANGenerator(100, 64, 1, 28, "test")
    discriminator = DCGANDiscriminator(64, 1, 28, "test")
    widths = [m.out_channels for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [256, 128, 64, 1]
    assert [m.out_channels for m in discriminator.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 1]
    maps, x = [], torch.randn(2, 100, 1, 1)
    for layer in generator.net:
        x = layer(x)
        if isinstance(layer, nn.ConvTranspose2d):
            maps.append(x.shape[-1])
    assert maps == [4, 7, 14, 28]


def test_dcgan_init_keeps_the_output_layer_out_of_tanh_tails():
    # PyTorch's default init would give the 1-channel output layer weights several times larger.
    torch.manual_seed(0)
    generator = DCGANGenerator(100, 64, 1, 28, "test")
    generator.apply(dcgan_init)
    output_layer = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    assert output_layer.weight.std().item() == pytest.approx(0.02, rel=0.1)
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.bias.abs().max() == 0 and (m.weight.mean() - 1).abs() < 0.01 for m in norms)
    # in training mode, as the first steps see it (BatchNorm on batch statistics)
    saturated = (generator(torch.randn(64, 100)).abs() > 0.99).float().mean().item()
    assert saturated < 0.01  # about 9% with PyTorch's default init
