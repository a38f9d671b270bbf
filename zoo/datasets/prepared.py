"""``prepared:DIR``: a dataset written once by ``zoo data prepare``, read from its shards.

``zoo data prepare SOURCE --out DIR`` decodes any dataset zoo can load (``folder:PATH``,
``mnist``, ...) at one size and channel count, and writes each split as litdata shards
(``DIR/<split>/index.json`` and ``chunk-*.bin``, uint8 ``(C, H, W)`` images and their
labels) plus ``DIR/<split>/labels.bin`` (int64, every label of the split in order) and a
manifest, ``DIR/zoo-dataset.json``: the source, counts, splits, class names, sizes and the
sha256 of every file. The manifest is written last, and the folder appears whole or not at
all.

Why litdata: it is the smaller of the two engines made for this (mosaicml-streaming 0.13
pins numpy below 2.2 and pulls transformers and three cloud SDKs), it reads a shard by byte
range without a resident process or shared memory, and its random access is fast enough
(thousands of images per second per process, measured in ``benchmarks/data_scale.py``) to
keep zoo's own batch order.

Training keeps that order: the batch of every step is still :class:`zoo.training.trainer.BatchOrder`'s
seeded permutation, a function of (seed, step), and each rank reads only the images of its
own slice of it. A streamed set (:class:`StreamedImageSet`) fetches them from the shards in
DataLoader workers a few steps ahead, so the order, a resume and every number of processes
behave exactly as with the in-memory tensor; only memory differs.

Where the images live: ``auto`` holds a split in memory when its pixels fit in
:data:`IN_MEMORY_LIMIT` and streams it otherwise; ``zoo train --data-in-memory`` or
``--stream`` forces either, and the run's note says which was used.

``DIR`` may be a folder or a URL litdata reads (``s3://bucket/prefix``, ``gs://``,
``local:/path``); remote shards are fetched into :func:`zoo.features.cache_root`'s
``streams/`` folder as they are needed. Local shards are checked against the manifest's
sha256 before training; remote ones are checked by size, and their content is the store's
to keep (zoo checks the index and labels it fetches itself).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from zoo.contract import Batch, DataSpec
from zoo.datasets.source import DatasetSource, ImageSet, LoadRequest, to_uint8_images
from zoo.digest import sha256_of
from zoo.errors import UsageError, ZooError
from zoo.safe_paths import inside

MANIFEST = "zoo-dataset.json"
SCHEMA = 1
"""The manifest version this zoo writes and reads; a newer one is refused, not guessed at."""
CHUNK_BYTES = 16 * 2**20
"""Bytes per shard. litdata maps the shard it reads from into memory, so a reading process's
resident pages are bounded by a shard or two, never the set; 16 MB keeps that small and a
remote fetch short, and a 10 GB set is still only 640 files."""
IN_MEMORY_LIMIT = 4 * 2**30
"""``auto`` holds a split in memory when its pixels take at most this many bytes."""
STREAM_WORKERS = 2
"""DataLoader worker processes that read a streamed set's batches ahead of the trainer."""
PREFETCH = 4
"""Batches each worker reads ahead: memory is ``STREAM_WORKERS * PREFETCH`` batches."""
LABELS = "labels.bin"
REMOTE_PREFIXES = ("s3://", "gs://", "azure://", "r2://", "local:")


# ---------------------------------------------------------------- the manifest


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    count: int
    note: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    source: str
    image_size: int
    channels: int
    class_names: tuple[str, ...]
    num_classes: int
    splits: dict[str, SplitInfo]
    files: dict[str, dict[str, Any]]
    """``relative path -> {"bytes": n, "sha256": hex}`` for every file but the manifest."""
    created: str = ""
    zoo_version: str = ""
    schema: int = SCHEMA

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> "Manifest":
        again = "prepare the dataset again with zoo data prepare"
        if not isinstance(data, dict):
            raise ZooError(f"{where} is not a JSON object; {again}")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise ZooError(f"{where}: schema is missing or not a number; {again}")
        if schema > SCHEMA:
            raise ZooError(f"{where} was written by a newer zoo (manifest schema {schema}, this zoo reads up to {SCHEMA}); upgrade zoo to read it")
        try:
            splits = {name: SplitInfo(int(s["count"]), str(s.get("note", ""))) for name, s in data["splits"].items()}
            files = {str(k): {"bytes": int(v["bytes"]), "sha256": str(v["sha256"])} for k, v in data["files"].items()}
            manifest = cls(
                source=str(data["source"]),
                image_size=int(data["image_size"]),
                channels=int(data["channels"]),
                class_names=tuple(str(n) for n in data.get("class_names", [])),
                num_classes=int(data.get("num_classes", 0)),
                splits=splits,
                files=files,
                created=str(data.get("created", "")),
                zoo_version=str(data.get("zoo_version", "")),
                schema=schema,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ZooError(f"{where} is damaged ({type(exc).__name__} {exc}); {again}") from None
        if manifest.channels not in (1, 3) or manifest.image_size < 1 or any(s.count < 0 for s in splits.values()):
            raise ZooError(f"{where} is damaged (impossible sizes or counts); {again}")
        return manifest


# ---------------------------------------------------------------- writing


def prepare(source: str, out: str | Path, *, data_dir: str | Path | None = None, image_size: int | None = None,
            channels: int | None = None, skip_bad_images: bool = False, download: bool = False,
            on_split: Any = None) -> Manifest:
    """Write every split of dataset ``source`` into ``out`` (see the module docstring).

    ``out`` must not exist yet or be empty; it appears only once every shard and the
    manifest are written. ``on_split(split, count, note)`` is called after each split.
    """
    from litdata.streaming.writer import BinaryWriter

    import zoo
    from zoo import atomic
    from zoo.datasets import canonical_name, load_request, parse_name

    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} already exists and is not an empty folder; choose a new folder (nothing was written)")
    name = canonical_name(source)
    if parse_name(name)[0] == "prepared":
        raise UsageError(f"{source} is prepared already; train on it as it is")
    options = dict(data_dir=data_dir, image_size=image_size, channels=channels, download=download, skip_bad_images=skip_bad_images)
    source_class, _ = load_request(name, **options)  # every argument checked before anything is written
    splits: dict[str, SplitInfo] = {}
    class_names: tuple[str, ...] = ()
    num_classes = 0
    size = chans = 0
    with atomic.atomic_dir(out) as tmp:
        for split in source_class.splits:
            _, request = load_request(name, split=split, **options)
            writer = BinaryWriter(str(tmp / split), chunk_bytes=CHUNK_BYTES)
            labels: list[int] = []
            note = ""
            for part in source_class().pieces(request):
                if part.spec.kind != "images":
                    raise UsageError(f"{source} gives sequences; zoo data prepare writes image datasets")
                size, chans = part.spec.height, part.spec.channels
                class_names, num_classes = tuple(part.class_names), part.num_classes
                part_labels = part.labels.tolist() if part.labels is not None else [-1] * len(part)
                for image, label in zip(part.images.numpy(), part_labels):
                    writer.add_item(len(labels), {"image": image, "label": int(label)})
                    labels.append(int(label))
                note = part.note
            if not labels:
                raise ZooError(f"{source} {split} holds no images; nothing to prepare")
            writer.done()
            writer.merge()
            np.asarray(labels, dtype="<i8").tofile(tmp / split / LABELS)
            splits[split] = SplitInfo(len(labels), note)
            if on_split is not None:
                on_split(split, len(labels), note)
        files = {
            path.relative_to(tmp).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
            for path in sorted(tmp.rglob("*"))
            if path.is_file()
        }
        manifest = Manifest(
            source=name, image_size=size, channels=chans, class_names=class_names, num_classes=num_classes,
            splits=splits, files=files, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            zoo_version=zoo.__version__,
        )
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return manifest


# ---------------------------------------------------------------- reading


class Location:
    """Where a prepared set lives: a local folder, or a URL litdata reads with a local cache."""

    def __init__(self, argument: str) -> None:
        self.argument = argument
        self.remote = argument.startswith(REMOTE_PREFIXES)
        if self.remote:
            from zoo.features import cache_root

            self.url = argument.rstrip("/")
            digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
            self.cache = cache_root() / "streams" / digest
            self.root = self.cache
        else:
            self.root = Path(argument).expanduser()
            self.url = None

    def pin(self, manifest_sha256: str) -> None:
        """Keep a remote set's cached files under its manifest's digest, so that a set prepared
        again at the same URL (same shard names, new content) is never read from stale copies."""
        if self.remote:
            self.root = self.cache / manifest_sha256[:16]

    def split_input(self, split: str) -> tuple[str, str | None]:
        """litdata's ``input_dir`` and ``cache_dir`` for one split."""
        if self.remote:
            return f"{self.url}/{split}", str(self.root / split)
        return str(self.root / split), None

    def fetch(self, relative: str) -> Path:
        """A file of the set on this machine; a remote one is fetched afresh into the cache. The
        manifest names the files, so a name that would leave the set's folder is refused."""
        local = inside(self.root, relative, f"prepared:{self.argument}'s {MANIFEST}")
        if not self.remote:
            return local
        from litdata.streaming.downloader import get_downloader

        local.parent.mkdir(parents=True, exist_ok=True)
        local.unlink(missing_ok=True)  # the downloaders keep a file that is already there
        try:
            get_downloader(self.url, str(self.root), []).download_file(f"{self.url}/{relative}", str(local))
        except Exception as exc:  # every store's client raises its own errors
            raise ZooError(f"prepared:{self.argument}: cannot fetch {relative}: {type(exc).__name__}: {exc}") from None
        return local


def read_manifest(location: Location) -> Manifest:
    where = f"prepared:{location.argument}"
    if not location.remote and not location.root.is_dir():
        state = "is not a folder" if location.root.exists() else "does not exist"
        raise ZooError(f"{where}: {location.root} {state}; prepare one with zoo data prepare SOURCE --out DIR")
    path = location.fetch(MANIFEST)
    if not path.is_file():
        raise ZooError(f"{where}: {MANIFEST} is missing, so this is not a prepared dataset (or its preparation never finished); run zoo data prepare")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ZooError(f"{where}: {MANIFEST} cannot be read ({type(exc).__name__}); prepare the dataset again") from None
    manifest = Manifest.from_json(data, f"{where}/{MANIFEST}")
    location.pin(sha256_of(path))
    return manifest


def verify(location: Location, manifest: Manifest, split: str) -> None:
    """Every file of ``split`` present with its recorded size, and (locally) its sha256."""
    where = f"prepared:{location.argument}"
    prefix = f"{split}/"
    entries = {k: v for k, v in manifest.files.items() if k.startswith(prefix)}
    if f"{split}/index.json" not in entries or f"{split}/{LABELS}" not in entries:
        raise ZooError(f"{where}: the manifest lists no index or labels for split {split!r}; prepare the dataset again")
    for relative, entry in entries.items():
        if location.remote and relative.rsplit("/", 1)[-1].startswith("chunk-"):
            continue  # fetched by litdata when a batch needs it
        path = location.fetch(relative)
        if not path.is_file():
            raise ZooError(f"{where}: shard {relative} is missing; copy the whole folder again or prepare it again")
        if path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            raise ZooError(f"{where}: {relative} does not match the sha256 in {MANIFEST} (damaged or changed); prepare the dataset again")


class PreparedFolder(DatasetSource):
    """A dataset prepared by ``zoo data prepare`` (see the module docstring)."""

    name = "prepared"
    summary = "shards written by zoo data prepare: prepared:DIR or prepared:s3://bucket/prefix (streamed when larger than memory)"
    default_size = None
    default_channels = None
    splits = ()  # those its manifest lists
    needs_data_dir = False
    takes_argument = True
    streams = True

    @classmethod
    def canonical_argument(cls, argument: str) -> str:
        if argument.startswith(REMOTE_PREFIXES):
            return argument
        return str(Path(argument).expanduser().resolve())

    def load(self, request: LoadRequest) -> "ImageSet | StreamedImageSet":
        if not request.argument:
            raise UsageError("dataset 'prepared' needs an argument: use prepared:DIR")
        location = Location(request.argument)
        manifest = read_manifest(location)
        if request.split not in manifest.splits:
            raise UsageError(f"prepared:{request.argument} has no split {request.split!r}; it has {', '.join(manifest.splits)}")
        verify(location, manifest, request.split)
        labels = np.fromfile(location.root / request.split / LABELS, dtype="<i8")
        count = manifest.splits[request.split].count
        index = json.loads((location.root / request.split / "index.json").read_text(encoding="utf-8"))
        shards = sum(chunk["chunk_size"] for chunk in index["chunks"])
        if not len(labels) == shards == count:
            raise ZooError(
                f"prepared:{request.argument}: {request.split} has {shards} images in its shards and {len(labels)} labels "
                f"where the manifest says {count}; prepare the dataset again"
            )
        size = request.image_size or manifest.image_size
        channels = request.channels or manifest.channels
        nbytes = count * channels * size * size
        resident = request.residency == "memory" or (request.residency == "auto" and nbytes <= IN_MEMORY_LIMIT)
        where = "held in memory" if resident else f"streamed from its shards by {STREAM_WORKERS} DataLoader workers"
        note = "; ".join(filter(None, [manifest.splits[request.split].note, f"{where} ({nbytes / 2**20:,.0f} MB of pixels)"]))
        label_tensor = torch.from_numpy(labels.astype(np.int64)) if manifest.num_classes else None
        name = f"prepared:{self.canonical_argument(request.argument)}"
        streamed = StreamedImageSet(
            name, request.split, location, manifest, label_tensor, size, channels, note
        )
        if not resident:
            return streamed
        images = streamed.read_all()
        return ImageSet(name, request.split, images, label_tensor, num_classes=manifest.num_classes, note=note, class_names=manifest.class_names)


class StreamedImageSet:
    """A prepared split read from its shards batch by batch: :class:`~zoo.datasets.source.ImageSet`'s
    interface (``len``, ``spec``, ``batch``, ``batches``, ``to``) without holding the images."""

    def __init__(self, name: str, split: str, location: Location, manifest: Manifest, labels: torch.Tensor | None,
                 image_size: int, channels: int, note: str) -> None:
        self.name, self.split, self.note = name, split, note
        self.labels = labels
        self.num_classes = manifest.num_classes if labels is not None else 0
        self.class_names = manifest.class_names
        self.count = manifest.splits[split].count
        self.stored = (manifest.channels, manifest.image_size)
        self.image_size, self.channels = image_size, channels
        self.shards = _Shards(*location.split_input(split), self.count)

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return 0  # read a batch at a time: nothing to move ahead of time

    @property
    def spec(self) -> DataSpec:
        return DataSpec(channels=self.channels, height=self.image_size, width=self.image_size, num_classes=self.num_classes)

    def to(self, device: torch.device | str) -> "StreamedImageSet":
        return self

    def batch(self, index: torch.Tensor) -> Batch:
        return self._as_batch(*self.shards.__getitems__(index.tolist()))

    def batches(self, indices: Iterable[torch.Tensor]) -> Iterator[Batch]:
        """The batches at ``indices``, in order, read ahead by :data:`STREAM_WORKERS` processes."""
        loader = torch.utils.data.DataLoader(
            self.shards,
            batch_sampler=_AsLists(indices),
            num_workers=STREAM_WORKERS,
            prefetch_factor=PREFETCH,
            collate_fn=_as_is,
            # starting workers draws their seed from this generator: from the global one, it
            # would shift the model's noise, and a streamed run would differ from an in-memory one
            generator=torch.Generator(),
        )
        for images, labels in loader:
            yield self._as_batch(images, labels)

    def read_all(self) -> torch.Tensor:
        """Every image of the split as one uint8 tensor (the in-memory path)."""
        out = torch.empty((self.count, *self.stored[:1], self.stored[1], self.stored[1]), dtype=torch.uint8)
        for start, images in self.shards.in_order():
            out[start : start + len(images)] = images
        if (self.channels, self.image_size) != self.stored:
            out = to_uint8_images(out, self.image_size, self.channels)
        return out

    def _as_batch(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        if (self.channels, self.image_size) != self.stored:
            images = to_uint8_images(images, self.image_size, self.channels)
        return Batch(images=images.float().div_(255.0), labels=labels if self.labels is not None else None)

    def __repr__(self) -> str:
        return f"StreamedImageSet({self.name!r}, {self.split!r}, {self.count} images)"


class _AsLists:
    """A batch sampler over the trainer's index tensors (DataLoader wants lists)."""

    def __init__(self, indices: Iterable[torch.Tensor]) -> None:
        self.indices = indices

    def __iter__(self) -> Iterator[list[int]]:
        for index in self.indices:
            yield index.tolist()


def _as_is(batch: Any) -> Any:
    return batch


class _Shards(torch.utils.data.Dataset):
    """Random access to a split's images through litdata, opened once in each process."""

    def __init__(self, input_dir: str, cache_dir: str | None, count: int) -> None:
        self.input_dir, self.cache_dir, self.count = input_dir, cache_dir, count
        self._dataset: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return self.count

    def _open(self) -> Any:
        if self._dataset is None or self._pid != os.getpid():  # a forked worker opens its own
            from litdata import StreamingDataset

            # batch_decode off: it decodes a window of items around each one asked for, which
            # suits reading in order and costs ten times more when reading at random
            self._dataset = StreamingDataset(self.input_dir, cache_dir=self.cache_dir, batch_decode=False)
            self._pid = os.getpid()
            # litdata's len() is this rank's share under torchrun; an int index stays global
        return self._dataset

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at ``indices``, uint8 ``(N, C, H, W)``, and their labels (-1: none)."""
        dataset = self._open()
        items = [dataset[i] for i in indices]
        return torch.from_numpy(np.stack([item["image"] for item in items])), torch.tensor([item["label"] for item in items])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]

    def in_order(self, batch: int = 1024) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start, images)`` over the whole split, read shard after shard."""
        from litdata import StreamingDataset

        dataset = StreamingDataset(self.input_dir, cache_dir=self.cache_dir)
        images, start = [], 0
        for item in dataset:
            images.append(item["image"])
            if len(images) == batch:
                yield start, torch.from_numpy(np.stack(images))
                start, images = start + batch, []
        if images:
            yield start, torch.from_numpy(np.stack(images))
