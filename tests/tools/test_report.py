"""`zoo report`: a self-contained HTML page of a real tiny run, rendered by a real browser."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import assert_one_line_error
from zoo import runs
from zoo.tools.report import GRID_PX, HEADER_PX, build_report, write_report
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=12")
FLOOR = {"fid": 0.625, "kid_mean": 0.0, "precision": 0.875}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A dcgan run of 10 steps, evaluated twice (the later line supersedes), with one warning."""
    root = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=10, batch_size=32, log_every=5, sample_every=1000, progress=False)
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
    assert len(sources) >= 3, "sample grid, training curves, metric curves"
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
    assert f'id="samples" alt="sample grid" src="data:image/png;base64,{base64.b64encode(saved.read_bytes()).decode()}"' in page
    assert f"this is the grid the trainer saved as samples/{saved.name}" in page


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def test_a_browser_shows_the_sample_grid_where_the_layout_puts_it(run_dir, tmp_path):
    browser = chromium()
    report = write_report(run_dir, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    width, height = 1024, 768
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}", f"--screenshot={shot}",
        report.resolve().as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (height, width)
    assert pixels.std() > 10, "the screenshot is blank"
    grid = pixels[HEADER_PX : HEADER_PX + GRID_PX, :GRID_PX]
    assert grid.std() > 20 and len(np.unique(grid)) > 32, "the sample grid region is flat"
    background = pixels[HEADER_PX : HEADER_PX + GRID_PX, GRID_PX + 100 :]
    assert np.mean(grid == background.max()) < 0.05, "the grid region is mostly page background"

    # the region shows the embedded grid itself, scaled to GRID_PX: compare pixel by pixel
    html = report.read_text(encoding="utf-8")
    uri = re.search(r'id="samples" alt="sample grid" src="data:image/png;base64,([^"]+)"', html).group(1)
    embedded = Image.open(io.BytesIO(base64.b64decode(uri))).convert("L").resize((GRID_PX, GRID_PX), Image.NEAREST)
    correlation = np.corrcoef(np.asarray(embedded, dtype=np.float64).ravel(), grid.ravel())[0, 1]
    assert correlation > 0.9, f"the grid region does not show the sample grid (correlation {correlation:.2f})"
