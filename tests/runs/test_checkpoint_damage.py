"""A damaged training.safetensors is one line naming the file, never an unexpected error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from zoo.errors import ZooError
from zoo.runs import checkpoint
from zoo.training.trainer import ResumeRequest, TrainOptions, TrainRequest, resume, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    request = TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=root, options=TrainOptions(steps=3, progress=False))
    return train(request).run_dir


def damaged_copy(trained: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    _, folder = checkpoint.latest_checkpoint(copy)
    path = folder / checkpoint.TRAINING
    with safe_open(str(path), "pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        state = json.loads(handle.metadata()["zoo"])
    state, tensors = change(state, tensors)
    save_file(tensors, str(path), metadata={"zoo": json.dumps(state)})
    return copy


def drop(mapping, key):
    mapping = dict(mapping)
    mapping.pop(key)
    return mapping


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s, t: (drop(s, "step"), t), "step is None"),
        (lambda s, t: ({**s, "step": "three"}, t), "step is 'three'"),
        (lambda s, t: (drop(s, "optimizers"), t), "has no optimizers"),
        (lambda s, t: ({**s, "optimizers": []}, t), "has no optimizers"),
        (lambda s, t: ({**s, "optimizers": {}}, t), "no state for optimizer"),
        (lambda s, t: (s, drop(t, "rng.cpu")), "holds no rng.cpu state"),
        (lambda s, t: (s, {**t, "rng.cpu": torch.zeros(3, dtype=torch.uint8)}), "training state is damaged"),
        (lambda s, t: (s, {**t, "rng.cpu": torch.zeros(5000, dtype=torch.float32)}), "training state is damaged"),
    ],
)
def test_a_damaged_training_state_is_one_error_naming_the_file(trained, tmp_path, change, named):
    run = damaged_copy(trained, tmp_path, change)
    with pytest.raises(ZooError, match=named) as caught:
        resume(ResumeRequest(run, steps=5, device="cpu", progress=False))
    message = str(caught.value)
    assert checkpoint.TRAINING in message and "\n" not in message
