"""The generator's EMA: warmed up, so a short run averages recent weights, not the initial ones."""

from __future__ import annotations

import pytest
import torch

from zoo.gan.ema import averaged, warmed_up_decay
from zoo.models import get_model


def test_the_decay_warms_up_to_the_configured_value():
    assert warmed_up_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_up_decay(0.999, 600) == pytest.approx(601 / 610)
    assert warmed_up_decay(0.999, 20000) == 0.999


def test_an_average_tracks_a_drifting_weight_early_on():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = averaged(net, 0.999)
    with torch.no_grad():
        for step in range(1, 201):
            net.weight.fill_(float(step))
            ema.update_parameters(net)
    # a constant 0.999 would still sit near the first values (about 20); warmed up, the
    # average trails the last weight, 200, by about its window
    assert 170 < ema.module.weight.item() < 200


def test_a_short_dcgan_run_samples_from_trained_weights(tmp_path):
    from zoo.datasets import load_dataset

    data = load_dataset("digits")
    plugin = get_model("dcgan")
    torch.manual_seed(0)
    config = plugin.Config(generator_width=8, discriminator_width=8, latent_dim=16, ema_decay=0.999)
    model = plugin.build(config, data.spec)
    initial = [p.detach().clone() for p in model.generator.parameters()]
    for step in range(1, 51):
        model.train_step(data.batch(torch.arange(32 * step, 32 * step + 32) % len(data)), step)
    live = list(model.generator.parameters())
    average = list(model.ema.module.parameters())
    moved = sum((a - b).norm() ** 2 for a, b in zip(live, initial)).sqrt()
    lag = sum((a - b).norm() ** 2 for a, b in zip(live, average)).sqrt()
    assert lag < 0.5 * moved, f"the average lags the live weights by {lag:.3f} of {moved:.3f} moved"
