from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo import DataSpec, get_model
from zoo.config import apply_overrides
from zoo.contract import Batch
from zoo.datasets import load_dataset
from zoo.errors import UsageError
from zoo.plugins.wgan_gp.model import WGANGPModel

TINY = {"latent_dim": 8, "generator_width": 4, "critic_width": 4}


def build(spec: DataSpec, **overrides):
    plugin = get_model("wgan-gp")
    config = plugin.Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    return plugin.build(config, spec)


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_unsupported_sizes_are_refused_with_a_hint():
    with pytest.raises(UsageError, match="--image-size"):
        build(DataSpec(1, 6, 6))
    with pytest.raises(UsageError, match="square"):
        build(DataSpec(1, 32, 16))


def test_critic_uses_per_sample_layer_norm_and_no_batch_norm():
    model = build(DataSpec(3, 64, 64))
    critic = model.discriminator
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    norms = [m for m in critic.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 3 and all(m.num_groups == 1 and m.affine for m in norms)
    assert not isinstance(list(critic.net)[-1], (nn.Sigmoid, nn.Tanh)), "the critic's score is unbounded"
    # per-sample: a score does not depend on the rest of the batch, in training mode too
    critic.train()
    images = torch.rand(4, 3, 64, 64) * 2 - 1
    assert torch.allclose(critic(images)[:1], critic(images[:1]), atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.generator.modules()), "the generator keeps DCGAN's BatchNorm"


def test_critic_norm_none_builds_a_critic_without_normalisation():
    model = build(DataSpec(1, 32, 32), critic_norm="none")
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    assert not any(isinstance(m, norm_types) for m in model.discriminator.modules())
    hidden = [m for m in list(model.discriminator.net)[:-1] if isinstance(m, nn.Conv2d)]
    assert all(m.bias is not None for m in hidden), "without a norm's shift the convolutions need their bias"
    assert model.discriminator(torch.zeros(2, 1, 32, 32)).shape == (2,)


def test_generator_starts_from_dcgan_init_away_from_tanh_saturation():
    model = build(DataSpec(1, 16, 16), latent_dim=100, generator_width=64)
    weights = torch.cat([m.weight.flatten() for m in model.generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(weights.std().item() - 0.02) < 0.002
    with torch.no_grad():
        images = model.generator.train()(torch.randn(64, 100))
    assert (images.abs() > 0.99).float().mean() < 0.001, "saturated pixels would get no gradient"


def test_objective_and_optimizers_follow_the_paper():
    model = build(DataSpec(1, 16, 16))
    assert (model.loss, model.n_critic, model.gradient_penalty) == ("wasserstein", 5, 10.0)
    for optimizer in model.optimizers.values():
        assert isinstance(optimizer, torch.optim.Adam)
        group = optimizer.param_groups[0]
        assert group["lr"] == 1e-4 and group["betas"] == (0.0, 0.9)


def test_generator_updates_once_per_n_critic_steps_and_the_critic_every_step():
    model = build(DataSpec(1, 16, 16))
    batch = Batch(torch.rand(8, 1, 16, 16))
    generator_start = snapshot(model.generator)
    for step in range(1, 11):
        generator_before, critic_before = snapshot(model.generator), snapshot(model.discriminator)
        losses = model.train_step(batch, step)
        assert changed(critic_before, model.discriminator), f"the critic did not move at step {step}"
        generator_step = step % 5 == 0
        assert changed(generator_before, model.generator) == generator_step, f"step {step}"
        assert ("loss_g" in losses) == generator_step, f"step {step}"
        if step == 4:
            assert not changed(generator_start, model.generator), "steps 1-4 must leave the generator alone"


def test_losses_and_wasserstein_estimate_are_finite_floats():
    model = build(DataSpec(1, 16, 16))
    batch = Batch(torch.rand(8, 1, 16, 16))
    for step in range(1, 6):
        losses = model.train_step(batch, step)
        assert {"loss_d", "wasserstein_estimate"} <= set(losses) and "d_accuracy" not in losses
        assert all(type(v) is float and math.isfinite(v) for v in losses.values()), losses
    assert "loss_g" in losses
    # loss_d = -W + 10 * penalty, with a nonnegative penalty
    assert losses["loss_d"] >= -losses["wasserstein_estimate"] - 1e-4


def test_samples_are_seeded_and_export_matches_them():
    model = build(DataSpec(1, 16, 16))
    for step in range(1, 6):
        model.train_step(Batch(torch.rand(8, 1, 16, 16)), step)
    assert torch.equal(model.sample(4, seed=3), model.sample(4, seed=3))
    assert not torch.equal(model.sample(4, seed=3), model.sample(4, seed=4))
    graph = model.export_graphs()["generator"]
    (latent,) = graph.example_inputs(batch=4, seed=7)
    assert graph.input_names == ["latent"] and latent.shape == (4, 8)
    assert torch.allclose(graph.module(latent), model.sample(4, seed=7), atol=1e-6)


def test_defaults_and_bad_config_values():
    config_cls = get_model("wgan-gp").Config
    defaults = config_cls()
    assert (defaults.lr_generator, defaults.lr_discriminator, defaults.beta1, defaults.beta2) == (1e-4, 1e-4, 0.0, 0.9)
    assert defaults.critic_norm == "layer"
    for bad in ({"critic_width": 0}, {"generator_width": -1}, {"critic_norm": "batch"}, {"init_std": 0.0}, {"beta2": 1.0}, {"lr_discriminator": 0.0}):
        with pytest.raises(ValueError):
            config_cls(**bad)
    with pytest.raises(UsageError, match="critic_norm"):
        apply_overrides(defaults, ["critic_norm=batch"])
    assert apply_overrides(defaults, ["critic_norm=none"]).critic_norm == "none"


def critic_gradient_norms(model, real: torch.Tensor) -> torch.Tensor:
    """||grad D|| at random points between real and generated images, one per image."""
    fixed = torch.Generator().manual_seed(1)
    with torch.no_grad():
        fake = model.generator(torch.randn(len(real), model.config.latent_dim, generator=fixed))
    alpha = torch.rand(len(real), 1, 1, 1, generator=fixed)
    between = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.discriminator(between).sum(), between)
    return grad.flatten(1).norm(dim=1)


def test_gradient_penalty_holds_the_critic_near_unit_gradient_norm():
    """Without the penalty a critic on real digits grows steep; with it its gradient norm stays near 1."""

    class Unpenalised(WGANGPModel):
        gradient_penalty = 0.0

    data = load_dataset("digits", image_size=16, channels=1)
    real = data.batch(torch.arange(64)).images * 2 - 1
    config = get_model("wgan-gp").Config(**{**TINY, "critic_width": 8, "lr_discriminator": 1e-3})
    means = {}
    for cls in (WGANGPModel, Unpenalised):
        torch.manual_seed(0)
        model = cls(config, DataSpec(1, 16, 16))
        for step in range(1, 31):
            model.train_step(data.batch(torch.arange(step * 32, step * 32 + 32)), step)
        means[cls] = critic_gradient_norms(model, real).mean().item()
    assert 0.7 < means[WGANGPModel] < 1.4, means
    assert means[Unpenalised] > 2 * means[WGANGPModel], means
