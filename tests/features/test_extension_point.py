"""zoo.features is an extension point like zoo.models: a third-party extractor installed as a
distribution is used and named by zoo evaluate; a broken one is listed and breaks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import assert_one_line_error, install_distribution
from zoo.training.trainer import TrainOptions, TrainRequest, train

PIXELS = '''
import torch
from zoo.features.extractor import FeatureExtractor, fit_images


class PixelFeatures(FeatureExtractor):
    summary = "raw pixels at 8 x 8, greyscale"

    def __init__(self):
        self.name = "pixels"
        self.description = "the image itself, 8 x 8 greyscale (64 features, no classes)"
        self.num_features = 64

    @classmethod
    def open(cls, argument, weights):
        return cls()

    def extract(self, images):
        return fit_images(images, 1, 8, 8).flatten(1), None
'''

BROKEN = '''
import torch
raise ImportError("needs a library that is not installed")
'''


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory) -> Path:
    options = TrainOptions(steps=5, batch_size=32, progress=False, sample_every=1000)
    tiny = ("generator_width=4", "discriminator_width=4", "latent_dim=8")
    return train(TrainRequest("dcgan", runs_dir=tmp_path_factory.mktemp("runs"), overrides=tiny, options=options)).run_dir


def test_a_third_party_extractor_measures_and_is_named(site, zoo_cli, dcgan_run):
    install_distribution(site, "zoo-pixels", {"pixels": "thirdparty_pixels:PixelFeatures"}, {"thirdparty_pixels": PIXELS}, group="zoo.features")
    listing = zoo_cli("features", "list")
    assert "pixels" in listing.stdout and "raw pixels at 8 x 8" in listing.stdout
    result = zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--features", "pixels", "--metrics", "fid,kid,prdc", "-n", "100", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "features: pixels: the image itself, 8 x 8 greyscale" in result.stdout
    assert "real vs real (floor)" in result.stdout
    no_classes = zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--features", "pixels", "--metrics", "is", "-n", "100", "--no-progress")
    assert_one_line_error(no_classes, 2, "needs an extractor with class logits")


def test_a_broken_extractor_is_listed_and_other_commands_work(site, zoo_cli, dcgan_run):
    install_distribution(site, "zoo-broken-features", {"broken": "thirdparty_broken_features:Nope"}, {"thirdparty_broken_features": BROKEN}, group="zoo.features")
    listing = zoo_cli("features", "list")
    assert listing.exit_code == 0
    assert "BROKEN" in listing.stdout and "needs a library that is not installed" in listing.stdout
    assert "inception" in listing.stdout
    result = zoo_cli("evaluate", "dcgan", "--run", str(dcgan_run), "--features", "broken", "-n", "10")
    assert_one_line_error(result, (1, 2), "feature extractor 'broken'", "is broken")
    assert zoo_cli("list").exit_code == 0
