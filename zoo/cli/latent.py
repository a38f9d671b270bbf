"""The latent-space verbs of models with an encoder (vae, beta-vae, cvae, vaegan): reconstruct,
interpolate, traverse, encode, decode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.cli.options import device_option, input_option, label_option, run_option, runs_dir_option, threads_option
from zoo.errors import UsageError, ZooError



def _latent_run(name: str, run: str, runs_dir: str | None, device: str) -> Any:
    """The newest checkpoint of a run of ``name``, whose model must have an encoder."""
    from zoo import runs
    from zoo.device import pick_device
    from zoo.tools.latent import require_latent
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


@click.command("reconstruct")
@click.argument("name")
@run_option
@input_option
@label_option
@click.option("--out", default="reconstructions.png", show_default=True, help="PNG grid: each original, then its reconstruction.")
@device_option
@threads_option
@runs_dir_option
def reconstruct_command(name: str, run: str, input_path: str, label: str | None, out: str, device: str, runs_dir: str | None) -> None:
    """Encode images and decode them again, side by side with the originals."""
    from zoo.images import save_grid
    from zoo.tools.latent import reconstruct, reconstruction_error, side_by_side

    out_path = _png_out(out)
    loaded = _latent_run(name, run, runs_dir, device)
    label = loaded.record.dataset.label(label)
    images, paths = _inputs(input_path, loaded)
    recon = reconstruct(loaded.model, images, label)
    save_grid(side_by_side(images, recon), out_path, nrow=2 * min(len(images), 8))
    click.echo(f"{len(images)} image(s) from {input_path}: reconstruction {reconstruction_error(images, recon)}", err=True)
    click.echo(f"originals left, reconstructions right -> {out}", err=True)
    click.echo(out)


@click.command("interpolate")
@click.argument("name")
@run_option
@click.option("--input", "inputs", multiple=True, type=click.Path(), help="End points: image files or folders, in order (repeatable).")
@click.option("--seeds", default=None, help="End points drawn from the prior, e.g. 1,2 (after any --input images).")
@click.option("--steps", type=int, default=10, show_default=True, help="Images per segment, end points included.")
@click.option("--method", type=click.Choice(["lerp", "slerp"]), default="lerp", show_default=True, help="Straight line, or great circle.")
@label_option
@click.option("--out", default="interpolation.png", show_default=True, help="PNG strip (one row per segment); a GIF is written beside it.")
@device_option
@threads_option
@runs_dir_option
def interpolate_command(name: str, run: str, inputs: tuple[str, ...], seeds: str | None, steps: int, method: str, label: str | None, out: str, device: str, runs_dir: str | None) -> None:
    """Walk the latent space between images or seeds: a PNG strip and an animated GIF."""
    import torch

    from zoo.images import save_animation, save_grid
    from zoo.tools.latent import interpolate

    out_path = _png_out(out)
    loaded = _latent_run(name, run, runs_dir, device)
    label = loaded.record.dataset.label(label)
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


@click.command("traverse")
@click.argument("name")
@run_option
@click.option("--input", "input_path", type=click.Path(), default=None, help="Start from this image's latent (the first, for a folder) and rank dimensions by the inputs' KL [default: z = 0, KL over the run's test images].")
@click.option("--dims", type=int, default=10, show_default=True, help="Rows: this many dimensions, highest KL first.")
@click.option("--span", type=float, default=3.0, show_default=True, help="Each row sweeps its coordinate over [-span, span].")
@click.option("--steps", type=int, default=9, show_default=True, help="Images per row.")
@label_option
@click.option("--out", default="traversal.png", show_default=True, help="PNG grid, one row per latent dimension.")
@device_option
@threads_option
@runs_dir_option
def traverse_command(name: str, run: str, input_path: str | None, dims: int, span: float, steps: int, label: str | None, out: str, device: str, runs_dir: str | None) -> None:
    """Latent traversals: one row per dimension, sorted by KL, to see what each one encodes."""
    import torch

    from zoo.images import save_grid
    from zoo.tools.latent import kl_per_dimension, traverse
    from zoo.models import get_model

    out_path = _png_out(out)
    if dims < 1:
        raise UsageError(f"--dims must be at least 1, got {dims}")
    loaded = _latent_run(name, run, runs_dir, device)
    label = loaded.record.dataset.label(label)
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


@click.command("encode")
@click.argument("name")
@run_option
@input_option
@label_option
@click.option("--out", default="latents.safetensors", show_default=True, help="Latent file (safetensors) to write.")
@device_option
@threads_option
@runs_dir_option
def encode_command(name: str, run: str, input_path: str, label: str | None, out: str, device: str, runs_dir: str | None) -> None:
    """Compress images to a latent file: float16 posterior means, with size ratio and error."""
    import torch

    from zoo.tools.latent import LATENT_DTYPE, LatentFile, reconstruction_error, save_latents

    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise UsageError(f"--out must end in .safetensors, got {out!r}")
    loaded = _latent_run(name, run, runs_dir, device)
    label = loaded.record.dataset.label(label)
    images, paths = _inputs(input_path, loaded)
    root = Path(input_path) if Path(input_path).is_dir() else Path(input_path).parent
    means = loaded.model.encode(images, label)[0].to(LATENT_DTYPE)
    labels = None if label is None else torch.full((len(images),), label)
    encoded = LatentFile(
        latents=means,
        labels=labels,
        model=name,
        run=str(loaded.path.resolve()),
        step=loaded.step,
        checkpoint_sha256=loaded.weights_sha256,
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


@click.command("decode")
@click.argument("latents", type=click.Path(dir_okay=False))
@click.option("--run", "run", default=None, help="Run to decode with [default: the one recorded in the file].")
@click.option("--out", default="decoded.png", show_default=True, help="A .png grid, or a folder for one PNG per image.")
@device_option
@threads_option
def decode_command(latents: str, run: str | None, out: str, device: str) -> None:
    """Decode a latent file written by zoo encode back into images."""
    from zoo import runs
    from zoo.datasets.folder import EXTENSIONS
    from zoo.device import pick_device
    from zoo.images import save_grid
    from zoo.tools.latent import load_latents

    out_path = Path(out)
    if out_path.suffix.lower() in EXTENSIONS and out_path.suffix.lower() != ".png":
        raise UsageError(f"--out must be a .png grid or a folder, got {out!r}")
    encoded = load_latents(Path(latents))
    run_dir = Path(run or encoded.run)
    loaded = runs.load(run_dir, device=pick_device(device), model_name=encoded.model)
    if loaded.weights_sha256 != encoded.checkpoint_sha256:
        raise ZooError(
            f"{latents} was encoded by another checkpoint of {encoded.model} (step {encoded.step}) than {run_dir} now holds "
            f"(step {loaded.step}); decode with the same weights, or encode again"
        )
    if encoded.latents.shape[1] != loaded.model.latent_dim:
        raise UsageError(f"{latents} holds latents of width {encoded.latents.shape[1]}, but {run_dir} decodes {loaded.model.latent_dim}")
    images = loaded.model.decode(encoded.latents, encoded.labels)
    if out_path.suffix.lower() == ".png":
        save_grid(images, out_path)
    else:
        # the inputs' relative paths, as PNGs; 3.png and 3.jpg keep their suffix to stay apart.
        # Every name is checked before anything is written: a file's names never leave --out.
        from zoo.safe_paths import inside

        for name in encoded.names:
            inside(out_path, name, latents)
        names = [str(Path(name).with_suffix(".png")) for name in encoded.names]
        if len(set(names)) < len(names):
            names = [f"{name}.png" for name in encoded.names]
        targets = [inside(out_path, name, latents) for name in names]
        for image, target in zip(images, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            save_grid(image[None], target, nrow=1)
    click.echo(f"decoded {len(images)} image(s) from {latents} with {run_dir} (step {loaded.step}) -> {out}", err=True)
    click.echo(out)


COMMANDS = [reconstruct_command, interpolate_command, traverse_command, encode_command, decode_command]
