"""The VAE family: shapes, likelihoods, objectives, conditioning, and cvae drawing the asked class."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from zoo import DataSpec, get_model
from zoo.contract import Batch, LatentModel, LikelihoodModel
from zoo.errors import UsageError
from zoo import densities

TINY = {"latent_dim": 4, "width": 4, "hidden": 16}


def build(name: str = "vae", spec: DataSpec = DataSpec(1, 16, 16, num_classes=10), **overrides):
    plugin = get_model(name)
    config = plugin.Config(**{**TINY, **overrides})
    torch.manual_seed(0)
    return plugin.build(config, spec)


def digits_batch(n: int = 16, side: int = 16, channels: int = 1) -> Batch:
    from zoo.datasets import load_dataset

    return load_dataset("digits", image_size=side, channels=channels).batch(torch.arange(n))


@pytest.mark.parametrize("side", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_encoder_and_decoder_fit_the_image_shape(side, channels):
    model = build(spec=DataSpec(channels, side, side))
    images = torch.rand(3, channels, side, side)
    mean, logvar = model.encode(images)
    assert mean.shape == logvar.shape == (3, TINY["latent_dim"])
    assert model.decode(mean).shape == (3, channels, side, side)
    # greyscale gets a Bernoulli likelihood, colour the discretised logistic
    assert model.pixel_model == ("bernoulli" if channels == 1 else "discrete-256")
    assert isinstance(model, LatentModel) and isinstance(model, LikelihoodModel)


def test_unsupported_sizes_are_refused_with_a_hint():
    with pytest.raises(UsageError, match="--image-size"):
        build(spec=DataSpec(1, 25, 25))


def test_discretized_logistic_is_a_distribution_over_256_levels():
    torch.manual_seed(0)
    mean = torch.rand(1, 1, 2, 3) * 2.4 - 1.2  # also beyond the data range [-1, 1]
    log_scale = torch.rand(1, 1, 2, 3) * 6 - 5  # very sharp to very flat
    levels = torch.arange(256, dtype=torch.float32) / 255
    # log P of each level at each of the 6 pixels: the per-image sum would mix pixels, so one pixel at a time
    for i in range(2):
        for j in range(3):
            m, s = mean[:, :, i : i + 1, j : j + 1], log_scale[:, :, i : i + 1, j : j + 1]
            log_p = torch.stack([densities.discretized_logistic_log_prob(m, s, v.view(1, 1, 1, 1)) for v in levels])
            assert torch.logsumexp(log_p.flatten(), 0).exp().item() == pytest.approx(1.0, abs=2e-3)


def test_bernoulli_log_prob_of_binary_pixels():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    p = torch.sigmoid(logits)
    expected = torch.log(torch.where(x == 1, p, 1 - p)).sum()
    assert densities.bernoulli_log_prob(logits, x).item() == pytest.approx(expected.item(), rel=1e-6)


def test_importance_weights_bound_the_likelihood_like_the_elbo():
    """Mean of log w is the ELBO: it matches reconstruction + analytic KL; log-mean-exp is tighter."""
    model = build()
    batch = digits_batch(8)
    batch = Batch(torch.bernoulli(batch.images, generator=torch.Generator().manual_seed(0)), batch.labels)
    k = 2000
    torch.manual_seed(1)
    log_w = model.log_weights(batch, k)
    assert log_w.shape == (k, 8)
    elbo = log_w.mean(0)
    iwae = torch.logsumexp(log_w, 0) - math.log(k)
    assert (iwae >= elbo).all()
    with torch.no_grad():
        mean, logvar = model.encoder(batch.images)
        kl = densities.kl_to_standard_normal(mean, logvar).sum(1)
        z = mean + torch.randn(k, *mean.shape) * torch.exp(0.5 * logvar)
        out = model.decoder(z.flatten(0, 1))
        recon = model.log_likelihood(out, batch.images.repeat(k, 1, 1, 1)).view(k, 8).mean(0)
    assert torch.allclose(elbo, recon - kl, atol=0.5)


def test_training_lowers_the_negative_elbo():
    model = build(**{"width": 8, "hidden": 64, "latent_dim": 8})
    batch = digits_batch(64)
    first = model.train_step(batch, 1)
    for step in range(2, 60):
        last = model.train_step(batch, step)
    assert last["neg_elbo"] < first["neg_elbo"] - 20
    assert set(first) == {"loss", "neg_elbo", "recon", "kl", "kl_weight"}


def test_kl_warmup_ramps_the_weight_to_beta():
    model = build("beta-vae", kl_warmup_steps=100)
    assert model.config.beta == 4.0  # beta-vae's default
    assert [model.kl_weight(s) for s in (0, 50, 100, 500)] == [0.0, 2.0, 4.0, 4.0]
    assert build().kl_weight(1) == 1.0


def test_capacity_objective_pulls_the_kl_towards_an_annealed_target():
    model = build("beta-vae", objective="capacity", capacity_max=20.0, capacity_steps=10, gamma=100.0)
    assert [model.capacity(s) for s in (0, 5, 10, 30)] == [0.0, 10.0, 20.0, 20.0]
    losses = model.train_step(digits_batch(16), 5)
    assert losses["capacity"] == 10.0
    assert losses["loss"] == pytest.approx(losses["recon"] + 100.0 * abs(losses["kl"] - 10.0), rel=1e-4)


def test_bad_config_values_are_refused():
    plugin = get_model("vae")
    for bad in ({"latent_dim": 0}, {"beta": -1.0}, {"lr": 0.0}, {"kl_warmup_steps": -5}):
        with pytest.raises(ValueError):
            plugin.Config(**bad)


def test_cvae_labels_are_checked():
    model = build("cvae")
    assert not torch.equal(model.sample(4, seed=0, label=1), model.sample(4, seed=0, label=2))
    with pytest.raises(UsageError, match=r"--label must be in \[0, 10\), got 10"):
        model.sample(2, seed=0, label=10)
    with pytest.raises(UsageError, match="needs a class label"):
        model.decode(torch.zeros(2, TINY["latent_dim"]))
    with pytest.raises(UsageError, match="unconditional"):
        build("vae").sample(2, seed=0, label=3)
    with pytest.raises(UsageError, match="labelled dataset"):
        build("cvae", spec=DataSpec(1, 16, 16, num_classes=0))


def grid_tiles(path, n: int, side: int, nrow: int, padding: int = 2) -> np.ndarray:
    """Cut a torchvision-style grid PNG back into its ``n`` tiles, floats in [0, 1]."""
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
    tiles = []
    for i in range(n):
        row, col = divmod(i, nrow)
        top, left = padding + row * (side + padding), padding + col * (side + padding)
        tiles.append(pixels[top : top + side, left : left + side])
    return np.stack(tiles)


@pytest.mark.slow
def test_sample_cvae_label_7_draws_sevens(zoo_cli, runs_dir, tmp_path):
    """`zoo sample cvae --label 7 -n 16` gives sevens, judged by a classifier trained on other digits."""
    from sklearn.linear_model import LogisticRegression

    from zoo.datasets import load_dataset

    trained = zoo_cli("train", "cvae", "--steps", "300", "--no-progress", "--sample-every", "1000")
    assert trained.exit_code == 0, trained.stderr
    # The classifier learns from the training split and is checked on the held-out test split.
    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    classifier = LogisticRegression(max_iter=2000).fit(train.images.flatten(1).numpy() / 255, train.labels.numpy())
    assert classifier.score(test.images.flatten(1).numpy() / 255, test.labels.numpy()) > 0.95
    for label in (7, 3):
        out = tmp_path / f"label-{label}.png"
        result = zoo_cli("sample", "cvae", "--label", str(label), "-n", "16", "--seed", "0", "--out", str(out), "--scale", "1")
        assert result.exit_code == 0, result.stderr
        predicted = classifier.predict(grid_tiles(out, 16, 16, nrow=4).reshape(16, -1))
        assert (predicted == label).sum() >= 14, f"--label {label} gave classes {predicted.tolist()}"


def parity_diffs(stderr: str) -> list[float]:
    """The max abs diffs the exporter printed (one per parity batch)."""
    import re

    return [float(d) for d in re.findall(r"max abs diff ([0-9.e+-]+) at batch", stderr)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_export_decoder_and_encoder_run_without_torch_equal_to_pytorch(name, zoo_cli, runs_dir, tmp_path, monkeypatch):
    """`zoo export vae --onnx` exactly as written, then `--graph encoder`; both checked through zoo.runtime."""
    from zoo import runs
    from zoo.runtime import OnnxGenerator

    tiny = [a for key, value in TINY.items() for a in ("--set", f"{key}={value}")]
    assert zoo_cli("train", name, "--steps", "5", "--no-progress", *tiny).exit_code == 0
    monkeypatch.chdir(tmp_path)
    for args, path in ((("export", name, "--onnx"), f"{name}-generator.onnx"), (("export", name, "--onnx", "--graph", "encoder"), f"{name}-encoder.onnx")):
        result = zoo_cli(*args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == path and (tmp_path / path).is_file()
        diffs = parity_diffs(result.stderr)
        assert len(diffs) == 2 and max(diffs) <= 1e-4

    loaded = runs.load(runs.find(name, "latest"))
    images = digits_batch(6).images
    labels = torch.tensor([7, 7, 1, 2, 3, 4]) if name == "cvae" else None
    encoder = OnnxGenerator(tmp_path / f"{name}-encoder.onnx", device="cpu")
    assert [spec["name"] for spec in encoder.inputs] == (["image", "label"] if labels is not None else ["image"])
    feeds = {"image": images.numpy()} | ({"label": labels.numpy()} if labels is not None else {})
    mean, logvar = encoder.run(feeds)
    expected_mean, expected_logvar = loaded.model.encode(images, labels)
    assert np.abs(mean - expected_mean.numpy()).max() <= 1e-4 and np.abs(logvar - expected_logvar.numpy()).max() <= 1e-4

    decoder = OnnxGenerator(tmp_path / f"{name}-generator.onnx", device="cpu")
    feeds = {"latent": expected_mean.numpy()} | ({"label": labels.numpy()} if labels is not None else {})
    (decoded,) = decoder.run(feeds)
    assert np.abs(decoded - loaded.model.decode(expected_mean, labels).numpy()).max() <= 1e-4

    generated = zoo_cli("generate", f"{name}-generator.onnx", "-n", "4", *(("--label", "7") if labels is not None else ()))
    assert generated.exit_code == 0, generated.stderr
    refused = zoo_cli("generate", f"{name}-encoder.onnx")
    assert refused.exit_code == 2 and "not an image generator" in refused.stderr
