"""A small trained run that the tests of this folder copy and damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY_DCGAN = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dcgan run of 3 steps on the embedded digits; copy it before changing anything."""
    root = tmp_path_factory.mktemp("trained-runs")
    request = TrainRequest("dcgan", overrides=TINY_DCGAN, device="cpu", runs_dir=root, options=TrainOptions(steps=3, progress=False))
    return train(request).run_dir
