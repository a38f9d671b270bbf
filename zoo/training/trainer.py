"""The training loop, the same for every architecture.

:func:`train` starts a run and :func:`resume` continues one; both hand a built
:class:`~zoo.contract.Model` and an in-memory :class:`~zoo.datasets.source.ImageSet` to
:class:`Trainer`, which only ever calls ``model.train_step`` and ``model.sample`` (or, for a
:class:`~zoo.contract.SequenceModel`, ``model.predict`` on fixed sequences of the data). It
draws batches, shows progress, logs metrics (JSONL, and TensorBoard when installed), writes
sample grids and checkpoints, and stops cleanly on Ctrl-C.

Batch order is a pure function of (seed, step), and checkpoints carry optimizer and RNG
state, so a resumed seeded CPU run computes the same losses as an uninterrupted one.

Started by torchrun (``zoo train --nproc N``), :func:`train` and :func:`resume` train the
model data-parallel on every process: see :mod:`zoo.training.distributed` for what each rank does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from zoo import locks, runs
from zoo import sequences
from zoo.runs import checkpoint, metrics_log, progress
from zoo.runs.record import DatasetRecord, RunRecord
from zoo.training import compiling, distributed, guards, precision
from zoo.training.options import DEFAULT_BATCH_SIZE, DEFAULT_STEPS, TrainOptions
from zoo.training.tensorboard_log import TensorBoardLog
from zoo import config as config_module
from zoo.contract import LatentModel, Model, SequenceModel
from zoo.datasets import canonical_name, load_dataset
from zoo.datasets.source import ImageSet, SequenceSet
from zoo.images import save_grid
from zoo.errors import UsageError, ZooError
from zoo.models import build_model, dataset_refusal, get_model

# Datasets up to this size are moved to the GPU whole, so batches never cross the bus.
DEVICE_DATA_LIMIT = 2 * 1024**3
TRAIN_LOCK = progress.TRAIN_LOCK
"""Held in a run folder by the process training it (:mod:`zoo.locks`); ``zoo runs`` reads it as running."""
PREVIEW_SEQUENCES = 4
"""Sequences a sequence model continues in each sample grid."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    losses: dict[str, float]
    """The last step's own losses, as ``train_step`` returned them. What a run reports as its
    last losses is :func:`zoo.runs.progress.last_losses`, the means of the last logged interval."""
    model: Model | None = None
    """The trained model (on several processes: this rank's copy, still wired to the process group)."""
    stop_signal: int = 0
    """The signal that stopped an interrupted run (SIGINT or SIGTERM), else 0."""


class BatchOrder:
    """Which images make up the batch of each step: a fresh seeded permutation per epoch.

    On several processes each step takes a global batch of ``batch_size * world_size`` images
    from the permutation, the same on every rank, and rank ``rank`` trains on its own slice
    of it (:func:`zoo.training.distributed.shard`).
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
        if size < batch_size:
            raise UsageError(f"the dataset has {size} images, fewer than --batch-size {batch_size}; lower it")
        global_batch = batch_size * world_size
        if size < global_batch:
            raise UsageError(
                f"the dataset has {size} images, fewer than the global batch of {global_batch} "
                f"(--batch-size {batch_size} x {world_size} processes); lower --batch-size or start fewer processes"
            )
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size, self.global_batch_size = rank, world_size, global_batch
        self.batches_per_epoch = size // global_batch  # the last partial batch is dropped
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        """Image indices for 1-based ``step`` (this rank's share of them)."""
        epoch, position = divmod(step - 1, self.batches_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=generator)
        batch = self._perm[position * self.global_batch_size : (position + 1) * self.global_batch_size]
        return batch if self.world_size == 1 else distributed.shard(batch, self.rank, self.world_size)


class Trainer:
    def __init__(
        self,
        model: Model,
        data: ImageSet | SequenceSet,
        run_dir: Path,
        options: TrainOptions,
        group: distributed.Group | None = None,
        conditional: bool = False,
    ) -> None:
        """``group``: this process's rank in a data-parallel run (see :func:`zoo.training.distributed.prepare`), None alone;
        ``conditional``: the model takes labels (the guards reconstruct each reference image with its own)."""
        options = dataclasses.replace(options, batch_size=options.batch_size or DEFAULT_BATCH_SIZE)
        self.model, self.run_dir, self.options, self.group = model, run_dir, options, group
        precision.attach(model, options.precision)
        if options.channels_last:
            compiling.to_channels_last(model)
        if options.compile:
            compiling.compile_modules(model)
        self.main = group is None or group.is_main
        on_device = model.device.type != "cpu" and data.nbytes <= DEVICE_DATA_LIMIT
        self.data = data.to(model.device) if on_device else data
        rank, world_size = (0, 1) if group is None else (group.rank, group.world_size)
        self.order = BatchOrder(len(data), options.batch_size, options.seed, rank, world_size)
        self.total_steps = total_steps(options, self.order.batches_per_epoch)
        fixed = torch.randperm(len(data), generator=torch.Generator().manual_seed(options.seed))
        # a forecaster's samples are continuations of fixed sequences, not draws to check for collapse
        self.preview = data.batch(fixed[:PREVIEW_SEQUENCES]).images if isinstance(model, SequenceModel) else None
        # the real images the guards compare samples and reconstructions with (see zoo.training.guards)
        self.watched = None if self.preview is not None else data.batch(fixed[: 2 * guards.DIVERSITY_IMAGES])
        if self.watched is not None and not conditional:
            self.watched = dataclasses.replace(self.watched, labels=None)
        self.watch = (
            None
            if self.watched is None
            else guards.CollapseWatch(self.watched.images, options.collapse_patience, options.diversity_floor)
        )
        self._stop_requested = False
        self._stop_signal = signal.SIGINT

    def run(self, start_step: int = 0) -> TrainResult:
        """Train from ``start_step`` (the last completed step) to the total; checkpoint at the end."""
        from tqdm.auto import tqdm

        opts = self.options
        if start_step >= self.total_steps:
            raise UsageError(
                f"the run is already at step {start_step}; pass --steps larger than that to train further"
            )
        group = self.group
        if start_step > 0:
            # a new session: its target is --steps of this resume, not config.json's
            self._event({"event": progress.RESUMED, "step": start_step, "target": self.total_steps, "time": time.time()})
        writer = TensorBoardLog.open(self.run_dir, warn=self._print_warning) if self.main else None
        bar = tqdm(total=self.total_steps, initial=start_step, disable=not (opts.progress and self.main), unit="step", dynamic_ncols=True)
        # per key: a GAN with n_critic > 1 reports its generator loss only on some steps
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        images_seen = skipped = 0
        interval_start = time.perf_counter()
        step, losses = start_step, {}
        # Alone, Ctrl-C counts as soon as it comes; on several processes, from the end-of-step
        # exchange on, so that every rank stops at the same step.
        agreed_stop = False
        stopping = (lambda: self._stop_requested) if group is None else (lambda: agreed_stop)
        restore_signals = self._catch_signals()
        batches = None
        try:
            steps = range(start_step + 1, self.total_steps + 1)
            # a streamed set reads these ahead in worker processes; the order is the same either way
            batches = self.data.batches(self.order.indices(step) for step in steps)
            for step, batch in zip(steps, batches):
                if batch.images.device != self.model.device:
                    batch = dataclasses.replace(
                        batch,
                        images=batch.images.to(self.model.device, non_blocking=True),
                        labels=None if batch.labels is None else batch.labels.to(self.model.device),
                    )
                if group is not None:
                    group.step = step
                    group.reseed(step)  # each rank's noise: a function of (seed, rank, step), so a resume continues it
                if opts.channels_last:
                    batch = dataclasses.replace(batch, images=compiling.channels_last_batch(batch.images))
                losses, overflowed = precision.train_step(self.model, batch, step, opts.precision)
                skipped += overflowed
                if group is not None:
                    # the global batch's losses; a non-finite one on any rank, or Ctrl-C, stops every rank here
                    losses, agreed_stop = group.end_of_step(step, losses, self._stop_requested)
                bad = guards.nonfinite_losses(losses)
                if bad:
                    self._diverged(step, f"{bad[0]} = {losses[bad[0]]}", writer)
                warning = None if self.watch is None else self.watch.after_step(step, losses)
                if warning is not None:
                    self._warn(warning, writer)
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                    counts[key] = counts.get(key, 0) + 1
                images_seen += batch.images.shape[0] * self.order.world_size
                bar.update(1)

                if step % opts.log_every == 0 or step == self.total_steps or stopping():
                    self._check_parameters(step, writer)
                    elapsed = time.perf_counter() - interval_start
                    entry = {
                        "step": step,
                        "epoch": (step - 1) // self.order.batches_per_epoch + 1,
                        "images_per_s": round(images_seen / elapsed, 1) if elapsed > 0 else None,
                        **{k: v / counts[k] for k, v in sums.items()},
                        **self._loss_scaling(skipped),
                        "time": time.time(),
                    }
                    self._log(entry, writer)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in entry.items() if k.startswith("loss")} | {"img/s": entry["images_per_s"]})
                    sums, counts, images_seen, skipped = {}, {}, 0, 0
                    interval_start = time.perf_counter()
                if step % opts.sample_every == 0 or step == self.total_steps:
                    self.save_samples(step, writer)
                if stopping():
                    break
                if step % opts.checkpoint_every == 0 and step != self.total_steps:
                    self._check_parameters(step, writer)
                    self._save_checkpoint(step)
            if step > start_step:
                self._save_checkpoint(step)
        except guards.Diverged:
            raise  # logged as "diverged" already
        except Exception as exc:
            self._record_failure(step, exc)
            raise
        finally:
            if batches is not None:
                batches.close()  # a streamed set's workers stop here, however the loop ended
            restore_signals()
            bar.close()
            if writer is not None:
                writer.close()
        interrupted = stopping() and step < self.total_steps
        return TrainResult(self.run_dir, step, interrupted, losses, self.model, self._stop_signal if interrupted else 0)

    def _loss_scaling(self, skipped: int) -> dict[str, float]:
        """fp16: the loss scale now, and the optimizer steps its overflows skipped since the last log line."""
        scaler = self.model.loss_scaler
        return {} if scaler is None else {"loss_scale": scaler.scale, "skipped_steps": skipped}

    def _save_checkpoint(self, step: int) -> None:
        """Rank 0 saves; on several processes, once every rank's copy is checked to be the same."""
        if self.group is not None:
            self.group.check_replicas(self.model, step)
        if self.main:
            checkpoint.save(self.run_dir, self.model, step, keep=self.options.keep_checkpoints)

    def save_samples(self, step: int, writer: TensorBoardLog | None = None) -> Path:
        """Draw the grid of ``step`` and write it (rank 0; every rank draws, as its forward may synchronise)."""
        path = self.run_dir / "samples" / f"step-{step:08d}.png"
        if isinstance(self.model, SequenceModel):
            # one row of truth, then one of the context continued by the model, per sequence
            context, target = sequences.split(self.preview, self.model.context_frames)
            prediction = self.model.predict(context, target.shape[1])
            grid = sequences.strip(self.preview.cpu(), prediction)
            return save_grid(grid, path, nrow=self.preview.shape[1]) if self.main else path
        images = self.model.sample(self.options.n_samples, seed=self.options.seed)
        reconstructions = self._reconstructions() if isinstance(self.model, LatentModel) else None
        if not self.main:
            return path
        for entry in self.watch.after_samples(step, images, reconstructions, final=step == self.total_steps):
            if entry["event"] == "warning":
                self._warn(entry, writer)
            else:
                self._log(entry, writer)
        return save_grid(images, path)

    @torch.no_grad()
    def _reconstructions(self) -> torch.Tensor:
        """The model's reconstructions (from the posterior means) of the guards' reference images."""
        batch, n = self.watched, guards.DIVERSITY_IMAGES
        images = batch.images[:n].to(self.model.device)
        labels = None if batch.labels is None else batch.labels[:n].to(self.model.device)
        for module in self.model.modules.values():
            module.eval()
        mean, _ = self.model.encode(images, labels)
        return self.model.decode(mean, labels).clamp(0, 1)

    def _warn(self, entry: dict[str, Any], writer: TensorBoardLog | None) -> None:
        if not self.main:
            return
        self._print_warning(entry["message"])
        self._log(entry, writer)

    @staticmethod
    def _print_warning(message: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"warning: {message}", file=sys.stderr)

    def _check_parameters(self, step: int, writer: TensorBoardLog | None) -> None:
        name = guards.nonfinite_parameter(self.model)
        if name is not None:
            self._diverged(step, f"parameter {name} is not finite", writer)

    def _diverged(self, step: int, reason: str, writer: TensorBoardLog | None) -> None:
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

    def _record_failure(self, step: int, exc: Exception) -> None:
        """Log the error that ends the run as a ``failed`` event, if the log can still be written:
        the error itself, not a second one about the log, is what the user must see."""
        message = str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
        try:
            self._event({"event": "failed", "step": step, "reason": " ".join(message.split())[:300], "time": time.time()})
        except OSError:
            pass

    def _event(self, entry: dict[str, Any]) -> None:
        """A line of how the run went (resumed, failed): metrics.jsonl only, no TensorBoard scalar."""
        if self.main:
            metrics_log.append(self.run_dir, entry)

    def _log(self, entry: dict[str, Any], writer: TensorBoardLog | None) -> None:
        if not self.main:
            return
        metrics_log.append(self.run_dir, entry)
        if writer is not None:
            writer.add_scalars(entry["step"], {k: v for k, v in entry.items() if k not in ("step", "time", "epoch") and isinstance(v, (int, float))})

    def _catch_signals(self) -> Callable[[], None]:
        """First Ctrl-C or SIGTERM (a scheduler's stop): finish the step, checkpoint, stop. A
        second one acts at once, as the signal would have without zoo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        caught = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.getsignal(signum) for signum in caught}
        immediate = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

        def handler(signum: int, frame: Any) -> None:
            self._stop_requested = True
            self._stop_signal = signum
            signal.signal(signum, immediate[signum])

        for signum in caught:
            signal.signal(signum, handler)

        def restore() -> None:
            for signum in caught:
                signal.signal(signum, previous[signum])

        return restore


def _check_compile(options: TrainOptions, device: torch.device) -> None:
    if options.compile:
        compiling.check(device)


def total_steps(options: TrainOptions, batches_per_epoch: int) -> int:
    if options.steps is not None and options.epochs is not None:
        raise UsageError("give --steps or --epochs, not both")
    if options.epochs is not None:
        if options.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, got {options.epochs}")
        return options.epochs * batches_per_epoch
    steps = DEFAULT_STEPS if options.steps is None else options.steps
    if steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    return steps


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    """A new run (``zoo train NAME ...``): the model, its data, and where and how it trains."""

    name: str
    dataset: str | None = None
    """A dataset name or ``folder:PATH``; None: the plugin's ``default_dataset``."""
    data_dir: str | Path | None = None
    split: str = "train"
    image_size: int | None = None
    channels: int | None = None
    download: bool = False
    skip_bad_images: bool = False
    residency: str = "auto"
    """``auto``, ``memory`` or ``stream``: where a prepared set's images live (see zoo.datasets.prepared)."""
    overrides: list[str] | tuple[str, ...] = ()
    """``key=value`` settings of the plugin's config."""
    device: str | None = "auto"
    runs_dir: str | Path | None = None
    options: TrainOptions = dataclasses.field(default_factory=TrainOptions)
    command: str | None = None
    """The command line recorded in the run."""
    sync_batchnorm: bool = False
    """Under torchrun on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)."""


@dataclasses.dataclass(frozen=True)
class ResumeRequest:
    """An existing run continued (``zoo train --resume RUN_DIR``): everything else comes from its record."""

    run_dir: str | Path
    steps: int | None = None
    """Total steps to reach; None: the run's own."""
    device: str | None = "auto"
    progress: bool = True
    name: str | None = None
    """The model the run must be of (a check), or None."""
    sync_batchnorm: bool = False


@dataclasses.dataclass
class _Plan:
    """A new run, checked and ready to build: what :func:`train` and :func:`check_train` share."""

    plugin: Any
    config: Any
    dataset: str
    data: ImageSet | SequenceSet
    options: TrainOptions
    total: int
    device: torch.device


def _plan(request: TrainRequest, world_size: int, local_rank: int = 0, local_world_size: int | None = None) -> _Plan:
    name, options, dataset = request.name, request.options, request.dataset
    plugin = get_model(name)
    config = config_module.apply_overrides(plugin.Config(), request.overrides)
    dataset = canonical_name(plugin.default_dataset if dataset is None else dataset)
    data = load_dataset(
        dataset,
        split=request.split,
        data_dir=request.data_dir,
        image_size=request.image_size,
        channels=request.channels,
        download=request.download,
        skip_bad_images=request.skip_bad_images,
        residency=request.residency,
    )
    refusal = dataset_refusal(plugin, dataset, data.spec.kind, labelled=data.labels is not None)
    if refusal is not None:
        raise UsageError(refusal)
    options = dataclasses.replace(options, batch_size=options.batch_size or plugin.default_batch_size or DEFAULT_BATCH_SIZE)
    torch_device = distributed.device_for(request.device, world_size, local_rank, local_world_size)
    precision.check(options.precision, torch_device, plugin)
    _check_compile(options, torch_device)
    # Validate the step budget before anything is written to disk.
    order = BatchOrder(len(data), options.batch_size, options.seed, world_size=world_size)
    total = total_steps(options, order.batches_per_epoch)
    return _Plan(plugin, config, dataset, data, options, total, torch_device)


def check_train(request: TrainRequest, nproc: int) -> None:
    """Refuse here, once, what :func:`train` would refuse on each of ``nproc`` processes (``zoo train --nproc``)."""
    plan = _plan(request, world_size=nproc)
    build = lambda: build_model(plan.plugin, plan.config, plan.data.spec, "cpu")  # noqa: E731
    distributed.check_sync_batchnorm(request.sync_batchnorm, nproc, plan.device, build)


def train(request: TrainRequest, on_start: Callable[[Path, ImageSet], None] | None = None) -> TrainResult:
    """Start a new run (``zoo train``); ``on_start(run_dir, data)`` is called once the run directory exists.

    Under torchrun (``WORLD_SIZE`` > 1) this process is one rank of a data-parallel run:
    ``request.options.batch_size`` is its own batch, rank 0 alone writes the run and calls
    ``on_start``, and ``sync_batchnorm`` turns the BatchNorm layers into SyncBatchNorm (CUDA).
    """
    import zoo

    name, data_dir, sync_batchnorm = request.name, request.data_dir, request.sync_batchnorm
    size = distributed.world_size()
    local = distributed.env_int("LOCAL_RANK", 0), distributed.env_int("LOCAL_WORLD_SIZE", size)
    plan = _plan(request, world_size=size, local_rank=local[0], local_world_size=local[1])
    options, data, torch_device = plan.options, plan.data, plan.device
    torch.manual_seed(options.seed)
    model = build_model(plan.plugin, plan.config, data.spec, torch_device)
    precision.attach(model, options.precision)
    distributed.check_sync_batchnorm(sync_batchnorm, size, torch_device, lambda: model)
    training = {**dataclasses.asdict(options), "steps": plan.total, "epochs": options.epochs, "device": str(torch_device)}
    if size > 1:
        training |= {"world_size": size, "global_batch_size": options.batch_size * size, "sync_batchnorm": sync_batchnorm}
    record = RunRecord(
        model=name,
        plugin_version=str(plan.plugin.version),
        config=config_module.to_dict(plan.config),
        dataset=DatasetRecord(
            name=plan.dataset,
            split=data.split,
            data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None,
            image_size=data.spec.height,
            channels=data.spec.channels,
            size=len(data),
            spec=data.spec,
            note=data.note,
            class_names=tuple(data.class_names),
            skip_bad_images=request.skip_bad_images,
            residency=request.residency,
        ),
        training=training,
        seed=options.seed,
        command=request.command,
        zoo_version=zoo.__version__,
        torch_version=torch.__version__,
    )
    group = distributed.start(torch_device, options.seed)
    try:
        if group is None:
            run_dir = runs.create(runs.runs_root(request.runs_dir), record)
        else:
            # rank 0 makes the run directory; every rank learns where it is
            run_dir = Path(group.broadcast(str(runs.create(runs.runs_root(request.runs_dir), record)) if group.is_main else None))
        # held from the moment the folder exists, so `zoo runs` never lists a starting run as interrupted
        with _run_lock(run_dir):
            if on_start is not None and (group is None or group.is_main):
                on_start(run_dir, data)
            if group is not None:
                distributed.prepare(model, group, sync_batchnorm)
            options = dataclasses.replace(options, steps=plan.total, epochs=None)
            trainer = Trainer(model, data, run_dir, options, group, conditional=plan.plugin.conditional)
            return trainer.run(0)
    finally:
        if group is not None:
            group.close()


def check_resume(request: ResumeRequest, nproc: int) -> None:
    """Refuse here, once, what :func:`resume` would refuse on each of ``nproc`` processes (``zoo train --nproc --resume``)."""
    torch_device = distributed.device_for(request.device, nproc)
    record, options, *_ = _resume_plan(request, world_size=nproc)
    precision.check(options.precision, torch_device, get_model(record.model))
    _check_compile(options, torch_device)
    distributed.check_sync_batchnorm(request.sync_batchnorm, nproc, torch_device, lambda: runs.build_from_record(record, "cpu")[2])


def _resume_plan(request: ResumeRequest, world_size: int) -> tuple[RunRecord, TrainOptions, ImageSet | SequenceSet, int, Path]:
    """The run's record, its options continued to ``steps`` on ``world_size`` processes, its data,
    and its newest checkpoint.

    The run keeps its global batch (and so its batch order and its hyperparameters' meaning)
    whatever the number of processes it resumes on: each takes an equal share of it.
    """
    run_dir, steps, name = Path(request.run_dir).expanduser(), request.steps, request.name
    record = runs.read_record(run_dir)
    if name is not None and record.model != name:
        raise ZooError(f"{run_dir} is a run of {record.model!r}, not {name!r}")
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    try:
        options = TrainOptions(**{k: v for k, v in record.training.items() if k in fields})
    except (UsageError, TypeError) as exc:
        raise ZooError(f"{run_dir / runs.CONFIG}: its training settings are damaged ({exc})") from None
    options = dataclasses.replace(options, steps=steps if steps is not None else options.steps, epochs=None, progress=request.progress)
    global_batch = record.training.get("global_batch_size", options.batch_size)
    if global_batch % world_size:
        raise UsageError(
            f"the run trained with a global batch of {global_batch}, which {world_size} processes cannot share equally; "
            f"resume it on a number of processes that divides {global_batch}"
        )
    options = dataclasses.replace(options, batch_size=global_batch // world_size)
    data = record.dataset.load()
    if len(data) != record.dataset.size:
        raise ZooError(f"dataset {record.dataset.name!r} now has {len(data)} examples, the run was trained on {record.dataset.size}")
    step, folder = checkpoint.latest_checkpoint(run_dir)
    if step >= total_steps(options, 1):
        raise UsageError(f"the run is already at step {step}; pass --steps larger than that to train further")
    return record, options, data, step, folder


def resume(request: ResumeRequest, on_start: Callable[[Path, int, int, int], None] | None = None) -> TrainResult:
    """Continue a run from its newest checkpoint up to ``request.steps`` in total (``zoo train --resume``).

    Under torchrun every rank loads the checkpoint rank 0 picked (the run directory must be
    reachable at the same path on every machine) and trains on as before, with the run's global
    batch shared among the processes. ``on_start(run_dir, step, world_size, batch_size)`` is
    called on rank 0 before the first step. A run another process is training is refused.
    """
    with _run_lock(Path(request.run_dir).expanduser()):
        return _resume(request, on_start)


def _run_lock(run_dir: Path):
    """Rank 0's hold on a run folder for as long as it trains it (none for a folder that is not there yet)."""
    if not (distributed.is_main() and run_dir.is_dir()):
        return contextlib.nullcontext()
    return locks.locked(run_dir / TRAIN_LOCK, wait=False, what=f"run {run_dir}")


def _resume(request: ResumeRequest, on_start: Callable[[Path, int, int, int], None] | None) -> TrainResult:
    size = distributed.world_size()
    torch_device = distributed.device_for(request.device, size, distributed.env_int("LOCAL_RANK", 0), distributed.env_int("LOCAL_WORLD_SIZE", size))
    record, options, data, step, folder = _resume_plan(request, world_size=size)
    run_dir, sync_batchnorm = Path(request.run_dir).expanduser(), request.sync_batchnorm
    precision.check(options.precision, torch_device, get_model(record.model))
    _check_compile(options, torch_device)
    _, _, model = runs.build_from_record(record, torch_device)
    precision.attach(model, options.precision)  # before the checkpoint, which holds its loss scale
    distributed.check_sync_batchnorm(sync_batchnorm, size, torch_device, lambda: model)
    group = distributed.start(torch_device, options.seed)
    try:
        if group is not None:
            # the checkpoint rank 0 sees is the one every rank loads
            chosen_dir, step, chosen_folder = group.broadcast((str(run_dir), step, str(folder)))
            run_dir, folder = Path(chosen_dir), Path(chosen_folder)
        checkpoint.load_weights(model, folder)
        checkpoint.load_training_state(model, folder)
        if on_start is not None and (group is None or group.is_main):
            on_start(run_dir, step, size, options.batch_size)
        if group is not None:
            distributed.prepare(model, group, sync_batchnorm)
        return Trainer(model, data, run_dir, options, group, conditional=get_model(record.model).conditional).run(step)
    finally:
        if group is not None:
            group.close()
