"""The metrics behave as their definitions say, on real digits in classifier:digits' features."""

from __future__ import annotations

import pytest
import torch

from zoo.datasets import load_dataset
from zoo.features import get_extractor
from zoo.evaluation.sample_quality import METRICS, extract, real_floor, sample_quality


@pytest.fixture(scope="module")
def digits(digits_classifier):
    """Features of the digits train split (1,617 images) and the images' labels."""
    data = load_dataset("digits", split="train")
    extractor = get_extractor("classifier:digits")
    images = data.batch(torch.arange(len(data))).images
    return extract(extractor, iter(images.split(500)), len(data), desc="digits", progress=False), data.labels, extractor


def test_identical_sets_have_fid_near_zero(digits):
    features, _, _ = digits
    m = sample_quality(features, features, ["fid", "kid", "prdc"])
    assert abs(m["fid"]) < 1e-3
    assert abs(m["kid_mean"]) < 0.01
    assert m["precision"] == 1.0 and m["recall"] == 1.0


def test_noise_against_digits_has_a_large_fid(digits):
    features, _, extractor = digits
    torch.manual_seed(0)
    noise = extract(extractor, iter(torch.rand(800, 1, 16, 16).split(400)), 800, desc="noise", progress=False)
    floor = real_floor(features, ["fid", "kid"])
    m = sample_quality(features, noise, ["fid", "kid", "prdc"])
    assert m["fid"] > 30 * floor["fid"] and m["fid"] > 40  # 57 vs 0.78 when written
    assert m["kid_mean"] > 20 * max(floor["kid_mean"], 0.01)
    # Noise maps to one small region of feature space: it covers none of the digits. (Its
    # precision is not low: that region lies inside the k-NN balls of outlying real digits,
    # the non-robustness that density and coverage were proposed to fix.)
    assert m["recall"] < 0.05 and m["coverage"] < 0.1 and m["density"] < 0.3


def test_dropping_half_the_classes_lowers_recall_much_more_than_precision(digits):
    features, labels, _ = digits
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    real, other = order[: len(order) // 2], order[len(order) // 2 :]
    half_classes = other[labels[other] < 5]
    everything = sample_quality(features.subset(real), features.subset(other), ["prdc"])
    dropped = sample_quality(features.subset(real), features.subset(half_classes), ["prdc"])
    assert everything["precision"] > 0.9 and everything["recall"] > 0.9
    precision_loss = everything["precision"] - dropped["precision"]
    recall_loss = everything["recall"] - dropped["recall"]
    assert recall_loss > 0.3 and recall_loss > 5 * max(precision_loss, 0.01)


def test_the_inception_style_score_counts_classes(digits):
    features, labels, _ = digits
    m = sample_quality(features, features, ["is"])
    one_class = features.subset(torch.nonzero(labels == 3).flatten())
    single = sample_quality(features, one_class, ["is"])
    assert 8 < m["is_mean"] <= 10  # ten balanced, confidently classified classes
    assert single["is_mean"] < 1.5


def test_every_metric_is_deterministic_for_a_seed(digits):
    features, _, _ = digits
    half = features.subset(torch.arange(800))
    other = features.subset(torch.arange(800, 1600))
    assert sample_quality(half, other, list(METRICS), seed=1) == sample_quality(half, other, list(METRICS), seed=1)
