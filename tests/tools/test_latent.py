"""The latent-space verbs: ``zoo reconstruct|interpolate|traverse|encode|decode``.

One small ``vae`` (plus a ``cvae`` and a ``dcgan``) is trained once for the module through
the real trainer. Inputs are real PNG files written with Pillow from the digits test set: a
folder (with a nested, wrongly sized RGB image and a text file that must be ignored) and
single files. Outputs are read back from disk: grid sizes follow torchvision's make_grid
(padding 2), the GIF's frames, the safetensors latents, the decoded PNGs. Bad input must be
a one-line error with a non-zero exit code and no traceback.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from safetensors import safe_open

from support import assert_one_line_error
from zoo import runs
from zoo.datasets import load_dataset
from zoo.errors import UsageError
from zoo.tools.latent import interpolate, slerp
from zoo.training.trainer import ResumeRequest, TrainOptions, TrainRequest, resume, train

SIDE, PAD = 16, 2  # digits images are 16x16; save_grid pads by 2
LATENT_DIM = 8
VAE_STEPS = 150  # enough for the latents to matter (60 steps leave the posterior collapsed)
VAE_SET = ("width=16", "hidden=128", f"latent_dim={LATENT_DIM}", "lr=3e-3")
TINY_SET = ("width=8", "hidden=32", "latent_dim=4")
DIGITS = 8  # 16x16 PNGs in the input folder, plus one 40x30 RGB image in a subfolder


def options(steps: int) -> TrainOptions:
    return TrainOptions(steps=steps, batch_size=32, progress=False, sample_every=1000, checkpoint_every=1000)


def grid_size(tiles: int, nrow: int) -> tuple[int, int]:
    """(width, height) of torchvision's make_grid for ``tiles`` SIDE-pixel images."""
    cols = min(nrow, tiles)
    rows = -(-tiles // cols)
    return cols * (SIDE + PAD) + PAD, rows * (SIDE + PAD) + PAD


def tile(grid: np.ndarray, index: int, nrow: int) -> np.ndarray:
    row, col = divmod(index, nrow)
    y, x = PAD + row * (SIDE + PAD), PAD + col * (SIDE + PAD)
    return grid[y : y + SIDE, x : x + SIDE]


def grey(path: Path) -> np.ndarray:
    """A PNG's pixels as floats in [0, 1] (grids are written as RGB with equal channels)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float64) / 255


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are tiny: on a shared 2-core machine one thread is many times faster."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("latent-runs")


@pytest.fixture(scope="module")
def vae_run(runs_root) -> Path:
    result = train(TrainRequest("vae", dataset="digits", runs_dir=runs_root, overrides=VAE_SET, device="cpu", options=options(VAE_STEPS)))
    assert result.step == VAE_STEPS
    return result.run_dir


@pytest.fixture(scope="module")
def cvae_run(runs_root) -> Path:
    return train(TrainRequest("cvae", dataset="digits", runs_dir=runs_root, overrides=TINY_SET, device="cpu", options=options(20))).run_dir


@pytest.fixture(scope="module")
def dcgan_run(runs_root) -> Path:
    tiny = ("generator_width=8", "discriminator_width=8", "latent_dim=16")
    return train(TrainRequest("dcgan", dataset="digits", runs_dir=runs_root, overrides=tiny, device="cpu", options=options(5))).run_dir


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images = load_dataset("digits", split="test").images
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, SIDE, SIDE)
    return images[:, 0].numpy()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, digits) -> Path:
    """``d0.png`` .. ``d7.png`` (16x16 grey), ``more/wide.png`` (40x30 RGB) and an ignored README.txt."""
    folder = tmp_path_factory.mktemp("inputs")
    for i in range(DIGITS):
        Image.fromarray(digits[i], "L").save(folder / f"d{i}.png")
    wide = Image.new("RGB", (40, 30))
    wide.paste(Image.fromarray(digits[DIGITS], "L").resize((30, 30)).convert("RGB"), (5, 0))
    (folder / "more").mkdir()
    wide.save(folder / "more" / "wide.png")
    (folder / "README.txt").write_text("not an image, and not an image extension either")
    return folder


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "empty").mkdir()
    (root / "text-only").mkdir()
    (root / "text-only" / "notes.txt").write_text("no images here")
    (root / "fake").mkdir()
    Image.new("L", (SIDE, SIDE), 128).save(root / "fake" / "fine.png")
    (root / "fake" / "notes.png").write_text("a text file with an image's name")
    (root / "notes.txt").write_text("plain text")
    png = (root / "fake" / "fine.png").read_bytes()
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / "zero-bytes.png").write_bytes(b"")
    # a chunk of garbage (bad length, type and CRC) between the header and the pixels
    (root / "garbage-chunk.png").write_bytes(png[:33] + struct.pack(">I", 8) + b"zzZzgarbage!\0\0\0\0" + png[33:])
    idat = png.index(b"IDAT")
    length = struct.unpack(">I", png[idat - 4 : idat])[0]
    stream = bytearray(png)
    stream[idat + 6 : idat + 12] = b"\xff" * 6  # the pixels' deflate stream broken, its CRC made right again
    stream[idat + 4 + length : idat + 8 + length] = struct.pack(">I", zlib.crc32(bytes(stream[idat : idat + 4 + length])))
    (root / "broken-stream.png").write_bytes(bytes(stream))
    bomb = bytearray(png)
    bomb[16:24] = struct.pack(">II", 100_000, 100_000)  # a header announcing 10^10 pixels, with a valid CRC
    bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(bomb[12:29])))
    (root / "bomb.png").write_bytes(bytes(bomb))
    return {
        "missing": root / "absent",
        "empty-folder": root / "empty",
        "folder-without-images": root / "text-only",
        "text-named-png": root / "fake",
        "text-file": root / "notes.txt",
        "truncated-png": root / "truncated.png",
        "zero-byte-png": root / "zero-bytes.png",
        "garbage-chunk-png": root / "garbage-chunk.png",
        "broken-stream-png": root / "broken-stream.png",
        "decompression-bomb-png": root / "bomb.png",
    }


BAD_INPUT_MESSAGES = {
    "missing": ("does not exist",),
    "empty-folder": ("holds no images", ".png"),
    "folder-without-images": ("holds no images",),
    "text-named-png": ("cannot read image", "notes.png"),
    "text-file": ("cannot read image", "notes.txt"),
    "truncated-png": ("cannot read image", "truncated.png"),
    "zero-byte-png": ("cannot read image", "zero-bytes.png"),
    "garbage-chunk-png": ("cannot read image", "garbage-chunk.png"),
    "broken-stream-png": ("cannot read image", "broken-stream.png", "broken data stream"),
    "decompression-bomb-png": ("bomb.png", "pixels"),
}


# -- reconstruct -----------------------------------------------------------------------------


def test_reconstruct_a_folder(vae_run, runs_root, inputs, digits, zoo_cli, tmp_path):
    out = tmp_path / "recon.png"
    result = zoo_cli("reconstruct", "vae", "--input", str(inputs), "--out", str(out), "--runs-dir", str(runs_root))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    n = DIGITS + 1  # README.txt is skipped, more/wide.png is found
    assert f"note: resized 1 of {n} input image(s) to 16x16" in result.stderr
    assert f"{n} image(s)" in result.stderr and "MSE" in result.stderr and "PSNR" in result.stderr
    nrow = 2 * min(n, 8)
    with Image.open(out) as image:
        assert image.size == grid_size(2 * n, nrow) == (16 * 18 + 2, 2 * 18 + 2)
    grid = grey(out)
    # originals on the left of each pair, exactly the input pixels; reconstructions beside them
    for i in range(DIGITS):
        assert np.array_equal(np.round(tile(grid, 2 * i, nrow) * 255), digits[i])
    errors = [np.abs(tile(grid, 2 * i + 1, nrow) - digits[i] / 255).mean() for i in range(DIGITS)]
    assert max(errors) < 0.25, "a reconstruction should resemble its original"


def test_reconstruct_a_single_image(vae_run, inputs, zoo_cli, tmp_path):
    out = tmp_path / "one.png"
    result = zoo_cli("reconstruct", "vae", "--run", str(vae_run), "--input", str(inputs / "d3.png"), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "resized" not in result.stderr and "1 image(s)" in result.stderr
    with Image.open(out) as image:
        assert image.size == grid_size(2, 2) == (38, 20)

    wide = tmp_path / "wide.png"
    result = zoo_cli("reconstruct", "vae", "--run", str(vae_run), "--input", str(inputs / "more" / "wide.png"), "--out", str(wide))
    assert result.exit_code == 0, result.stderr
    assert "note: resized 1 of 1 input image(s) to 16x16" in result.stderr
    with Image.open(wide) as image:
        assert image.size == (38, 20)


def test_reconstruct_a_model_without_encoder(dcgan_run, runs_root, inputs, zoo_cli, tmp_path):
    for verb, out in (("reconstruct", "x.png"), ("encode", "x.safetensors")):
        result = zoo_cli(verb, "dcgan", "--input", str(inputs), "--runs-dir", str(runs_root), "--out", str(tmp_path / out))
        assert_one_line_error(result, 2, "dcgan has no encoder")
    assert not list(tmp_path.iterdir())


# -- interpolate -----------------------------------------------------------------------------


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        return [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolate_between_two_images(vae_run, inputs, zoo_cli, tmp_path, method):
    out = tmp_path / "path.png"
    steps = 6
    result = zoo_cli(
        "interpolate", "vae", "--run", str(vae_run), "--input", str(inputs / "d0.png"), "--input", str(inputs / "d1.png"),
        "--steps", str(steps), "--method", method, "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"2 end points, 1 segment(s) of {steps} ({method})" in result.stderr
    with Image.open(out) as image:
        assert image.size == grid_size(steps, steps)
    gif = out.with_suffix(".gif")
    with Image.open(gif) as animation:
        assert animation.n_frames == steps
        assert animation.size == (112, 112)  # 16x16 frames enlarged 7x
    frames = gif_frames(gif)
    assert len(frames) == steps
    for before, after in zip(frames, frames[1:]):
        assert not np.array_equal(before, after), "consecutive frames of the walk must differ"


def test_interpolate_images_and_seeds_make_one_row_per_segment(vae_run, inputs, zoo_cli, tmp_path):
    out = tmp_path / "walk.png"
    result = zoo_cli(
        "interpolate", "vae", "--run", str(vae_run), "--input", str(inputs / "d2.png"), "--seeds", "1,2",
        "--steps", "4", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "3 end points, 2 segment(s) of 4" in result.stderr
    with Image.open(out) as image:
        assert image.size == grid_size(8, 4)
    with Image.open(out.with_suffix(".gif")) as animation:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(animation)]
    # the second end point closes one row and opens the next: the GIF shows it once, for two frames
    assert len(durations) == 7 and sum(durations) == 8 * 100 and durations[3] == 200


def test_interpolate_needs_two_end_points(vae_run, inputs, zoo_cli, tmp_path):
    out = str(tmp_path / "x.png")
    one_image = zoo_cli("interpolate", "vae", "--run", str(vae_run), "--input", str(inputs / "d0.png"), "--out", out)
    assert_one_line_error(one_image, 2, "needs two end points")
    one_seed = zoo_cli("interpolate", "vae", "--run", str(vae_run), "--seeds", "7", "--out", out)
    assert_one_line_error(one_seed, 2, "needs two end points")
    bad_seeds = zoo_cli("interpolate", "vae", "--run", str(vae_run), "--seeds", "1,two", "--out", out)
    assert_one_line_error(bad_seeds, 2, "--seeds takes integers")
    assert not list(tmp_path.iterdir())


def test_interpolation_ends_are_the_decoded_end_points(vae_run, inputs):
    model = runs.load(vae_run).model
    start, end = torch.randn(2, LATENT_DIM, generator=torch.Generator().manual_seed(0))
    expected_start, expected_end = model.decode(start[None]), model.decode(end[None])
    for method in ("lerp", "slerp"):
        frames = interpolate(model, start, end, 5, method)
        assert frames.shape == (5, 1, SIDE, SIDE)
        torch.testing.assert_close(frames[0], expected_start[0])
        torch.testing.assert_close(frames[-1], expected_end[0])
        assert not torch.allclose(frames[1], frames[2]), f"{method} frames in between should move"
    with pytest.raises(UsageError, match="--steps must be at least 2"):
        interpolate(model, start, end, 1)
    with pytest.raises(UsageError, match="--method must be lerp or slerp"):
        interpolate(model, start, end, 3, "cubic")


def test_slerp_follows_the_great_circle():
    t = torch.linspace(0, 1, 7)
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    path = slerp(a, b, t)
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(path.norm(dim=1), torch.ones(7))  # a straight line would dip to 0.71
    torch.testing.assert_close(path[3], torch.tensor([0.5**0.5, 0.5**0.5, 0.0]))
    same = slerp(a * 2, a * 2, t)  # no angle: no division by sin(0)
    assert torch.isfinite(same).all()
    torch.testing.assert_close(same, (a * 2).expand(7, 3))


# -- traverse --------------------------------------------------------------------------------


def test_traverse_has_one_row_per_dimension(vae_run, runs_root, inputs, zoo_cli, tmp_path):
    out = tmp_path / "traverse.png"
    result = zoo_cli("traverse", "vae", "--dims", "3", "--steps", "5", "--out", str(out), "--runs-dir", str(runs_root))
    assert result.exit_code == 0, result.stderr
    assert "digits test images" in result.stderr and "3 rows x 5 values in [-3, 3]" in result.stderr
    with Image.open(out) as image:
        assert image.size == grid_size(3 * 5, 5) == (5 * 18 + 2, 3 * 18 + 2)
    grid = grey(out)
    row = [tile(grid, i, 5) for i in range(5)]
    assert not np.array_equal(row[0], row[-1]), "the top dimension, swept from -3 to 3, must change the image"

    from_image = tmp_path / "from-image.png"
    result = zoo_cli(
        "traverse", "vae", "--run", str(vae_run), "--input", str(inputs / "d4.png"), "--dims", "2", "--steps", "4",
        "--span", "2", "--out", str(from_image),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "the 1 input image(s)" in result.stderr
    with Image.open(from_image) as image:
        assert image.size == grid_size(2 * 4, 4)


@pytest.mark.battery("options")
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--dims", "0", "--dims must be at least 1"), ("--span", "0", "--span must be positive"), ("--steps", "1", "--steps must be at least 2")],
)
def test_traverse_rejects_bad_numbers(vae_run, zoo_cli, tmp_path, option, value, message):
    result = zoo_cli("traverse", "vae", "--run", str(vae_run), option, value, "--out", str(tmp_path / "t.png"))
    assert_one_line_error(result, 2, message)
    assert not list(tmp_path.iterdir())


# -- encode / decode -------------------------------------------------------------------------


def encode(zoo_cli, run: Path, source: Path, out: Path, *extra: str, model: str = "vae") -> None:
    result = zoo_cli("encode", model, "--run", str(run), "--input", str(source), "--out", str(out), *extra)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)


def test_encode_writes_float16_posterior_means(vae_run, inputs, zoo_cli, tmp_path):
    out = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs, out)
    with safe_open(str(out), framework="pt") as handle:
        assert set(handle.keys()) == {"latents"}  # no labels for an unconditional model
        latents = handle.get_tensor("latents")
        metadata = handle.metadata()
    assert latents.shape == (DIGITS + 1, LATENT_DIM) and latents.dtype == torch.float16
    assert metadata["zoo.model"] == "vae" and metadata["zoo.step"] == str(VAE_STEPS)
    assert metadata["zoo.run"] == str(vae_run.resolve())
    # paths relative to the input folder, so images in different subfolders keep apart
    assert json.loads(metadata["zoo.names"]) == [f"d{i}.png" for i in range(DIGITS)] + ["more/wide.png"]
    # they are the model's posterior means, to float16 precision
    images = torch.stack([torch.from_numpy(grey(inputs / f"d{i}.png")).float() for i in range(DIGITS)])[:, None]
    means, _ = runs.load(vae_run).model.encode(images)
    torch.testing.assert_close(latents[:DIGITS].float(), means, atol=2e-3, rtol=2e-3)
    assert len({tuple(row.tolist()) for row in latents}) == DIGITS + 1, "different images, different latents"

    single = tmp_path / "one.safetensors"
    encode(zoo_cli, vae_run, inputs / "d5.png", single)
    with safe_open(str(single), framework="pt") as handle:
        one = handle.get_tensor("latents")
    assert one.shape == (1, LATENT_DIM) and one.dtype == torch.float16
    assert torch.equal(one[0], latents[5])


def test_encode_then_decode_gives_the_reconstructions(vae_run, inputs, zoo_cli, tmp_path):
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs, codes)

    folder = tmp_path / "decoded"
    result = zoo_cli("decode", str(codes), "--out", str(folder))
    assert result.exit_code == 0, result.stderr
    assert f"decoded {DIGITS + 1} image(s)" in result.stderr and f"(step {VAE_STEPS})" in result.stderr
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert names == sorted([f"d{i}.png" for i in range(DIGITS)] + ["more/wide.png"])

    recon = tmp_path / "recon.png"
    result = zoo_cli("reconstruct", "vae", "--run", str(vae_run), "--input", str(inputs), "--out", str(recon))
    assert result.exit_code == 0, result.stderr
    grid = grey(recon)
    for i, name in enumerate([f"d{i}.png" for i in range(DIGITS)] + ["more/wide.png"]):
        decoded = grey(folder / name)
        assert decoded.shape == (SIDE, SIDE)
        assert np.abs(decoded - tile(grid, 2 * i + 1, 16)).max() < 0.02, name

    as_grid = tmp_path / "decoded.png"
    result = zoo_cli("decode", str(codes), "--out", str(as_grid))
    assert result.exit_code == 0, result.stderr
    with Image.open(as_grid) as image:
        assert image.size == grid_size(DIGITS + 1, 3)


def test_decode_to_a_folder_keeps_images_with_the_same_name(vae_run, digits, zoo_cli, tmp_path):
    """Inputs are found at any depth, so two can share a file name; neither may be lost."""
    source = tmp_path / "source"
    for i, sub in enumerate(("a", "b")):
        (source / sub).mkdir(parents=True)
        Image.fromarray(digits[i], "L").save(source / sub / "digit.png")
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, source, codes)
    out = tmp_path / "decoded"
    result = zoo_cli("decode", str(codes), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    written = sorted(out.rglob("*.png"))
    assert len(written) == 2, f"2 images encoded, {len(written)} PNG(s) written: {[str(p.relative_to(out)) for p in written]}"
    assert [p.relative_to(out).as_posix() for p in written] == ["a/digit.png", "b/digit.png"]


def test_decode_keeps_images_whose_names_differ_only_in_suffix(vae_run, digits, zoo_cli, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    Image.fromarray(digits[0], "L").save(source / "3.png")
    Image.fromarray(digits[1], "L").save(source / "3.bmp")
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, source, codes)
    out = tmp_path / "decoded"
    assert zoo_cli("decode", str(codes), "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["3.bmp.png", "3.png.png"]


def test_decode_refuses_an_image_suffix_other_than_png(vae_run, inputs, zoo_cli, tmp_path):
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs / "d0.png", codes)
    result = zoo_cli("decode", str(codes), "--out", str(tmp_path / "grid.jpg"))
    assert_one_line_error(result, 2, "--out must be a .png grid or a folder")
    assert not (tmp_path / "grid.jpg").exists()


@pytest.mark.battery("latent files")
def test_decode_refuses_latents_of_another_checkpoint(vae_run, inputs, zoo_cli, tmp_path):
    copy = tmp_path / "vae-copy"
    shutil.copytree(vae_run, copy)
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, copy, inputs / "d0.png", codes)
    assert zoo_cli("decode", str(codes), "--out", str(tmp_path / "before.png")).exit_code == 0
    resumed = resume(ResumeRequest(copy, steps=VAE_STEPS + 5, device="cpu", progress=False))
    assert resumed.step == VAE_STEPS + 5
    result = zoo_cli("decode", str(codes), "--out", str(tmp_path / "after.png"))
    assert_one_line_error(result, 1, "was encoded by another checkpoint", f"step {VAE_STEPS}", f"step {VAE_STEPS + 5}")
    assert not (tmp_path / "after.png").exists()


@pytest.mark.battery("latent files")
def test_decode_refuses_files_that_are_not_latents(vae_run, inputs, zoo_cli, tmp_path):
    out = str(tmp_path / "x.png")
    missing = zoo_cli("decode", str(tmp_path / "none.safetensors"), "--out", out)
    assert_one_line_error(missing, 2, "does not exist", "zoo encode")
    text = tmp_path / "latents.safetensors"
    text.write_text("these are not latents")
    assert_one_line_error(zoo_cli("decode", str(text), "--out", out), 2, "is not a latent file")
    assert_one_line_error(zoo_cli("decode", str(inputs / "d0.png"), "--out", out), 2, "is not a latent file")
    weights = sorted(vae_run.glob("checkpoints/*/weights.safetensors"))[-1]
    assert_one_line_error(zoo_cli("decode", str(weights), "--out", out), 2, "not one written by `zoo encode`")
    assert not (tmp_path / "x.png").exists()


# -- conditional models ----------------------------------------------------------------------


def test_cvae_needs_a_label_in_range(cvae_run, vae_run, inputs, zoo_cli, tmp_path):
    run, image = str(cvae_run), str(inputs / "d1.png")
    out = tmp_path / "c.png"
    no_label = zoo_cli("reconstruct", "cvae", "--run", run, "--input", image, "--out", str(out))
    assert_one_line_error(no_label, 2, "cvae needs a class label", "--label 0..9")
    for label in ("10", "-1"):
        result = zoo_cli("reconstruct", "cvae", "--run", run, "--input", image, "--label", label, "--out", str(out))
        assert_one_line_error(result, 2, "--label must be in [0, 10)", f"got {label}")
    seeds_only = zoo_cli("interpolate", "cvae", "--run", run, "--seeds", "1,2", "--out", str(out))
    assert_one_line_error(seeds_only, 2, "cvae needs a class label")
    assert not out.exists()

    result = zoo_cli("reconstruct", "cvae", "--run", run, "--input", image, "--label", "3", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as grid:
        assert grid.size == grid_size(2, 2)

    codes = tmp_path / "c.safetensors"
    encode(zoo_cli, cvae_run, inputs, codes, "--label", "3", model="cvae")
    with safe_open(str(codes), framework="pt") as handle:
        assert handle.get_tensor("labels").tolist() == [3] * (DIGITS + 1)
    assert zoo_cli("decode", str(codes), "--out", str(tmp_path / "cd.png")).exit_code == 0

    unconditional = zoo_cli("reconstruct", "vae", "--run", str(vae_run), "--input", image, "--label", "3", "--out", str(out))
    assert_one_line_error(unconditional, 2, "unconditional", "takes no --label")


# -- bad input -------------------------------------------------------------------------------


VERBS = {
    "reconstruct": ("--out", "out.png"),
    "interpolate": ("--seeds", "1", "--out", "out.png"),  # the bad image would be the other end point
    "traverse": ("--out", "out.png"),
    "encode": ("--out", "out.safetensors"),
}


@pytest.mark.battery("input images")
@pytest.mark.parametrize("case", sorted(BAD_INPUT_MESSAGES))
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_bad_input_is_a_one_line_error(vae_run, bad_inputs, zoo_cli, tmp_path, monkeypatch, verb, case):
    monkeypatch.chdir(tmp_path)
    result = zoo_cli(verb, "vae", "--run", str(vae_run), "--input", str(bad_inputs[case]), *VERBS[verb])
    assert_one_line_error(result, 2, *BAD_INPUT_MESSAGES[case])
    assert not list(tmp_path.iterdir()), "a refused command writes nothing"


@pytest.mark.battery("options")
@pytest.mark.parametrize(
    ("verb", "out", "message"),
    [
        ("reconstruct", "recon.jpg", "--out must name a .png file"),
        ("interpolate", "walk.gif", "--out must name a .png file"),
        ("traverse", "grid", "--out must name a .png file"),
        ("encode", "codes.npz", "--out must end in .safetensors"),
    ],
)
def test_out_with_a_wrong_suffix(vae_run, inputs, zoo_cli, tmp_path, verb, out, message):
    result = zoo_cli(verb, "vae", "--run", str(vae_run), "--input", str(inputs), "--out", str(tmp_path / out))
    assert_one_line_error(result, 2, message)
    assert not list(tmp_path.iterdir())


def rewritten(codes: Path, tmp_path: Path, **metadata: str) -> Path:
    """A copy of a latent file with some of its metadata replaced, as someone might send it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(codes), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        meta = {**(handle.metadata() or {}), **metadata}
    out = tmp_path / f"hostile-{len(list(tmp_path.glob('hostile-*')))}.safetensors"
    save_file(tensors, str(out), metadata={k: v for k, v in meta.items() if v is not None})
    return out


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.battery("paths")
@pytest.mark.parametrize(
    "names",
    [
        ["../escaped"],
        ["../../escaped"],
        ["sub/../../escaped"],
        ["/tmp/zoo-escaped-absolute"],
        ["ok", "..\\escaped-windows"],
        ["C:/escaped-drive"],
    ],
)
def test_decode_never_writes_outside_out_whatever_names_the_file_gives(vae_run, inputs, zoo_cli, tmp_path, names):
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs, codes)
    names = names + [f"n{i}" for i in range(DIGITS + 1 - len(names))]  # one name per encoded image
    hostile = rewritten(codes, tmp_path, **{"zoo.names": json.dumps(names)})
    before = files_under(tmp_path)
    out = tmp_path / "work" / "decoded"
    result = zoo_cli("decode", str(hostile), "--out", str(out))
    assert_one_line_error(result, 1, "refusing to write it")
    assert files_under(tmp_path) == before, "nothing written anywhere, inside --out or out of it"
    assert not Path("/tmp/zoo-escaped-absolute.png").exists()


@pytest.mark.battery("paths")
def test_decode_refuses_a_name_that_leads_out_through_a_link(vae_run, inputs, zoo_cli, tmp_path):
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs / "d0.png", codes)
    out, elsewhere = tmp_path / "decoded", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    hostile = rewritten(codes, tmp_path, **{"zoo.names": json.dumps(["link/x"])})
    assert_one_line_error(zoo_cli("decode", str(hostile), "--out", str(out)), 1, "through a link")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.battery("latent files")
@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"zoo.step": None}, "its metadata has no zoo.step"),
        ({"zoo.step": "twelve"}, "its zoo.step is 'twelve'"),
        ({"zoo.names": "not json"}, "its zoo.names is"),
        ({"zoo.names": json.dumps(["a", "b", "c"])}, "its zoo.names is"),  # three names for one image
        ({"zoo.image_shape": json.dumps([1, 16])}, "its zoo.image_shape is"),
        ({"zoo.run": None}, "its metadata has no zoo.run"),
    ],
)
def test_a_damaged_latent_file_is_one_line_naming_the_field(vae_run, inputs, zoo_cli, tmp_path, metadata, named):
    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs / "d0.png", codes)
    result = zoo_cli("decode", str(rewritten(codes, tmp_path, **metadata)), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 2, "is damaged", named)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.battery("latent files")
def test_decode_refuses_latents_of_the_wrong_width(vae_run, inputs, zoo_cli, tmp_path):
    from safetensors.torch import save_file

    codes = tmp_path / "codes.safetensors"
    encode(zoo_cli, vae_run, inputs / "d0.png", codes)
    with safe_open(str(codes), framework="pt") as handle:
        meta = handle.metadata()
        latents = handle.get_tensor("latents")
    wide = tmp_path / "wide.safetensors"
    save_file({"latents": torch.cat([latents, latents], dim=1).contiguous()}, str(wide), metadata=meta)
    result = zoo_cli("decode", str(wide), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 2, f"latents of width {2 * latents.shape[1]}", f"decodes {latents.shape[1]}")
