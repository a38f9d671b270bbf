"""CIFAR-10 and LFW through torchvision, on small hand-made copies of their file layouts.

torchvision checks the real files' MD5 sums; the fake copies bypass only that check, so
the rest (reading, layout conversion, cropping) runs as it would on the real data.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import cifar, lfw

from zoo.datasets import load_dataset
from zoo.datasets.source import LoadRequest
from zoo.datasets.torchvision_sets import CIFAR10, LFW
from zoo.errors import ZooError


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (instead of making) any download torchvision's CIFAR-10 attempts."""
    calls: list[str] = []
    monkeypatch.setattr(cifar, "download_and_extract_archive", lambda url, *a, **k: calls.append(url))
    return calls


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(lfw._LFW, "_check_integrity", lambda self: True)


def fake_cifar(root: Path, per_batch: int = 2) -> dict[str, np.ndarray]:
    """CIFAR-10's python batches: each row of 3072 bytes is the red plane, then green, then blue."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        rng = np.random.default_rng(k)
        rows = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, size=per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": labels}, f)
        written[name] = rows.reshape(per_batch, 3, 32, 32), np.array(labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return written


def test_cifar_missing_names_folder_and_does_not_download(tmp_path: Path, no_download: list[str]) -> None:
    with pytest.raises(ZooError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "--download" in message and "\n" not in message
    assert no_download == [] and list(tmp_path.iterdir()) == []


def test_cifar_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("no network\nat all")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(ZooError, match="could not download CIFAR-10") as info:
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert "\n" not in str(info.value)


def test_cifar_reads_channels_first(tmp_path: Path, unchecked: None) -> None:
    written = fake_cifar(tmp_path)
    test = load_dataset("cifar10", split="test", data_dir=tmp_path)
    images, labels = written["test_batch"]
    assert test.images.shape == (2, 3, 32, 32) and test.images.dtype == torch.uint8
    assert torch.equal(test.images, torch.from_numpy(images))
    assert test.labels.dtype == torch.int64 and test.labels.tolist() == labels.tolist()
    assert test.spec.num_classes == 10
    train = CIFAR10().load(LoadRequest(split="train", image_size=16, channels=1, data_dir=tmp_path))
    assert train.images.shape == (10, 1, 16, 16)


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
