"""The run record, a run's ``config.json``: what was trained, on what, how, by which command.

One typed, versioned value, written once by the trainer and read back by every verb, so the
record's shape lives here alone. ``schema`` counts its versions; records written before it
existed have none and read as version 0, whose keys are the same. Reading checks every key a
verb relies on, so a damaged file fails here, with the key named, not deep inside a command.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.contract import DataSpec
from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    from zoo.datasets.source import ImageSet, SequenceSet

SCHEMA = 1
"""The version this zoo writes. 0: records from before ``schema`` existed (the same keys)."""


@dataclasses.dataclass(frozen=True)
class DatasetRecord:
    """The data a run trained on, enough to load the same images again."""

    name: str
    split: str
    data_dir: str | None
    image_size: int
    channels: int
    size: int
    """Examples in the split when the run started (resume refuses a dataset that changed)."""
    spec: DataSpec
    note: str = ""
    class_names: tuple[str, ...] = ()
    """Each class's name by label, where the dataset has them (``folder:`` class folders)."""
    skip_bad_images: bool = False
    residency: str = "auto"
    """What the run asked for: ``auto``, ``memory`` or ``stream`` (prepared sets)."""

    def load(self, split: str | None = None, *, dataset: str | None = None, data_dir: str | Path | None = None) -> "ImageSet | SequenceSet":
        """A split of this dataset (or of ``dataset``, from ``data_dir``), at the run's size and channels."""
        from zoo.datasets import load_dataset

        own = dataset is None
        if own:
            dataset, data_dir = self.name, data_dir if data_dir is not None else self.data_dir
        return load_dataset(
            dataset,
            split=split or self.split,
            data_dir=data_dir,
            image_size=self.image_size,
            channels=self.channels,
            skip_bad_images=self.skip_bad_images if own else False,
            residency=self.residency if own else "auto",
        )

    def label(self, value: str | int | None) -> int | None:
        """``--label``: a class index, or a class name of this dataset, as an index (None stays None)."""
        if value is None:
            return None
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
        elif text in self.class_names:
            return self.class_names.index(text)
        else:
            names = f"one of {', '.join(self.class_names[:20])}" if self.class_names else "a class index"
            raise UsageError(f"--label {text!r} is not a class of {self.name}; give {names} or an index 0..{self.spec.num_classes - 1}")
        if not 0 <= index < max(self.spec.num_classes, 1):
            n = self.spec.num_classes
            raise UsageError(f"--label must be in [0, {n}), got {index}: {self.name} has {n} classes (0..{n - 1})")
        return index

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "spec": dataclasses.asdict(self.spec), "class_names": list(self.class_names)}


@dataclasses.dataclass(frozen=True)
class RunRecord:
    model: str
    plugin_version: str
    config: dict[str, Any]
    """The plugin's config as :func:`zoo.config.to_dict` wrote it."""
    dataset: DatasetRecord
    training: dict[str, Any]
    """The :class:`~zoo.training.options.TrainOptions` fields, plus ``device`` and, on several
    processes, ``world_size``, ``global_batch_size`` and ``sync_batchnorm``."""
    seed: int
    command: str | None
    zoo_version: str
    torch_version: str
    created: str = ""
    """ISO time the run folder was made (set by :func:`zoo.runs.create`)."""
    schema: int = SCHEMA

    def to_json(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**fields, "dataset": self.dataset.to_json()}

    @classmethod
    def from_json(cls, data: Any, source: Path) -> "RunRecord":
        """Check and type a parsed ``config.json``; ``source`` names the file in errors."""
        fields = _Fields(data, source, "")
        dataset = _Fields(fields.get("dataset", dict), source, "dataset.")
        spec = _Fields(dataset.get("spec", dict), source, "dataset.spec.")
        data_spec = DataSpec(
            **{
                f.name: spec.get(f.name, int, default=f.default)
                for f in dataclasses.fields(DataSpec)
                if f.name in spec.data or f.default is dataclasses.MISSING
            }
        )
        return cls(
            model=fields.get("model", str),
            plugin_version=str(fields.get("plugin_version", (str, int))),
            config=fields.get("config", dict),
            dataset=DatasetRecord(
                name=dataset.get("name", str),
                split=dataset.get("split", str),
                data_dir=dataset.get("data_dir", (str, type(None))),
                image_size=dataset.get("image_size", int),
                channels=dataset.get("channels", int),
                size=dataset.get("size", int),
                spec=data_spec,
                note=dataset.get("note", (str, type(None)), default="") or "",
                class_names=_names(dataset.get("class_names", list, default=[]), source),
                skip_bad_images=dataset.get("skip_bad_images", bool, default=False),
                residency=dataset.get("residency", str, default="auto"),
            ),
            training=fields.get("training", dict),
            seed=fields.get("seed", int),
            command=fields.get("command", (str, type(None)), default=None),
            zoo_version=fields.get("zoo_version", str, default=""),
            torch_version=fields.get("torch_version", str, default=""),
            created=fields.get("created", str, default=""),
            schema=fields.get("schema", int, default=0),
        )


def _names(values: list[Any], source: Path) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise ZooError(f"{source}: dataset.class_names should be a list of strings; the run's config.json is damaged")
    return tuple(values)


class _Fields:
    """One JSON object of the record, read key by key with the key's path in every error."""

    def __init__(self, data: Any, source: Path, prefix: str) -> None:
        if not isinstance(data, dict):
            where = f"{prefix.rstrip('.')} is" if prefix else "the file is"
            raise ZooError(f"{source}: {where} not a JSON object; the run's config.json is damaged")
        self.data, self.source, self.prefix = data, source, prefix

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = dataclasses.MISSING) -> Any:
        """``data[key]``, which must be of ``kind``; ``default`` when absent, or an error if none is given."""
        if key not in self.data:
            if default is dataclasses.MISSING:
                raise ZooError(f"{self.source}: {self.prefix}{key} is missing; the run's config.json is damaged")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int to isinstance, never a count or a size here
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join("null" if k is type(None) else {dict: "an object"}.get(k, k.__name__) for k in kinds)
            raise ZooError(f"{self.source}: {self.prefix}{key} should be {names}, got {value!r:.60}; the run's config.json is damaged")
        return value
