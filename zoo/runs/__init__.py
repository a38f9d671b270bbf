"""Run directories: ``RUNS/<model>/<run-id>/`` and loading a trained model back from one.

A run directory holds ``config.json`` (the run record: plugin, full config, dataset, seed,
versions; see :mod:`zoo.runs.record`),
``checkpoints/step-*/`` (see :mod:`zoo.runs.checkpoint`), ``metrics.jsonl`` and ``samples/``.
RUNS is ``--runs-dir``, else ``$ZOO_RUNS_DIR``, else ``./runs``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from zoo import atomic
from zoo.runs.metrics_log import FILE as METRICS  # written and read by metrics_log only
from zoo.runs.record import SCHEMA, RunRecord
from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    import torch

    from zoo.contract import Model, Plugin
    from zoo.datasets.source import ImageSet
    from zoo.runs.headline import Headline
    from zoo.runs.progress import LastLosses, Progress

CONFIG = "config.json"


def runs_root(runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir or os.environ.get("ZOO_RUNS_DIR") or "runs").expanduser()


def create(root: Path, record: RunRecord) -> Path:
    """Make a new run folder for the record's model and write its ``config.json``, stamped with the time and schema."""
    now = dt.datetime.now(dt.timezone.utc)
    base = root / record.model / f"{now:%Y%m%d-%H%M%S}-{record.dataset.name.split(':')[0]}"
    path, counter = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            break
        except FileExistsError:
            counter += 1
            path = base.with_name(f"{base.name}-{counter}")
    record = dataclasses.replace(record, created=now.isoformat(), schema=SCHEMA)
    atomic.write_text(path / CONFIG, json.dumps(record.to_json(), indent=2) + "\n")
    return path


def read_config(run_dir: Path) -> dict[str, Any]:
    """``config.json`` as the JSON object it is (for listings that show every key); :func:`read_record` types it."""
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise ZooError(f"run directory {run_dir} does not exist; `zoo runs` lists the runs there are")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{run_dir} is not a zoo run: it has no {CONFIG}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(f"{path} is not valid JSON ({exc}); the run's config is damaged") from None
    if not isinstance(record, dict) or "model" not in record or "config" not in record:
        raise ZooError(f"{path} is not a zoo run config (no 'model' and 'config' keys)")
    return record


def read_record(run_dir: Path) -> RunRecord:
    """The run's record, checked: a damaged ``config.json`` is an error naming the key."""
    return RunRecord.from_json(read_config(run_dir), run_dir / CONFIG)


def find(model_name: str, run: str | Path | None = "latest", runs_dir: str | Path | None = None) -> Path:
    """The run folder named by ``run``: a path, or ``latest`` (the newest run of the model)."""
    if run is None or str(run) == "latest":
        root = runs_root(runs_dir)
        runs = list_runs(root, model_name)
        if not runs:
            raise ZooError(f"no runs of {model_name!r} under {root}; train one with `zoo train {model_name}`")
        return runs[-1].path
    path = Path(run).expanduser()
    record = read_record(path)
    if record.model != model_name:
        raise ZooError(f"{path} is a run of {record.model!r}, not {model_name!r}")
    return path


def resolve(run: str, runs_dir: str | Path | None = None) -> Path:
    """A RUN argument that names no model beside it (``zoo compare``, ``zoo report``): a run
    directory, or a model name meaning that model's newest run."""
    path = Path(run).expanduser()
    if (path / CONFIG).is_file():
        return path
    if "/" not in run and "\\" not in run:
        root = runs_root(runs_dir)
        found = list_runs(root, run)
        if found:
            return found[-1].path
        if not path.exists():
            raise ZooError(f"{run!r} is neither a run directory nor a model with runs under {root}; `zoo runs` lists the runs there are")
    read_config(path)  # says why this folder is not a run
    return path


@dataclasses.dataclass
class RunInfo:
    """One line of ``zoo runs``: a run, how far it got and how it is doing."""

    path: Path
    model: str
    created: str
    dataset: str
    progress: "Progress"
    headline: "Headline | None"
    """The newest evaluation's headline metric (:mod:`zoo.runs.headline`)."""

    @property
    def step(self) -> int:
        """The newest step trained (see :mod:`zoo.runs.progress`)."""
        return self.progress.step

    @property
    def losses(self) -> dict[str, float]:
        """The last losses: the means of the last logged interval."""
        return self.progress.last_losses.values

    def to_json(self) -> dict[str, Any]:
        p, losses = self.progress, self.progress.last_losses
        return {
            "path": str(self.path),
            "run": self.path.name,
            "model": self.model,
            "created": self.created,
            "dataset": self.dataset,
            "status": p.status,
            "step": p.step,
            "target": p.target,
            "checkpoint_step": p.checkpoint_step,
            "failure": p.failure,
            "metric": None if self.headline is None else dataclasses.asdict(self.headline),
            "losses": losses.values,
            "losses_steps": None if losses.last_step is None else [losses.first_step, losses.last_step],
        }


def list_runs(root: Path, model_name: str | None = None, warn: Callable[[str], None] | None = None) -> list[RunInfo]:
    """Runs under ``root`` (of one model, or all), by model and then oldest first. Folders
    without a ``config.json`` are not runs and are passed over; a run whose ``config.json`` is
    damaged is skipped too, and ``warn`` (if given) is told why, so one damaged run never hides
    the others."""
    from zoo.runs import metrics_log
    from zoo.runs.headline import headline
    from zoo.runs.progress import read_progress

    found = []
    if not root.is_dir():
        return found
    model_dirs = [root / model_name] if model_name else sorted(p for p in root.iterdir() if p.is_dir())
    for model_dir in model_dirs:
        if not model_dir.is_dir():
            continue
        for run_dir in model_dir.iterdir():
            try:
                record = read_record(run_dir)
            except ZooError as exc:
                if warn is not None and (run_dir / CONFIG).exists():
                    warn(f"skipped a damaged run: {exc}")
                continue
            log = metrics_log.read(run_dir)
            found.append(
                RunInfo(
                    path=run_dir,
                    model=record.model,
                    created=record.created,
                    dataset=record.dataset.name,
                    progress=read_progress(run_dir, record, log),
                    headline=headline(log),
                )
            )
    return sorted(found, key=lambda info: (info.model, info.created, info.path.name))


def last_losses(run_dir: Path) -> "LastLosses":
    """The run's last losses: the means its log holds for the last logged interval
    (:func:`zoo.runs.progress.last_losses`, the one definition every listing uses)."""
    from zoo.runs import metrics_log, progress

    return progress.last_losses(metrics_log.read(run_dir))


SAMPLE_BATCH = 256
"""Images :meth:`LoadedRun.sample` draws per forward pass."""


@dataclasses.dataclass
class LoadedRun:
    """A trained model loaded from a run directory: ``LoadedRun.sample(16, seed=0)``."""

    path: Path
    record: RunRecord
    model: "Model"
    step: int
    checkpoint: Path
    """The checkpoint folder the weights came from (``RUN/checkpoints/step-N``)."""
    weights_sha256: str
    """SHA-256 of that folder's weights file, hashed when it was loaded: every verb that names the
    weights it used (encode, decode, export) takes this one choice, not a newer checkpoint."""

    @property
    def name(self) -> str:
        return self.record.model

    def sample(self, n: int = 64, seed: int | None = None, label: int | None = None) -> "torch.Tensor":
        """``n`` images, drawn :data:`SAMPLE_BATCH` at a time so memory stays bounded however many
        are asked for. The first batch is the model's own ``sample(count, seed)``; each later one
        takes a seed drawn from ``seed``, so a seed still gives the same images every time."""
        import torch

        if n <= SAMPLE_BATCH:
            return self.model.sample(n, seed=seed, label=label)
        batches = -(-n // SAMPLE_BATCH)
        if seed is None:
            seeds: list[int | None] = [None] * batches
        else:
            later = torch.randint(0, 2**62, (batches - 1,), generator=torch.Generator().manual_seed(seed))
            seeds = [seed, *later.tolist()]
        counts = [min(SAMPLE_BATCH, n - start) for start in range(0, n, SAMPLE_BATCH)]
        return torch.cat([self.model.sample(count, seed=s, label=label) for count, s in zip(counts, seeds)])

    def data(self, split: str = "test", dataset: str | None = None, data_dir: str | Path | None = None) -> "ImageSet":
        """A split of the run's dataset (or of ``dataset``), at the size and channels the model
        takes; refused, as ``zoo train`` refuses it, where the model cannot take that data."""
        from zoo.models import dataset_refusal, get_model

        data = self.record.dataset.load(split, dataset=dataset, data_dir=data_dir)
        refusal = dataset_refusal(get_model(self.name), data.name, data.spec.kind, labelled=data.labels is not None)
        if refusal is not None:
            raise UsageError(refusal)
        return data


def build_from_record(record: RunRecord, device: "torch.device | str") -> tuple["Plugin", Any, "Model"]:
    """Rebuild the (untrained) model a run's ``config.json`` describes."""
    from zoo import config as config_module
    from zoo.models import build_model, get_model

    plugin = get_model(record.model)
    if record.plugin_version != str(plugin.version):
        raise ZooError(
            f"the run was made by {record.model} version {record.plugin_version}, "
            f"but version {plugin.version} is installed; its weights may not load"
        )
    try:
        config = config_module.from_dict(plugin.Config, record.config)
    except UsageError as exc:
        raise ZooError(f"the run's config.json does not fit the installed {record.model}: {exc}") from None
    return plugin, config, build_model(plugin, config, record.dataset.spec, device)


def load(run_dir: str | Path, device: "torch.device | str" = "cpu", model_name: str | None = None) -> LoadedRun:
    """Load the newest checkpoint of a run (``model_name`` checks which model it must be)."""
    from zoo.runs import checkpoint

    run_dir = Path(run_dir).expanduser()
    record = read_record(run_dir)
    if model_name is not None and record.model != model_name:
        raise ZooError(f"{run_dir} is a run of {record.model!r}, not {model_name!r}")

    step, folder = checkpoint.latest_checkpoint(run_dir)
    _, _, model = build_from_record(record, device)
    digest = checkpoint.load_weights(model, folder)  # verified against the checkpoint's manifest
    return LoadedRun(path=run_dir, record=record, model=model, step=step, checkpoint=folder, weights_sha256=digest)
