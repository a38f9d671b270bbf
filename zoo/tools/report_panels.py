"""The report's model panels: what a model can show beyond its samples, chosen by capability.

A panel is picked by the protocol the model implements (:mod:`zoo.contract`), never by its
name, so a third-party plugin that implements one gets the panel too:

:class:`~zoo.contract.LatentModel`
    reconstructions of real test images, an interpolation between two, latent traversals
    (the functions ``zoo reconstruct|interpolate|traverse`` use, :mod:`zoo.tools.latent`);
:class:`~zoo.contract.SteppedModel`
    the canvas over the T steps, as an animated GIF and as a strip;
:class:`~zoo.contract.SequenceModel`
    test sequences continued by the model, truth beside forecast, as an animated GIF.

A panel is pictures and a one-line note; :mod:`zoo.tools.report` lays them out. A panel that
needs real images and has none (the dataset cannot be loaded) says so in its note instead.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zoo.contract import LatentModel, Model, SequenceModel, SteppedModel

if TYPE_CHECKING:
    from zoo.datasets.source import ImageSet, SequenceSet

SEED = 0
"""Noise seed of every panel drawn from the prior, so a page is the same each time it is made."""
RECONSTRUCTIONS = 32
"""Test images shown beside their reconstructions: 8 pairs a row."""
INTERPOLATIONS = 4
"""Rows of the interpolation panel, each between two test images."""
INTERPOLATION_STEPS = 10
TRAVERSAL_DIMS = 8
TRAVERSAL_STEPS = 9
TRAVERSAL_SPAN = 3.0
KL_IMAGES = 512
"""Test images over which the traversal ranks the latent dimensions by their KL (as ``zoo traverse``)."""
DRAWN_IMAGES = 16
"""Images in the animation of a stepped model (a 4 x 4 grid per step)."""
STRIP_IMAGES = 4
"""Rows of a stepped model's strip, each one image's canvas after every step."""
FORECAST_SEQUENCES = 4
"""Test sequences continued by a sequence model, in the page's top grid and its animation."""


@dataclasses.dataclass(frozen=True)
class Picture:
    data: bytes
    mime: str
    """``image/png`` or ``image/gif``."""
    alt: str
    display_scale: int = 1
    """How many times larger the page shows it (pixelated); a GIF comes enlarged already."""


@dataclasses.dataclass(frozen=True)
class Panel:
    id: str
    """The section's HTML id, so a link (or a test) can find it."""
    title: str
    note: str
    """One line: what the picture shows, or why there is none."""
    picture: Picture | None


def model_panels(
    model: Model, data: "ImageSet | SequenceSet | None", missing: str, conditional: bool, step: int
) -> list[Panel]:
    """Every panel ``model``'s capabilities call for. ``data`` is the run's test split, or None
    with ``missing`` saying why; ``conditional``: the model takes class labels."""
    panels: list[Panel] = []
    if isinstance(model, LatentModel):
        panels += latent_panels(model, data if data is not None and data.spec.kind == "images" else None, missing, conditional)
    if isinstance(model, SteppedModel):
        panels += stepped_panels(model)
    if isinstance(model, SequenceModel):
        panels += sequence_panels(model, data, missing, step)
    return panels


# -- pictures ----------------------------------------------------------------------------------


def grid_png(images: torch.Tensor, nrow: int) -> bytes:
    """Images in [0, 1] as one PNG grid, laid out as :func:`zoo.images.save_grid` lays it (padding 2)."""
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    save_image(images, buffer, nrow=nrow, padding=2, format="png")
    return buffer.getvalue()


def gif_bytes(frames: torch.Tensor, tile_side: int) -> bytes:
    """``(T, C, H, W)`` frames as the GIF :func:`zoo.images.save_animation` writes (with its
    progress bar), read back: one implementation of the animation for files and pages. Tiles of
    ``tile_side`` pixels are enlarged as ``zoo sample --animate`` enlarges them."""
    from zoo.images import save_animation
    from zoo.runtime import display_scale

    with tempfile.TemporaryDirectory(prefix="zoo-report-") as folder:
        gif = save_animation(frames, Path(folder) / "animation.gif", progress=True, scale=display_scale(tile_side))
        return gif.read_bytes()


def panel_scale(width_px: int, budget_px: int = 960, most: int = 4) -> int:
    """The integer enlargement that shows a picture ``width_px`` wide within ``budget_px``."""
    return max(1, min(most, budget_px // max(1, width_px)))


def png_picture(images: torch.Tensor, nrow: int, alt: str) -> Picture:
    png = grid_png(images, nrow)
    width = nrow * (images.shape[-1] + 2) + 2
    return Picture(png, "image/png", alt, panel_scale(width))


# -- latent models -----------------------------------------------------------------------------


def latent_panels(model: LatentModel, data: "ImageSet | None", missing: str, conditional: bool) -> list[Panel]:
    from zoo.tools.latent import interpolate, kl_per_dimension, reconstruct, reconstruction_error, side_by_side, traverse

    panels = []
    batch = None if data is None else data.batch(torch.arange(min(len(data), KL_IMAGES)))
    labels = None if batch is None or not conditional else batch.labels
    # one class for a row that decodes many latents: the first test image's, else class 0
    label = None if not conditional else (int(labels[0]) if labels is not None else 0)
    of_label = "" if label is None else f", all decoded as class {label}"

    if batch is None:
        panels.append(Panel("reconstructions", "Reconstructions", f"none: they need real test images, and {missing}", None))
    else:
        originals = batch.images[:RECONSTRUCTIONS]
        recon = reconstruct(model, originals, None if labels is None else labels[: len(originals)])
        pairs = min(len(originals), 8)
        panels.append(
            Panel(
                "reconstructions",
                "Reconstructions",
                f"{len(originals)} {data.name} test images, each followed by its reconstruction from the posterior mean: "
                f"{reconstruction_error(originals, recon)}",
                png_picture(side_by_side(originals, recon), 2 * pairs, "reconstructions"),
            )
        )

    ends_needed = 2 * INTERPOLATIONS
    if batch is not None and len(batch.images) >= ends_needed:
        ends = model.encode(batch.images[:ends_needed], None if labels is None else labels[:ends_needed])[0]
        where = f"the posterior means of two {data.name} test images"
    else:
        # without real images to encode, walk between draws from the prior: the panel still shows the decoder
        ends = torch.randn(ends_needed, model.latent_dim, generator=torch.Generator().manual_seed(SEED))
        why = missing if batch is None else f"the test split has fewer than {ends_needed} images"
        where = f"two latents drawn from the prior (seed {SEED}), since {why}"
    rows = [interpolate(model, ends[2 * i], ends[2 * i + 1], INTERPOLATION_STEPS, "lerp", label) for i in range(INTERPOLATIONS)]
    panels.append(
        Panel(
            "interpolation",
            "Interpolation",
            f"each row walks the latent space in a straight line, {INTERPOLATION_STEPS} steps, between {where}{of_label}",
            png_picture(torch.cat(rows), INTERPOLATION_STEPS, "interpolation"),
        )
    )

    dims = min(TRAVERSAL_DIMS, model.latent_dim)
    if batch is not None:
        kl = kl_per_dimension(model, batch.images, labels)
        order = torch.argsort(kl, descending=True)[:dims].tolist()
        ranking = f"ranked by their mean KL over {len(batch.images)} test images: " + ", ".join(f"z{d} {kl[d]:.2f}" for d in order)
    else:
        order = list(range(dims))
        ranking = f"in index order (ranking them by KL needs real images, and {missing})"
    grid = traverse(model, torch.zeros(model.latent_dim), order, TRAVERSAL_SPAN, TRAVERSAL_STEPS, label)
    panels.append(
        Panel(
            "traversal",
            "Latent traversals",
            f"from z = 0, one row per latent dimension swept over [-{TRAVERSAL_SPAN:g}, {TRAVERSAL_SPAN:g}]{of_label}; rows {ranking}",
            png_picture(grid, TRAVERSAL_STEPS, "latent traversals"),
        )
    )
    return panels


# -- stepped models ----------------------------------------------------------------------------


def stepped_panels(model: SteppedModel) -> list[Panel]:
    from zoo.images import tile

    steps = model.sample_steps(DRAWN_IMAGES, seed=SEED)  # (T, n, C, H, W)
    t = len(steps)
    animation = gif_bytes(torch.stack([tile(frame) for frame in steps]), model.data.height)
    strip = steps[:, :STRIP_IMAGES].transpose(0, 1).flatten(0, 1)
    return [
        Panel(
            "drawing",
            "Drawing over the steps",
            f"the canvas of {DRAWN_IMAGES} samples (seed {SEED}) after each of the model's {t} steps, "
            "as an animation; the bar under it fills as the steps go by",
            Picture(animation, "image/gif", "the canvas over the steps"),
        ),
        Panel(
            "canvas-steps",
            "Canvas step by step",
            f"the first {STRIP_IMAGES} of those samples, one per row, their canvas after steps 1 to {t} from left to right",
            png_picture(strip, t, "the canvas after each step"),
        ),
    ]


# -- sequence models ---------------------------------------------------------------------------


def sequence_panels(model: SequenceModel, data: "SequenceSet | None", missing: str, step: int) -> list[Panel]:
    from zoo import sequences
    from zoo.images import tile

    if data is None:
        return [Panel("forecasts", "Forecasts", f"none: they continue real test sequences, and {missing}", None)]
    frames = forecast_inputs(data)
    prediction = model.predict(frames[:, : model.context_frames])
    animation = torch.stack([tile(frame, 2) for frame in sequences.side_by_side(frames, prediction)])
    return [
        Panel(
            "forecasts",
            "Forecasts",
            f"the first {len(frames)} {data.name} test sequences, truth left, forecast right: the checkpoint at step {step} "
            f"is given {model.context_frames} frames and predicts the {prediction.shape[1]} after them",
            Picture(gif_bytes(animation, model.data.height), "image/gif", "forecasts beside the truth"),
        )
    ]


def forecast_inputs(data: "SequenceSet") -> torch.Tensor:
    """The test sequences every forecast of the page continues: the first :data:`FORECAST_SEQUENCES`."""
    return data.batch(torch.arange(min(FORECAST_SEQUENCES, len(data)))).images
