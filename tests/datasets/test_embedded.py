"""The datasets bundled with scikit-learn and scikit-image: digits and lfw-subset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.datasets import load_dataset
from zoo.datasets.embedded import Digits, LFWSubset
from zoo.datasets.source import LoadRequest


def _rows(images: torch.Tensor) -> list[bytes]:
    return sorted(image.numpy().tobytes() for image in images)


def test_digits_default_shape_and_labels() -> None:
    train = load_dataset("digits")
    test = load_dataset("digits", split="test")
    assert train.images.shape == (1617, 1, 16, 16) and test.images.shape == (180, 1, 16, 16)
    for part in (train, test):
        assert part.images.dtype == torch.uint8
        assert part.labels is not None and part.labels.dtype == torch.int64
        assert part.spec.num_classes == 10
    assert train.split == "train" and test.split == "test"
    assert set(train.labels.tolist()) == set(range(10))


def test_digits_values_span_0_to_255_at_native_size() -> None:
    from sklearn.datasets import load_digits

    train = load_dataset("digits", image_size=8)
    test = load_dataset("digits", split="test", image_size=8)
    original = load_digits().images  # counts 0..16
    expected = torch.from_numpy(np.round(original / 16 * 255).astype(np.uint8)).unsqueeze(1)
    # train and test together are exactly the 1,797 digits, each once
    assert _rows(torch.cat([train.images, test.images])) == _rows(expected)
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0


def test_digits_split_is_fixed() -> None:
    first = Digits().load(LoadRequest(split="test", image_size=8, channels=1))
    again = Digits().load(LoadRequest(split="test", image_size=8, channels=1))
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    # pinned: a changed seed or split rule would silently move images between train and test
    assert first.labels.bincount().tolist() == [17, 19, 18, 15, 22, 21, 15, 20, 14, 19]
    assert first.labels[:12].tolist() == [8, 6, 1, 7, 4, 1, 4, 7, 0, 1, 5, 6]


def test_digits_to_three_channels_repeats_grey() -> None:
    colour = load_dataset("digits", split="test", channels=3, image_size=32)
    assert colour.images.shape == (180, 3, 32, 32)
    grey = colour.images[:, :1]
    assert torch.equal(colour.images, grey.expand(-1, 3, -1, -1))
    assert int(colour.images.max()) > 200


def test_lfw_subset_keeps_only_faces() -> None:
    from skimage.data import lfw_subset

    train = load_dataset("lfw-subset", image_size=25)
    test = load_dataset("lfw-subset", split="test", image_size=25)
    assert train.images.shape == (90, 1, 25, 25) and test.images.shape == (10, 1, 25, 25)
    faces = torch.from_numpy(np.round(lfw_subset()[:100] * 255).astype(np.uint8)).unsqueeze(1)
    assert torch.equal(torch.cat([train.images, test.images]), faces)
    assert train.labels is None and train.spec.num_classes == 0


@pytest.mark.parametrize("channels", [1, 3])
def test_lfw_subset_default_size_and_channels(channels: int) -> None:
    faces = LFWSubset().load(LoadRequest(split="train", image_size=LFWSubset.default_size, channels=channels))
    assert faces.images.shape == (90, channels, 32, 32) and faces.images.dtype == torch.uint8
    assert faces.spec.shape == (channels, 32, 32)
