from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo import DataSpec, get_model, runs
from zoo.runs import checkpoint
from zoo.contract import Batch, LatentModel
from zoo.datasets import load_dataset
from zoo.errors import UsageError
from zoo.tools.latent import reconstruct
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = {"latent_dim": 8, "encoder_width": 4, "decoder_width": 4, "discriminator_width": 4}
TINY_SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
LOSSES = {"loss_d", "loss_g", "kl", "recon_feature", "d_accuracy"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These networks are tiny: on a shared 2-core machine one thread is many times faster."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def build(spec: DataSpec = DataSpec(1, 16, 16), **overrides):
    plugin = get_model("vaegan")
    config = plugin.Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    return plugin.build(config, spec)


def parameters(model) -> dict[str, list[torch.Tensor]]:
    return {name: [p.detach().clone() for p in m.parameters()] for name, m in model.modules.items()}


def test_unsupported_sizes_are_refused_with_a_hint():
    with pytest.raises(UsageError, match="--image-size"):
        build(DataSpec(1, 6, 6))
    with pytest.raises(UsageError, match="square"):
        build(DataSpec(1, 32, 16))


def test_it_is_a_latent_model_whose_decoder_is_the_generator():
    model = build()
    assert isinstance(model, LatentModel) and model.latent_dim == 8
    assert {"encoder", "generator", "discriminator"} == set(model.optimizers)
    assert set(model.modules) == set(model.optimizers) | {"generator_ema"}, "the decoder's average is kept, not trained"
    assert model.discriminator.features(torch.rand(2, 1, 16, 16)).dim() == 4, "Dis_l is a feature map"
    images = torch.rand(6, 1, 16, 16)
    mean, logvar = model.encode(images)
    assert mean.shape == logvar.shape == (6, 8) and mean.device.type == "cpu"
    decoded = model.decode(mean)
    assert decoded.shape == (6, 1, 16, 16) and decoded.device.type == "cpu"
    assert decoded.min() >= 0 and decoded.max() <= 1
    # sample(n, seed) decodes the seed's prior latents: the decoder is the sampler
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(model.decode(z), model.sample(4, seed=3))
    with pytest.raises(UsageError, match="unconditional"):
        model.encode(images, torch.zeros(6, dtype=torch.long))


def test_one_train_step_updates_all_three_networks_with_finite_float_losses():
    model = build()
    before = parameters(model)
    losses = model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)
    assert set(losses) >= LOSSES
    assert all(type(v) is float and np.isfinite(v) for v in losses.values()), losses
    assert 0 <= losses["d_accuracy"] <= 1 and losses["kl"] >= 0 and losses["recon_feature"] >= 0
    for name, params in parameters(model).items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], params)), f"{name} did not change"


def gradients_of_one_step(model) -> dict[str, list[torch.Tensor]]:
    torch.manual_seed(1)
    model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)
    return {name: [p.grad.clone() for p in model.modules[name].parameters()] for name in model.optimizers}


def test_each_network_takes_the_gradient_of_its_own_loss(monkeypatch):
    """The encoder sees L_prior + L_llike only; gamma and the decoder's GAN loss reach the decoder alone."""
    import zoo.plugins.vaegan.model as vaegan

    reference = gradients_of_one_step(build())
    reweighted = gradients_of_one_step(build(gamma=5.0))
    monkeypatch.setattr(vaegan, "generator_loss", lambda kind, logits: 3 * vaegan.F.softplus(-logits).mean())
    louder_gan = gradients_of_one_step(build())
    for changed in (reweighted, louder_gan):
        for name in ("encoder", "discriminator"):
            for a, b in zip(reference[name], changed[name]):
                torch.testing.assert_close(a, b, msg=f"the {name}'s gradient changed")
        assert any(not torch.allclose(a, b) for a, b in zip(reference["generator"], changed["generator"]))


def test_the_equilibrium_rule_rests_whichever_side_is_winning():
    model = build(margin=0.4)
    assert model.balance(0.69) == (True, True)
    assert model.balance(0.2) == (False, True), "D far ahead: rest D"
    assert model.balance(1.2) == (True, False), "D fooled: rest the decoder"
    assert build(margin=0.0).balance(0.01) == (True, True), "margin 0 turns the rule off"


def test_stability_options_train_too():
    model = build(diffaugment="translation,cutout", r1_gamma=1.0, ema_decay=0.9)
    assert "generator_ema" in model.modules
    before = parameters(model)
    losses = model.train_step(Batch(torch.rand(8, 1, 16, 16)), step=1)
    assert all(np.isfinite(v) for v in losses.values()), losses
    after = parameters(model)
    for name in ("encoder", "generator", "discriminator", "generator_ema"):
        assert any(not torch.equal(a, b) for a, b in zip(before[name], after[name])), f"{name} did not change"


def test_checkpoint_round_trip_restores_the_encoder(tmp_path):
    model = build()
    for step in (1, 2):
        model.train_step(Batch(torch.rand(8, 1, 16, 16)), step)
    folder = checkpoint.save(tmp_path / "run", model, step=2)
    restored = build()
    images = torch.rand(4, 1, 16, 16)
    assert not torch.equal(restored.encode(images)[0], model.encode(images)[0])
    checkpoint.load_weights(restored, folder)
    assert checkpoint.load_training_state(restored, folder) == 2
    for a, b in zip(model.encode(images), restored.encode(images)):
        assert torch.equal(a, b)
    state, loaded = model.opt_e.state_dict()["state"], restored.opt_e.state_dict()["state"]
    assert state.keys() == loaded.keys() and all(torch.equal(state[k]["exp_avg"], loaded[k]["exp_avg"]) for k in state)


def test_reconstruct_encode_and_decode_through_the_cli(zoo_cli, runs_dir, tmp_path):
    args = ("--steps", "3", "--batch-size", "16", "--device", "cpu", "--no-progress", *TINY_SET)
    result = zoo_cli("train", "vaegan", *args)
    assert result.exit_code == 0, result.stderr
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    digits = load_dataset("digits", split="test").images[:3, 0].numpy()
    for i, digit in enumerate(digits):
        Image.fromarray(digit, "L").save(inputs / f"d{i}.png")

    out = tmp_path / "recon.png"
    result = zoo_cli("reconstruct", "vaegan", "--input", str(inputs), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out) and "3 image(s)" in result.stderr and "PSNR" in result.stderr
    with Image.open(out) as grid:
        assert grid.size == (6 * 18 + 2, 18 + 2)  # 3 originals and 3 reconstructions, 16 px tiles padded by 2

    codes = tmp_path / "codes.safetensors"
    assert zoo_cli("encode", "vaegan", "--input", str(inputs), "--out", str(codes)).exit_code == 0
    decoded = tmp_path / "decoded"
    result = zoo_cli("decode", str(codes), "--out", str(decoded))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in decoded.iterdir()) == ["d0.png", "d1.png", "d2.png"]

    result = zoo_cli("reconstruct", "vaegan", "--input", str(inputs), "--label", "3", "--out", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "unconditional" in result.stderr


@pytest.mark.slow
def test_a_short_run_learns_to_reconstruct_digits(tmp_path):
    """Through the real trainer: reconstructions from the feature-wise loss match their own inputs."""
    # small networks, and learning rates that let 150 steps suffice
    small = ("latent_dim=16", "encoder_width=16", "decoder_width=16", "discriminator_width=16")
    small += ("lr_encoder=1e-3", "lr_generator=1e-3")
    options = TrainOptions(steps=150, batch_size=64, progress=False, sample_every=1000, checkpoint_every=1000)
    result = train(TrainRequest("vaegan", dataset="digits", runs_dir=tmp_path, overrides=small, device="cpu", options=options))
    assert result.step == 150 and 0 < result.losses["d_accuracy"] < 1
    model = runs.load(result.run_dir).model
    images = load_dataset("digits", split="test").batch(torch.arange(128)).images
    recon = reconstruct(model, images)
    own = (recon - images).pow(2).mean().item()
    others = (recon - images.roll(1, 0)).pow(2).mean().item()
    assert own < 0.5 * others, f"reconstruction MSE {own:.4f} vs {others:.4f} against other digits"


def test_its_likelihood_reads_the_decoder_as_bernoulli_means_kept_off_zero_and_one():
    from zoo.contract import LikelihoodModel
    from zoo.evaluation.likelihood import evaluate_likelihood
    from zoo.plugins.vaegan.model import BERNOULLI_EPS

    model = build()
    assert isinstance(model, LikelihoodModel) and model.pixel_model == "bernoulli"
    test_set = load_dataset("digits", split="test")
    result = evaluate_likelihood(model, test_set, k=8, progress=False)
    assert np.isfinite(result.iwae_nll) and result.iwae_nll <= result.neg_elbo

    # a decoder sure that every pixel is white: each black pixel costs exactly log(1/eps)
    model = build(ema_decay=0.0)  # a fresh one (the first has cached its inference copy), sampling from the hooked decoder itself
    last = [m for m in model.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    last.register_forward_hook(lambda module, inputs, output: torch.full_like(output, 100.0))
    binary = (test_set.images.float() / 255 > 0.5).float()  # threshold: the bits are known here
    black, white = (binary == 0).sum().item(), (binary == 1).sum().item()
    expected = -(black * np.log(BERNOULLI_EPS) + white * np.log(1 - BERNOULLI_EPS)) / len(binary)
    saturated = evaluate_likelihood(model, test_set, k=64, binarization="threshold", progress=False)
    # the untrained encoder's posterior is close to the prior, so the latents add next to nothing
    assert saturated.iwae_nll == pytest.approx(expected, abs=1.0)
