"""``zoo bench``: what the speed options buy on this machine, measured now, in one table.

Sampling: the trained run's first graph (usually ``generator``) in PyTorch eager fp32, then
exported to ONNX as fp32, optimised, fp16 and int8 (each through ``zoo export``'s own
verified path, into a scratch folder) and run by onnxruntime (CUDA provider when it loads,
else CPU). Images per second at each batch size, as a ratio to eager fp32 at that size.

Training: fresh copies of the run's model, built from its config.json, taking ``train_steps``
steps on the run's dataset under each precision, in images per second, as a ratio to fp32.

A variant this machine or this model cannot run is a row with the reason instead of a number.

Each figure is the median of :data:`REPEATS` timed rounds, printed with its spread (the range
over the median): a row whose rounds differ by more than :data:`UNSTEADY` is marked, as a
sign that something else was using the CPUs while it was timed.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Callable


from zoo.config import check_bounds, option
from zoo.errors import ZooError
from zoo.training.options import DEFAULT_BATCH_SIZE

SAMPLING = ("pytorch eager fp32", "onnx fp32", "onnx optimised", "onnx fp16", "onnx int8")
EXPORT_OPTIONS = {"onnx fp32": {}, "onnx optimised": {"optimize": True}, "onnx fp16": {"fp16": True}, "onnx int8": {"int8": True}}


@dataclasses.dataclass
class Row:
    section: str
    """``sampling`` or ``training``."""
    what: str
    batch: int
    images_per_s: float | None
    note: str = ""
    ratio: float | None = None
    spread: float | None = None
    """(fastest - slowest) / median of the timed rounds."""


REPEATS = 5
UNSTEADY = 0.15


@dataclasses.dataclass(frozen=True)
class Speed:
    median: float
    spread: float


def images_per_second(call: Callable[[], Any], batch: int, min_seconds: float, warmup: int = 2, min_calls: int = 5) -> Speed:
    """After warm-up, :data:`REPEATS` rounds of calls to ``call`` (one batch), together at least
    ``min_seconds`` and ``min_calls``; the median rate of the rounds and their spread."""
    import statistics

    for _ in range(warmup):
        call()
    rates = []
    for _ in range(REPEATS):
        calls, start = 0, time.perf_counter()
        while calls < -(-min_calls // REPEATS) or time.perf_counter() - start < min_seconds / REPEATS:
            call()
            calls += 1
        rates.append(calls * batch / (time.perf_counter() - start))
    median = statistics.median(rates)
    return Speed(median, (max(rates) - min(rates)) / median)


@dataclasses.dataclass(frozen=True)
class BenchRequest:
    """What ``zoo bench NAME`` times. Each field declared with ``option()`` is also its flag."""

    name: str
    run: str | Path | None = "latest"
    runs_dir: str | Path | None = None
    batches: tuple[int, ...] = (1, 64)
    """Sampling batch sizes."""
    train_batch: int | None = option(None, "Training batch [default: the run's].", low=1, high=65536)
    train_steps: int = option(10, "Timed training steps per precision (after 2 warm-up steps).", low=1)
    min_seconds: float = option(1.0, "Least time spent timing each sampling row.", flag="--seconds", low=0.001, high=3600)
    compile: bool = option(False, "Add torch.compile rows (compiling takes a while).")
    device: str = "auto"

    def __post_init__(self) -> None:
        from zoo.errors import UsageError

        if not self.batches or min(self.batches) < 1:
            raise UsageError(f"--batch sizes must be at least 1, got {','.join(map(str, self.batches))}")
        check_bounds(self)


def bench(request: BenchRequest, log: Callable[[str], None] = lambda line: None) -> list[Row]:
    """The rows of the table; ``request.compile`` adds torch.compile rows (their warm-up compiles)."""
    import torch

    name, batches, min_seconds, device, compile = request.name, request.batches, request.min_seconds, request.device, request.compile
    train_batch, train_steps = request.train_batch, request.train_steps
    from zoo import runs
    from zoo.training import compiling, precision
    from zoo.device import pick_device
    from zoo.errors import UsageError
    from zoo.models import get_model
    from zoo.export import export_run
    from zoo.runtime import OnnxGenerator

    run_dir = runs.find(name, request.run, request.runs_dir)
    loaded = runs.load(run_dir, device="cpu", model_name=name)
    graph_name = next(iter(loaded.model.export_graphs()))
    graph = loaded.model.export_graphs()[graph_name]
    rows: list[Row] = []

    with tempfile.TemporaryDirectory() as scratch:
        files: dict[str, Path | str] = {}
        for what, options in EXPORT_OPTIONS.items():
            log(f"exporting {what} ...")
            try:
                files[what] = export_run(name, "onnx", run=run_dir, graph=graph_name, out=Path(scratch) / f"{len(files)}.onnx", **options).path
            except (UsageError, ZooError) as exc:
                files[what] = str(exc)
        sessions: dict[str, Any] = {}
        for what, path in files.items():
            if isinstance(path, Path):
                generator = OnnxGenerator(path, device=device)
                if what == "onnx fp16" and generator.provider != "CUDAExecutionProvider":
                    sessions[what] = "GPU only: float16 kernels are for the CUDA provider, which this machine lacks"
                else:
                    sessions[what] = generator
            else:
                sessions[what] = path
        for batch in batches:
            inputs = graph.example_inputs(batch=batch, seed=0)
            feeds = {n: x.numpy() for n, x in zip(graph.input_names, inputs)}
            log(f"sampling at batch {batch} ...")
            with torch.no_grad():
                eager = images_per_second(lambda: graph.module(*inputs), batch, min_seconds)
            rows.append(Row("sampling", SAMPLING[0], batch, eager.median, "torch " + torch.__version__, 1.0, eager.spread))
            if compile:
                log(f"compiling the {graph_name} graph ...")
                compiled_module = torch.compile(graph.module)
                with torch.no_grad():
                    speed = images_per_second(lambda: compiled_module(*inputs), batch, min_seconds)
                rows.append(Row("sampling", "pytorch compiled fp32", batch, speed.median, "torch.compile (inductor)", speed.median / eager.median, speed.spread))
            for what in SAMPLING[1:]:
                session = sessions[what]
                if isinstance(session, str):
                    rows.append(Row("sampling", what, batch, None, session))
                    continue
                speed = images_per_second(lambda: session.run(feeds), batch, min_seconds)
                rows.append(Row("sampling", what, batch, speed.median, session.provider.removesuffix("ExecutionProvider"), speed.median / eager.median, speed.spread))

    train_device = pick_device(device)
    data = loaded.record.dataset.load()
    batch = train_batch or loaded.record.training.get("batch_size") or DEFAULT_BATCH_SIZE
    batch = min(batch, len(data))
    fp32_speed = None
    variants = [(p, "") for p in precision.PRECISIONS] + [("fp32", "channels_last")] + ([("fp32", "compile")] if compile else [])
    for what, variant in variants:
        label = f"{what} + {variant}" if variant else what
        compiled = variant == "compile"
        try:
            precision.check(what, train_device, get_model(name))
            if compiled:
                compiling.check(train_device)
        except UsageError as exc:
            rows.append(Row("training", label, batch, None, str(exc).removeprefix(f"--precision {what}: ")))
            continue
        log(f"training in {label} ...")
        torch.manual_seed(0)
        _, _, model = runs.build_from_record(loaded.record, train_device)
        precision.attach(model, what)
        if compiled:
            compiling.compile_modules(model)
        if variant == "channels_last":
            compiling.to_channels_last(model)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        step = 0

        def one_step() -> None:
            nonlocal step
            index = order[(step * batch) % (len(data) - batch + 1) :][:batch]
            step += 1
            images = data.batch(index)
            pixels = images.images.to(train_device)
            pixels = compiling.channels_last_batch(pixels) if variant == "channels_last" else pixels
            images = dataclasses.replace(images, images=pixels, labels=None if images.labels is None else images.labels.to(train_device))
            precision.train_step(model, images, step, what)
            if train_device.type == "cuda":
                torch.cuda.synchronize()

        speed = images_per_second(one_step, batch, min_seconds, warmup=2, min_calls=train_steps)
        fp32_speed = fp32_speed or speed.median
        rows.append(Row("training", label, batch, speed.median, str(train_device), speed.median / fp32_speed, speed.spread))
    return rows


def table(rows: list[Row], unit: str = "images/s") -> list[str]:
    """The rows as text; ``unit`` heads the speed column (``sequences/s`` for a forecaster)."""
    lines = []
    for section, ratio_to in (("sampling", "vs eager fp32"), ("training", "vs fp32")):
        chosen = [r for r in rows if r.section == section]
        if not chosen:
            continue
        width = max(len(section), *(len(r.what) for r in chosen))
        lines.append(f"{section:<{width}}  {'batch':>5}  {unit:>11}  {ratio_to:>13}  {'spread':>7}  where / why not")
        for r in chosen:
            speed = f"{r.images_per_s:>11.1f}" if r.images_per_s is not None else f"{'-':>11}"
            ratio = f"{r.ratio:>12.2f}x" if r.ratio is not None else f"{'-':>13}"
            spread = f"{'!' if r.spread > UNSTEADY else ''}±{r.spread:.0%}" if r.spread is not None else "-"
            lines.append(f"{r.what:<{width}}  {r.batch:>5}  {speed}  {ratio}  {spread:>7}  {r.note}")
        lines.append("")
    if any(r.spread is not None and r.spread > UNSTEADY for r in rows):
        lines.append(
            f"! the rounds of these rows differ by more than {UNSTEADY:.0%}: something else was using the CPUs. "
            "Do not trust their figures; measure again on an idle machine (or with --threads 1 beside the other work)"
        )
        lines.append("")
    return lines[:-1]
