"""--compile: torch.compile of a model's modules in place, checkpoints unchanged."""

from __future__ import annotations

import pytest
import torch

from support import assert_one_line_error
from zoo.training import compiling
from zoo.errors import UsageError

TINY_DCGAN = ("--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16")


@pytest.mark.parametrize("flag, key", [("--compile", "compile"), ("--channels-last", "channels_last")])
def test_training_with_the_option_writes_checkpoints_a_plain_model_loads(flag, key, runs_dir, zoo_cli, tmp_path):
    result = zoo_cli("train", "dcgan", *TINY_DCGAN, flag, "--steps", "3", "--batch-size", "16", "--no-progress")
    assert result.exit_code == 0, result.output
    (run,) = (runs_dir / "dcgan").iterdir()
    assert f'"{key}": true' in (run / "config.json").read_text()
    # the sampler builds the model afresh, plain: the checkpoint's keys and layout must load into it
    result = zoo_cli("sample", "dcgan", "-n", "4", "--seed", "0", "--out", str(tmp_path / "s.png"))
    assert result.exit_code == 0, result.output


def test_compile_modules_compiles_in_place_and_keeps_the_keys():
    from zoo.testing import Subject

    model = Subject("dcgan", None).build()
    keys = {name: list(m.state_dict()) for name, m in model.modules.items()}
    assert sorted(compiling.compile_modules(model, backend="eager")) == ["discriminator", "generator", "generator_ema"]
    assert {name: list(m.state_dict()) for name, m in model.modules.items()} == keys
    assert model.sample(2, seed=0).shape == (2, 1, 16, 16)


def test_compile_is_refused_in_one_line_where_it_cannot_run(runs_dir, zoo_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no C++ compiler on it
    with pytest.raises(UsageError, match="needs a C\\+\\+ compiler"):
        compiling.check(torch.device("cpu"))
    for nproc in ([], ["--nproc", "2"]):  # refused once, before torchrun starts
        result = zoo_cli("train", "dcgan", "--compile", "--steps", "1", *nproc)
        assert_one_line_error(result, 2, "--compile on a CPU needs a C++ compiler")
    assert not runs_dir.exists()


def test_channels_last_reorders_four_dimensional_weights_and_image_batches_only():
    from zoo.testing import Subject

    model = Subject("convlstm", None).build()
    compiling.to_channels_last(model)
    weights = [p for p in model.network.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    images = torch.rand(2, 3, 8, 8)
    assert compiling.channels_last_batch(images).is_contiguous(memory_format=torch.channels_last)
    sequences = torch.rand(2, 5, 1, 8, 8)
    assert compiling.channels_last_batch(sequences) is sequences
