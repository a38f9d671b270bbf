"""classifier:<dataset>: trained from a seed, cached as safetensors + JSON, reloaded by name."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from support import assert_one_line_error
from zoo.errors import UsageError, ZooError
from zoo.features import get_extractor
from zoo.features.classifier import CONFIG, WEIGHTS, ClassifierFeatures, classifier_dir


def test_the_trained_classifier_is_cached_with_its_heldout_accuracy(digits_classifier, isolated_cache):
    folder = digits_classifier.path
    assert folder == isolated_cache / "features" / "classifier-digits"
    record = json.loads((folder / CONFIG).read_text())
    assert record["heldout_split"] == {"name": "test", "n": 180, "note": ""}
    assert record["train_split"]["n"] == 1617
    assert record["heldout_accuracy"] > 0.9
    assert set(load_file(str(folder / WEIGHTS))) >= {"head.1.weight", "body.0.weight"}


def test_loading_by_name_gives_the_same_network_and_names_its_accuracy(digits_classifier):
    extractor = get_extractor("classifier:digits")
    assert extractor.name == "classifier:digits"
    assert f"{100 * digits_classifier.record['heldout_accuracy']:.2f}% accurate on digits test (180 images)" in extractor.description
    images = torch.rand(6, 1, 16, 16)
    features, logits = extractor.extract(images)
    assert features.shape == (6, 128) and logits.shape == (6, 10)


def test_features_are_scaled_to_unit_rms_on_the_train_split(digits_classifier):
    from zoo.datasets import load_dataset

    train = load_dataset("digits", split="train")
    features, _ = get_extractor("classifier:digits").extract(train.batch(torch.arange(len(train))).images)
    assert features.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-4)


def test_other_sizes_and_channels_are_fitted_to_the_network(digits_classifier):
    extractor = get_extractor("classifier:digits")
    features, _ = extractor.extract(torch.rand(3, 3, 32, 32))
    assert features.shape == (3, 128)


def test_the_same_seed_trains_the_same_classifier(tmp_path):
    from zoo.features.classifier import train_classifier

    a = train_classifier("digits", epochs=1, seed=3, cache_dir=tmp_path / "a", progress=False)
    b = train_classifier("digits", epochs=1, seed=3, cache_dir=tmp_path / "b", progress=False)
    assert a.record["sha256"] == b.record["sha256"]


def test_a_missing_classifier_says_how_to_train_one(isolated_cache):
    with pytest.raises(UsageError, match=r"zoo features train --dataset fashion-mnist"):
        get_extractor("classifier:fashion-mnist")
    with pytest.raises(UsageError, match="needs an argument"):
        get_extractor("classifier")


def test_a_damaged_cache_entry_is_a_clear_error(tmp_path, digits_classifier):
    import shutil

    folder = tmp_path / "classifier-digits"
    shutil.copytree(digits_classifier.path, folder)
    (folder / CONFIG).write_text("{ not json")
    with pytest.raises(ZooError, match="train it again"):
        ClassifierFeatures.open("digits", folder)


def test_unlabelled_data_cannot_train_a_classifier(tmp_path):
    from PIL import Image

    from zoo.features.classifier import train_classifier

    for i in range(4):
        Image.new("L", (8, 8), color=i * 40).save(tmp_path / f"{i}.png")
    with pytest.raises(UsageError, match="no class labels"):
        train_classifier(f"folder:{tmp_path}", epochs=1, cache_dir=tmp_path / "cache", progress=False)


def test_cli_trains_and_lists_the_classifier(zoo_cli, isolated_cache, tmp_path):
    env = {"ZOO_CACHE_DIR": str(tmp_path)}
    result = zoo_cli("features", "train", "--dataset", "digits", "--epochs", "1", "--no-progress", env=env)
    assert result.exit_code == 0, result.stderr
    assert "held-out accuracy" in result.stdout and "on digits test (180 images)" in result.stdout
    assert str(classifier_dir("digits", tmp_path / "features")) in result.stdout
    listing = zoo_cli("features", "list", env=env)
    assert "inception" in listing.stdout and "classifier:digits" in listing.stdout
    assert_one_line_error(zoo_cli("features", "train", "--dataset", "digits", "--epochs", "0", env=env), 2, "--epochs must be at least 1")
