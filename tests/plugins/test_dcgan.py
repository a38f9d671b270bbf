from __future__ import annotations

import pytest
import torch

from zoo import DataSpec, get_model
from zoo.contract import Batch
from zoo.errors import UsageError

TINY = {"latent_dim": 8, "generator_width": 4, "discriminator_width": 4}


def build(spec: DataSpec, **overrides):
    plugin = get_model("dcgan")
    config = plugin.Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    return plugin.build(config, spec)


def test_unsupported_sizes_are_refused_with_a_hint():
    with pytest.raises(UsageError, match="--image-size"):
        build(DataSpec(1, 6, 6))
    with pytest.raises(UsageError, match="square"):
        build(DataSpec(1, 32, 16))


def test_weights_follow_the_paper_initialisation():
    model = build(DataSpec(1, 64, 64), generator_width=32, discriminator_width=32)
    weights = torch.cat([m.weight.flatten() for m in model.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in list(model.discriminator.net)[:2])
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in model.discriminator.modules())


def test_optimizers_are_adam_with_beta1_one_half_and_g_at_twice_ds_rate():
    model = build(DataSpec(1, 16, 16))
    for optimizer in model.optimizers.values():
        assert isinstance(optimizer, torch.optim.Adam)
        assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert model.opt_d.param_groups[0]["lr"] == 2e-4, "the recipe's rate"
    assert model.opt_g.param_groups[0]["lr"] == 4e-4


def test_samples_come_from_the_generators_moving_average_by_default():
    model = build(DataSpec(1, 16, 16))
    assert model.ema is not None and "generator_ema" in model.modules


def test_train_step_updates_both_networks_and_returns_float_losses():
    model = build(DataSpec(1, 16, 16))
    before = {name: [p.clone() for p in m.parameters()] for name, m in model.modules.items()}
    losses = model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)
    assert set(losses) >= {"loss_d", "loss_g"} and all(isinstance(v, float) for v in losses.values())
    for name, module in model.modules.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), name


def test_samples_are_seeded_and_independent_of_batch_size():
    model = build(DataSpec(1, 16, 16))
    model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)  # give BatchNorm running statistics
    assert torch.equal(model.sample(4, seed=3), model.sample(4, seed=3))
    assert not torch.equal(model.sample(4, seed=3), model.sample(4, seed=4))
    assert torch.allclose(model.sample(8, seed=3)[:4], model.sample(4, seed=3), atol=1e-6)
    with pytest.raises(UsageError, match="unconditional"):
        model.sample(2, seed=0, label=1)


def test_export_graph_matches_sample():
    model = build(DataSpec(3, 32, 32))
    graph = model.export_graphs()["generator"]
    (latent,) = graph.example_inputs(batch=4, seed=7)
    assert graph.input_names == ["latent"] and latent.shape == (4, 8)
    assert graph.dynamic_axes == {"latent": {0: "batch"}, "image": {0: "batch"}}
    graph.module.eval()
    expected = model.sample(4, seed=7)
    assert torch.allclose(graph.module(latent), expected, atol=1e-6)


@pytest.mark.parametrize("ema_decay", [0.0, 0.999])
def test_inference_generator_follows_the_weights(ema_decay):
    model = build(DataSpec(1, 16, 16), ema_decay=ema_decay)
    source = model.ema.module if ema_decay else model.generator
    first = model.sample(4, seed=0)
    assert model.inference_generator() is model.inference_generator(), "cached while the weights stand still"
    model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)
    trained = model.sample(4, seed=0)
    assert not torch.equal(first, trained), "a train step must refresh it"
    with torch.no_grad():
        source.net[0].weight.mul_(2)  # as load_state_dict does, in place
    assert not torch.equal(trained, model.sample(4, seed=0)), "an in-place weight change must refresh it"
