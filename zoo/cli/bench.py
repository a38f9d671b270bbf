"""``zoo bench``: a trained model's speed on this machine, in PyTorch and from its ONNX variants."""

from __future__ import annotations

from typing import Any

import click

from zoo.cli.options import device_option, flags_of, request_fields, run_option, runs_dir_option, threads_option
from zoo.errors import UsageError
from zoo.tools.bench import BenchRequest


@click.command("bench")
@click.argument("name")
@run_option
@click.option("--batch", "batch_list", default="1,64", show_default=True, help="Comma list of sampling batch sizes.")
@flags_of(BenchRequest)
@device_option
@threads_option
@runs_dir_option
def bench_command(name: str, run: str, batch_list: str, device: str, runs_dir: str | None, **kw: Any) -> None:
    """Images/s of a trained model on this machine: sampling in PyTorch and from each ONNX
    variant (fp32, optimised, fp16, int8), and training in each precision, with ratios."""
    import torch

    from zoo.tools.bench import REPEATS, bench, table
    from zoo.models import get_model

    plugin = get_model(name)
    try:
        batches = tuple(int(part) for part in batch_list.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--batch takes a comma list of whole numbers, got {batch_list!r}") from None
    request = BenchRequest(name, run=run, runs_dir=runs_dir, batches=batches, device=device, **request_fields(BenchRequest, kw))
    rows = bench(request, log=lambda line: click.echo(line, err=True))
    from zoo.threads import chosen, describe

    click.echo(
        f"zoo bench {name}: torch {torch.__version__} with {describe(torch.get_num_threads())}, "
        f"onnxruntime with {describe(chosen())}; each figure the median of {REPEATS} rounds"
    )
    for line in table(rows, unit="sequences/s" if plugin.data_kind == "sequences" else "images/s"):
        click.echo(line)


COMMANDS = [bench_command]
