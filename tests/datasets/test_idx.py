"""MNIST and Fashion-MNIST idx files: the reader, the folder layouts, and the real test set."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.datasets import load_dataset
from zoo.datasets.idx import MNIST, FashionMNIST, read_idx
from zoo.datasets.source import LoadRequest
from zoo.errors import ZooError

def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_split(folder: Path, prefix: str, n: int, *, gz: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def load(source: type = MNIST, **kwargs):
    options = {"split": "train", "image_size": 28, "channels": 1} | kwargs
    return source().load(LoadRequest(**options))


@pytest.mark.parametrize("gz", [True, False])
def test_flat_files_round_trip(tmp_path: Path, gz: bool) -> None:
    images, labels = make_split(tmp_path, "train", 7, gz=gz)
    loaded = load(data_dir=tmp_path)
    assert loaded.images.shape == (7, 1, 28, 28) and loaded.images.dtype == torch.uint8
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(images))
    assert loaded.labels.dtype == torch.int64 and loaded.labels.tolist() == labels.tolist()
    assert loaded.spec.num_classes == 10 and loaded.split == "train" and loaded.note == ""


def test_each_split_reads_its_own_files(tmp_path: Path) -> None:
    train, _ = make_split(tmp_path, "train", 5, seed=1)
    test, _ = make_split(tmp_path, "t10k", 3, seed=2)
    assert torch.equal(load(data_dir=tmp_path).images[:, 0], torch.from_numpy(train))
    assert torch.equal(load(data_dir=tmp_path, split="test").images[:, 0], torch.from_numpy(test))


@pytest.mark.parametrize("source, folder", [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_torchvision_layout(tmp_path: Path, source: type, folder: str) -> None:
    make_split(tmp_path / folder / "raw", "train", 2, gz=False)
    images, _ = make_split(tmp_path / folder / "raw", "t10k", 4, gz=False)
    loaded = load(source, data_dir=tmp_path, split="test")
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(images))
    assert loaded.name == source.name


def test_fashion_does_not_read_mnist_torchvision_folder(tmp_path: Path) -> None:
    make_split(tmp_path / "MNIST" / "raw", "t10k", 4)
    with pytest.raises(ZooError, match="fashion-mnist test split not found"):
        load(FashionMNIST, data_dir=tmp_path, split="test")


def test_only_test_files_are_carved_into_disjoint_fixed_splits(tmp_path: Path) -> None:
    images, labels = make_split(tmp_path, "t10k", 20)
    train = load(data_dir=tmp_path, split="train")
    test = load(data_dir=tmp_path, split="test")
    assert (len(train), len(test)) == (18, 2)
    assert train.split == "train" and test.split == "test"
    assert "only its test split" in train.note and "18 of its 20 images as train and the other 2 as test" in train.note
    # together they are the test file's images, each exactly once, with their own labels
    rows = {bytes(image.numpy().tobytes()): int(label) for image, label in zip(torch.from_numpy(images), labels)}
    carved = [(bytes(i[0].numpy().tobytes()), int(label)) for s in (train, test) for i, label in zip(s.images, s.labels)]
    assert sorted(carved) == sorted(rows.items())
    assert torch.equal(load(data_dir=tmp_path, split="test").images, test.images), "the carve is fixed"


def test_resize_and_channels(tmp_path: Path) -> None:
    make_split(tmp_path, "train", 3)
    loaded = load(data_dir=tmp_path, image_size=14, channels=3)
    assert loaded.images.shape == (3, 3, 14, 14)
    assert torch.equal(loaded.images[:, 0], loaded.images[:, 2])


def test_missing_files_name_every_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ZooError) as info:
        load(data_dir=missing, split="test")
    message = str(info.value)
    assert "\n" not in message and "--download" in message
    for path in (
        missing / "t10k-images-idx3-ubyte[.gz]",
        missing / "t10k-labels-idx1-ubyte[.gz]",
        missing / "MNIST" / "raw" / "t10k-images-idx3-ubyte[.gz]",
        missing / "MNIST" / "raw" / "t10k-labels-idx1-ubyte[.gz]",
    ):
        assert str(path) in message


def test_images_without_labels_count_as_missing(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ZooError, match="not found"):
        load(data_dir=tmp_path, split="test")


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_names_the_path(tmp_path: Path, gz: bool) -> None:
    make_split(tmp_path, "t10k", 5, gz=gz)
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ZooError) as info:
        load(data_dir=tmp_path, split="test")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_reader_rejects_wrong_magic_dims_and_size(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    cases = {
        "float.idx": good[:2] + b"\x0d" + good[3:],  # float32 type code
        "dims.idx": idx_bytes(np.zeros((6,), np.uint8)),  # labels where images are expected
        "long.idx": good + b"\x00",
        "short.idx": good[:6],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ZooError, match=re.escape(str(tmp_path / name))):
            read_idx(tmp_path / name, 3)
    (tmp_path / "good.idx").write_bytes(good)
    assert read_idx(tmp_path / "good.idx", 3).shape == (2, 3, 3)


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ZooError, match="3 images but .* 4 labels"):
        load(data_dir=tmp_path, split="test")


def test_real_mnist_test_set_is_carved_9000_1000(mnist_dir: Path) -> None:
    """The shared folder holds only MNIST's 10,000 test images: train on 9,000, test on 1,000."""
    train = load_dataset("mnist", split="train", data_dir=mnist_dir)
    test = load_dataset("mnist", split="test", data_dir=mnist_dir)
    assert train.images.shape == (9_000, 1, 28, 28) and test.images.shape == (1_000, 1, 28, 28)
    both = torch.cat([train.images, test.images])
    assert int(both.min()) == 0 and int(both.max()) == 255
    counts = torch.cat([train.labels, test.labels]).bincount(minlength=10)
    assert int(counts[1]) == 1135  # the published count of ones in the MNIST test set
    assert all(int(c) > 50 for c in test.labels.bincount(minlength=10)), "every class is in the held-out part"
    assert "9,000 of its 10,000 images as train" in train.note


def test_real_mnist_resized(mnist_dir: Path) -> None:
    loaded = load_dataset("mnist", split="train", data_dir=mnist_dir, image_size=16)
    assert loaded.images.shape == (9_000, 1, 16, 16)


@pytest.mark.battery("datasets")
def test_a_gzip_bomb_is_refused_from_its_header_without_decompressing_it(tmp_path: Path) -> None:
    import gzip
    import resource

    # a header that announces 60000 x 28 x 28, then a payload that decompresses to 1 GB of zeros:
    # written as a stream of compressed blocks so the test itself stays small
    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + np.array([60000, 28, 28], dtype=">u4").tobytes()
    block = np.zeros(64 * 1024 * 1024, np.uint8).tobytes()
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(header)
        for _ in range(16):
            f.write(block)
    assert bomb.stat().st_size < 10 * 1024**2
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ZooError, match="longer than its header says"):
        read_idx(bomb, 3)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400, f"reading grew the process by {grown_mb:.0f} MB"

    huge = tmp_path / "huge.idx"
    huge.write_bytes(bytes([0, 0, 0x08, 3]) + np.array([4_000_000_000, 28, 28], dtype=">u4").tobytes())
    with pytest.raises(ZooError, match="announces shape"):
        read_idx(huge, 3)
