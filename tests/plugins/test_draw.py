"""DRAW: the Gaussian filterbank, read and write, the ELBO, the drawing steps and `zoo sample --animate`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageSequence

from support import assert_one_line_error
from zoo import DataSpec, get_model
from zoo.contract import Batch, LikelihoodModel, SteppedModel
from zoo.images import PROGRESS_BAR_HEIGHT
from zoo.plugins.draw.model import filterbank

TINY = {"steps": 6, "encoder_hidden": 32, "decoder_hidden": 32, "latent_dim": 8, "read_n": 2, "write_n": 3}
TINY_SET = [a for key, value in TINY.items() for a in ("--set", f"{key}={value}")]
SPEC = DataSpec(1, 16, 16, num_classes=10)


def build(spec: DataSpec = SPEC, **overrides):
    plugin = get_model("draw")
    torch.manual_seed(0)
    return plugin.build(plugin.Config(**{**TINY, **overrides}), spec)


def digits_batch(n: int = 16) -> Batch:
    from zoo.datasets import load_dataset

    return load_dataset("digits", image_size=16).batch(torch.arange(n))


def blob_image() -> torch.Tensor:
    """A black 16x16 image with a white 3x3 square centred on row 4, column 12 (1-based pixels)."""
    image = torch.zeros(1, 1, 16, 16)
    image[0, 0, 2:5, 10:13] = 1.0
    return image


def aim(attention: torch.nn.Module, row: float, col: float, var: float = 0.5, delta: float = 1.0) -> None:
    """Point an attention head at a fixed window whatever the decoder state (inverting eqs. 22-24)."""
    n, h, w = attention.n, attention.height, attention.width
    delta_tilde = delta * max(n - 1, 1) / (max(h, w) - 1)
    with torch.no_grad():
        attention.linear.weight.zero_()
        attention.linear.bias.copy_(
            torch.tensor([2 * col / (w + 1) - 1, 2 * row / (h + 1) - 1, math.log(var), math.log(delta_tilde), 0.0])
        )


def test_filterbank_rows_are_normalised_gaussians_around_the_grid_points():
    b, n = 5, 3
    g_x, g_y = torch.tensor([1.0, 6.0, 8.5, 12.0, 30.0]), torch.tensor([8.5, 2.0, 8.5, 16.0, -5.0])
    var, delta = torch.tensor([0.3, 1.0, 4.0, 0.01, 2.0]), torch.tensor([1.0, 2.0, 7.5, 0.5, 3.0])
    f_y, f_x = filterbank(g_x, g_y, var, delta, n, size=(16, 12))
    assert f_y.shape == (b, n, 16) and f_x.shape == (b, n, 12)
    # every row sums to one, also for a grid centred outside the image (the last one)
    assert torch.allclose(f_y.sum(-1), torch.ones(b, n), atol=1e-5) and torch.allclose(f_x.sum(-1), torch.ones(b, n), atol=1e-5)
    # the middle filter (i = 2 of 3) peaks at the centre g; the others one stride either side
    pixels = torch.arange(1, 13, dtype=torch.float32)
    assert (f_x[1] * pixels).sum(-1).tolist() == pytest.approx([4.0, 6.0, 8.0], abs=1e-2)


def test_a_glimpse_centred_on_a_bright_blob_sees_it():
    model = build()
    reader = model.network.reader
    image, h_dec = blob_image(), torch.zeros(1, TINY["decoder_hidden"])
    aim(reader.attention, row=4, col=12)
    on_blob = reader(image, torch.zeros_like(image), h_dec)
    assert on_blob.shape == (1, 2 * TINY["read_n"] ** 2)
    assert on_blob[0, :4].min() > 0.5, "the 2x2 glimpse of the image sees the blob"
    assert on_blob[0, 4:].abs().max() == 0, "the error image given is empty"
    aim(reader.attention, row=12, col=4)
    assert reader(image, torch.zeros_like(image), h_dec)[0, :4].max() < 1e-3, "a glimpse elsewhere sees nothing"


def test_write_paints_its_patch_where_the_attention_points():
    model = build()
    writer = model.network.writer
    aim(writer.attention, row=4, col=12)
    with torch.no_grad():
        writer.patch.weight.zero_()
        writer.patch.bias.fill_(1.0)
    update = writer(torch.zeros(1, TINY["decoder_hidden"]))[0, 0]
    assert update.shape == (16, 16)
    row, col = divmod(int(update.argmax()), 16)
    assert abs(row + 1 - 4) <= 1 and abs(col + 1 - 12) <= 1
    assert update[10:, :6].abs().max() < 1e-3, "nothing lands far from the window"


def test_before_training_the_windows_tile_the_image_and_writes_are_not_diluted():
    model = build()
    h_dec = torch.zeros(1, TINY["decoder_hidden"])  # the decoder state before the first step
    image = blob_image()  # nowhere near a corner pixel
    first = model.network.reader(image, torch.zeros_like(image), h_dec)[0, :4].view(2, 2)
    assert first[0, 1] > 0.05 and first[0, 1] == first.max(), "the top-right quarter of the glimpse sees the blob"
    writer = model.network.writer
    with torch.no_grad():
        writer.patch.weight.zero_()
        writer.patch.bias.fill_(1.0)
    update = writer(h_dec)[0, 0]
    assert 0.5 < update.max() < 3 and update.min() > 0.1, "a patch of ones adds about one, everywhere"


def test_without_attention_read_and_write_cover_the_whole_image():
    model = build(attention=False)
    network = model.network
    assert network.reader.attention is None and network.writer.attention is None
    x, x_hat = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    read = network.reader(x, x_hat, torch.zeros(2, TINY["decoder_hidden"]))
    assert torch.equal(read, torch.cat([x.flatten(1), x_hat.flatten(1)], dim=1))
    assert network.writer.patch.out_features == 16 * 16
    h_dec = torch.randn(2, TINY["decoder_hidden"])
    assert torch.equal(network.writer(h_dec), network.writer.patch(h_dec).view(2, 1, 16, 16))
    # with attention the encoder reads 2 x 2 x 2 numbers and the decoder writes a 3 x 3 patch
    assert build().network.reader.size == 8 and build().network.writer.patch.out_features == 9


def test_training_lowers_the_negative_elbo():
    model = build()
    batch = digits_batch(64)
    history = [model.train_step(batch, step) for step in range(1, 81)]
    assert set(history[0]) == {"loss", "neg_elbo", "recon", "kl", "grad_norm"}
    assert all(math.isfinite(h["neg_elbo"]) for h in history)
    assert history[0]["neg_elbo"] == pytest.approx(history[0]["recon"] + history[0]["kl"], rel=1e-5)
    first, last = history[0]["neg_elbo"], sum(h["neg_elbo"] for h in history[-5:]) / 5
    assert last < first - 30, f"negative ELBO {first:.1f} -> {last:.1f}"


def test_sample_steps_are_the_drawing_and_end_in_the_sample():
    model = build()
    assert isinstance(model, SteppedModel) and isinstance(model, LikelihoodModel)
    steps = model.sample_steps(3, seed=4)
    assert steps.shape == (TINY["steps"], 3, 1, 16, 16) and steps.dtype == torch.float32
    assert steps.min() >= 0 and steps.max() <= 1
    assert torch.equal(steps[-1], model.sample(3, seed=4))
    assert torch.equal(steps, model.sample_steps(3, seed=4))
    for before, after in zip(steps, steps[1:]):
        assert (after - before).abs().max() > 1e-3, "every step adds to the canvas"
    with pytest.raises(Exception, match="unconditional"):
        model.sample(2, seed=0, label=3)


def test_importance_weights_bound_the_likelihood_like_the_elbo():
    """Mean of log w is the ELBO: it matches reconstruction minus the per-step KLs; log-mean-exp is tighter."""
    model = build()
    batch = digits_batch(8)
    batch = Batch(torch.bernoulli(batch.images, generator=torch.Generator().manual_seed(0)), batch.labels)
    k = 1000
    torch.manual_seed(1)
    log_w = model.log_weights(batch, k)
    assert log_w.shape == (k, 8) and torch.isfinite(log_w).all()
    elbo = log_w.mean(0)
    assert (torch.logsumexp(log_w, 0) - math.log(k) >= elbo).all()
    from zoo import densities

    with torch.no_grad():
        repeated = batch.images.repeat(k, 1, 1, 1)
        logits, _, mean, logvar = model.network(repeated)
        recon = densities.bernoulli_log_prob(logits, repeated).view(k, 8).mean(0)
        kl = densities.kl_to_standard_normal(mean, logvar).sum(dim=(0, 2)).view(k, 8).mean(0)
    assert torch.allclose(elbo, recon - kl, atol=0.5)


@pytest.fixture(scope="module")
def draw_run(tmp_path_factory) -> Path:
    """`zoo train draw --steps 30` with a tiny config, once for the CLI tests below."""
    from zoo.cli import cli

    runs_dir = tmp_path_factory.mktemp("runs")
    args = ["train", "draw", "--steps", "30", "--batch-size", "32", "--no-progress", "--runs-dir", str(runs_dir), *TINY_SET]
    result = CliRunner().invoke(cli, args, obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip())


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        return [np.asarray(frame.convert("L"), dtype=np.int16) for frame in ImageSequence.Iterator(gif)]


def test_sample_animate_writes_a_gif_of_every_step_and_a_strip(draw_run, zoo_cli, tmp_path, monkeypatch):
    out = tmp_path / "x.gif"
    # --scale 1: the pixels as drawn (by default GIF and strip are enlarged 7 times, as every picture of 16 x 16 images)
    result = zoo_cli("sample", "draw", "--run", str(draw_run), "--animate", "--out", str(out), "-n", "4", "--seed", "0", "--scale", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    frames = gif_frames(out)
    assert len(frames) == TINY["steps"]
    pictures = [frame[:-PROGRESS_BAR_HEIGHT] for frame in frames]  # the grids, without the step bar
    assert all(np.abs(after - before).max() > 0 for before, after in zip(pictures, pictures[1:])), "each step changes the drawing"
    # the strip: one row per image, one column per step, 16-pixel tiles with 2 pixels of padding
    strip = Image.open(tmp_path / "x.png")
    assert strip.size == (TINY["steps"] * 18 + 2, 4 * 18 + 2)
    # the last frame is the sample `zoo sample` draws with the same seed
    zoo_cli("sample", "draw", "--run", str(draw_run), "--out", str(tmp_path / "plain.png"), "-n", "4", "--seed", "0", "--scale", "1")
    strip_last_column = np.asarray(strip.convert("L"))[2:18, -18:-2]
    plain_first = np.asarray(Image.open(tmp_path / "plain.png").convert("L"))[2:18, 2:18]
    assert np.array_equal(strip_last_column, plain_first)
    # without --out: samples.gif and the strip samples.png in the working directory
    monkeypatch.chdir(tmp_path)
    assert zoo_cli("sample", "draw", "--run", str(draw_run), "--animate", "-n", "2").stdout.strip() == "samples.gif"
    assert len(gif_frames(tmp_path / "samples.gif")) == TINY["steps"] and (tmp_path / "samples.png").is_file()
    refused = zoo_cli("sample", "draw", "--run", str(draw_run), "--animate", "--out", "x.png")
    assert_one_line_error(refused, 2, "--out must name a .gif file with --animate")


def test_a_step_that_changes_nothing_visible_still_gets_its_frame(tmp_path):
    """Pillow folds a frame identical to the previous one into it; the step bar keeps all T."""
    from zoo.images import save_animation

    still = torch.full((5, 1, 16, 16), 0.5)
    assert len(gif_frames(save_animation(still, tmp_path / "bar.gif", progress=True))) == 5
    assert len(gif_frames(save_animation(still, tmp_path / "plain.gif"))) == 1


def test_animate_needs_a_model_that_draws_in_steps(runs_dir, zoo_cli, tmp_path):
    tiny = ("--set", "generator_width=8", "--set", "discriminator_width=8", "--set", "latent_dim=16")
    assert zoo_cli("train", "dcgan", "--steps", "2", "--batch-size", "16", "--no-progress", *tiny).exit_code == 0
    result = zoo_cli("sample", "dcgan", "--animate", "--out", str(tmp_path / "x.gif"))
    assert_one_line_error(result, 2, "dcgan draws each image in one step")
    assert not (tmp_path / "x.gif").exists()


def test_evaluate_gives_the_negative_elbo(draw_run, zoo_cli):
    result = zoo_cli("evaluate", "draw", "--run", str(draw_run), "--metrics", "nll", "-k", "4", "--no-progress")
    assert result.exit_code == 0, result.stderr
    rows = {line.split("  ")[0]: line.split() for line in result.stdout.splitlines() if line.startswith(("negative ELBO", "IWAE"))}
    neg_elbo, iwae = float(rows["negative ELBO"][2]), float(rows["IWAE NLL (k=4)"][3])
    assert 0 < iwae <= neg_elbo < 16 * 16 * math.log(2), "better than a coin per pixel after 30 steps"
