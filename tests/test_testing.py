"""The conformance kit, over every registered model, and against plugins that break the contract."""

from __future__ import annotations

import sys
import textwrap

import pytest

from zoo import registry
from zoo.testing import CHECKS, ConformanceError, check_plugin

# Parametrised over the entry points themselves: a new architecture is checked with no new test.
MODELS = [entry.name for entry in registry.load_all(registry.MODELS) if entry.status == "ok"]


@pytest.mark.parametrize("check_name", list(CHECKS))
@pytest.mark.parametrize("name", MODELS)
def test_every_registered_model_conforms(name, check_name, tmp_path):
    assert check_plugin(name, tmp_path, only=[check_name]) == [check_name]


def test_the_kit_covers_the_contract():
    assert list(CHECKS) == ["registers", "config", "builds", "trains", "samples", "precision", "compiles", "checkpoint", "exports"]


BROKEN = '''
import torch
from zoo.plugins.dcgan import DCGAN
from zoo.plugins.dcgan.model import DCGANModel


class UnseededModel(DCGANModel):
    def sample(self, n, seed=None, label=None):
        return torch.rand(n, *self.data.shape)  # ignores the seed


class FixedSizeModel(DCGANModel):
    def sample(self, n, seed=None, label=None):
        return super().sample(n, seed, label)[..., :16, :16]  # right at 16 x 16 only


class TensorLossModel(DCGANModel):
    def train_step(self, batch, step):
        losses = super().train_step(batch, step)
        return {k: torch.tensor(v) for k, v in losses.items()}


class PlainBackwardModel(DCGANModel):
    def backward(self, loss, **kwargs):
        loss.backward(**kwargs)  # past the loss scaler, though the plugin lists fp16


class GeneratorStepsAloneModel(DCGANModel):
    def optimizer_step(self, optimizer):
        if optimizer is self.opt_g:
            optimizer.step()  # past the loss scaler: an overflowing step is taken anyway
            return True
        return super().optimizer_step(optimizer)


class Unseeded(DCGAN):
    name = "thirdparty-unseeded"

    def build(self, config, data, device="cpu"):
        return UnseededModel(config, data, device)


class FixedSize(DCGAN):
    name = "thirdparty-fixed-size"

    def build(self, config, data, device="cpu"):
        return FixedSizeModel(config, data, device)


class TensorLoss(DCGAN):
    name = "thirdparty-tensor-loss"

    def build(self, config, data, device="cpu"):
        return TensorLossModel(config, data, device)


class PlainBackward(DCGAN):
    name = "thirdparty-plain-backward"

    def build(self, config, data, device="cpu"):
        return PlainBackwardModel(config, data, device)


class GeneratorStepsAlone(DCGAN):
    name = "thirdparty-generator-steps-alone"

    def build(self, config, data, device="cpu"):
        return GeneratorStepsAloneModel(config, data, device)
'''


@pytest.fixture
def broken_plugins(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "zoo_broken_kit-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-broken-kit\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[zoo.models]\nthirdparty-unseeded = thirdparty_kit:Unseeded\nthirdparty-tensor-loss = thirdparty_kit:TensorLoss\n"
        "thirdparty-plain-backward = thirdparty_kit:PlainBackward\nthirdparty-fixed-size = thirdparty_kit:FixedSize\n"
        "thirdparty-generator-steps-alone = thirdparty_kit:GeneratorStepsAlone\n"
    )
    (site / "thirdparty_kit.py").write_text(textwrap.dedent(BROKEN))
    monkeypatch.syspath_prepend(str(site))
    yield
    registry._loaded.clear()
    sys.modules.pop("thirdparty_kit", None)


def test_the_kit_fails_a_plugin_whose_samples_ignore_the_seed(broken_plugins, tmp_path):
    with pytest.raises(ConformanceError, match="check 'samples' failed: the same seed gives different samples"):
        check_plugin("thirdparty-unseeded", tmp_path)


def test_the_kit_fails_a_plugin_right_at_its_first_example_shape_only(broken_plugins, tmp_path):
    with pytest.raises(ConformanceError, match=r"check 'builds' failed: at example shape \(1, 28, 28\) the model gives \(2, 1, 16, 16\)"):
        check_plugin("thirdparty-fixed-size", tmp_path, only=["builds"])


def test_the_kit_fails_a_plugin_returning_tensor_losses(broken_plugins, tmp_path):
    with pytest.raises(ConformanceError, match="check 'trains' failed: loss 'loss_d' is a Tensor, not a float"):
        check_plugin("thirdparty-tensor-loss", tmp_path)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("thirdparty-plain-backward", "trained a step in fp16 without any backward pass through the loss scaler"),
        ("thirdparty-generator-steps-alone", "module 'generator' still changed: an optimizer step bypasses self.optimizer_step"),
    ],
)
def test_the_kit_fails_a_plugin_listing_fp16_whose_updates_bypass_the_loss_scaler(broken_plugins, tmp_path, name, fragment):
    with pytest.raises(ConformanceError, match=f"check 'precision' failed: .*{fragment}"):
        check_plugin(name, tmp_path, only=["precision"])


def test_trained_subjects_have_moved_every_module_even_with_n_critic(tmp_path):
    # wgan-gp updates its generator only every fifth step; the kit's sample, checkpoint and
    # export checks must see a trained generator, not the initial weights.
    import torch

    from zoo.testing import Subject

    subject = Subject("wgan-gp", tmp_path)
    initial, trained = subject.build(), subject.trained()
    for name in ("generator", "discriminator"):
        before = list(initial.modules[name].parameters())
        after = list(trained.modules[name].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after)), f"{name} was not trained"
