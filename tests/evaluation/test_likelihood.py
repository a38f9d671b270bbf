"""The likelihood estimators: binarisation, the ELBO/IWAE arithmetic, bounded work, refusals."""

from __future__ import annotations

import math

import pytest
import torch

from zoo import DataSpec, get_model
from zoo.datasets import load_dataset
from zoo.errors import UsageError
from zoo.evaluation import likelihood
from zoo.evaluation.likelihood import binarize, evaluate_likelihood


@pytest.fixture(scope="module")
def model():
    plugin = get_model("vae")
    torch.manual_seed(0)
    model = plugin.build(plugin.Config(latent_dim=4, width=4, hidden=16), DataSpec(1, 16, 16, num_classes=10))
    data = load_dataset("digits")
    for step in range(1, 31):
        model.train_step(data.batch(torch.arange(step * 32, step * 32 + 32) % len(data)), step)
    return model


@pytest.fixture(scope="module")
def test_set():
    data = load_dataset("digits", split="test")
    return data


def test_dynamic_binarisation_is_seeded_and_follows_the_intensities():
    images = torch.full((200, 1, 16, 16), 0.25)
    first, again, other = binarize(images, "dynamic", 0), binarize(images, "dynamic", 0), binarize(images, "dynamic", 1)
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.mean().item() == pytest.approx(0.25, abs=0.01)
    assert torch.equal(binarize(torch.tensor([0.2, 0.5, 0.51]), "threshold", 0), torch.tensor([0.0, 0.0, 1.0]))


def test_iwae_is_at_most_the_elbo_and_equal_for_one_sample(model, test_set):
    one = evaluate_likelihood(model, test_set, k=1, progress=False)
    assert one.iwae_nll == pytest.approx(one.neg_elbo, abs=1e-9)
    many = evaluate_likelihood(model, test_set, k=64, progress=False)
    assert many.iwae_nll < many.neg_elbo
    assert many.n == len(test_set) == 180 and many.k == 64 and many.dims == 256
    assert many.bits_per_dim(many.iwae_nll) == pytest.approx(many.iwae_nll / (256 * math.log(2)))
    assert "dynamic" in many.binarization and "seed 0" in many.binarization


def test_the_same_seed_gives_the_same_numbers(model, test_set):
    a = evaluate_likelihood(model, test_set, k=8, progress=False)
    b = evaluate_likelihood(model, test_set, k=8, progress=False)
    c = evaluate_likelihood(model, test_set, k=8, seed=1, progress=False)
    assert a == b and a != c


def test_a_small_work_budget_changes_only_the_monte_carlo_noise(model, test_set, monkeypatch):
    """A budget of 16 decoded images per call splits k = 40 into pieces; the bounds stay put."""
    whole = evaluate_likelihood(model, test_set, k=40, progress=False)
    monkeypatch.setattr(likelihood, "DEFAULT_BUDGET", 16)
    pieces = evaluate_likelihood(model, test_set, k=40, progress=False)
    assert pieces.neg_elbo == pytest.approx(whole.neg_elbo, abs=1.0)
    assert pieces.iwae_nll == pytest.approx(whole.iwae_nll, abs=1.0)


def test_threshold_binarisation_is_deterministic_and_named(model, test_set):
    result = evaluate_likelihood(model, test_set, k=4, binarization="threshold", progress=False)
    assert result.binarization == "fixed threshold: pixel > 0.5"
    assert math.isfinite(result.neg_elbo)


def test_refusals(model, test_set):
    with pytest.raises(UsageError, match="-k must be at least 1"):
        evaluate_likelihood(model, test_set, k=0, progress=False)
    with pytest.raises(UsageError, match="--binarize"):
        evaluate_likelihood(model, test_set, binarization="otsu", progress=False)
    dcgan = get_model("dcgan")
    gan = dcgan.build(dcgan.Config(latent_dim=4, generator_width=4, discriminator_width=4), DataSpec(1, 16, 16))
    with pytest.raises(UsageError, match="defines no likelihood"):
        evaluate_likelihood(gan, test_set, progress=False)
