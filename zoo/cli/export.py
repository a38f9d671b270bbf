"""``zoo export`` (a run's graph, verified) and ``zoo generate`` (an exported file, onnxruntime only)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import click

from zoo.cli.options import flags_of, no_progress_option, onnx_threads_option, request_fields, run_option, runs_dir_option, threads_option
from zoo.errors import UsageError
from zoo.config import SEED_MAX, check_range
from zoo.export import ExportOptions
from zoo.printable import printable


@click.command("export")
@click.argument("name")
@click.option("--onnx", "as_onnx", is_flag=True, help="Export to ONNX (the same as --format onnx).")
@click.option("--format", "fmt", default=None, help="Exporter to use (zoo.exporters entry point) [default: onnx].")
@run_option
@click.option("--graph", default=None, help="Graph to export [default: the model's first, usually generator].")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Output file [default: NAME-GRAPH.onnx, NAME-GRAPH-optimized.onnx, -fp16, -int8 for the variants].")
@flags_of(ExportOptions)
@threads_option
@no_progress_option
@runs_dir_option
def export_command(
    name: str, as_onnx: bool, fmt: str | None, run: str, graph: str | None, out: str | None, no_progress: bool, runs_dir: str | None, **kw: Any
) -> None:
    """Export a trained model's graph and verify it against PyTorch (optionally optimised, float16 or int8)."""
    from tqdm import tqdm

    from zoo.export import export_run

    if as_onnx and fmt not in (None, "onnx"):
        raise UsageError(f"--onnx and --format {fmt} disagree; give one")
    options = ExportOptions(**request_fields(ExportOptions, kw))
    # one transient line naming the stage and the time so far; tqdm's disable=None keeps it
    # off a stderr that is not a terminal, so logs and pipes see only the report
    doing = printable(f"exporting {name} {graph or ''}".rstrip())
    with tqdm(total=None, desc=f"{doing}: loading the run", bar_format="{desc} ({elapsed})", leave=False, disable=True if no_progress else None) as bar, _ticking(bar):

        def progress(stage: str) -> None:
            bar.set_description_str(f"{doing}: {printable(stage)}", refresh=True)

        report = export_run(name, fmt or "onnx", run=run, graph=graph, out=out, runs_dir=runs_dir, progress=progress, **options.given())
    for line in report.lines:
        click.echo(line, err=True)
    click.echo(str(report.path))


@contextlib.contextmanager
def _ticking(bar: Any, every: float = 0.5) -> Iterator[None]:
    """Redraw ``bar`` every ``every`` seconds, so its clock moves through a long stage."""
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@click.command("generate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--seed", type=int, default=None, help="Seed for numpy's latents [default: random].")
@click.option("--label", type=int, default=None, help="Class to draw (conditional graphs only).")
@click.option("--input", "input_path", type=click.Path(), default=None, help="Forecaster graphs (convlstm): a GIF or a folder of frames to continue.")
@click.option(
    "--out",
    default=None,
    help="A .png grid; DIR/ for one PNG per image; a .npz of uint8 (N, H, W, C) images; a .gif for a forecaster [default: generated.png, generated.gif].",
)
@click.option("--scale", type=int, default=None, help="Enlarge each image K times (nearest neighbour) [default: grids and GIFs to at least 112 pixels a tile; DIR/ 1; never a .npz].")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when it loads, else CPU), cpu or cuda.")
@onnx_threads_option
def generate_command(
    file: str, n: int, seed: int | None, label: int | None, input_path: str | None, out: str | None, scale: int | None, device: str
) -> None:
    """Draw images from an exported .onnx file with onnxruntime alone (no PyTorch needed), or
    continue the frames of --input with an exported forecaster."""
    import numpy as np

    from zoo.runtime import MAX_SCALE, OnnxGenerator, display_scale, enlarge, is_folder_target, read_frames, save_each, save_gif, save_grid, save_npz

    check_range("--scale", scale, 1, MAX_SCALE)

    generator = OnnxGenerator(file, device=device)
    from zoo.threads import describe

    where = printable(f"{generator.metadata.get('model')} {generator.metadata.get('graph')}, {generator.provider}, {describe(generator.threads)}")
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
        save_gif((np.clip(enlarge(continued, display_scale(size, scale)), 0, 1) * 255 + 0.5).astype(np.uint8), out)
        click.echo(f"{given} frames of {input_path} continued by {predicted.shape[1]} from {file} ({where}) -> {out}", err=True)
        click.echo(out)
        return
    if input_path is not None:
        raise UsageError(f"--input gives frames to continue, for forecaster graphs; {file} draws from its inputs' distribution")
    out = "generated.png" if out is None else out
    check_range("-n", n, 1, 4096)
    check_range("--seed", seed, 0, SEED_MAX)
    kind = "folder" if is_folder_target(out) else "npz" if out.lower().endswith(".npz") else "picture"
    if kind == "picture" and not out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, a folder DIR/ or a .npz file, got {out!r}")
    images = generator.generate(n, seed=seed, label=label)
    value_range = tuple(generator.metadata.get("value_range", (0.0, 1.0)))
    if kind == "folder":
        files = save_each(images, out.rstrip("/\\"), value_range=value_range, scale=scale or 1)
        click.echo(f"{n} images from {file} ({where}) -> {len(files)} PNGs in {out}", err=True)
    elif kind == "npz":
        save_npz(images, out, value_range=value_range, labels=None if label is None else np.full(n, label))
        click.echo(f"{n} images from {file} ({where}) -> {out}: images uint8 {(n, *images.shape[2:], images.shape[1])}", err=True)
    else:
        tile_scale = display_scale(images.shape[-2], scale)
        save_grid(images, out, value_range=value_range, scale=tile_scale)
        click.echo(f"{n} images from {file} ({where}) -> {out} (each image {tile_scale}x)", err=True)
    click.echo(out)


COMMANDS = [export_command, generate_command]
