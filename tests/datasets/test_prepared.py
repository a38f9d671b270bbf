"""``zoo data prepare`` and ``prepared:DIR``: real litdata shards written and read back, in
memory, streamed, and through litdata's remote path (``local:`` is a store it downloads from)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from support import assert_one_line_error
from zoo.datasets import load_dataset, prepared
from zoo.errors import UsageError, ZooError

COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


def class_folder(root: Path, per_class: int = 20) -> Path:
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (np.array(colour) * rng.uniform(0.5, 1) + rng.normal(0, 10, (12, 12, 3))).clip(0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def prepared_dir(tmp_path: Path) -> Path:
    out = tmp_path / "prepared"
    prepared.prepare(f"folder:{class_folder(tmp_path / 'photos')}", out, image_size=12)
    return out


def test_the_manifest_records_source_counts_classes_and_every_files_sha256(prepared_dir: Path, tmp_path: Path) -> None:
    manifest = json.loads((prepared_dir / prepared.MANIFEST).read_text())
    assert manifest["schema"] == prepared.SCHEMA and manifest["source"] == f"folder:{(tmp_path / 'photos').resolve()}"
    assert manifest["class_names"] == ["blue", "green", "red"] and manifest["num_classes"] == 3
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 54, "test": 6}
    assert (manifest["image_size"], manifest["channels"]) == (12, 3)
    files = {p.relative_to(prepared_dir).as_posix() for p in prepared_dir.rglob("*") if p.is_file()} - {prepared.MANIFEST}
    assert set(manifest["files"]) == files and "train/index.json" in files and "test/labels.bin" in files
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary folder is left"


@pytest.mark.parametrize("split", ["train", "test"])
def test_in_memory_and_streamed_reads_equal_the_folder_itself(prepared_dir: Path, tmp_path: Path, split: str) -> None:
    folder = load_dataset(f"folder:{tmp_path / 'photos'}", split=split, image_size=12)
    memory = load_dataset(f"prepared:{prepared_dir}", split=split, residency="memory")
    streamed = load_dataset(f"prepared:{prepared_dir}", split=split, residency="stream")
    assert isinstance(streamed, prepared.StreamedImageSet) and "streamed from its shards" in streamed.note
    assert "held in memory" in memory.note and folder.note in memory.note
    assert torch.equal(memory.images, folder.images) and torch.equal(memory.labels, folder.labels)
    assert streamed.spec == memory.spec == folder.spec and streamed.class_names == folder.class_names
    index = torch.randperm(len(folder), generator=torch.Generator().manual_seed(0))[:5]
    one = streamed.batch(index)
    assert torch.equal(one.images, memory.batch(index).images) and torch.equal(one.labels, folder.labels[index])
    read_ahead = list(streamed.batches([index, index.flip(0)]))  # through DataLoader workers
    assert torch.equal(read_ahead[0].images, one.images) and torch.equal(read_ahead[1].labels, one.labels.flip(0))


def test_a_streamed_set_can_be_resized_as_it_is_read(prepared_dir: Path) -> None:
    streamed = load_dataset(f"prepared:{prepared_dir}", image_size=8, channels=1, residency="stream")
    memory = load_dataset(f"prepared:{prepared_dir}", image_size=8, channels=1, residency="memory")
    assert streamed.spec.shape == (1, 8, 8)
    assert torch.equal(streamed.batch(torch.arange(4)).images, memory.batch(torch.arange(4)).images)


def test_auto_holds_small_sets_in_memory_and_streams_above_the_limit(prepared_dir: Path, monkeypatch) -> None:
    assert isinstance(load_dataset(f"prepared:{prepared_dir}"), type(load_dataset("digits")))
    monkeypatch.setattr(prepared, "IN_MEMORY_LIMIT", 1000)
    assert isinstance(load_dataset(f"prepared:{prepared_dir}"), prepared.StreamedImageSet)


def test_a_remote_set_is_fetched_through_litdata_into_the_cache(prepared_dir: Path, isolated_cache: Path) -> None:
    remote = load_dataset(f"prepared:local:{prepared_dir}", residency="stream")
    local = load_dataset(f"prepared:{prepared_dir}", residency="memory")
    index = torch.tensor([3, 40, 7])
    assert torch.equal(remote.batch(index).images, local.batch(index).images)
    assert list((isolated_cache / "streams").rglob(prepared.MANIFEST)), "the manifest was fetched into zoo's cache"


def test_a_set_prepared_again_at_the_same_url_is_never_read_from_stale_cached_shards(tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "remote"
    prepared.prepare("digits", out)
    first = load_dataset(f"prepared:local:{out}", residency="stream").batch(torch.arange(4)).images
    shutil.rmtree(out)
    prepared.prepare(f"folder:{class_folder(tmp_path / 'photos')}", out, image_size=16, channels=1)
    again = load_dataset(f"prepared:local:{out}", residency="stream")
    assert len(again) == 54 and again.class_names == ("blue", "green", "red")
    local = load_dataset(f"prepared:{out}", residency="memory")
    assert torch.equal(again.batch(torch.arange(4)).images, local.batch(torch.arange(4)).images)
    assert not torch.equal(again.batch(torch.arange(4)).images, first)


# ---- bad input: one line each, and nothing half-written


@pytest.mark.battery("datasets")
def test_prepare_refuses_a_folder_that_is_not_empty_and_leaves_it_alone(tmp_path: Path, zoo_cli) -> None:
    photos = class_folder(tmp_path / "photos", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    result = zoo_cli("data", "prepare", f"folder:{photos}", "--out", str(out))
    assert_one_line_error(result, 2, "already exists and is not an empty folder")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.battery("datasets")
@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda root: (root / "notes.txt").write_text("no images"), "no images found under"),
        (lambda root: [class_folder(root, 2), (root / "empty-class").mkdir()], "class folder"),
        (lambda root: [class_folder(root, 2), (root / "red" / "000.png").write_bytes(b"\xff\xd8 not a jpeg")], "1 of 6 images cannot be read"),
    ],
    ids=["no-images", "empty-class-folder", "corrupt-image"],
)
def test_prepare_of_a_bad_folder_is_one_line_and_writes_nothing(tmp_path: Path, zoo_cli, make, fragment: str) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    make(root)
    out = tmp_path / "out"
    result = zoo_cli("data", "prepare", f"folder:{root}", "--out", str(out))
    assert_one_line_error(result, 1, fragment)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_prepare_skips_bad_images_when_asked_and_says_so(tmp_path: Path, zoo_cli) -> None:
    root = class_folder(tmp_path / "photos", 10)
    (root / "red" / "003.png").write_bytes(b"broken")
    result = zoo_cli("data", "prepare", f"folder:{root}", "--out", str(tmp_path / "out"), "--skip-bad-images")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / prepared.MANIFEST).read_text())
    assert "skipped 1 unreadable images" in manifest["splits"]["train"]["note"] + manifest["splits"]["test"]["note"]
    assert manifest["splits"]["train"]["count"] + manifest["splits"]["test"]["count"] == 29


def shard(prepared_dir: Path) -> Path:
    return next((prepared_dir / "train").glob("chunk-*.bin"))


@pytest.mark.battery("datasets")
@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda d: shard(d).unlink(), "is missing"),
        (lambda d: shard(d).write_bytes(bytes([shard(d).read_bytes()[0] ^ 1]) + shard(d).read_bytes()[1:]), "does not match the sha256"),
        (lambda d: (d / "train" / "labels.bin").write_bytes((d / "train" / "labels.bin").read_bytes()[:-8] + bytes(8)), "does not match the sha256"),
        (lambda d: (d / prepared.MANIFEST).unlink(), "zoo-dataset.json is missing"),
        (lambda d: (d / prepared.MANIFEST).write_text("{not json"), "cannot be read"),
        (
            lambda d: (d / prepared.MANIFEST).write_text(json.dumps({**json.loads((d / prepared.MANIFEST).read_text()), "schema": 99})),
            "written by a newer zoo (manifest schema 99",
        ),
        (
            lambda d: (d / prepared.MANIFEST).write_text(json.dumps({**json.loads((d / prepared.MANIFEST).read_text()), "splits": "x"})),
            "zoo-dataset.json is damaged (AttributeError",
        ),
    ],
    ids=["missing-shard", "tampered-shard", "tampered-labels", "no-manifest", "manifest-not-json", "newer-schema", "damaged-manifest"],
)
def test_a_damaged_prepared_set_is_refused_before_training(prepared_dir: Path, runs_dir: Path, zoo_cli, damage, fragment: str) -> None:
    damage(prepared_dir)
    result = zoo_cli("train", "cgan", "--dataset", f"prepared:{prepared_dir}", "--steps", "2", "--batch-size", "8")
    assert_one_line_error(result, 1, f"prepared:{prepared_dir}", fragment)
    assert not runs_dir.exists() or not list(runs_dir.rglob("config.json")), "no run was started"


def test_unknown_split_and_streaming_an_unprepared_source_are_refused(prepared_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="has no split 'valid'; it has train, test"):
        load_dataset(f"prepared:{prepared_dir}", split="valid")
    with pytest.raises(UsageError, match="run zoo data prepare digits --out DIR"):
        load_dataset("digits", residency="stream")
    with pytest.raises(ZooError, match="does not exist; prepare one"):
        load_dataset(f"prepared:{tmp_path / 'nowhere'}")


@pytest.mark.battery("paths")
@pytest.mark.parametrize("name", ["train/../../../../escape.bin", "train/../../escape.bin", "train/chunks/../../../escape.bin"])
def test_a_remote_manifest_naming_a_file_outside_the_set_is_refused_before_it_is_fetched(tmp_path: Path, runs_dir: Path, zoo_cli, name: str) -> None:
    out = tmp_path / "remote"
    prepared.prepare("digits", out)
    manifest = json.loads((out / prepared.MANIFEST).read_text())
    manifest["files"][name] = {"bytes": 4, "sha256": "0" * 64}
    (out / prepared.MANIFEST).write_text(json.dumps(manifest))
    planted = tmp_path / "escape.bin"
    planted.write_bytes(b"evil")  # what some of the names lead to, fetched from the store's side
    cache = tmp_path / "cache"
    result = zoo_cli("train", "dcgan", "--dataset", f"prepared:local:{out}", "--stream", "--steps", "1", env={"ZOO_CACHE_DIR": str(cache)})
    assert_one_line_error(result, 1, "zoo-dataset.json", "outside")
    assert [p for p in tmp_path.rglob("escape.bin")] == [planted], "nothing was fetched out of the cache's folder"
