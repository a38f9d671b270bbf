"""ConvLSTM: the cell, training on moving-digits, `zoo sample`/`evaluate`/`export`/`generate` for a forecaster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from support import assert_one_line_error, run_zoo_without_torch
from zoo import DataSpec, get_model
from zoo.contract import SequenceModel
from zoo.datasets import load_dataset
from zoo.errors import ZooError
from zoo.images import save_animation
from zoo.plugins.convlstm.model import ConvLSTMCell

ROOT = Path(__file__).resolve().parents[2]
TINY_SET = ("--image-size", "16", "--set", "hidden_channels=8", "--batch-size", "8")


def test_a_cell_keeps_the_grid_and_its_forget_gate_starts_open():
    cell = ConvLSTMCell(in_channels=3, hidden=5, kernel_size=3, height=4, width=6)
    x = torch.randn(2, 3, 4, 6)
    h, c = cell(x, cell.initial_state(x))
    assert h.shape == c.shape == (2, 5, 4, 6)
    assert torch.all(cell.gates.bias[5:10] == 1.0)
    # with no input the cell runs on its state alone (the forecaster's first layer)
    silent = ConvLSTMCell(in_channels=0, hidden=5, kernel_size=3, height=4, width=6)
    h2, _ = silent(None, (h, c))
    assert h2.shape == h.shape


def test_build_refuses_sequences_no_longer_than_the_context_and_odd_frame_sizes():
    plugin = get_model("convlstm")
    with pytest.raises(Exception, match="needs sequences longer than that"):
        plugin.build(plugin.Config(), DataSpec(1, 16, 16, frames=10))
    with pytest.raises(Exception, match="do not split into 4x4 patches"):
        plugin.build(plugin.Config(), DataSpec(1, 18, 18, frames=20))


def test_training_beats_the_copy_last_frame_baseline_on_held_out_sequences():
    from zoo.evaluation import forecast

    train = load_dataset("moving-digits", image_size=16)
    test = load_dataset("moving-digits", image_size=16, split="test")
    plugin = get_model("convlstm")
    torch.manual_seed(0)
    model = plugin.build(plugin.Config(hidden_channels=16), train.spec)
    assert isinstance(model, SequenceModel) and model.horizon == 10
    first = None
    for step in range(1, 121):
        losses = model.train_step(train.batch(torch.arange((step - 1) * 16, step * 16)), step)
        first = first or losses["loss"]
    assert losses["loss"] < 0.8 * first
    scores = forecast.score(model, iter([test.batch(torch.arange(200)).images]))
    assert scores.mean("model", "mse") < scores.mean("copy_last", "mse")
    assert scores.mean("model", "bce") < scores.mean("copy_last", "bce")


@pytest.fixture(scope="module")
def convlstm_run(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    from zoo.cli import cli

    runs = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(cli, ["train", "convlstm", "--steps", "20", "--no-progress", "--runs-dir", str(runs), *TINY_SET], obj={})
    assert result.exit_code == 0, result.output
    return runs


def gif_frames(path: Path) -> list[np.ndarray]:
    from PIL import ImageSequence

    with Image.open(path) as gif:
        return [np.array(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]


def test_training_writes_previews_of_truth_above_forecast(convlstm_run):
    (run,) = (convlstm_run / "convlstm").iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["batch_size"] == 8 and config["dataset"]["spec"]["frames"] == 20
    (preview,) = (run / "samples").glob("*.png")
    # 4 sequences x 2 rows (truth, then context + forecast), 20 frames of 16 px with 2 px padding
    assert Image.open(preview).size == (20 * 18 + 2, 8 * 18 + 2)


def test_sample_writes_the_forecast_beside_the_truth_as_a_gif(convlstm_run, zoo_cli, tmp_path):
    out = tmp_path / "continued.gif"
    result = zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "-n", "3", "--seed", "0", "--out", str(out), "--scale", "1")
    assert result.exit_code == 0, result.output
    assert "10 frames given, 10 predicted; truth left, forecast right" in result.stderr
    frames = gif_frames(out)
    assert len(frames) == 20
    assert any(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    assert Image.open(out.with_suffix(".png")).size == (20 * 18 + 2, 6 * 18 + 2)
    again = tmp_path / "again.gif"
    zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "-n", "3", "--seed", "0", "--out", str(again), "--scale", "1")
    enlarged = tmp_path / "enlarged.gif"
    zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "-n", "3", "--seed", "0", "--out", str(enlarged))
    assert Image.open(enlarged.with_suffix(".png")).size == (20 * 114 + 2, 6 * 114 + 2), "by default as every picture: 7x for 16 px"
    assert all(np.array_equal(a, b) for a, b in zip(frames, gif_frames(again))), "a seed picks the same sequences"


def test_sample_continues_frames_from_a_gif_or_a_folder(convlstm_run, zoo_cli, tmp_path):
    sequence = load_dataset("moving-digits", image_size=16, split="test").batch(torch.arange(1)).images[0]
    save_animation(sequence[:12], tmp_path / "given.gif")
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(sequence[:10]):
        Image.fromarray((frame[0].numpy() * 255).astype(np.uint8)).save(folder / f"{t:03d}.png")
    for given in (tmp_path / "given.gif", folder):
        out = tmp_path / f"{given.stem}-out.gif"
        result = zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "--input", str(given), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "no truth to show beside it" in result.stderr
        assert len(gif_frames(out)) == 20
    save_animation(sequence[:4], tmp_path / "short.gif")
    result = zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "--input", str(tmp_path / "short.gif"))
    assert_one_line_error(result, 2, "has 4 frames; convlstm needs at least 10 to continue")


def test_sample_options_that_do_not_fit_the_model_are_one_line_errors(convlstm_run, zoo_cli, tmp_path):
    result = zoo_cli("sample", "convlstm", "--runs-dir", str(convlstm_run), "--out", str(tmp_path / "x.png"))
    assert_one_line_error(result, 2, "--out must name a .gif file for a sequence model")
    result = zoo_cli("sample", "dcgan", "--runs-dir", str(convlstm_run), "--input", str(tmp_path))
    assert_one_line_error(result, 2, "--input gives frames to continue", "dcgan draws from noise")


def test_evaluate_reports_per_frame_errors_beside_copy_last(convlstm_run, zoo_cli, tmp_path):
    registry = tmp_path / "registry.json"
    registry.write_text((ROOT / "registry.json").read_text())
    result = zoo_cli("evaluate", "convlstm", "--runs-dir", str(convlstm_run), "--no-progress", "--record", "--registry", str(registry))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "1,000 sequences, 10 frames given, 10 predicted" in lines[0]
    header = next(i for i, line in enumerate(lines) if "copy-last MSE" in line)
    rows = lines[header + 1 : header + 12]
    assert [r.split()[0] for r in rows] == [f"t+{i}" for i in range(1, 11)] + ["mean"]
    copy_last_mse = [float(r.split()[2]) for r in rows[:10]]
    assert copy_last_mse[0] < copy_last_mse[-1], "copying the last frame gets worse as the digits move away"
    (entry,) = [m for m in json.loads(registry.read_text())["models"] if m["name"] == "convlstm"]
    recorded = {r["metric"]: r for r in entry["results"]}
    assert set(recorded) == {"mse", "bce"}
    assert recorded["mse"]["copy_last"] == pytest.approx(float(rows[10].split()[2]), abs=0.01)
    assert len(recorded["bce"]["per_frame"]) == 10 and recorded["mse"]["horizon"] == 10
    result = zoo_cli("evaluate", "convlstm", "--runs-dir", str(convlstm_run), "--metrics", "fid")
    assert_one_line_error(result, 2, "convlstm forecasts frames rather than drawing images")
    result = zoo_cli("evaluate", "convlstm", "--runs-dir", str(convlstm_run), "--dataset", "digits")
    assert_one_line_error(result, 2, "convlstm trains on sequences, but dataset 'digits' gives images; use --dataset moving-digits")


def test_the_exported_forecaster_matches_pytorch_and_runs_without_torch(convlstm_run, zoo_cli, tmp_path):
    onnx_file = tmp_path / "forecaster.onnx"
    result = zoo_cli("export", "convlstm", "--onnx", "--runs-dir", str(convlstm_run), "--out", str(onnx_file))
    assert result.exit_code == 0, result.output
    assert "tolerance 0.0001" in result.stderr

    from zoo import runs
    from zoo.runtime import OnnxGenerator

    generator = OnnxGenerator(onnx_file, device="cpu")
    assert generator.metadata["horizon"] == 10 and generator.metadata["context_frames"] == 10
    sequences = load_dataset("moving-digits", image_size=16, split="test").batch(torch.arange(3)).images
    loaded = runs.load(runs.find("convlstm", "latest", convlstm_run))
    expected = loaded.model.predict(sequences[:, :10]).numpy()
    assert np.abs(generator.forecast(sequences[:, :10].numpy()) - expected).max() <= 1e-4

    # zoo generate --input with only onnxruntime, numpy, Pillow and click importable
    save_animation(sequences[0], tmp_path / "given.gif")
    out = tmp_path / "continued.gif"
    result = run_zoo_without_torch(tmp_path, "generate", onnx_file, "--input", tmp_path / "given.gif", "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert len(gif_frames(out)) == 20


def test_the_int8_forecaster_is_calibrated_on_real_frames_and_judged_by_its_forecasts(convlstm_run, tmp_path):
    from zoo import runs
    from zoo.export import export_run
    from zoo.export.int8_judge import forecast_int8

    loaded = runs.load(runs.find("convlstm", "latest", convlstm_run))
    graph = loaded.model.export_graphs()["forecaster"]
    judge, calibration = forecast_int8(loaded, graph, sequences=50)
    feeds = list(calibration())
    frames = np.concatenate([feed["context"] for feed in feeds])
    assert frames.shape == (256, 10, 1, 16, 16) and frames.min() >= 0 and frames.max() <= 1
    assert (frames == 0).mean() > 0.5, "moving digits on a black field, not the uniform noise of the graph's spec"

    fp32 = export_run("convlstm", "onnx", runs_dir=convlstm_run, out=tmp_path / "fp32.onnx").path
    passed, lines = judge(fp32, fp32)
    assert passed and "MSE" in lines[1] and "(+0.0%)" in lines[1], "a file judged against itself changes nothing"

    # this 20-step model may or may not survive quantisation within 5% (the acceptance run does,
    # by 0.2%); either way the verdict comes from its forecasts, and a failed file is not kept
    out = tmp_path / "int8.onnx"
    try:
        report = export_run("convlstm", "onnx", runs_dir=convlstm_run, out=out, int8=True)
    except ZooError as exc:
        assert "fails its quality check (int8 differs from fp32 by" in str(exc) and not out.exists()
    else:
        assert report.checks["precision"] == "int8" and "forecasts of 200 moving-digits test sequences" in report.checks["quality"][0]
        assert report.checks["quality"][-1].startswith("passed: MSE and BCE each within 5%") and out.exists()


def test_report_shows_forecasts_of_test_sequences(convlstm_run, zoo_cli, tmp_path):
    out = tmp_path / "report.html"
    result = zoo_cli("report", "convlstm", "--runs-dir", str(convlstm_run), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "the first 4 test sequences, each a row of truth above a row of its 10 given frames" in out.read_text()
