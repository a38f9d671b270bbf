"""`zoo report`: a self-contained HTML page of a real tiny run, rendered by a real browser.

Tiny runs of four kinds of model, trained for a few steps on the embedded datasets, each
reported through the CLI: a dcgan (samples only), a vae (a latent model: reconstructions,
interpolation, traversals), a draw (a stepped model: its canvas over the steps) and a convlstm
(a sequence model: forecasts). The panels are checked in the HTML, their pictures decoded, and
the page is rendered in headless Chromium to check that pictures are drawn where the layout
puts them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html import escape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import assert_one_line_error
from zoo import runs
from zoo.tools.compare import summarize
from zoo.tools.report import GRID_PX, HEADER_PX, PROGRESS_MOST, REAL_LEFT_PX, build_report, curves_figure, progression_section, write_report
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=12")
FLOOR = {"fid": 0.625, "kid_mean": 0.0, "precision": 0.875}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A dcgan run of 10 steps (grids saved at 5 and 10), evaluated twice (the later line supersedes), with one warning."""
    root = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=10, batch_size=32, log_every=5, sample_every=5, progress=False)
    path = train(TrainRequest("dcgan", runs_dir=root, device="cpu", overrides=TINY, options=options)).run_dir
    common = {"event": "evaluate", "dataset": "mnist", "split": "test", "extractor": "classifier:mnist", "samples": 5000, "n_real": 1000, "floor_n": 500, "prdc_n": 1000}
    lines = [
        {**common, "step": 5, "fid": 41.5, "kid_mean": 0.0375, "precision": 0.125, "floor": FLOOR, "time": 1.7e9},
        {"event": "warning", "kind": "low_diversity", "step": 10, "message": "samples are <5%> as diverse", "time": 1.7e9},
        {**common, "step": 10, "fid": 33.25, "kid_mean": 0.0275, "precision": 0.375, "floor": FLOOR, "time": 1.7e9 + 60},
    ]
    with open(path / runs.METRICS, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)
    return path


@pytest.fixture(scope="module")
def page(run_dir) -> str:
    return build_report(run_dir)


def test_the_page_fetches_nothing(page):
    assert not re.search(r"https?://", page)
    assert "<link" not in page and "<script" not in page and "url(" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 6, "sample grid, real images, two saved grids, training curves, metric curves"
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    for src in sources:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()


def test_the_page_holds_the_config_the_curves_and_the_evaluation(page, run_dir):
    assert f"<title>dcgan · {run_dir.name} · digits · step 10</title>" in page
    assert "<tr><th>config.latent_dim</th><td>12</td></tr>" in page
    assert "<tr><th>config.generator_width</th><td>8</td></tr>" in page
    assert "<tr><th>training.steps</th><td>10</td></tr>" in page
    assert 'alt="training curves"' in page and 'alt="metric curves"' in page, "two evaluations at two steps make a curve"
    evaluation = page[page.index("<h2>Evaluation</h2>"):]
    assert "<h3>classifier:mnist, mnist test</h3>" in evaluation
    assert "<tr><th>this run (step 10)</th><td>33.25</td><td>0.0275</td><td>0.375</td></tr>" in evaluation
    assert "<tr><th>real vs real (floor)</th><td>0.625</td><td>0</td><td>0.875</td></tr>" in evaluation
    assert "41.5" not in evaluation, "the later evaluation supersedes the earlier one"
    assert "samples are &lt;5%&gt; as diverse" in page and "<5%>" not in page, "text is escaped"


def test_the_cli_writes_into_the_run_or_to_out(run_dir, zoo_cli, tmp_path):
    result = zoo_cli("report", str(run_dir))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    out = tmp_path / "elsewhere" / "r.html"
    result = zoo_cli("report", "dcgan", "--runs-dir", str(run_dir.parent.parent), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out) and f"· {run_dir.name} ·" in out.read_text(encoding="utf-8")
    assert_one_line_error(zoo_cli("report", str(run_dir), "--out", str(tmp_path / "r.png")), 2, "--out must name an .html file")
    assert_one_line_error(zoo_cli("report", str(tmp_path / "nowhere")), 1, "does not exist")
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*.tmp"))


def test_a_run_without_a_checkpoint_shows_the_trainers_last_grid(run_dir, tmp_path):
    """A run that diverged before its first checkpoint still gets a page, from samples/."""
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    shutil.rmtree(copy / "checkpoints")
    saved = sorted((copy / "samples").glob("step-*.png"))[-1]
    page = build_report(copy)
    assert embedded(page, "samples").tobytes() == Image.open(saved).convert("L").tobytes()
    assert f'src="data:image/png;base64,{base64.b64encode(saved.read_bytes()).decode()}"' in page, "the file itself"
    assert f"the run has no checkpoint (and so no model panels); this is the grid the trainer saved as samples/{saved.name}" in page
    assert section(page, "progression") is not None and section(page, "interpolation") is None


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def screenshot(browser: str, page: Path, folder: Path, width: int, height: int) -> np.ndarray:
    """The page as headless Chromium draws it in a ``width`` x ``height`` window, grey levels."""
    shot = folder / "shot.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        f"--user-data-dir={folder / 'profile'}", f"--window-size={width},{height}", f"--screenshot={shot}",
        page.resolve().as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (height, width)
    assert pixels.std() > 10, "the screenshot is blank"
    return pixels


def embedded(html: str, element_id: str) -> Image.Image:
    """The picture an element of the page embeds, decoded from its data: URI."""
    uri = re.search(rf'<img id="{element_id}"[^>]* src="data:image/[a-z]+;base64,([^"]+)"', html).group(1)
    return Image.open(io.BytesIO(base64.b64decode(uri))).convert("L")


def assert_shows(region: np.ndarray, picture: Image.Image, what: str) -> None:
    """The screenshot's region is the picture, scaled to the region's size: not blank, not background."""
    assert region.std() > 20 and len(np.unique(region)) > 8, f"the {what} region is flat"
    expected = np.asarray(picture.resize((region.shape[1], region.shape[0]), Image.NEAREST), dtype=np.float64)
    correlation = np.corrcoef(expected.ravel(), region.ravel())[0, 1]
    assert correlation > 0.9, f"the {what} region does not show the {what} (correlation {correlation:.2f})"


def test_a_browser_shows_the_sample_grid_and_the_real_images_where_the_layout_puts_them(run_dir, tmp_path):
    """Under the header: the sample grid at the left edge, the real test images beside it, both GRID_PX square."""
    report = write_report(run_dir, tmp_path / "report.html")
    width = REAL_LEFT_PX + GRID_PX + 200
    pixels = screenshot(chromium(), report, tmp_path, width, 768)
    html = report.read_text(encoding="utf-8")
    rows = slice(HEADER_PX, HEADER_PX + GRID_PX)
    background = pixels[rows, REAL_LEFT_PX + GRID_PX + 20 : width - 40]  # short of the scrollbar
    assert background.std() < 1, "right of the two grids is page background"
    for element_id, left, what in (("samples", 0, "sample grid"), ("real", REAL_LEFT_PX, "real images")):
        region = pixels[rows, left : left + GRID_PX]
        assert np.mean(region == background.max()) < 0.05, f"the {what} region is mostly page background"
        assert_shows(region, embedded(html, element_id), what)


# -- the model panels, by kind of model ----------------------------------------------------


def cli_train(root: Path, *args: str) -> Path:
    """Train through ``zoo train`` (so the run records its command); the run's folder."""
    from click.testing import CliRunner

    from zoo.cli import cli

    result = CliRunner().invoke(cli, ["train", *args, "--no-progress", "--runs-dir", str(root)], obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


TINY_VAE = ("--set", "width=8", "--set", "hidden=32", "--set", "latent_dim=4")
VAE_COMMAND = ("vae", "--steps", "10", "--batch-size", "32", "--sample-every", "5", "--log-every", "5", *TINY_VAE)
DRAW_T = 5  # glimpses, not training steps
DRAW_COMMAND = (
    "draw", "--steps", "6", "--batch-size", "32", "--sample-every", "3", "--log-every", "3", "--set", f"steps={DRAW_T}",
    "--set", "encoder_hidden=32", "--set", "decoder_hidden=32", "--set", "latent_dim=8", "--set", "write_n=3",
)  # fmt: skip
CONVLSTM_COMMAND = ("convlstm", "--steps", "4", "--image-size", "16", "--batch-size", "8", "--sample-every", "2", "--log-every", "2", "--set", "hidden_channels=8")
LIKELIHOOD = {"event": "evaluate", "dataset": "digits", "split": "test", "step": 10, "iwae_k": 64, "neg_elbo": 181.5, "iwae_nll": 179.5, "time": 1.7e9}
PANELS = ("progression", "reconstructions", "interpolation", "traversal", "drawing", "canvas-steps", "forecasts")


@pytest.fixture(scope="module")
def model_runs(run_dir, tmp_path_factory) -> dict[str, Path]:
    """A tiny run of each kind of model; the vae's log gets a likelihood evaluation."""
    root = tmp_path_factory.mktemp("kinds")
    found = {"dcgan": run_dir}
    for command in (VAE_COMMAND, DRAW_COMMAND, CONVLSTM_COMMAND):
        found[command[0]] = cli_train(root, *command)
    with open(found["vae"] / runs.METRICS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(LIKELIHOOD) + "\n")
    return found


@pytest.fixture(scope="module")
def pages(model_runs, tmp_path_factory) -> dict[str, str]:
    """Each run's page, written by ``zoo report RUN --out``."""
    from click.testing import CliRunner

    from zoo.cli import cli

    folder = tmp_path_factory.mktemp("pages")
    written = {}
    for kind, run in model_runs.items():
        out = folder / f"{kind}.html"
        result = CliRunner().invoke(cli, ["report", str(run), "--out", str(out)], obj={}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        written[kind] = out.read_text(encoding="utf-8")
    return written


def section(page: str, section_id: str) -> str | None:
    """The HTML of the page's ``<section id=...>``, or None if it has none."""
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    return match.group(1) if match else None


def picture(page: str, section_id: str) -> Image.Image:
    """The picture of a panel, decoded; its tag must give the size it is shown at."""
    html = section(page, section_id)
    assert html is not None, f"no {section_id} panel"
    tag = re.search(r'<img id="([^"]+)"[^>]* width="(\d+)" height="(\d+)" src="data:image/(png|gif);base64,([^"]+)"', html)
    assert tag is not None and tag.group(1) == f"{section_id}-picture", html[:300]
    image = Image.open(io.BytesIO(base64.b64decode(tag.group(5))))
    width, height = int(tag.group(2)), int(tag.group(3))
    assert width % image.width == 0 and height * image.width == width * image.height, "shown at an integer scale"
    return image


@pytest.mark.parametrize(
    "kind, panels",
    [
        ("dcgan", ("progression",)),
        ("vae", ("progression", "reconstructions", "interpolation", "traversal")),
        ("draw", ("progression", "drawing", "canvas-steps")),
        ("convlstm", ("progression", "forecasts")),
    ],
)
def test_each_kind_of_model_gets_the_panels_its_capabilities_call_for_and_no_others(pages, kind, panels):
    page = pages[kind]
    present = tuple(panel for panel in PANELS if section(page, panel) is not None)
    assert present == panels
    order = [page.index(f'<section id="{panel}">') for panel in panels]
    assert order == sorted(order) and order[-1] < page.index("<h2>Training curves</h2>"), "panels before the curves, in order"
    for panel in panels:
        html = section(page, panel)
        assert re.search(r"<h2>[^<]+</h2>\s*<p class=\"note\">[^<]+</p>", html), f"{panel}: a heading and a note"
    assert not re.search(r"https?://", page) and "<script" not in page
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith(("data:image/png;base64,", "data:image/gif;base64,"))


def pixel_latent_model():
    """A LatentModel that is no plugin: its latents are its 16 x 16 pixels."""
    import torch

    from zoo.contract import DataSpec, LatentModel

    class Pixels(LatentModel):
        latent_dim = 256
        modules = optimizers = {}

        def train_step(self, batch, step):
            return {}

        def sample(self, n, seed=None, label=None):
            return torch.rand(n, 1, 16, 16, generator=self.noise_generator(seed))

        def export_graphs(self):
            return {}

        def encode(self, images, labels=None):
            return images.flatten(1), torch.zeros(len(images), self.latent_dim)

        def decode(self, latents, labels=None):
            return latents.clamp(0, 1).view(-1, 1, 16, 16)

    return Pixels(None, DataSpec(1, 16, 16))


def test_the_panels_follow_the_capability_not_the_models_name():
    """Any LatentModel gets the latent panels, whatever it is called (here one that is no plugin at all)."""
    from zoo.datasets import load_dataset
    from zoo.tools.report_panels import model_panels

    panels = model_panels(pixel_latent_model(), load_dataset("digits", split="test"), "", conditional=False, step=0)
    assert [panel.id for panel in panels] == ["reconstructions", "interpolation", "traversal"]
    assert "MSE 0.0000 per pixel" in panels[0].note, "its reconstructions are its inputs"
    assert all(panel.picture is not None for panel in panels)


def test_a_vae_page_reconstructs_interpolates_and_traverses(pages):
    page = pages["vae"]
    side, pad = 16, 2
    assert picture(page, "reconstructions").size == (16 * (side + pad) + pad, 4 * (side + pad) + pad), "32 test images and their reconstructions, 8 pairs a row"
    assert "32 digits test images, each followed by its reconstruction" in section(page, "reconstructions")
    assert re.search(r"MSE \d\.\d{4} per pixel, PSNR", section(page, "reconstructions")), "the reconstruction error"
    assert picture(page, "interpolation").size == (10 * (side + pad) + pad, 4 * (side + pad) + pad)
    assert "between the posterior means of two digits test images" in section(page, "interpolation")
    assert picture(page, "traversal").size == (9 * (side + pad) + pad, 4 * (side + pad) + pad), "a row per latent dimension (4)"
    assert re.search(r"ranked by their mean KL over 180 test images: z\d [\d.]+, z\d", section(page, "traversal"))


def gif_frames(image: Image.Image) -> int:
    assert image.format == "GIF" and image.is_animated
    return image.n_frames


def test_a_draw_page_animates_the_canvas_over_its_steps(pages):
    page = pages["draw"]
    assert gif_frames(picture(page, "drawing")) == DRAW_T, "one frame per glimpse"
    assert escape(f"after each of the model's {DRAW_T} steps") in section(page, "drawing")
    assert picture(page, "canvas-steps").size == (DRAW_T * 18 + 2, 4 * 18 + 2), "4 samples, a column per step"


def test_a_convlstm_page_animates_its_forecasts_beside_the_truth(pages):
    page = pages["convlstm"]
    forecast = picture(page, "forecasts")
    assert gif_frames(forecast) == 20, "the 10 given frames and the 10 predicted"
    assert "the first 4 moving-digits test sequences, truth left, forecast right" in section(page, "forecasts")
    assert "the first 4 test sequences, each a row of truth above a row of its 10 given frames" in page, "the top grid continues the same 4"
    assert "Right: the first 8 sequences of the moving-digits test split, a row each." in page


def test_progression_grids_appear_once_per_saved_file_with_their_steps(pages, model_runs):
    for kind, run in model_runs.items():
        saved = sorted((run / "samples").glob("step-*.png"))
        html = section(pages[kind], "progression")
        shown = re.findall(r'<img alt="samples at step (\d+)" src="data:image/png;base64,([^"]+)"><figcaption>step (\d+)</figcaption>', html)
        steps = [int(path.stem.split("-")[1]) for path in saved]
        assert [int(step) for step, _, _ in shown] == steps and [int(c) for _, _, c in shown] == steps, kind
        assert [base64.b64decode(data) for _, data, _ in shown] == [path.read_bytes() for path in saved], f"{kind}: the files themselves"
    assert len(steps) == 2 and "the 2 grids the trainer saved in samples/ every 2 steps" in html


def test_a_long_run_shows_some_of_its_saved_grids_evenly_spaced_first_and_last_included(run_dir, tmp_path):
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    grid = next((copy / "samples").glob("*.png")).read_bytes()
    for step in range(100, 3100, 100):  # 30 grids, plus the 2 the run saved
        (copy / "samples" / f"step-{step:08d}.png").write_bytes(grid)
    html = "".join(progression_section(summarize(copy)))
    steps = [int(step) for step in re.findall(r"<figcaption>step (\d+)</figcaption>", html)]
    assert len(steps) == PROGRESS_MOST and steps[0] == 5 and steps[-1] == 3000 and steps == sorted(steps)
    assert f"{PROGRESS_MOST} of the 32, evenly spaced," in html


def test_the_header_holds_the_headline_metric_and_the_command(pages, run_dir):
    vae, dcgan = pages["vae"], pages["dcgan"]
    header = vae[vae.index("<header>") : vae.index("</header>")]
    assert '<span class="headline" id="headline">IWAE NLL 179.5, \u2212ELBO 181.5 · digits test · step 10</span>' in header
    assert "$ " + " ".join(("zoo", "train", *VAE_COMMAND, "--no-progress", "--runs-dir")) in header
    header = dcgan[dcgan.index("<header>") : dcgan.index("</header>")]
    assert '<span class="headline" id="headline">FID 33.25 (floor 0.625) · classifier:mnist, mnist test · step 10</span>' in header
    assert "no command recorded" in header
    assert '<span class="headline" id="headline">not evaluated yet (zoo evaluate)</span>' in pages["draw"]


def test_a_series_of_fewer_than_three_points_is_drawn_as_markers_not_a_line():
    figure = curves_figure([("two", [(5, 0.25), (10, 0.5)], None), ("one", [(5, 1.0)], None), ("three", [(1, 1.0), (2, 2.0), (3, 1.5)], None)])
    lines = [axes.get_lines()[0] for axes in figure.axes]
    assert [line.get_linestyle() for line in lines] == ["None", "None", "-"]
    assert lines[0].get_marker() == "o" and lines[1].get_marker() == "o"
    assert [text.get_text() for text in figure.axes[0].texts] == ["0.25", "0.5"], "each point labelled with its value"


def test_a_run_whose_data_moved_gets_a_page_that_says_so(tmp_path, zoo_cli):
    """Real images come from the run's dataset; a folder that moved leaves notes, not a failure."""
    from zoo.datasets import load_dataset

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(load_dataset("digits").images[:40, 0].numpy()):
        Image.fromarray(image, "L").save(folder / f"{i:02d}.png")
    run = cli_train(tmp_path / "runs", "vae", "--dataset", f"folder:{folder}", "--image-size", "16", "--channels", "1", "--steps", "3", "--batch-size", "16", *TINY_VAE)
    folder.rename(tmp_path / "moved")
    result = zoo_cli("report", str(run))
    assert result.exit_code == 0, result.stderr
    page = (run / "report.html").read_text(encoding="utf-8")
    assert '<div id="real">no real images: the run&#x27;s dataset cannot be loaded here (' in page
    assert section(page, "reconstructions").count("<img") == 0
    assert "none: they need real test images, and the run&#x27;s dataset cannot be loaded here" in section(page, "reconstructions")
    assert "between two latents drawn from the prior (seed 0), since the run&#x27;s dataset" in section(page, "interpolation")
    assert "rows in index order (ranking them by KL needs real images" in section(page, "traversal")
    picture(page, "interpolation"), picture(page, "traversal")  # still drawn: they need only the decoder


RECT_SCRIPT = """<script>
document.body.setAttribute("data-rects", [IDS].map(function (id) {
  var r = document.getElementById(id).getBoundingClientRect();
  return [id, r.left, r.top, r.width, r.height].join(",");
}).join(";"));
</script></body>"""


def layout(browser: str, html: str, ids: list[str], folder: Path, width: int, height: int) -> dict[str, tuple[int, int, int, int]]:
    """Where Chromium lays each element out, ``(left, top, width, height)`` in pixels: a copy of
    the page with a script that records it, read back with --dump-dom."""
    probe = folder / "probe.html"
    probe.write_text(html.replace("</body>", RECT_SCRIPT.replace("IDS", ",".join(json.dumps(i) for i in ids))), encoding="utf-8")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        f"--user-data-dir={folder / 'probe-profile'}", f"--window-size={width},{height}", "--dump-dom", probe.resolve().as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    rects = re.search(r'data-rects="([^"]*)"', result.stdout)
    assert result.returncode == 0 and rects, result.stderr[-2000:]
    found = {}
    for entry in rects.group(1).split(";"):
        element_id, *numbers = entry.split(",")
        found[element_id] = tuple(round(float(n)) for n in numbers)
    return found


def test_a_browser_draws_the_vae_panels_where_the_layout_puts_them(pages, tmp_path):
    """Each latent panel's picture is on the screenshot at the place and size the page's layout gives it."""
    browser, html = chromium(), pages["vae"]
    page = tmp_path / "vae.html"
    page.write_text(html, encoding="utf-8")
    ids = ["reconstructions-picture", "interpolation-picture", "traversal-picture"]
    width, height = 1280, 6000  # tall enough for the whole page: one screenshot shows every panel
    rects = layout(browser, html, ids, tmp_path, width, height)
    pixels = screenshot(browser, page, tmp_path, width, height)
    for element_id in ids:
        left, top, shown_width, shown_height = rects[element_id]
        image = embedded(html, element_id)
        assert (shown_width, shown_height) == tuple(int(v) for v in re.search(rf'id="{element_id}"[^>]* width="(\d+)" height="(\d+)"', html).groups())
        assert shown_width > image.width and top + shown_height < height, f"{element_id}: enlarged, and on the screenshot"
        assert_shows(pixels[top : top + shown_height, left : left + shown_width], image, element_id)
