"""LFW through torchvision's LFWPeople, on a small hand-made copy of its file layout.

torchvision checks the real files' MD5 sums; the fake copy bypasses only that check, so the
rest (reading, cropping, resizing) runs as it would on the real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import lfw

from zoo.datasets import load_dataset
from zoo.datasets.lfw import LFW
from zoo.datasets.source import LoadRequest
from zoo.errors import ZooError


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lfw._LFW, "_check_integrity", lambda self: True)


def fake_lfw(root: Path, people: dict[str, int]) -> None:
    """torchvision's lfw-py layout with 250x250 photos: grey border, white central 128x128."""
    base = root / "lfw-py"
    photo = np.full((250, 250, 3), 60, np.uint8)
    photo[61:189, 61:189] = 255
    for name, count in people.items():
        for n in range(1, count + 1):
            (base / "lfw_funneled" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(base / "lfw_funneled" / name / f"{name}_{n:04d}.jpg", quality=95)
    (base / "lfw-names.txt").write_text("".join(f"{name}\t{count}\n" for name, count in people.items()))
    listing = f"{len(people)}\n" + "".join(f"{name}\t{count}\n" for name, count in people.items())
    (base / "peopleDevTrain.txt").write_text(listing)
    (base / "peopleDevTest.txt").write_text("1\n" + next(f"{n}\t{c}\n" for n, c in people.items()))


def test_lfw_crops_to_the_face(tmp_path: Path, unchecked: None) -> None:
    fake_lfw(tmp_path, {"Ada_Lovelace": 2, "Alan_Turing": 1})
    train = load_dataset("lfw", data_dir=tmp_path)
    assert train.images.shape == (3, 3, 64, 64) and train.images.dtype == torch.uint8
    assert train.labels is None and train.spec.num_classes == 0
    # only the white centre survives the crop; the grey border would pull the minimum down
    assert int(train.images.min()) > 230
    test = LFW().load(LoadRequest(split="test", image_size=16, channels=1, data_dir=tmp_path))
    assert test.images.shape == (2, 1, 16, 16)


@pytest.mark.parametrize("download", [False, True])
def test_lfw_missing_names_folder(tmp_path: Path, download: bool) -> None:
    with pytest.raises(ZooError) as info:
        load_dataset("lfw", data_dir=tmp_path, download=download)
    message = str(info.value)
    assert str(tmp_path / "lfw-py") in message and "\n" not in message
    assert ("no longer download" in message) == download
