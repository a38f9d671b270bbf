"""The training loop, the same for every architecture.

:func:`train` starts a run and :func:`resume` continues one; both hand a built
:class:`~zoo.contract.Model` and an in-memory :class:`~zoo.datasets.source.ImageSet` to
:class:`Trainer`, which only ever calls ``model.train_step`` and ``model.sample`` (or, for a
:class:`~zoo.contract.SequenceModel`, ``model.predict`` on fixed sequences of the data). It
draws batches, shows progress, logs metrics (JSONL, and TensorBoard when installed), writes
sample grids and checkpoints, and stops cleanly on Ctrl-C.

Batch order is a pure function of (seed, step), and checkpoints carry optimizer and RNG
state, so a resumed seeded CPU run computes the same losses as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from zoo import checkpoint, forecast, guards, precision, runs
from zoo import config as config_module
from zoo.contract import Model, SequenceModel
from zoo.datasets import load_dataset
from zoo.datasets.source import ImageSet, SequenceSet
from zoo.device import pick_device
from zoo.images import save_grid
from zoo.errors import UsageError, ZooError
from zoo.models import get_model

# Datasets up to this size are moved to the GPU whole, so batches never cross the bus.
DEVICE_DATA_LIMIT = 2 * 1024**3
DEFAULT_BATCH_SIZE = 64
"""Used when neither --batch-size nor the plugin's ``default_batch_size`` says otherwise."""
PREVIEW_SEQUENCES = 4
"""Sequences a sequence model continues in each sample grid."""


@dataclasses.dataclass
class TrainOptions:
    steps: int | None = None
    """Total number of steps to reach (also when resuming); default 2000 if epochs is unset."""
    epochs: int | None = None
    batch_size: int | None = None
    """None: the plugin's ``default_batch_size``, else :data:`DEFAULT_BATCH_SIZE`."""
    seed: int = 0
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    n_samples: int = 64
    progress: bool = True
    collapse_patience: int = 200
    """Warn when the discriminator has been pinned (accuracy >= 99%) for this many steps."""
    diversity_floor: float = 0.1
    """Warn when the samples' mean pairwise distance falls below this fraction of the data's."""
    precision: str = "fp32"
    """``fp32`` or ``bf16`` (autocast), see :mod:`zoo.precision`."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    losses: dict[str, float]


class BatchOrder:
    """Which images make up the batch of each step: a fresh seeded permutation per epoch."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
        if size < batch_size:
            raise UsageError(f"the dataset has {size} images, fewer than --batch-size {batch_size}; lower it")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.batches_per_epoch = size // batch_size  # the last partial batch is dropped
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        """Image indices for 1-based ``step``."""
        epoch, position = divmod(step - 1, self.batches_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=generator)
        return self._perm[position * self.batch_size : (position + 1) * self.batch_size]


class Trainer:
    def __init__(self, model: Model, data: ImageSet | SequenceSet, run_dir: Path, options: TrainOptions) -> None:
        options = dataclasses.replace(options, batch_size=options.batch_size or DEFAULT_BATCH_SIZE)
        self.model, self.run_dir, self.options = model, run_dir, options
        on_device = model.device.type != "cpu" and data.nbytes <= DEVICE_DATA_LIMIT
        self.data = data.to(model.device) if on_device else data
        self.order = BatchOrder(len(data), options.batch_size, options.seed)
        self.total_steps = total_steps(options, self.order.batches_per_epoch)
        fixed = torch.randperm(len(data), generator=torch.Generator().manual_seed(options.seed))
        # a forecaster's samples are continuations of fixed sequences, not draws to check for collapse
        self.preview = data.batch(fixed[:PREVIEW_SEQUENCES]).images if isinstance(model, SequenceModel) else None
        self.watch = (
            None
            if self.preview is not None
            else guards.CollapseWatch(data.batch(fixed[: guards.DIVERSITY_IMAGES]).images, options.collapse_patience, options.diversity_floor)
        )
        self._stop_requested = False

    def run(self, start_step: int = 0) -> TrainResult:
        """Train from ``start_step`` (the last completed step) to the total; checkpoint at the end."""
        from tqdm.auto import tqdm

        opts = self.options
        if start_step >= self.total_steps:
            raise UsageError(
                f"the run is already at step {start_step}; pass --steps larger than that to train further"
            )
        writer = _tensorboard_writer(self.run_dir)
        bar = tqdm(total=self.total_steps, initial=start_step, disable=not opts.progress, unit="step", dynamic_ncols=True)
        # per key: a GAN with n_critic > 1 reports its generator loss only on some steps
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        images_seen = 0
        interval_start = time.perf_counter()
        step, losses = start_step, {}
        restore_sigint = self._catch_sigint()
        try:
            for step in range(start_step + 1, self.total_steps + 1):
                batch = self.data.batch(self.order.indices(step))
                if batch.images.device != self.model.device:
                    batch = dataclasses.replace(
                        batch,
                        images=batch.images.to(self.model.device, non_blocking=True),
                        labels=None if batch.labels is None else batch.labels.to(self.model.device),
                    )
                with precision.autocast(opts.precision, self.model.device):
                    losses = self.model.train_step(batch, step)
                bad = guards.nonfinite_losses(losses)
                if bad:
                    self._diverged(step, f"{bad[0]} = {losses[bad[0]]}", writer)
                warning = None if self.watch is None else self.watch.after_step(step, losses)
                if warning is not None:
                    self._warn(warning, writer)
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                    counts[key] = counts.get(key, 0) + 1
                images_seen += batch.images.shape[0]
                bar.update(1)

                if step % opts.log_every == 0 or step == self.total_steps or self._stop_requested:
                    self._check_parameters(step, writer)
                    elapsed = time.perf_counter() - interval_start
                    entry = {
                        "step": step,
                        "epoch": (step - 1) // self.order.batches_per_epoch + 1,
                        "images_per_s": round(images_seen / elapsed, 1) if elapsed > 0 else None,
                        **{k: v / counts[k] for k, v in sums.items()},
                        "time": time.time(),
                    }
                    self._log(entry, writer)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in entry.items() if k.startswith("loss")} | {"img/s": entry["images_per_s"]})
                    sums, counts, images_seen = {}, {}, 0
                    interval_start = time.perf_counter()
                if step % opts.sample_every == 0 or step == self.total_steps:
                    self.save_samples(step, writer)
                if self._stop_requested:
                    break
                if step % opts.checkpoint_every == 0 and step != self.total_steps:
                    self._check_parameters(step, writer)
                    checkpoint.save(self.run_dir, self.model, step, keep=opts.keep_checkpoints)
        finally:
            restore_sigint()
            bar.close()
            if writer is not None:
                writer.close()
        if step > start_step:
            checkpoint.save(self.run_dir, self.model, step, keep=opts.keep_checkpoints)
        return TrainResult(self.run_dir, step, self._stop_requested and step < self.total_steps, losses)

    def save_samples(self, step: int, writer: Any = None) -> Path:
        path = self.run_dir / "samples" / f"step-{step:08d}.png"
        if isinstance(self.model, SequenceModel):
            # one row of truth, then one of the context continued by the model, per sequence
            context, target = forecast.split(self.preview, self.model.context_frames)
            prediction = self.model.predict(context, target.shape[1])
            return save_grid(forecast.strip(self.preview.cpu(), prediction), path, nrow=self.preview.shape[1])
        images = self.model.sample(self.options.n_samples, seed=self.options.seed)
        for entry in self.watch.after_samples(step, images):
            if entry["event"] == "warning":
                self._warn(entry, writer)
            else:
                self._log(entry, writer)
        return save_grid(images, path)

    def _warn(self, entry: dict[str, Any], writer: Any) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"warning: {entry['message']}", file=sys.stderr)
        self._log(entry, writer)

    def _check_parameters(self, step: int, writer: Any) -> None:
        name = guards.nonfinite_parameter(self.model)
        if name is not None:
            self._diverged(step, f"parameter {name} is not finite", writer)

    def _diverged(self, step: int, reason: str, writer: Any) -> None:
        """Stop without saving anything more: the newest checkpoint stays the last good one."""
        self._log({"event": "diverged", "step": step, "reason": reason, "time": time.time()}, writer)
        saved = checkpoint.list_checkpoints(self.run_dir)
        kept = (
            f"the last good checkpoint, step {saved[-1][0]}, is kept in {self.run_dir}"
            if saved
            else f"no checkpoint had been saved yet (--checkpoint-every {self.options.checkpoint_every})"
        )
        raise guards.Diverged(
            f"training diverged at step {step}: {reason}; stopped, and {kept}. "
            "Lower the learning rate (--set, see zoo info NAME) and train again"
        )

    def _log(self, entry: dict[str, Any], writer: Any) -> None:
        with open(self.run_dir / runs.METRICS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        if writer is not None:
            for key, value in entry.items():
                if key not in ("step", "time", "epoch") and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, entry["step"])

    def _catch_sigint(self) -> Callable[[], None]:
        """First Ctrl-C: finish the step, checkpoint, stop. A second one interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self._stop_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)


def total_steps(options: TrainOptions, batches_per_epoch: int) -> int:
    if options.steps is not None and options.epochs is not None:
        raise UsageError("give --steps or --epochs, not both")
    if options.epochs is not None:
        if options.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, got {options.epochs}")
        return options.epochs * batches_per_epoch
    steps = 2000 if options.steps is None else options.steps
    if steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    return steps


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: pip install 'zoo[tensorboard]'
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def train(
    name: str,
    *,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = False,
    overrides: list[str] | tuple[str, ...] = (),
    device: str | None = "auto",
    runs_dir: str | Path | None = None,
    options: TrainOptions | None = None,
    on_start: Callable[[Path, ImageSet], None] | None = None,
    command: str | None = None,
) -> TrainResult:
    """Start a new run of model ``name`` (``zoo train``); ``command`` is recorded in the run."""
    import zoo

    options = options or TrainOptions()
    plugin = get_model(name)
    config = config_module.apply_overrides(plugin.Config(), overrides)
    dataset = dataset or plugin.default_dataset
    data = load_dataset(dataset, split=split, data_dir=data_dir, image_size=image_size, channels=channels, download=download)
    if plugin.conditional and data.labels is None:
        raise UsageError(f"{name} is class-conditional but dataset {dataset!r} has no labels; pick a labelled dataset")
    if data.spec.kind != plugin.data_kind:
        hint = "use --dataset moving-digits" if plugin.data_kind == "sequences" else f"pick an image dataset such as {plugin.default_dataset}"
        raise UsageError(f"{name} trains on {plugin.data_kind}, but dataset {dataset!r} gives {data.spec.kind}; {hint}")
    options = dataclasses.replace(options, batch_size=options.batch_size or plugin.default_batch_size or DEFAULT_BATCH_SIZE)
    torch_device = pick_device(device)
    precision.check(options.precision, torch_device)
    # Validate the step budget before anything is written to disk.
    order = BatchOrder(len(data), options.batch_size, options.seed)
    total = total_steps(options, order.batches_per_epoch)
    torch.manual_seed(options.seed)
    model = plugin.build(config, data.spec, torch_device)
    record = {
        "model": name,
        "plugin_version": plugin.version,
        "config": config_module.to_dict(config),
        "dataset": {
            "name": dataset,
            "split": data.split,
            "data_dir": str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None,
            "image_size": data.spec.height,
            "channels": data.spec.channels,
            "size": len(data),
            "spec": dataclasses.asdict(data.spec),
            "note": data.note,
        },
        "training": {**dataclasses.asdict(options), "steps": total, "epochs": options.epochs, "device": str(torch_device)},
        "seed": options.seed,
        "command": command,
        "zoo_version": zoo.__version__,
        "torch_version": torch.__version__,
    }
    run_dir = runs.create(runs.runs_root(runs_dir), name, record)
    if on_start is not None:
        on_start(run_dir, data)
    trainer = Trainer(model, data, run_dir, dataclasses.replace(options, steps=total, epochs=None))
    return trainer.run(0)


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    device: str | None = "auto",
    progress: bool = True,
    name: str | None = None,
) -> TrainResult:
    """Continue a run from its newest checkpoint up to ``steps`` in total (``zoo train --resume``)."""
    run_dir = Path(run_dir).expanduser()
    record = runs.read_config(run_dir)
    if name is not None and record["model"] != name:
        raise ZooError(f"{run_dir} is a run of {record['model']!r}, not {name!r}")
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    options = TrainOptions(**{k: v for k, v in record["training"].items() if k in fields})
    options = dataclasses.replace(options, steps=steps if steps is not None else options.steps, epochs=None, progress=progress)
    info = record["dataset"]
    data = load_dataset(
        info["name"], split=info["split"], data_dir=info["data_dir"], image_size=info["image_size"], channels=info["channels"]
    )
    if len(data) != info["size"]:
        raise ZooError(f"dataset {info['name']!r} now has {len(data)} examples, the run was trained on {info['size']}")
    torch_device = pick_device(device)
    precision.check(options.precision, torch_device)
    _, _, model = runs.build_from_record(record, torch_device)
    step, folder = checkpoint.latest_checkpoint(run_dir)
    checkpoint.load_weights(model, folder)
    checkpoint.load_training_state(model, folder)
    return Trainer(model, data, run_dir, options).run(step)
