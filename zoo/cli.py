"""The ``zoo`` command line (click).

Exit codes: 0 success, 2 usage errors, 1 runtime errors, 130 interrupted. Errors print one
line on stderr; ``zoo --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from zoo.errors import UsageError, ZooError


class ZooGroup(click.Group):
    """Turns zoo errors (and unexpected ones) into one line and an exit code, unless --debug."""

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        # Keep the command line as given, for the records: sys.argv is wrong when zoo runs in-process.
        args = list(sys.argv[1:] if args is None else args)
        obj = extra.setdefault("obj", {})
        obj["command"] = shlex.join(["zoo", *args])
        obj["args"] = args
        return super().main(args, *rest, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ZooError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from zoo.distributed import error_prefix, is_main

            if is_main() or not exc.every_rank:
                click.echo(f"error: {error_prefix()}{exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `zoo list | head` closed the pipe: not an error. Point stdout at devnull so
            # Python's final flush does not raise again on the way out.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback under --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run `zoo --debug ...` for the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="zoo", prog_name="zoo")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train, sample and ship image generators (GANs, VAEs, recurrent models)."""
    ctx.ensure_object(dict)["debug"] = debug


def main() -> None:
    from zoo import distributed

    if not distributed.launched():
        cli(obj={})
        return
    # One process of several under torchrun: leave without the interpreter's teardown, in which
    # gloo's worker threads can abort a process whose run succeeded ("terminate called without
    # an active exception", SIGABRT; pytorch/pytorch#179291). Everything zoo writes is closed by now.
    try:
        cli(obj={})
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def invocation() -> str:
    """The command line as the user typed it, for the records (``zoo train ...``)."""
    return click.get_current_context().find_root().obj["command"]


runs_dir_option = click.option(
    "--runs-dir", type=click.Path(file_okay=False), default=None, help="Where runs live [default: $ZOO_RUNS_DIR or ./runs]."
)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """List the installed models, including broken ones with their error."""
    from zoo.models import model_entries

    rows = []
    for entry in model_entries():
        plugin = entry.obj
        rows.append(
            {
                "name": entry.name,
                "status": entry.status,
                "family": getattr(plugin, "family", None) if entry.status == "ok" else None,
                "summary": getattr(plugin, "summary", None) if entry.status == "ok" else None,
                "distribution": entry.distribution,
                "entry_point": entry.value,
                "error": entry.conflict or entry.error,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models installed")
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        if row["status"] == "ok":
            click.echo(f"{row['name']:<{width}}  {row['family']:<9}  {row['summary']}  [{row['distribution']}]")
        else:
            click.echo(f"{row['name']:<{width}}  {row['status'].upper():<9}  {row['error']}  [{row['distribution']}]")


@cli.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(name: str, as_json: bool) -> None:
    """Show a model's config fields, defaults, datasets and exportable graphs."""
    from zoo import config as config_module
    from zoo import registry
    from zoo.models import get_model

    plugin = get_model(name)
    fields = config_module.describe(plugin.Config)
    entry = registry.entries(registry.MODELS)[name]
    info = {
        "name": plugin.name,
        "summary": plugin.summary,
        "family": plugin.family,
        "paper": plugin.paper,
        "version": plugin.version,
        "distribution": entry.distribution,
        "entry_point": entry.value,
        "conditional": plugin.conditional,
        "default_dataset": plugin.default_dataset,
        "datasets": list(registry.entries(registry.DATASETS)),
        "graphs": list(plugin.graphs),
        "precisions": list(plugin.precisions),
        "config": [{"name": f.name, "type": f.type, "default": config_module.jsonable(f.default), "help": f.help} for f in fields],
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['name']} ({info['family']}): {info['summary']}")
    if info["paper"]:
        click.echo(f"paper: {info['paper']}")
    click.echo(f"from: {info['distribution']} ({info['entry_point']}), plugin version {info['version']}")
    click.echo(f"datasets: {', '.join(info['datasets'])} (default {info['default_dataset']})")
    click.echo(f"conditional: {'yes (--label)' if info['conditional'] else 'no'}")
    click.echo(f"exportable graphs: {', '.join(info['graphs'])}")
    click.echo(f"trains in: {', '.join(info['precisions'])} (--precision)")
    click.echo("config (--set key=value):")
    width = max((len(f.name) for f in fields), default=0)
    for f in fields:
        click.echo(f"  {f.name:<{width}}  {f.type:<6} = {f.default!s:<8}  {f.help}")


@cli.command("train")
@click.argument("name")
@click.option("--dataset", default=None, help="Dataset name, or folder:PATH [default: the model's].")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files.")
@click.option("--split", default="train", show_default=True, help="Split to train on.")
@click.option("--download", is_flag=True, help="Download the dataset into --data-dir if it is missing.")
@click.option("--image-size", type=int, default=None, help="Resize images to this side length [default: the dataset's].")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Convert images to 1 or 3 channels.")
@click.option("--steps", type=int, default=None, help="Total optimisation steps [default: 2000].")
@click.option("--epochs", type=int, default=None, help="Train for this many passes over the data instead.")
@click.option("--channels-last", is_flag=True, help="Weights and image batches in channels-last memory format (often faster convolutions; measure with zoo bench).")
@click.option("--compile", "compile_modules", is_flag=True, help="torch.compile the model's modules (slow first steps; measure with zoo bench --compile).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True, help="bf16 or fp16: autocast, where the hardware computes in it natively; fp16 with loss scaling.")
@click.option("--batch-size", type=int, default=None, help="Examples per step [default: the model's, else 64].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Set a config field (repeatable); see zoo info NAME.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialisation, batches and noise.")
@runs_dir_option
@click.option("--resume", "resume_dir", type=click.Path(), default=None, help="Continue this run from its last checkpoint.")
@click.option("--log-every", type=int, default=50, show_default=True, help="Steps between metrics lines.")
@click.option("--sample-every", type=int, default=500, show_default=True, help="Steps between sample grids.")
@click.option("--checkpoint-every", type=int, default=1000, show_default=True, help="Steps between checkpoints.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--nproc", type=int, default=None, help="Train data-parallel on N processes of this machine: starts torchrun (gloo on CPU, NCCL with one GPU each on CUDA).")
@click.option("--sync-batchnorm", is_flag=True, help="With several processes on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm).")
@click.pass_context
def train_command(ctx: click.Context, name: str, resume_dir: str | None, nproc: int | None, sync_batchnorm: bool, **kw: Any) -> None:
    """Train model NAME and print the run directory.

    Under torchrun, or with --nproc N, each process trains on its own --batch-size images of
    every global batch; rank 0 writes the run.
    """
    from zoo import distributed, runs, trainer

    if nproc is not None:
        distributed.check_launch(nproc)
    progress = not kw.pop("no_progress")
    if resume_dir is not None:
        given = [
            f"--{k.replace('_', '-')}"
            for k in ("dataset", "data_dir", "image_size", "channels", "epochs")
            if kw[k] is not None
        ] + (["--set"] if kw["overrides"] else []) + (["--precision"] if kw["precision"] != "fp32" else []) + (["--compile"] if kw["compile_modules"] else []) + (["--channels-last"] if kw["channels_last"] else [])
        if given:
            raise UsageError(f"{', '.join(given)} cannot be combined with --resume: a resumed run keeps its settings")
        if nproc is not None:
            trainer.check_resume(resume_dir, nproc=nproc, steps=kw["steps"], device=kw["device"], name=name, sync_batchnorm=sync_batchnorm)
            ctx.exit(_launch(nproc))

        def resuming(run_dir: Path, step: int, world_size: int, batch_size: int) -> None:
            if world_size > 1:
                click.echo(f"resuming {run_dir} at step {step}: {_batches(batch_size, world_size)}", err=True)
            before = runs.read_config(run_dir)["training"].get("world_size", 1)
            if before != world_size:
                click.echo(
                    f"note: the run trained on {before} process{'es' if before > 1 else ''}; it keeps its global batch of "
                    f"{batch_size * world_size}, now {batch_size} per process on {world_size}",
                    err=True,
                )

        result = trainer.resume(
            resume_dir, steps=kw["steps"], device=kw["device"], progress=progress, name=name, sync_batchnorm=sync_batchnorm, on_start=resuming
        )
    else:
        for key in ("log_every", "sample_every", "checkpoint_every"):
            if kw[key] < 1:
                raise UsageError(f"--{key.replace('_', '-')} must be at least 1")
        options = trainer.TrainOptions(
            steps=kw["steps"],
            epochs=kw["epochs"],
            batch_size=kw["batch_size"],
            seed=kw["seed"],
            log_every=kw["log_every"],
            sample_every=kw["sample_every"],
            checkpoint_every=kw["checkpoint_every"],
            progress=progress,
            precision=kw["precision"],
            compile=kw["compile_modules"],
            channels_last=kw["channels_last"],
        )

        data_options = dict(
            dataset=kw["dataset"],
            data_dir=kw["data_dir"],
            split=kw["split"],
            download=kw["download"],
            image_size=kw["image_size"],
            channels=int(kw["channels"]) if kw["channels"] else None,
        )
        if nproc is not None:
            trainer.check_train(
                name, nproc=nproc, sync_batchnorm=sync_batchnorm, overrides=kw["overrides"], device=kw["device"], options=options, **data_options
            )
            ctx.exit(_launch(nproc))

        def announce(run_dir: Path, data: Any) -> None:
            note = f" ({data.note})" if data.note else ""
            spec = data.spec
            what = f"sequences of {spec.frames} frames {spec.shape}" if spec.frames else f"images {spec.shape}"
            training = runs.read_config(run_dir)["training"]
            batches = f"; {_batches(training['batch_size'], training['world_size'])}" if "world_size" in training else ""
            click.echo(f"training {name} on {data.name} {data.split}: {len(data)} {what}{note}{batches}", err=True)
            click.echo(f"run directory: {run_dir}", err=True)

        result = trainer.train(
            name,
            **data_options,
            overrides=kw["overrides"],
            device=kw["device"],
            runs_dir=kw["runs_dir"],
            options=options,
            on_start=announce,
            command=invocation(),
            sync_batchnorm=sync_batchnorm,
        )
    if not distributed.is_main():
        ctx.exit(130 if result.interrupted else 0)  # rank 0 reports
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
    if result.interrupted:
        nproc = f" --nproc {distributed.world_size()}" if distributed.world_size() > 1 else ""
        click.echo(f"interrupted at step {result.step}; checkpoint saved. Continue with: zoo train {name}{nproc} --resume {result.run_dir}", err=True)
        click.echo(str(result.run_dir))
        ctx.exit(130)
    click.echo(f"finished at step {result.step}: {losses}", err=True)
    click.echo(str(result.run_dir))


def _batches(batch_size: int, world_size: int) -> str:
    """The per-process and the global batch, as the training line reports them."""
    return f"batch {batch_size} per process x {world_size} processes = global batch {batch_size * world_size}"


def _launch(nproc: int) -> int:
    """Run this very command, less --nproc, on ``nproc`` processes under torchrun; its exit code."""
    from zoo import distributed

    args = distributed.without_nproc(click.get_current_context().find_root().obj["args"])
    click.echo(f"starting {nproc} processes: {shlex.join(distributed.launch_command(nproc, args))}", err=True)
    return distributed.launch(nproc, args)


@cli.command("sample")
@click.argument("name")
@click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
@click.option("-n", "n", type=int, default=None, help="Number of images [default: 64], or of sequences to continue for sequence models [default: 4].")
@click.option("--seed", type=int, default=None, help="Seed for the latents, or for which test sequences to continue [default: random].")
@click.option("--label", type=int, default=None, help="Class to draw (conditional models only).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="PNG grid to write; a .gif with --animate or for sequence models [default: samples.png, samples.gif].")
@click.option("--nrow", type=int, default=None, help="Images per row [default: square grid].")
@click.option("--animate", is_flag=True, help="Models that draw step by step (draw): a GIF of every step, and a PNG strip beside it.")
@click.option("--input", "input_path", type=click.Path(), default=None, help="Sequence models (convlstm): a GIF or a folder of frames to continue [default: sequences from the test split].")
@click.option("--device", default="cpu", show_default=True)
@runs_dir_option
def sample_command(name: str, run: str, n: int | None, seed: int | None, label: int | None, out: str | None, nrow: int | None, animate: bool, input_path: str | None, device: str, runs_dir: str | None) -> None:
    """Draw N images from a trained model into a PNG grid (or, with --animate, a GIF of the drawing);
    a sequence model continues N sequences into a GIF, truth on the left, forecast on the right."""
    from zoo import runs
    from zoo.device import pick_device
    from zoo.models import get_model
    from zoo.images import save_grid

    plugin = get_model(name)  # an unknown or broken model is the first thing to report
    sequences = plugin.data_kind == "sequences"
    if input_path is not None and not sequences:
        raise UsageError(f"--input gives frames to continue, for sequence models such as convlstm; {name} draws from noise")
    if input_path is not None and n is not None:
        raise UsageError("--input continues the one sequence it holds; drop -n")
    n = n if n is not None else (4 if sequences else 64)
    if n < 1:
        raise UsageError(f"-n must be at least 1, got {n}")
    animated = animate or sequences
    out = out or ("samples.gif" if animated else "samples.png")
    suffix = ".gif" if animated else ".png"
    if not out.lower().endswith(suffix):
        why = " for a sequence model" if sequences else (" with --animate" if animate else "")
        raise UsageError(f"--out must name a {suffix} file{why}, got {out!r}")
    run_dir = runs.find(name, run, runs_dir)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=name)
    if sequences:
        _continue_sequences(loaded, n, seed, input_path, Path(out))
        click.echo(out)
        return
    if animate:
        _animate(name, loaded, n, seed, label, Path(out), nrow)
        click.echo(out)
        return
    images = loaded.sample(n, seed=seed, label=label)
    save_grid(images, Path(out), nrow=nrow)
    click.echo(f"{n} samples from {run_dir} (step {loaded.step}) -> {out}", err=True)
    click.echo(out)


def _animate(name: str, loaded: Any, n: int, seed: int | None, label: int | None, gif: Path, nrow: int | None) -> None:
    """A stepped model's drawing: a GIF with a grid of the n images per step, and a PNG strip
    beside it with one row per image, its steps left to right."""
    import torch

    from zoo.contract import SteppedModel
    from zoo.images import save_animation, save_grid, tile

    if not isinstance(loaded.model, SteppedModel):
        raise UsageError(f"{name} draws each image in one step: --animate needs a model that draws step by step, such as draw")
    steps = loaded.model.sample_steps(n, seed=seed, label=label)  # (T, n, C, H, W)
    save_animation(torch.stack([tile(frame, nrow) for frame in steps]), gif, progress=True)
    strip = save_grid(steps.transpose(0, 1).flatten(0, 1), gif.with_suffix(".png"), nrow=len(steps))
    click.echo(f"{n} samples drawn in {len(steps)} steps from {loaded.path} (step {loaded.step}) -> {gif} and {strip}", err=True)


def _continue_sequences(loaded: Any, n: int, seed: int | None, input_path: str | None, gif: Path) -> None:
    """A sequence model's forecasts as a GIF (truth and forecast side by side when the truth is
    known) and a PNG strip beside it, one row per sequence."""
    import torch

    from zoo import forecast
    from zoo.images import read_frames, save_animation, save_grid, tile

    model = loaded.model
    if input_path is not None:
        frames = read_frames(Path(input_path), model.data.channels, model.data.height).unsqueeze(0)
        if frames.shape[1] < model.context_frames:
            raise UsageError(f"{input_path} has {frames.shape[1]} frames; {loaded.name} needs at least {model.context_frames} to continue")
        length = model.context_frames + model.horizon
        truth = frames[:, :length] if frames.shape[1] >= length else None
        context, source = frames[:, : model.context_frames], str(input_path)
    else:
        data = loaded.data("test")
        order = torch.randperm(len(data), generator=model.noise_generator(seed))
        truth = data.batch(order[: min(n, len(data))]).images
        context, source = truth[:, : model.context_frames], f"{data.name} test"
    prediction = model.predict(context)
    if truth is not None:
        animation, per_row = forecast.side_by_side(truth, prediction), 2
        rows = forecast.strip(truth, prediction)
        layout = "truth left, forecast right"
    else:
        continued = torch.cat([context, prediction], dim=1)
        animation, per_row, rows = continued.transpose(0, 1), 1, continued.flatten(0, 1)
        layout = f"the input has fewer than {model.context_frames + model.horizon} frames, so no truth to show beside it"
    save_animation(torch.stack([tile(frame, per_row) for frame in animation]), gif, progress=True)
    strip = save_grid(rows, gif.with_suffix(".png"), nrow=animation.shape[0])
    click.echo(
        f"{len(context)} sequence{'s' if len(context) > 1 else ''} from {source} continued by {loaded.path} (step {loaded.step}): "
        f"{model.context_frames} frames given, {model.horizon} predicted; {layout} -> {gif} and {strip}",
        err=True,
    )


@cli.command("export")
@click.argument("name")
@click.option("--onnx", "as_onnx", is_flag=True, help="Export to ONNX (the same as --format onnx).")
@click.option("--format", "fmt", default=None, help="Exporter to use (zoo.exporters entry point) [default: onnx].")
@click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
@click.option("--graph", default=None, help="Graph to export [default: the model's first, usually generator].")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Output file [default: NAME-GRAPH.onnx].")
@click.option("--opset", type=int, default=None, help="ONNX opset [default: 18].")
@click.option("--optimize", is_flag=True, help="Save onnxruntime's offline graph optimisation in the file.")
@click.option("--fp16", is_flag=True, help="Float16 weights and compute (for the CUDA provider); checked against PyTorch at 1e-2.")
@click.option("--int8", is_flag=True, help="Static int8 quantisation calibrated on the prior; checked by sample quality against fp32 (needs classifier:<dataset>).")
@runs_dir_option
def export_command(name: str, as_onnx: bool, fmt: str | None, run: str, graph: str | None, out: str | None, opset: int | None, optimize: bool, fp16: bool, int8: bool, runs_dir: str | None) -> None:
    """Export a trained model's graph and verify it against PyTorch (optionally optimised, float16 or int8)."""
    from zoo.export import export_run

    if as_onnx and fmt not in (None, "onnx"):
        raise UsageError(f"--onnx and --format {fmt} disagree; give one")
    if fp16 and int8:
        raise UsageError("--fp16 and --int8 make two different files; give one")
    options: dict[str, Any] = {"opset": opset} if opset is not None else {}
    options.update({key: True for key, value in (("optimize", optimize), ("fp16", fp16), ("int8", int8)) if value})
    report = export_run(name, fmt or "onnx", run=run, graph=graph, out=out, runs_dir=runs_dir, **options)
    for line in report.lines:
        click.echo(line, err=True)
    click.echo(str(report.path))


@cli.command("generate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--seed", type=int, default=None, help="Seed for numpy's latents [default: random].")
@click.option("--label", type=int, default=None, help="Class to draw (conditional graphs only).")
@click.option("--input", "input_path", type=click.Path(), default=None, help="Forecaster graphs (convlstm): a GIF or a folder of frames to continue.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="PNG grid to write, or a GIF for a forecaster [default: generated.png, generated.gif].")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when it loads, else CPU), cpu or cuda.")
def generate_command(file: str, n: int, seed: int | None, label: int | None, input_path: str | None, out: str | None, device: str) -> None:
    """Draw images from an exported .onnx file with onnxruntime alone (no PyTorch needed), or
    continue the frames of --input with an exported forecaster."""
    import numpy as np

    from zoo.runtime import OnnxGenerator, read_frames, save_gif, save_grid

    generator = OnnxGenerator(file, device=device)
    where = f"{generator.metadata.get('model')} {generator.metadata.get('graph')}, {generator.provider}"
    if generator.is_forecaster and input_path is not None:
        out = out or "generated.gif"
        if not out.lower().endswith(".gif"):
            raise UsageError(f"--out must name a .gif file for a forecaster, got {out!r}")
        channels, size = generator.metadata["image_shape"][0], generator.metadata["image_shape"][1]
        given = generator.metadata["context_frames"]
        frames = read_frames(input_path, channels, size)
        if len(frames) < given:
            raise UsageError(f"{input_path} has {len(frames)} frames; {file} needs at least {given} to continue")
        context = frames[None, :given]
        predicted = generator.forecast(context)
        continued = np.concatenate([context, predicted], axis=1)[0]
        save_gif((np.clip(continued, 0, 1) * 255 + 0.5).astype(np.uint8), out)
        click.echo(f"{given} frames of {input_path} continued by {predicted.shape[1]} from {file} ({where}) -> {out}", err=True)
        click.echo(out)
        return
    if input_path is not None:
        raise UsageError(f"--input gives frames to continue, for forecaster graphs; {file} draws from its inputs' distribution")
    out = out or "generated.png"
    if not out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, got {out!r}")
    images = generator.generate(n, seed=seed, label=label)
    save_grid(images, out, value_range=tuple(generator.metadata.get("value_range", (0.0, 1.0))))
    click.echo(f"{n} images from {file} ({where}) -> {out}", err=True)
    click.echo(out)


@cli.command("bench")
@click.argument("name")
@click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
@click.option("--batch", "batch_list", default="1,64", show_default=True, help="Comma list of sampling batch sizes.")
@click.option("--train-batch", type=int, default=None, help="Training batch [default: the run's].")
@click.option("--train-steps", type=int, default=10, show_default=True, help="Timed training steps per precision (after 2 warm-up steps).")
@click.option("--seconds", "min_seconds", type=float, default=1.0, show_default=True, help="Least time spent timing each sampling row.")
@click.option("--compile", "compile_", is_flag=True, help="Add torch.compile rows (compiling takes a while).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when it works, else CPU), cpu or cuda.")
@runs_dir_option
def bench_command(name: str, run: str, batch_list: str, train_batch: int | None, train_steps: int, min_seconds: float, compile_: bool, device: str, runs_dir: str | None) -> None:
    """Images/s of a trained model on this machine: sampling in PyTorch and from each ONNX
    variant (fp32, optimised, fp16, int8), and training in each precision, with ratios."""
    import torch

    from zoo.bench import bench, table
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


@cli.group("features")
def features_group() -> None:
    """Feature extractors for the sample-quality metrics (zoo.features entry points)."""


@features_group.command("list")
def features_list_command() -> None:
    """Installed extractors, and the classifiers trained so far."""
    from zoo import registry
    from zoo.features import cache_root

    for entry in registry.load_all(registry.FEATURES):
        label = f"{entry.name}:DATASET" if entry.status == "ok" and entry.obj.takes_argument else entry.name
        summary = entry.obj.summary if entry.status == "ok" else f"BROKEN: {entry.error}"
        click.echo(f"{label:<20} {summary}")
    folder = cache_root() / "features"
    trained = sorted(folder.glob("classifier-*/config.json")) if folder.is_dir() else []
    for path in trained:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            click.echo(f"  {record['extractor']:<18} {100 * record['heldout_accuracy']:.2f}% on {record['dataset']} {record['heldout_split']['name']}  ({path.parent})")
        except (OSError, ValueError, KeyError, TypeError):
            click.echo(f"  {path.parent.name:<18} damaged: train it again")


@features_group.command("train")
@click.option("--dataset", required=True, help="Labelled dataset to train the classifier on (its train split).")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialisation and batch order.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def features_train_command(dataset: str, data_dir: str | None, epochs: int, seed: int, no_progress: bool) -> None:
    """Train classifier:DATASET, the domain classifier whose features the metrics use."""
    from zoo.features.classifier import train_classifier

    trained = train_classifier(dataset, data_dir=data_dir, epochs=epochs, seed=seed, progress=not no_progress)
    r = trained.record
    train, heldout = r["train_split"], r["heldout_split"]
    for split in (train, heldout):
        if split["note"]:
            click.echo(f"data: {split['note']}")
    click.echo(
        f"classifier:{dataset}: trained on {dataset} {train['name']} ({train['n']:,} images, {epochs} epochs, seed {seed}); "
        f"held-out accuracy {100 * r['heldout_accuracy']:.2f}% on {dataset} {heldout['name']} ({heldout['n']:,} images)"
    )
    click.echo(str(trained.path))


@cli.command("evaluate")
@click.argument("name")
@click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
@click.option("--dataset", default=None, help="Dataset to measure on [default: the run's own].")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files [default: the run's].")
@click.option("--split", default="test", show_default=True, help="Split to measure on.")
@click.option(
    "--metrics",
    default=None,
    help="Comma list of nll, fid, kid, is, prdc, or for sequence models mse, bce [default: nll for likelihood models (plus the rest when the classifier is trained), mse,bce against the copy-last-frame baseline for sequence models, else fid,kid,is,prdc].",
)
@click.option("--features", default=None, help="Feature extractor for fid/kid/is/prdc: classifier:DATASET or inception [default: classifier:<dataset>].")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Weights file for the extractor (inception needs one).")
@click.option("-n", "n", type=int, default=10000, show_default=True, help="Generated images for the sample-quality metrics.")
@click.option("--batch-size", type=int, default=250, show_default=True, help="Images per generation and extraction batch.")
@click.option("-k", "k", type=int, default=1000, show_default=True, help="Importance samples per image for the IWAE bound.")
@click.option(
    "--binarize",
    type=click.Choice(["dynamic", "threshold"]),
    default="dynamic",
    show_default=True,
    help="How greyscale pixels become binary for Bernoulli models: one seeded draw, or > 0.5.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the binarisation, the latents and the subsets.")
@click.option("--record", is_flag=True, help="Also write the results into the catalog (registry.json).")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False), default="registry.json", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@runs_dir_option
def evaluate_command(name: str, record: bool, registry_path: str, no_progress: bool, **kw: Any) -> None:
    """Sample quality (FID, KID, IS, precision/recall) and, for likelihood models, the NLL of a trained run;
    for sequence models (convlstm), per-frame forecast errors beside the copy-last-frame baseline."""
    from zoo import catalog
    from zoo.evaluate import evaluate_run, parse_metrics

    if record:
        catalog.read(Path(registry_path))  # a missing catalog is reported before the long computation
    evaluation = evaluate_run(
        name,
        run=kw["run"],
        dataset=kw["dataset"],
        data_dir=kw["data_dir"],
        split=kw["split"],
        metrics=parse_metrics(kw["metrics"]),
        features=kw["features"],
        weights=kw["weights"],
        n=kw["n"],
        batch_size=kw["batch_size"],
        k=kw["k"],
        binarization=kw["binarize"],
        seed=kw["seed"],
        device=kw["device"],
        runs_dir=kw["runs_dir"],
        command=invocation(),
        progress=not no_progress,
    )
    click.echo(f"{name} {evaluation.run_dir} (step {evaluation.step}) on {evaluation.dataset} {evaluation.split}", nl=False)
    if evaluation.forecast:
        scores = evaluation.forecast
        click.echo(f": {scores.sequences:,} sequences, {scores.context_frames} frames given, {scores.horizon} predicted")
        if evaluation.note:
            click.echo(f"data: {evaluation.note}")
        for line in scores.table():
            click.echo(line)
        from zoo.forecast import EPSILON

        click.echo(f"per predicted frame, summed over its pixels; BCE in nats with predictions clamped to [{EPSILON:g}, {1 - EPSILON:g}]")
    elif evaluation.likelihood:
        m = evaluation.likelihood
        click.echo(f": {m['n']:,} images")
    else:
        click.echo(f": {evaluation.quality['n_real']:,} real images")
    if evaluation.note and not evaluation.forecast:
        click.echo(f"data: {evaluation.note}")
    if evaluation.likelihood:
        click.echo(f"binarisation: {m['binarization']}")
        if "conditioning" in evaluation.results[0]:
            click.echo(f"conditioning: {evaluation.results[0]['conditioning']}")
        for line in evaluation.likelihood_table():
            click.echo(line)
    if evaluation.quality:
        q = evaluation.quality
        if evaluation.likelihood:
            click.echo("")
        click.echo(f"features: {q['extractor']}: {q['extractor_description']}")
        for line in evaluation.quality_table(name):
            click.echo(line)
        notes = []
        if "kid_subset_size" in q:
            notes.append(f"KID over 100 subsets of {q['kid_subset_size']:,}")
        if "prdc_n" in q:
            notes.append(f"precision/recall/density/coverage with k = 5 on {q['prdc_n']:,} images a side")
        notes.append(f"the floor compares two halves of the {q['n_real']:,} real images")
        click.echo("; ".join(notes))
    if evaluation.skipped:
        click.echo(evaluation.skipped)
    if record:
        catalog.record_results(Path(registry_path), name, evaluation.results)
        click.echo(f"recorded {len(evaluation.results)} results for {name} in {registry_path}", err=True)

# -- latent-space verbs (models with an encoder: vae, beta-vae, cvae) -------------------------

run_option = click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
label_option = click.option("--label", type=int, default=None, help="Class label for every image (conditional models).")
device_option = click.option("--device", default="cpu", show_default=True)
input_option = click.option("--input", "input_path", required=True, type=click.Path(), help="An image file or a folder of images.")


def _latent_run(name: str, run: str, runs_dir: str | None, device: str) -> Any:
    """The newest checkpoint of a run of ``name``, whose model must have an encoder."""
    from zoo import runs
    from zoo.device import pick_device
    from zoo.latent import require_latent
    from zoo.models import get_model

    get_model(name)
    loaded = runs.load(runs.find(name, run, runs_dir), device=pick_device(device), model_name=name)
    require_latent(loaded.model, name)
    return loaded


def _inputs(path: str, loaded: Any) -> tuple[Any, list[Path]]:
    """``--input`` images as floats in [0, 1] at the model's size, saying when they were resized."""
    from zoo.datasets.folder import read_input

    c, h, _ = loaded.model.data.shape
    images, paths, resized = read_input(path, h, c)
    if resized:
        click.echo(f"note: resized {resized} of {len(paths)} input image(s) to {h}x{h}, the size {loaded.name} was trained at", err=True)
    return images.float() / 255, paths


def _png_out(out: str) -> Path:
    if not out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, got {out!r}")
    return Path(out)


@cli.command("reconstruct")
@click.argument("name")
@run_option
@input_option
@label_option
@click.option("--out", default="reconstructions.png", show_default=True, help="PNG grid: each original, then its reconstruction.")
@device_option
@runs_dir_option
def reconstruct_command(name: str, run: str, input_path: str, label: int | None, out: str, device: str, runs_dir: str | None) -> None:
    """Encode images and decode them again, side by side with the originals."""
    from zoo.images import save_grid
    from zoo.latent import reconstruct, reconstruction_error, side_by_side

    out_path = _png_out(out)
    loaded = _latent_run(name, run, runs_dir, device)
    images, paths = _inputs(input_path, loaded)
    recon = reconstruct(loaded.model, images, label)
    save_grid(side_by_side(images, recon), out_path, nrow=2 * min(len(images), 8))
    click.echo(f"{len(images)} image(s) from {input_path}: reconstruction {reconstruction_error(images, recon)}", err=True)
    click.echo(f"originals left, reconstructions right -> {out}", err=True)
    click.echo(out)


@cli.command("interpolate")
@click.argument("name")
@run_option
@click.option("--input", "inputs", multiple=True, type=click.Path(), help="End points: image files or folders, in order (repeatable).")
@click.option("--seeds", default=None, help="End points drawn from the prior, e.g. 1,2 (after any --input images).")
@click.option("--steps", type=int, default=10, show_default=True, help="Images per segment, end points included.")
@click.option("--method", type=click.Choice(["lerp", "slerp"]), default="lerp", show_default=True, help="Straight line, or great circle.")
@label_option
@click.option("--out", default="interpolation.png", show_default=True, help="PNG strip (one row per segment); a GIF is written beside it.")
@device_option
@runs_dir_option
def interpolate_command(name: str, run: str, inputs: tuple[str, ...], seeds: str | None, steps: int, method: str, label: int | None, out: str, device: str, runs_dir: str | None) -> None:
    """Walk the latent space between images or seeds: a PNG strip and an animated GIF."""
    import torch

    from zoo.images import save_animation, save_grid
    from zoo.latent import interpolate

    out_path = _png_out(out)
    loaded = _latent_run(name, run, runs_dir, device)
    ends = []
    for path in inputs:
        images, _ = _inputs(path, loaded)
        ends += list(loaded.model.encode(images, label)[0])
    if seeds:
        try:
            seed_values = [int(v) for v in seeds.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--seeds takes integers separated by commas, e.g. 1,2; got {seeds!r}") from None
        ends += [torch.randn(loaded.model.latent_dim, generator=torch.Generator().manual_seed(v)) for v in seed_values]
    if len(ends) < 2:
        raise UsageError("interpolate needs two end points or more: --input twice, a folder of 2+ images, --seeds 1,2, or an image and a seed")
    rows = [interpolate(loaded.model, a, b, steps, method, label) for a, b in zip(ends, ends[1:])]
    frames = torch.cat(rows)
    save_grid(frames, out_path, nrow=steps)
    gif = save_animation(frames, out_path.with_suffix(".gif"))
    click.echo(f"{len(ends)} end points, {len(rows)} segment(s) of {steps} ({method}) -> {out} and {gif}", err=True)
    click.echo(out)


@cli.command("traverse")
@click.argument("name")
@run_option
@click.option("--input", "input_path", type=click.Path(), default=None, help="Start from this image's latent (the first, for a folder) and rank dimensions by the inputs' KL [default: z = 0, KL over the run's test images].")
@click.option("--dims", type=int, default=10, show_default=True, help="Rows: this many dimensions, highest KL first.")
@click.option("--span", type=float, default=3.0, show_default=True, help="Each row sweeps its coordinate over [-span, span].")
@click.option("--steps", type=int, default=9, show_default=True, help="Images per row.")
@label_option
@click.option("--out", default="traversal.png", show_default=True, help="PNG grid, one row per latent dimension.")
@device_option
@runs_dir_option
def traverse_command(name: str, run: str, input_path: str | None, dims: int, span: float, steps: int, label: int | None, out: str, device: str, runs_dir: str | None) -> None:
    """Latent traversals: one row per dimension, sorted by KL, to see what each one encodes."""
    import torch

    from zoo.images import save_grid
    from zoo.latent import kl_per_dimension, traverse
    from zoo.models import get_model

    out_path = _png_out(out)
    if dims < 1:
        raise UsageError(f"--dims must be at least 1, got {dims}")
    loaded = _latent_run(name, run, runs_dir, device)
    if input_path is not None:
        images, _ = _inputs(input_path, loaded)
        labels = label
        base = loaded.model.encode(images[:1], label)[0][0]
        where = f"the {len(images)} input image(s)"
    else:
        data = loaded.data("test")
        index = torch.arange(min(len(data), 512))
        batch = data.batch(index)
        conditional = get_model(name).conditional
        images, labels = batch.images, (batch.labels if conditional and label is None else label)
        base = torch.zeros(loaded.model.latent_dim)
        where = f"{len(images)} {data.name} {data.split} images"
    kl = kl_per_dimension(loaded.model, images, labels)
    order = torch.argsort(kl, descending=True)[:dims].tolist()
    grid = traverse(loaded.model, base, order, span, steps, label)
    save_grid(grid, out_path, nrow=steps)
    ranking = ", ".join(f"z{d} {kl[d]:.2f}" for d in order)
    click.echo(f"rows, by mean KL over {where} (nats): {ranking}", err=True)
    click.echo(f"{len(order)} rows x {steps} values in [-{span:g}, {span:g}] -> {out}", err=True)
    click.echo(out)


@cli.command("encode")
@click.argument("name")
@run_option
@input_option
@label_option
@click.option("--out", default="latents.safetensors", show_default=True, help="Latent file (safetensors) to write.")
@device_option
@runs_dir_option
def encode_command(name: str, run: str, input_path: str, label: int | None, out: str, device: str, runs_dir: str | None) -> None:
    """Compress images to a latent file: float16 posterior means, with size ratio and error."""
    import torch

    from zoo import checkpoint
    from zoo.digest import sha256_of
    from zoo.latent import LATENT_DTYPE, LatentFile, reconstruction_error, save_latents

    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise UsageError(f"--out must end in .safetensors, got {out!r}")
    loaded = _latent_run(name, run, runs_dir, device)
    images, paths = _inputs(input_path, loaded)
    root = Path(input_path) if Path(input_path).is_dir() else Path(input_path).parent
    means = loaded.model.encode(images, label)[0].to(LATENT_DTYPE)
    labels = None if label is None else torch.full((len(images),), label)
    _, folder = checkpoint.latest_checkpoint(loaded.path)
    encoded = LatentFile(
        latents=means,
        labels=labels,
        model=name,
        run=str(loaded.path.resolve()),
        step=loaded.step,
        checkpoint_sha256=sha256_of(folder / checkpoint.WEIGHTS),
        image_shape=tuple(loaded.model.data.shape),
        names=[p.relative_to(root).as_posix() for p in paths],
    )
    size = save_latents(out_path, encoded)
    error = reconstruction_error(images, loaded.model.decode(means.float(), label))
    per_image = means.shape[1] * means.element_size()
    raw = images[0].numel()  # one byte per 8-bit pixel value
    files = sum(p.stat().st_size for p in paths)
    versus_files = f"{files / size:.1f}x smaller than" if files >= size else f"{size / files:.1f}x larger than"
    click.echo(
        f"encoded {len(images)} image(s) -> {out} ({size:,} bytes): {means.shape[1]} float16 values = {per_image} bytes per image, "
        f"{raw / per_image:.1f}x smaller than its {raw} bytes of raw pixels; the file is {versus_files} "
        f"the {files:,} bytes of input files",
        err=True,
    )
    click.echo(f"reconstruction from the stored latents: {error}", err=True)
    click.echo(out)


@cli.command("decode")
@click.argument("latents", type=click.Path(dir_okay=False))
@click.option("--run", "run", default=None, help="Run to decode with [default: the one recorded in the file].")
@click.option("--out", default="decoded.png", show_default=True, help="A .png grid, or a folder for one PNG per image.")
@device_option
def decode_command(latents: str, run: str | None, out: str, device: str) -> None:
    """Decode a latent file written by zoo encode back into images."""
    from zoo import checkpoint, runs
    from zoo.datasets.folder import EXTENSIONS
    from zoo.device import pick_device
    from zoo.digest import sha256_of
    from zoo.images import save_grid
    from zoo.latent import load_latents

    out_path = Path(out)
    if out_path.suffix.lower() in EXTENSIONS and out_path.suffix.lower() != ".png":
        raise UsageError(f"--out must be a .png grid or a folder, got {out!r}")
    encoded = load_latents(Path(latents))
    run_dir = Path(run or encoded.run)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=encoded.model)
    _, folder = checkpoint.latest_checkpoint(run_dir)
    if sha256_of(folder / checkpoint.WEIGHTS) != encoded.checkpoint_sha256:
        raise ZooError(
            f"{latents} was encoded by another checkpoint of {encoded.model} (step {encoded.step}) than {run_dir} now holds "
            f"(step {loaded.step}); decode with the same weights, or encode again"
        )
    images = loaded.model.decode(encoded.latents, encoded.labels)
    if out_path.suffix.lower() == ".png":
        save_grid(images, out_path)
    else:
        # the inputs' relative paths, as PNGs; 3.png and 3.jpg keep their suffix to stay apart
        targets = [Path(name).with_suffix(".png") for name in encoded.names]
        if len(set(targets)) < len(targets):
            targets = [Path(f"{name}.png") for name in encoded.names]
        for image, target in zip(images, targets):
            (out_path / target).parent.mkdir(parents=True, exist_ok=True)
            save_grid(image[None], out_path / target, nrow=1)
    click.echo(f"decoded {len(images)} image(s) from {latents} with {run_dir} (step {loaded.step}) -> {out}", err=True)
    click.echo(out)


@cli.command("runs")
@click.argument("name", required=False)
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def runs_command(name: str | None, runs_dir: str | None, as_json: bool) -> None:
    """List runs (of model NAME, or all) with their step and last losses."""
    from zoo import runs

    root = runs.runs_root(runs_dir)
    found = runs.list_runs(root, name)
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "path": str(r.path)} for r in found], indent=2))
        return
    if not found:
        click.echo(f"no runs under {root}" + (f" for {name}" if name else ""))
        return
    for r in found:
        losses = " ".join(f"{k}={v:.4g}" for k, v in r.losses.items())
        click.echo(f"{r.model:<10} step {r.step:>7}  {r.dataset:<14} {losses:<32} {r.path}")


def _run_dir(run: str, runs_dir: str | None) -> Path:
    """A RUN argument: a run directory, or a model name meaning that model's newest run."""
    from zoo import runs

    path = Path(run).expanduser()
    if (path / runs.CONFIG).is_file():
        return path
    if "/" not in run and "\\" not in run:
        root = runs.runs_root(runs_dir)
        found = runs.list_runs(root, run)
        if found:
            return found[-1].path
        if not path.exists():
            raise ZooError(f"{run!r} is neither a run directory nor a model with runs under {root}; `zoo runs` lists the runs there are")
    runs.read_config(path)  # says why this folder is not a run
    return path


@cli.command("compare")
@click.argument("run_args", metavar="RUN...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@runs_dir_option
def compare_command(run_args: tuple[str, ...], as_json: bool, runs_dir: str | None) -> None:
    """Runs side by side: steps, wall time, final losses, differing config, every evaluation metric.

    Each RUN is a run directory, or a model name for that model's newest run.
    """
    from zoo.compare import compare_runs

    comparison = compare_runs([_run_dir(run, runs_dir) for run in run_args])
    click.echo(comparison.to_json() if as_json else comparison.table())


@cli.command("report")
@click.argument("run")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="HTML file to write [default: RUN_DIR/report.html].")
@runs_dir_option
def report_command(run: str, out: str | None, runs_dir: str | None) -> None:
    """Write one self-contained HTML page about a run: samples, curves, config, events, evaluations.

    RUN is a run directory, or a model name for that model's newest run. The page embeds its
    images and opens in a browser from the file.
    """
    from zoo.report import write_report

    if out is not None and not out.lower().endswith((".html", ".htm")):
        raise UsageError(f"--out must name an .html file, got {out!r}")
    run_dir = _run_dir(run, runs_dir)
    path = write_report(run_dir, out)
    click.echo(f"report of {run_dir} -> {path}", err=True)
    click.echo(str(path))


if __name__ == "__main__":
    main()
