"""128 x 128 and 256 x 256: the sizes users train at. Each model builds with sensible widths at
its defaults, and trains, samples and exports (verified through onnxruntime) at both sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.contract import DataSpec
from zoo.models import build_model, get_model

SIZES = (128, 256)
MODELS = {
    "dcgan": ("generator_width=8", "discriminator_width=8", "latent_dim=16"),
    "sngan": ("generator_width=16", "discriminator_width=16", "latent_dim=16"),
    "vae": ("width=8", "hidden=32", "latent_dim=8"),
    "vaegan": ("decoder_width=8", "discriminator_width=8", "encoder_width=8", "latent_dim=16"),
}
MAX_PARAMETERS = 15_000_000
"""Per network at the default widths, at 256 x 256: about DCGAN's 64 x 64 networks with two stages more."""


def parameters(name: str, side: int) -> dict[str, int]:
    plugin = get_model(name)
    model = build_model(plugin, plugin.Config(), DataSpec(channels=3, height=side, width=side), "cpu")
    return {key: sum(p.numel() for p in module.parameters()) for key, module in model.modules.items()}


@pytest.mark.parametrize("name", MODELS)
def test_default_widths_stay_sensible_as_the_side_grows(name: str) -> None:
    at_64, at_256 = parameters(name, 64), parameters(name, 256)
    for key, count in at_256.items():
        assert count <= MAX_PARAMETERS, f"{name} {key}: {count:,} parameters at 256 x 256"
        assert count <= 5 * at_64[key], f"{name} {key} grows {count / at_64[key]:.1f} x from 64 to 256 pixels"


@pytest.mark.parametrize("side", SIZES)
@pytest.mark.parametrize("name", MODELS)
def test_trains_samples_and_exports_at_the_size(name: str, side: int, tmp_path: Path, runs_dir: Path, zoo_cli) -> None:
    sets = [arg for value in MODELS[name] for arg in ("--set", value)]
    trained = zoo_cli(
        "train", name, "--dataset", "digits", "--image-size", str(side), "--channels", "3", "--steps", "2",
        "--batch-size", "4", "--n-samples", "4", "--no-progress", *sets,
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    grid = tmp_path / "grid.png"
    assert zoo_cli("sample", name, "-n", "2", "--seed", "0", "--out", str(grid)).exit_code == 0
    from PIL import Image

    assert min(Image.open(grid).size) >= side
    out = tmp_path / f"{name}.onnx"
    exported = zoo_cli("export", name, "--onnx", "--out", str(out))
    assert exported.exit_code == 0, exported.stderr
    assert "max abs diff" in exported.stderr
    generated = tmp_path / "generated.png"
    assert zoo_cli("generate", str(out), "-n", "2", "--seed", "0", "--out", str(generated)).exit_code == 0
    assert Image.open(generated).size[0] >= side
