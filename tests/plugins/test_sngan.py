from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from zoo import DataSpec, get_model
from zoo.contract import Batch
from zoo.errors import UsageError

TINY = {"latent_dim": 8, "generator_width": 8, "discriminator_width": 8}
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def build(spec: DataSpec, **overrides):
    plugin = get_model("sngan")
    config = plugin.Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    return plugin.build(config, spec)


def train(model, steps: int, batch: int = 8) -> None:
    torch.manual_seed(1)
    for step in range(1, steps + 1):
        model.train_step(Batch(torch.rand(batch, *model.data.shape)), step)


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, WEIGHTED)]


def export_onnx(model, tmp_path):
    """Save a checkpoint and export its generator as ``zoo.testing.check_exports`` does."""
    from zoo.runs import checkpoint
    from zoo.export import ExportSource, get_exporter

    folder = checkpoint.save(tmp_path / "run", model, step=1)
    source = ExportSource.of_checkpoint("sngan", "generator", folder, 1, model.data.shape)
    return get_exporter("onnx").export(model.export_graphs()["generator"], source, tmp_path / "generator.onnx")


@pytest.mark.parametrize(
    "shape, architecture",
    [
        ((1, 16, 16), "dcgan"),
        ((1, 28, 28), "dcgan"),
        ((3, 32, 32), "dcgan"),
        ((3, 64, 64), "dcgan"),
        ((1, 16, 16), "resnet"),
        ((3, 32, 32), "resnet"),
        ((3, 64, 64), "resnet"),
    ],
)
def test_both_architectures_fit_the_image_shape(shape, architecture):
    model = build(DataSpec(*shape), architecture=architecture)
    assert model.architecture == architecture
    images = model.sample(5, seed=0)
    assert images.shape == (5, *shape)
    assert images.min() >= 0 and images.max() <= 1
    assert model.discriminator(torch.zeros(3, *shape)).shape == (3,)


def test_auto_picks_the_resnet_for_32x32_colour_only():
    assert build(DataSpec(3, 32, 32)).architecture == "resnet"
    for shape in [(1, 32, 32), (1, 16, 16), (1, 28, 28), (3, 64, 64)]:
        assert build(DataSpec(*shape)).architecture == "dcgan", shape


def test_resnet_follows_the_paper_layout():
    model = build(DataSpec(3, 32, 32), architecture="resnet")
    assert len(model.generator.blocks) == 3  # 4 -> 8 -> 16 -> 32
    first, *rest = model.discriminator.blocks
    assert type(first).__name__ == "OptimisedBlock"
    assert [isinstance(block.shortcut, nn.Identity) for block in rest] == [False, True, True]  # down, plain, plain
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    features = model.discriminator.blocks(torch.zeros(2, 3, 32, 32))
    assert features.shape == (2, 8, 8, 8)


def test_dcgan_discriminator_has_no_batchnorm():
    model = build(DataSpec(1, 28, 28), architecture="dcgan")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())


@pytest.mark.parametrize("architecture", ["dcgan", "resnet"])
def test_every_discriminator_layer_is_spectrally_normalised(architecture):
    model = build(DataSpec(3, 32, 32), architecture=architecture)
    layers = weighted_layers(model.discriminator)
    assert len(layers) >= 5
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in weighted_layers(model.generator)), "sn_generator defaults off"
    model = build(DataSpec(3, 32, 32), architecture=architecture, sn_generator=True)
    assert all(parametrize.is_parametrized(m, "weight") for m in weighted_layers(model.generator))


@pytest.mark.parametrize("architecture", ["dcgan", "resnet"])
def test_normalised_weights_have_unit_spectral_norm(architecture):
    model = build(DataSpec(1, 16, 16), architecture=architecture)
    train(model, steps=3)
    with torch.no_grad():
        for layer in weighted_layers(model.discriminator):
            layer.parametrizations.weight.original.mul_(5)  # far from 1 whatever training did
        for _ in range(30):  # power iterations run on every forward pass in training mode
            model.discriminator(torch.rand(4, 1, 16, 16))
    model.discriminator.eval()  # reading .weight in eval mode reuses u and v as they are
    for layer in weighted_layers(model.discriminator):
        raw = torch.linalg.matrix_norm(layer.parametrizations.weight.original.flatten(1), ord=2)
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1) < 0.05, (layer, raw.item(), sigma.item())


def test_the_hinge_loss_is_used():
    model = build(DataSpec(1, 16, 16))
    assert model.loss == "hinge"
    # a discriminator that says 0.5 for every image: hinge D loss relu(0.5) + relu(1.5), G loss -0.5
    weight = next(model.discriminator.parameters())  # keeps both losses differentiable
    model.discriminate = lambda images, labels: images.flatten(1).mean(1) * 0 + weight.sum() * 0 + 0.5
    losses = model.train_step(Batch(torch.rand(4, 1, 16, 16)), step=1)
    assert losses["loss_d"] == pytest.approx(2.0)
    assert losses["loss_g"] == pytest.approx(-0.5)
    assert losses["d_accuracy"] == pytest.approx(0.5)


def test_n_critic_spaces_the_generator_updates():
    model = build(DataSpec(1, 16, 16), n_critic=3)
    assert model.n_critic == 3 and type(model).n_critic == 1
    steps = [model.train_step(Batch(torch.rand(4, 1, 16, 16)), step) for step in (1, 2, 3)]
    assert ["loss_g" in losses for losses in steps] == [False, False, True]


def test_config_rejects_bad_values():
    plugin = get_model("sngan")
    for bad in ({"n_critic": 0}, {"power_iterations": 0}, {"generator_width": -1}, {"discriminator_width": -1}, {"architecture": "vgg"}):
        with pytest.raises(ValueError):
            plugin.Config(**bad)


def test_default_widths_are_the_architectures_own():
    plugin = get_model("sngan")
    standard = plugin.build(plugin.Config(), DataSpec(1, 28, 28))
    deconvs = [m.out_channels for m in standard.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    convs = [m.out_channels for m in standard.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert standard.architecture == "dcgan" and deconvs == [256, 128, 64], "Table 3: 512 at 4 x 4, halved per layer"
    assert convs == [64, 64, 128, 128, 256, 256, 512]
    resnet = plugin.build(plugin.Config(), DataSpec(3, 32, 32))
    assert resnet.architecture == "resnet" and resnet.generator.width == 128
    narrow = plugin.build(plugin.Config(generator_width=32, discriminator_width=16), DataSpec(1, 28, 28))
    assert [m.out_channels for m in narrow.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [16, 8, 4]


def test_resnet_refuses_other_sides_with_a_hint():
    with pytest.raises(UsageError, match="architecture=dcgan or --image-size 32") as error:
        build(DataSpec(1, 28, 28), architecture="resnet")
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError, match="square"):
        build(DataSpec(3, 32, 16))


@pytest.mark.slow  # two ONNX exports, ~10 s each
def test_spectrally_normalised_generators_export_with_plain_weights(tmp_path):
    for shape, architecture in [((1, 16, 16), "dcgan"), ((3, 32, 32), "resnet")]:
        model = build(DataSpec(*shape), architecture=architecture, sn_generator=True)
        train(model, steps=2)
        assert parametrize.is_parametrized(weighted_layers(model.generator)[0]), "training keeps the parametrisations"
        folded = model.inference_generator()
        assert not any(parametrize.is_parametrized(m) for m in folded.modules())

        report = export_onnx(model, tmp_path / architecture)
        assert max(report.checks["max_abs_diff"].values()) <= 1e-4

        graph = onnx.load(str(report.path)).graph
        constants = {init.name for init in graph.initializer}
        weighted = [node for node in graph.node if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul")]
        assert weighted and all(node.input[1] in constants for node in weighted), "a weight is computed in the graph"

        latents = torch.randn(4, TINY["latent_dim"], generator=torch.Generator().manual_seed(5))
        session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
        (images,) = session.run(None, {"latent": latents.numpy()})
        torch.testing.assert_close(torch.from_numpy(images).clamp(0, 1), model.sample(4, seed=5), atol=1e-4, rtol=0)


def test_spectrally_normalised_generator_survives_a_checkpoint(tmp_path):
    from zoo.runs import checkpoint

    model = build(DataSpec(1, 16, 16), sn_generator=True)
    train(model, steps=2)
    folder = checkpoint.save(tmp_path / "run", model, step=2)
    restored = build(DataSpec(1, 16, 16), sn_generator=True)
    checkpoint.load_weights(restored, folder)
    assert torch.equal(model.sample(4, seed=3), restored.sample(4, seed=3))
