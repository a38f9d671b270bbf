"""``zoo bench``: a trained model's speed on this machine, in PyTorch and from its ONNX variants."""

from __future__ import annotations

import click

from zoo.cli.options import device_option, run_option, runs_dir_option
from zoo.errors import UsageError


@click.command("bench")
@click.argument("name")
@run_option
@click.option("--batch", "batch_list", default="1,64", show_default=True, help="Comma list of sampling batch sizes.")
@click.option("--train-batch", type=int, default=None, help="Training batch [default: the run's].")
@click.option("--train-steps", type=int, default=10, show_default=True, help="Timed training steps per precision (after 2 warm-up steps).")
@click.option("--seconds", "min_seconds", type=float, default=1.0, show_default=True, help="Least time spent timing each sampling row.")
@click.option("--compile", "compile_", is_flag=True, help="Add torch.compile rows (compiling takes a while).")
@device_option
@runs_dir_option
def bench_command(name: str, run: str, batch_list: str, train_batch: int | None, train_steps: int, min_seconds: float, compile_: bool, device: str, runs_dir: str | None) -> None:
    """Images/s of a trained model on this machine: sampling in PyTorch and from each ONNX
    variant (fp32, optimised, fp16, int8), and training in each precision, with ratios."""
    import torch

    from zoo.tools.bench import bench, table
    from zoo.models import get_model

    get_model(name)
    try:
        batches = tuple(int(part) for part in batch_list.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--batch takes a comma list of whole numbers, got {batch_list!r}") from None
    if not batches or min(batches) < 1:
        raise UsageError(f"--batch sizes must be at least 1, got {batch_list!r}")
    if train_steps < 1 or (train_batch is not None and train_batch < 1) or not min_seconds > 0:
        raise UsageError("--train-steps and --train-batch must be at least 1, and --seconds positive")
    rows = bench(
        name,
        run=run,
        runs_dir=runs_dir,
        batches=batches,
        train_batch=train_batch,
        train_steps=train_steps,
        min_seconds=min_seconds,
        device=device,
        compile=compile_,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(f"zoo bench {name}: {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    from zoo.models import get_model

    for line in table(rows, unit="sequences/s" if get_model(name).data_kind == "sequences" else "images/s"):
        click.echo(line)


COMMANDS = [bench_command]
