"""moving-digits: reproducible Moving MNIST-style sequences from any image dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support import assert_one_line_error
from zoo.datasets import expect_kind, load_dataset
from zoo.datasets.moving_digits import DIGITS_PER_SEQUENCE, FRAMES, SEQUENCES, bouncing_path
from zoo.errors import UsageError


def test_the_default_is_two_digits_in_64x64_frames_20_a_sequence_with_no_download():
    data = load_dataset("moving-digits")
    assert data.spec.frames == FRAMES == 20 and data.spec.shape == (1, 64, 64) and data.spec.kind == "sequences"
    assert DIGITS_PER_SEQUENCE == 2
    assert len(data) == SEQUENCES["train"] and len(load_dataset("moving-digits", split="test")) == SEQUENCES["test"]
    frames = data.batch(torch.arange(8)).images
    assert frames.shape == (8, 20, 1, 64, 64) and frames.dtype == torch.float32
    assert 0 <= frames.min() and frames.max() <= 1
    assert bool((frames.flatten(2).amax(-1) > 0.5).all()), "every frame shows a digit"


def test_a_sequence_is_the_same_on_every_load_and_in_any_batch():
    first = load_dataset("moving-digits").batch(torch.tensor([5, 17])).images
    again = load_dataset("moving-digits").batch(torch.tensor([17, 5])).images
    assert torch.equal(first, again.flip(0))
    assert not torch.equal(first[0], first[1])


def test_the_digits_move_and_the_test_split_differs_from_train():
    train = load_dataset("moving-digits").batch(torch.arange(4)).images
    test = load_dataset("moving-digits", split="test").batch(torch.arange(4)).images
    assert not torch.equal(train, test)
    steps = (train[:, 1:] - train[:, :-1]).abs().flatten(2).sum(-1)
    assert bool((steps > 0).all()), "each frame differs from the one before"
    # 3.6 pixels a frame: the first and last frames share little of their ink
    overlap = (train[:, 0] * train[:, -1]).sum() / train[:, 0].pow(2).sum()
    assert overlap < 0.5


def test_paths_stay_inside_the_frame_and_bounce():
    rng = np.random.RandomState(0)
    for _ in range(50):
        path = np.array(bouncing_path(rng, 200, 36))
        assert path.min() >= 0 and path.max() <= 36
        moves = np.diff(path, axis=0)
        assert np.abs(moves).max() <= 4, "a fixed speed of 3.6 pixels a frame"
        assert (np.sign(moves[:, 0]) == -np.sign(moves[0, 0])).any(), "200 frames reach a wall and turn"


def test_image_size_scales_frames_and_digits_together():
    data = load_dataset("moving-digits", image_size=32, split="test")
    assert data.spec.shape == (1, 32, 32) and data.digits.shape[-1] == 14


def test_digits_can_come_from_mnist(mnist_dir):
    data = load_dataset("moving-digits:mnist", data_dir=mnist_dir, split="test")
    assert data.name == "moving-digits:mnist" and "mnist" in data.note
    assert len(data.digits) == 1000 and data.digits.shape[-1] == 28
    assert data.batch(torch.arange(2)).images.shape == (2, 20, 1, 64, 64)


def test_an_image_dataset_is_refused_where_sequences_are_needed_and_back():
    with pytest.raises(UsageError, match="gives images, but sequences are needed"):
        expect_kind(load_dataset("digits"), "sequences")
    with pytest.raises(UsageError, match="gives sequences, but images are needed"):
        expect_kind(load_dataset("moving-digits"), "images")
    with pytest.raises(UsageError, match="needs an image dataset"):
        load_dataset("moving-digits:moving-digits")


def test_training_a_model_on_the_other_kind_of_data_is_a_one_line_error(runs_dir, zoo_cli):
    result = zoo_cli("train", "dcgan", "--dataset", "moving-digits", "--steps", "1")
    assert_one_line_error(result, 2, "dcgan trains on images, but dataset 'moving-digits' gives sequences")
    result = zoo_cli("train", "convlstm", "--dataset", "digits", "--steps", "1")
    assert_one_line_error(result, 2, "convlstm trains on sequences, but dataset 'digits' gives images; use --dataset moving-digits")
    assert not runs_dir.exists() or not any(runs_dir.rglob("config.json")), "nothing is written"
