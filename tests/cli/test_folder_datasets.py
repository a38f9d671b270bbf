"""A user's class-folder dataset, end to end: cgan trains on it, draws a class asked for by
name, and ``zoo evaluate`` measures on the folder's held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

COLOURS = {"blue": (40, 60, 220), "green": (40, 200, 60), "red": (220, 40, 40)}
SIZE, PER_CLASS = 16, 60


def write_class_folder(root: Path) -> Path:
    """Three classes of noisy flat colours: what tells them apart is plain to a linear model."""
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = np.array(colour, float) * rng.uniform(0.6, 1.0) + rng.normal(0, 12, (SIZE, SIZE, 3))
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.jpg", quality=90)
    return root


def colour_classifier(root: Path) -> torch.nn.Module:
    """A softmax regression on each image's mean colour, fitted to the real images."""
    from zoo.datasets import load_dataset

    data = load_dataset(f"folder:{root}", image_size=SIZE)
    x = data.images.float().mean(dim=(2, 3)) / 255.0
    model = torch.nn.Linear(3, len(COLOURS))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(model(x), data.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model(x).argmax(1) == data.labels).float().mean() == 1.0
    return model


def grid_cells(path: Path, n: int) -> torch.Tensor:
    """The ``n`` images of a saved grid (torchvision's layout: 2-pixel padding), as floats."""
    grid = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255.0
    nrow = int(np.ceil(np.sqrt(n)))
    step = SIZE + 2
    cells = [grid[:, 2 + r * step : 2 + r * step + SIZE, 2 + c * step : 2 + c * step + SIZE] for r in range(nrow) for c in range(nrow)]
    return torch.stack(cells[:n])


def test_cgan_on_a_class_folder_draws_the_class_named_and_evaluate_uses_the_held_out_split(tmp_path, runs_dir, zoo_cli):
    root = write_class_folder(tmp_path / "photos")
    trained = zoo_cli(
        "train", "cgan", "--dataset", f"folder:{root}", "--image-size", str(SIZE),
        "--steps", "300", "--batch-size", "32", "--seed", "0", "--no-progress",
    )
    assert trained.exit_code == 0, trained.stderr
    assert "162 images" in trained.stderr and "one in 10 of each class held out" in trained.stderr
    record = json.loads((Path(trained.stdout.strip()) / "config.json").read_text())
    assert record["dataset"]["class_names"] == ["blue", "green", "red"]
    assert record["dataset"]["name"] == f"folder:{root.resolve()}"

    classify = colour_classifier(root)
    n = 16
    for index, name in enumerate(sorted(COLOURS)):
        out = tmp_path / f"{name}.png"
        drawn = zoo_cli("sample", "cgan", "--label", name, "-n", str(n), "--seed", "1", "--out", str(out))
        assert drawn.exit_code == 0, drawn.stderr
        predicted = classify(grid_cells(out, n).mean(dim=(2, 3))).argmax(1)
        assert (predicted == index).float().mean() >= 0.9, (name, predicted.tolist())
    by_index = tmp_path / "by-index.png"
    assert zoo_cli("sample", "cgan", "--label", "2", "-n", str(n), "--seed", "1", "--out", str(by_index)).exit_code == 0
    assert by_index.read_bytes() == (tmp_path / "red.png").read_bytes()
    unknown = zoo_cli("sample", "cgan", "--label", "cat", "--out", str(tmp_path / "cat.png"))
    assert unknown.exit_code == 2 and "give one of blue, green, red" in unknown.stderr
    assert not (tmp_path / "cat.png").exists()

    assert zoo_cli("features", "train", "--dataset", f"folder:{root}", "--no-progress").exit_code == 0
    evaluated = zoo_cli("evaluate", "cgan", "-n", "200", "--no-progress")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert f"on folder:{root.resolve()} test: 18 real images" in evaluated.stdout
    assert "test: 18 of 180 images, one in 10 of each class held out" in evaluated.stdout
