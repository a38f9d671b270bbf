"""``zoo sample``: images from a run as a grid, a stepped model's drawing, or a sequence model's forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.cli.options import device_option, label_option, run_option, runs_dir_option, threads_option
from zoo.config import SEED_MAX, check_range
from zoo.errors import UsageError

MAX_SAMPLES = 4096
"""The most images one grid (or drawing) holds: 64 x 64 tiles; more are a run of `zoo sample`s."""


@click.command("sample")
@click.argument("name")
@run_option
@click.option("-n", "n", type=int, default=None, help="Number of images [default: 64], or of sequences to continue for sequence models [default: 4].")
@click.option("--seed", type=int, default=None, help="Seed for the latents, or for which test sequences to continue [default: random].")
@label_option
@click.option(
    "--out",
    default=None,
    help="A .png grid; DIR/ for one PNG per image; a .npz of uint8 (N, H, W, C) images for FID tools; a .gif with --animate "
    "or for sequence models [default: samples.png, samples.gif].",
)
@click.option("--nrow", type=int, default=None, help="Images per row [default: square grid].")
@click.option("--scale", type=int, default=None, help="Enlarge each image K times (nearest neighbour) [default: grids and GIFs to at least 112 pixels a tile; DIR/ 1; never a .npz].")
@click.option("--animate", is_flag=True, help="Models that draw step by step (draw): a GIF of every step, and a PNG strip beside it.")
@click.option("--input", "input_path", type=click.Path(), default=None, help="Sequence models (convlstm): a GIF or a folder of frames to continue [default: sequences from the test split].")
@device_option
@threads_option
@runs_dir_option
def sample_command(
    name: str, run: str, n: int | None, seed: int | None, label: str | None, out: str | None, nrow: int | None, scale: int | None,
    animate: bool, input_path: str | None, device: str, runs_dir: str | None,
) -> None:
    """Draw N images from a trained model into a PNG grid, a folder of PNGs or a .npz (or, with
    --animate, a GIF of the drawing); a sequence model continues N sequences into a GIF, truth on
    the left, forecast on the right."""
    import numpy as np

    from zoo import runs
    from zoo.device import pick_device
    from zoo.models import get_model
    from zoo.images import save_grid
    from zoo.runtime import MAX_SCALE, display_scale, is_folder_target, save_each, save_npz

    plugin = get_model(name)  # an unknown or broken model is the first thing to report
    sequences = plugin.data_kind == "sequences"
    if input_path is not None and not sequences:
        raise UsageError(f"--input gives frames to continue, for sequence models such as convlstm; {name} draws from noise")
    if input_path is not None and n is not None:
        raise UsageError("--input continues the one sequence it holds; drop -n")
    n = n if n is not None else (4 if sequences else 64)
    check_range("-n", n, 1, MAX_SAMPLES)
    check_range("--nrow", nrow, 1, MAX_SAMPLES)
    check_range("--seed", seed, 0, SEED_MAX)
    check_range("--scale", scale, 1, MAX_SCALE)
    animated = animate or sequences
    out = ("samples.gif" if animated else "samples.png") if out is None else out
    kind = "folder" if is_folder_target(out) else "npz" if out.lower().endswith(".npz") else "picture"
    suffix = ".gif" if animated else ".png"
    if animated and kind != "picture":
        why = "a sequence model's forecasts" if sequences else "--animate"
        raise UsageError(f"{why} are written as a .gif; --out DIR/ and .npz take images drawn from noise")
    if kind == "picture" and not out.lower().endswith(suffix):
        why = " for a sequence model" if sequences else (" with --animate" if animate else "")
        raise UsageError(f"--out must name a {suffix} file{why}, a folder DIR/ or a .npz file, got {out!r}")
    run_dir = runs.find(name, run, runs_dir)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=name)
    label = loaded.record.dataset.label(label)
    tile_scale = display_scale(loaded.model.data.height, scale)
    if sequences:
        _continue_sequences(loaded, n, seed, input_path, Path(out), tile_scale)
        click.echo(out)
        return
    if animate:
        _animate(name, loaded, n, seed, label, Path(out), nrow, tile_scale)
        click.echo(out)
        return
    images = loaded.sample(n, seed=seed, label=label)
    where = f"{n} samples from {run_dir} (step {loaded.step})"
    if kind == "folder":
        files = save_each(images.numpy(), out.rstrip("/\\"), scale=scale or 1)
        click.echo(f"{where} -> {len(files)} PNGs in {out} ({files[0].name} to {files[-1].name})", err=True)
    elif kind == "npz":
        labels = None if label is None else np.full(n, label)
        save_npz(images.numpy(), out, labels=labels)
        click.echo(f"{where} -> {out}: images uint8 {(n, *images.shape[2:], images.shape[1])}" + (", labels" if labels is not None else ""), err=True)
    else:
        save_grid(images, Path(out), nrow=nrow, scale=tile_scale)
        click.echo(f"{where} -> {out} (each image {tile_scale}x)", err=True)
    click.echo(out)


def _animate(name: str, loaded: Any, n: int, seed: int | None, label: int | None, gif: Path, nrow: int | None, scale: int) -> None:
    """A stepped model's drawing: a GIF with a grid of the n images per step, and a PNG strip
    beside it with one row per image, its steps left to right."""
    import torch

    from zoo.contract import SteppedModel
    from zoo.images import save_animation, save_grid, tile

    if not isinstance(loaded.model, SteppedModel):
        raise UsageError(f"{name} draws each image in one step: --animate needs a model that draws step by step, such as draw")
    steps = loaded.model.sample_steps(n, seed=seed, label=label)  # (T, n, C, H, W)
    save_animation(torch.stack([tile(frame, nrow) for frame in steps]), gif, progress=True, scale=scale)
    strip = save_grid(steps.transpose(0, 1).flatten(0, 1), gif.with_suffix(".png"), nrow=len(steps), scale=scale)
    click.echo(f"{n} samples drawn in {len(steps)} steps from {loaded.path} (step {loaded.step}) -> {gif} and {strip}", err=True)


def _continue_sequences(loaded: Any, n: int, seed: int | None, input_path: str | None, gif: Path, scale: int) -> None:
    """A sequence model's forecasts as a GIF (truth and forecast side by side when the truth is
    known) and a PNG strip beside it, one row per sequence."""
    import torch

    from zoo import sequences
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
        animation, per_row = sequences.side_by_side(truth, prediction), 2
        rows = sequences.strip(truth, prediction)
        layout = "truth left, forecast right"
    else:
        continued = torch.cat([context, prediction], dim=1)
        animation, per_row, rows = continued.transpose(0, 1), 1, continued.flatten(0, 1)
        layout = f"the input has fewer than {model.context_frames + model.horizon} frames, so no truth to show beside it"
    save_animation(torch.stack([tile(frame, per_row) for frame in animation]), gif, progress=True, scale=scale)
    strip = save_grid(rows, gif.with_suffix(".png"), nrow=animation.shape[0], scale=scale)
    click.echo(
        f"{len(context)} sequence{'s' if len(context) > 1 else ''} from {source} continued by {loaded.path} (step {loaded.step}): "
        f"{model.context_frames} frames given, {model.horizon} predicted; {layout} -> {gif} and {strip}",
        err=True,
    )


COMMANDS = [sample_command]
