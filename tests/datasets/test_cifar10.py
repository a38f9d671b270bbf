"""CIFAR-10 from hand-made copies of its two file layouts: pickled python batches, read by an
unpickler that resolves nothing but numpy's array globals, and the binary batches."""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.utils

from zoo.datasets import load_dataset
from zoo.datasets.cifar10 import BATCHES, CIFAR10, CLASS_NAMES
from zoo.datasets.source import LoadRequest
from zoo.errors import UsageError, ZooError

from support import assert_one_line_error

NAMES = BATCHES["train"] + BATCHES["test"]


def batch(k: int, per_batch: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8), [int(x) for x in rng.integers(0, 10, size=per_batch)]


def fake_cifar(root: Path, per_batch: int = 2, protocol: int = 2, numpy1_names: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10's python batches: each row of 3,072 bytes is the red plane, then green, then blue.
    ``numpy1_names`` writes numpy's globals as the real files (pickled under numpy 1) name them."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for k, name in enumerate(NAMES):
        rows, labels = batch(k, per_batch)
        data = pickle.dumps({"batch_label": f"batch {k}", "data": rows, "labels": labels, "filenames": [b"a.png"] * per_batch}, protocol=protocol)
        if numpy1_names:
            data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        (folder / name).write_bytes(data)
        written[name] = rows.reshape(per_batch, 3, 32, 32), np.array(labels)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CLASS_NAMES)}, protocol=protocol))
    return written


def fake_cifar_binary(root: Path, per_batch: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The binary version: per image, its label byte and then its 3,072 pixel bytes."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    written = {}
    for k, name in enumerate(NAMES):
        rows, labels = batch(k, per_batch)
        np.concatenate([np.array(labels, np.uint8)[:, None], rows], axis=1).tofile(folder / f"{name}.bin")
        written[name] = rows.reshape(per_batch, 3, 32, 32), np.array(labels)
    return written


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (instead of making) any download attempted."""
    calls: list[str] = []
    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", lambda url, *a, **k: calls.append(url))
    return calls


class WritesAFile:
    """What a malicious batch could carry: unpickling it with pickle.load touches ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_cifar_missing_names_folder_and_does_not_download(tmp_path: Path, no_download: list[str]) -> None:
    with pytest.raises(ZooError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "--download" in message and "\n" not in message
    assert no_download == [] and list(tmp_path.iterdir()) == []


def test_cifar_loaded_directly_without_a_folder_asks_for_one() -> None:
    with pytest.raises(UsageError, match="dataset 'cifar10' is read from local files: pass --data-dir DIR"):
        CIFAR10().load(LoadRequest(split="test", image_size=32, channels=3))


def test_cifar_download_fetches_the_python_version_once(tmp_path: Path, no_download: list[str]) -> None:
    with pytest.raises(ZooError, match="CIFAR-10 not found"):
        load_dataset("cifar10", data_dir=tmp_path, download=True)  # the recorder extracts nothing
    assert no_download == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    fake_cifar(tmp_path)
    load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert len(no_download) == 1, "files in place are not fetched again"


def test_cifar_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("no network\nat all")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    with pytest.raises(ZooError, match="could not download CIFAR-10") as info:
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("protocol, numpy1_names", [(2, True), (2, False), (4, False), (5, False)])
def test_cifar_reads_python_batches_channels_first(tmp_path: Path, protocol: int, numpy1_names: bool) -> None:
    written = fake_cifar(tmp_path, protocol=protocol, numpy1_names=numpy1_names)
    test = load_dataset("cifar10", split="test", data_dir=tmp_path)
    images, labels = written["test_batch"]
    assert test.images.shape == (2, 3, 32, 32) and test.images.dtype == torch.uint8
    assert torch.equal(test.images, torch.from_numpy(images))
    assert test.labels.dtype == torch.int64 and test.labels.tolist() == labels.tolist()
    assert test.spec.num_classes == 10 and test.class_names[:3] == ("airplane", "automobile", "bird")
    train = CIFAR10().load(LoadRequest(split="train", image_size=16, channels=1, data_dir=tmp_path))
    assert train.images.shape == (10, 1, 16, 16)


def test_cifar_reads_the_binary_version(tmp_path: Path) -> None:
    written = fake_cifar_binary(tmp_path)
    train = load_dataset("cifar10", split="train", data_dir=tmp_path)
    expected = np.concatenate([written[name][0] for name in BATCHES["train"]])
    assert train.images.shape == (15, 3, 32, 32) and torch.equal(train.images, torch.from_numpy(expected))
    assert train.labels.tolist() == np.concatenate([written[name][1] for name in BATCHES["train"]]).tolist()


def test_a_batch_that_names_any_other_callable_is_refused_unrun(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    marker = tmp_path / "ran"
    rows, labels = batch(0, 2)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": rows, "labels": labels, "extra": WritesAFile(marker)}))
    with pytest.raises(ZooError) as info:
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert "test_batch is not a CIFAR-10 batch" in str(info.value) and "pathlib" in str(info.value)
    assert not marker.exists(), "the pickle's callable ran"


def test_cli_refuses_a_malicious_batch_in_one_line(tmp_path: Path, zoo_cli) -> None:
    fake_cifar(tmp_path)
    marker = tmp_path / "ran"
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(WritesAFile(marker)))
    runs = tmp_path / "runs"
    result = zoo_cli("train", "dcgan", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--steps", "1", "--runs-dir", str(runs))
    assert_one_line_error(result, 1, "data_batch_3 is not a CIFAR-10 batch", "pathlib")
    assert not marker.exists() and not runs.exists()


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda path: path.write_bytes(path.read_bytes()[:500]), "not a CIFAR-10 batch"),
        (lambda path: path.write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})), "uint8 (2, 100)"),
        (lambda path: path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 12]})), "run from 0 to 12"),
        (lambda path: path.write_bytes(pickle.dumps([1, 2, 3])), "holds no 'data' and 'labels'"),
        (lambda path: path.unlink(), "has no test_batch"),
    ],
)
def test_damaged_python_batches_are_one_line_errors(tmp_path: Path, damage, says: str) -> None:
    fake_cifar(tmp_path)
    damage(tmp_path / "cifar-10-batches-py" / "test_batch")
    with pytest.raises(ZooError) as info:
        load_dataset("cifar10", split="test", data_dir=tmp_path)
    assert says in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_truncated_binary_batch_is_a_one_line_error(tmp_path: Path) -> None:
    fake_cifar_binary(tmp_path)
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ZooError, match="not a whole number of 3073-byte records"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
