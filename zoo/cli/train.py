"""``zoo train``: a new run, a resumed one, or either on several processes under torchrun."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from zoo.cli.options import (
    device_option,
    flags_of,
    invocation,
    no_progress_option,
    request_fields,
    residency_option,
    runs_dir_option,
    skip_bad_images_option,
    threads_option,
)
from zoo.errors import UsageError
from zoo.training.options import TrainOptions


# What a resumed run may be given; every other option of train it keeps from its own record.
RESUME_MAY_SET = {"name", "resume_dir", "steps", "device", "no_progress", "nproc", "sync_batchnorm", "runs_dir", "threads"}


@click.command("train")
@click.argument("name")
@click.option("--dataset", default=None, help="Dataset name, or folder:PATH [default: the model's].")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files.")
@click.option("--split", default="train", show_default=True, help="Split to train on.")
@click.option("--download", is_flag=True, help="Download the dataset into --data-dir if it is missing.")
@click.option("--image-size", type=int, default=None, help="Resize images to this side length [default: the dataset's].")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Convert images to 1 or 3 channels.")
@skip_bad_images_option
@residency_option
@flags_of(TrainOptions)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Set a config field (repeatable); see zoo info NAME.")
@device_option
@threads_option
@runs_dir_option
@click.option("--resume", "resume_dir", type=click.Path(), default=None, help="Continue this run from its last checkpoint.")
@no_progress_option
@click.option("--nproc", type=int, default=None, help="Train data-parallel on N processes of this machine: starts torchrun (gloo on CPU, NCCL with one GPU each on CUDA).")
@click.option("--sync-batchnorm", is_flag=True, help="With several processes on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm).")
@click.pass_context
def train_command(ctx: click.Context, name: str, resume_dir: str | None, nproc: int | None, sync_batchnorm: bool, **kw: Any) -> None:
    """Train model NAME and print the run directory.

    Under torchrun, or with --nproc N, each process trains on its own --batch-size images of
    every global batch; rank 0 writes the run.
    """
    from zoo import runs, threads
    from zoo.training import distributed, trainer

    if nproc is not None:
        distributed.check_launch(nproc)
        if ctx.get_parameter_source("threads") == click.core.ParameterSource.DEFAULT:
            threads.use(1)  # one per process: N processes of a thread per core would fight over the cores
    progress = not kw.pop("no_progress")
    if resume_dir is not None:
        given = [
            param.opts[0]
            for param in ctx.command.params
            if param.name not in RESUME_MAY_SET and ctx.get_parameter_source(param.name) != click.core.ParameterSource.DEFAULT
        ]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be combined with --resume: a resumed run keeps its settings")
        request = trainer.ResumeRequest(resume_dir, steps=kw["steps"], device=kw["device"], progress=progress, name=name, sync_batchnorm=sync_batchnorm)
        if nproc is not None:
            trainer.check_resume(request, nproc)
            ctx.exit(_launch(nproc))

        def resuming(run_dir: Path, step: int, world_size: int, batch_size: int) -> None:
            if world_size > 1:
                click.echo(f"resuming {run_dir} at step {step}: {_batches(batch_size, world_size)}", err=True)
            before = runs.read_record(run_dir).training.get("world_size", 1)
            if before != world_size:
                click.echo(
                    f"note: the run trained on {before} process{'es' if before > 1 else ''}; it keeps its global batch of "
                    f"{batch_size * world_size}, now {batch_size} per process on {world_size}",
                    err=True,
                )

        result = trainer.resume(request, on_start=resuming)
    else:
        options = TrainOptions(progress=progress, **request_fields(TrainOptions, kw))
        request = trainer.TrainRequest(
            name,
            dataset=kw["dataset"],
            data_dir=kw["data_dir"],
            split=kw["split"],
            download=kw["download"],
            skip_bad_images=kw["skip_bad_images"],
            residency=kw["residency"],
            image_size=kw["image_size"],
            channels=int(kw["channels"]) if kw["channels"] else None,
            overrides=kw["overrides"],
            device=kw["device"],
            runs_dir=kw["runs_dir"],
            options=options,
            command=invocation(),
            sync_batchnorm=sync_batchnorm,
        )
        if nproc is not None:
            trainer.check_train(request, nproc)
            ctx.exit(_launch(nproc))

        def announce(run_dir: Path, data: Any) -> None:
            note = f" ({data.note})" if data.note else ""
            spec = data.spec
            what = f"sequences of {spec.frames} frames {spec.shape}" if spec.frames else f"images {spec.shape}"
            training = runs.read_record(run_dir).training
            batches = f"; {_batches(training['batch_size'], training['world_size'])}" if "world_size" in training else ""
            import torch

            cpu = threads.describe(torch.get_num_threads())  # as torch has it, not as asked
            click.echo(f"training {name} on {data.name} {data.split}: {len(data)} {what}{note}{batches}; {cpu}", err=True)
            click.echo(f"run directory: {run_dir}", err=True)

        result = trainer.train(request, on_start=announce)
    if not distributed.is_main():
        ctx.exit(_exit_code(result))  # rank 0 reports
    if result.interrupted:
        nproc = f" --nproc {distributed.world_size()}" if distributed.world_size() > 1 else ""
        click.echo(f"interrupted at step {result.step}; checkpoint saved. Continue with: zoo train {name}{nproc} --resume {result.run_dir}", err=True)
        click.echo(str(result.run_dir))
        ctx.exit(_exit_code(result))
    losses = runs.last_losses(result.run_dir)  # what zoo runs and zoo compare show too
    summary = f": {losses.text()} ({losses.describe()})" if losses.values else ""
    click.echo(f"finished at step {result.step}{summary}", err=True)
    click.echo(str(result.run_dir))


def _exit_code(result: Any) -> int:
    """0, or for a run stopped by a signal the shell's 128 + signal: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (result.stop_signal or 2) if result.interrupted else 0


def _batches(batch_size: int, world_size: int) -> str:
    """The per-process and the global batch, as the training line reports them."""
    return f"batch {batch_size} per process x {world_size} processes = global batch {batch_size * world_size}"


def _launch(nproc: int) -> int:
    """Run this very command, less --nproc, on ``nproc`` processes under torchrun; its exit code."""
    from zoo.training import distributed

    args = distributed.without_nproc(click.get_current_context().find_root().obj["args"])
    click.echo(f"starting {nproc} processes: {shlex.join(distributed.launch_command(nproc, args))}", err=True)
    return distributed.launch(nproc, args)


COMMANDS = [train_command]
