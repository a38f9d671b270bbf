"""``zoo data``: datasets written once into shards that training streams (``zoo data prepare``)."""

from __future__ import annotations

import click

from zoo.cli.options import skip_bad_images_option, threads_option


@click.group("data")
def data_group() -> None:
    """Prepare datasets for training at scale (see zoo.datasets.prepared)."""


@data_group.command("prepare")
@click.argument("source")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New folder to write the shards and manifest into.")
@threads_option
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding SOURCE's files (mnist, cifar10, ...).")
@click.option("--download", is_flag=True, help="Download SOURCE into --data-dir if it is missing.")
@click.option("--image-size", type=int, default=None, help="Side length to store images at [default: the source's].")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Store 1 or 3 channels [default: the source's].")
@skip_bad_images_option
def prepare_command(source: str, out: str, data_dir: str | None, download: bool, image_size: int | None, channels: str | None, skip_bad_images: bool) -> None:
    """Write every split of dataset SOURCE (folder:PATH, mnist, ...) into litdata shards under
    --out, with a manifest of counts, class names and sha256; train on it as prepared:OUT."""
    import time

    from zoo.datasets.prepared import prepare

    started = time.perf_counter()

    def done(split: str, count: int, note: str) -> None:
        click.echo(f"{split}: {count:,} images" + (f" ({note})" if note else ""), err=True)

    manifest = prepare(
        source, out, data_dir=data_dir, image_size=image_size, channels=int(channels) if channels else None,
        skip_bad_images=skip_bad_images, download=download, on_split=done,
    )
    total = sum(entry["bytes"] for entry in manifest.files.values())
    classes = f", {manifest.num_classes} classes" if manifest.num_classes else ""
    click.echo(
        f"prepared {manifest.source} at {manifest.image_size} x {manifest.image_size} x {manifest.channels}{classes}: "
        f"{len(manifest.files)} files, {total / 2**20:,.1f} MB in {time.perf_counter() - started:.1f} s; train with --dataset prepared:{out}",
        err=True,
    )
    click.echo(out)


COMMANDS = [data_group]
