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
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="PNG grid to write; a .gif with --animate or for sequence models [default: samples.png, samples.gif].")
@click.option("--nrow", type=int, default=None, help="Images per row [default: square grid].")
@click.option("--animate", is_flag=True, help="Models that draw step by step (draw): a GIF of every step, and a PNG strip beside it.")
@click.option("--input", "input_path", type=click.Path(), default=None, help="Sequence models (convlstm): a GIF or a folder of frames to continue [default: sequences from the test split].")
@device_option
@threads_option
@runs_dir_option
def sample_command(name: str, run: str, n: int | None, seed: int | None, label: str | None, out: str | None, nrow: int | None, animate: bool, input_path: str | None, device: str, runs_dir: str | None) -> None:
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
    check_range("-n", n, 1, MAX_SAMPLES)
    check_range("--nrow", nrow, 1, MAX_SAMPLES)
    check_range("--seed", seed, 0, SEED_MAX)
    animated = animate or sequences
    out = ("samples.gif" if animated else "samples.png") if out is None else out
    suffix = ".gif" if animated else ".png"
    if not out.lower().endswith(suffix):
        why = " for a sequence model" if sequences else (" with --animate" if animate else "")
        raise UsageError(f"--out must name a {suffix} file{why}, got {out!r}")
    run_dir = runs.find(name, run, runs_dir)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=name)
    label = loaded.record.dataset.label(label)
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
    save_animation(torch.stack([tile(frame, per_row) for frame in animation]), gif, progress=True)
    strip = save_grid(rows, gif.with_suffix(".png"), nrow=animation.shape[0])
    click.echo(
        f"{len(context)} sequence{'s' if len(context) > 1 else ''} from {source} continued by {loaded.path} (step {loaded.step}): "
        f"{model.context_frames} frames given, {model.horizon} predicted; {layout} -> {gif} and {strip}",
        err=True,
    )


COMMANDS = [sample_command]
