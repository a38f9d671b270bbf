"""``folder:PATH`` as users keep them: class subfolders, train/ and test/, a seeded hold-out, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from zoo.datasets import folder, load_dataset
from zoo.errors import ZooError

COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


def class_folder(root: Path, per_class: int, names=("red", "green", "blue"), ext: str = ".png") -> Path:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (20, 20), COLOURS[name]).save(root / name / f"{i:04d}{ext}")
    return root


def test_class_subfolders_give_labels_and_sorted_class_names(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "photos", 5)
    data = load_dataset(f"folder:{root}", image_size=8)
    assert data.class_names == ("blue", "green", "red")
    assert data.spec.num_classes == 3 and data.labels is not None
    for label, name in enumerate(data.class_names):
        mean = data.images[data.labels == label].float().mean(dim=(0, 2, 3))
        assert torch.allclose(mean, torch.tensor(COLOURS[name], dtype=torch.float), atol=1)


def test_a_folder_with_images_at_its_top_is_unlabelled(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "photos", 2)
    Image.new("RGB", (20, 20)).save(root / "loose.png")
    data = load_dataset(f"folder:{root}", image_size=8)
    assert data.labels is None and data.class_names == () and len(data) == 7


def test_one_in_ten_of_each_class_is_held_out_the_same_way_every_time(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "photos", 30)
    listings = [folder.list_split(root, split, "x") for split in ("train", "test", "train")]
    train, test, again = listings
    assert train.paths == again.paths  # deterministic
    assert len(test.paths) == 9 and len(train.paths) == 81 and not set(train.paths) & set(test.paths)
    assert sorted(test.labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # stratified: three of each class
    assert test.paths != sorted(folder.find_images(root))[:9]  # a permutation, not the first files
    data = load_dataset(f"folder:{root}", split="test", image_size=8)
    assert len(data) == 9 and "held out for test" in data.note


def test_train_and_test_subfolders_are_used_as_given(tmp_path: Path) -> None:
    class_folder(tmp_path / "set" / "train", 4)
    class_folder(tmp_path / "set" / "test", 2, names=("red", "blue"))
    train = load_dataset(f"folder:{tmp_path / 'set'}", image_size=8)
    test = load_dataset(f"folder:{tmp_path / 'set'}", split="test", image_size=8)
    assert len(train) == 12 and len(test) == 4
    assert test.class_names == train.class_names == ("blue", "green", "red")
    assert sorted(test.labels.tolist()) == [0, 0, 2, 2]  # indexed by train's classes


@pytest.mark.battery("datasets")
def test_a_test_folder_with_a_class_train_lacks_is_refused(tmp_path: Path) -> None:
    class_folder(tmp_path / "set" / "train", 2, names=("red",))
    class_folder(tmp_path / "set" / "test", 2, names=("red", "blue"))
    with pytest.raises(ZooError, match="class folders that train/ lacks: blue"):
        load_dataset(f"folder:{tmp_path / 'set'}", split="test", image_size=8)


@pytest.mark.battery("datasets")
def test_too_few_images_to_hold_out_a_test_split(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "few", 3)
    with pytest.raises(ZooError, match="too few to hold out a test split"):
        load_dataset(f"folder:{root}", split="test", image_size=8)


@pytest.mark.battery("datasets")
def test_an_empty_class_folder_is_named(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "photos", 3)
    (root / "cats").mkdir()
    with pytest.raises(ZooError, match=r"class folder .*cats holds no images; add images to it or remove it"):
        load_dataset(f"folder:{root}", image_size=8)


@pytest.mark.battery("datasets")
def test_corrupt_jpegs_are_counted_and_the_first_named_or_skipped_when_asked(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "photos", 4, ext=".jpg")
    for bad in (root / "red" / "0001.jpg", root / "blue" / "0002.jpg"):
        bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(ZooError) as info:
        load_dataset(f"folder:{root}", image_size=8)
    message = str(info.value)
    assert "2 of 12 images cannot be read" in message and "0002.jpg" in message and "--skip-bad-images" in message
    assert "\n" not in message
    data = load_dataset(f"folder:{root}", image_size=8, skip_bad_images=True)
    assert len(data) == 10 and "skipped 2 unreadable images" in data.note
    assert sorted(data.labels.tolist()) == [0] * 3 + [1] * 4 + [2] * 3


def test_large_folders_decode_in_worker_processes_to_the_same_images(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "many"
    root.mkdir()
    generator = torch.Generator().manual_seed(0)
    for i in range(folder.PARALLEL_FROM + 10):
        pixels = torch.randint(0, 256, (12, 12, 3), generator=generator, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(root / f"{i:05d}.png")
    workers = load_dataset(f"folder:{root}", image_size=12)
    assert folder.decode_workers() >= 1
    monkeypatch.setattr(folder, "PARALLEL_FROM", 10**9)  # the same folder decoded in this process
    alone = load_dataset(f"folder:{root}", image_size=12)
    assert torch.equal(workers.images, alone.images)
