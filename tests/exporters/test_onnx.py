"""The ONNX exporter on a real trained run, checked with onnx and onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from zoo.runs import checkpoint
from zoo.digest import sha256_of
from zoo.export import export_run
from zoo.training.trainer import TrainOptions, TrainRequest, train

from support import assert_one_line_error, run_zoo, run_zoo_on_a_terminal

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    result = train(TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=5, progress=False)))
    return result.run_dir


def test_export_writes_one_verified_file_with_metadata(trained, tmp_path):
    out = tmp_path / "g.onnx"
    report = export_run("dcgan", "onnx", run=trained, out=out)
    assert report.path == out and sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"], "one self-contained file"
    diffs = report.checks["max_abs_diff"]
    assert set(diffs) == {"batch 1", "batch 16"} and max(diffs.values()) <= 1e-4
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    _, folder = checkpoint.latest_checkpoint(trained)
    assert meta["zoo.model"] == "dcgan" and meta["zoo.graph"] == "generator"
    assert meta["zoo.checkpoint_sha256"] == sha256_of(folder / "weights.safetensors")
    assert json.loads(meta["zoo.inputs"]) == [{"name": "latent", "shape": [16], "dtype": "float32", "distribution": "normal"}]
    assert json.loads(meta["zoo.image_shape"]) == [1, 16, 16] and json.loads(meta["zoo.value_range"]) == [0.0, 1.0]
    assert json.loads(meta["zoo.opset"]) == 18 and "zoo.version" in meta
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    # only the batch axis is dynamic
    (latent,) = model.graph.input
    (image,) = model.graph.output
    assert [d.dim_param or d.dim_value for d in latent.type.tensor_type.shape.dim] == ["batch", 16]
    assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim] == ["batch", 1, 16, 16]


def test_exported_graph_runs_at_any_batch(trained, tmp_path):
    out = export_run("dcgan", "onnx", run=trained, out=tmp_path / "g.onnx").path
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 5, 33):
        (images,) = session.run(None, {"latent": np.random.default_rng(0).standard_normal((batch, 16), dtype=np.float32)})
        assert images.shape == (batch, 1, 16, 16) and images.min() >= 0 and images.max() <= 1


def test_cli_export_prints_the_parity_figure(trained, zoo_cli, tmp_path):
    result = zoo_cli("export", "dcgan", "--onnx", "--run", str(trained), "--out", str(tmp_path / "g.onnx"))
    assert result.exit_code == 0, result.stderr
    assert "max abs diff" in result.stderr and "at batch 1" in result.stderr and "at batch 16" in result.stderr
    assert result.stdout.strip() == str(tmp_path / "g.onnx")


def test_cli_export_shows_each_stage_on_a_terminal_and_clears_it(trained, tmp_path):
    out = tmp_path / "g.onnx"
    result = run_zoo_on_a_terminal("export", "dcgan", "--onnx", "--optimize", "--run", str(trained), "--out", str(out))
    assert result.returncode == 0, result.terminal
    stages = ("loading the run", "torch.onnx export", "onnx.checker", "parity vs PyTorch at batch 1 and 16", "onnxruntime graph optimisation")
    for stage in (*stages, "parity of the optimised file vs PyTorch"):
        assert f"exporting dcgan: {stage} (00:" in result.terminal, f"{stage!r} never shown: {result.terminal!r}"
    assert not any("exporting dcgan" in line for line in result.screen), f"the progress line is left behind: {result.screen}"
    assert result.screen[0].startswith("exported dcgan generator (step 5)") and "optimised file vs PyTorch" in result.screen[-1]
    assert result.stdout.strip() == str(out) and out.is_file()


def test_cli_export_progress_is_off_with_no_progress_and_off_a_terminal(trained, tmp_path):
    quiet = run_zoo_on_a_terminal("export", "dcgan", "--onnx", "--no-progress", "--run", str(trained), "--out", str(tmp_path / "a.onnx"))
    assert quiet.returncode == 0 and "exporting dcgan" not in quiet.terminal and "\r" not in quiet.terminal.replace("\r\n", "\n")
    piped = run_zoo("export", "dcgan", "--onnx", "--run", str(trained), "--out", str(tmp_path / "b.onnx"))
    assert piped.returncode == 0 and "exporting dcgan" not in piped.stderr and "\r" not in piped.stderr
    assert piped.stderr.splitlines()[0].startswith("exported dcgan generator"), piped.stderr


def test_a_failed_export_on_a_terminal_clears_its_stage_and_leaves_one_line(trained, tmp_path, monkeypatch):
    result = run_zoo_on_a_terminal("export", "dcgan", "--onnx", "--run", str(trained), "--opset", "6", "--out", str(tmp_path / "g.onnx"))
    assert result.returncode == 2 and "torch.onnx export" not in result.terminal, "a rejected option is reported before any stage of the export"
    assert len(result.screen) == 1 and "--opset must be between" in result.screen[0], result.screen
    # with no classifier:digits in the cache the int8 judge fails while it is being prepared, after its stage was shown
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "empty-cache"))
    result = run_zoo_on_a_terminal("export", "dcgan", "--onnx", "--int8", "--run", str(trained), "--out", str(tmp_path / "g.onnx"))
    assert result.returncode == 2 and "exporting dcgan: preparing the int8 quality check" in result.terminal, result.terminal
    assert "torch.onnx export" not in result.terminal, "the judge is made before the work"
    assert len(result.screen) == 1 and "Traceback" not in result.terminal and "classifier:digits" in result.screen[0], result.screen
    assert not (tmp_path / "g.onnx").exists()


def test_failed_parity_exits_1_and_leaves_no_file(trained, zoo_cli, tmp_path, monkeypatch):
    import zoo.exporters.onnx as onnx_exporter

    monkeypatch.setattr(onnx_exporter, "TOLERANCE", -1.0)  # no difference, not even 0, passes
    out = tmp_path / "g.onnx"
    result = zoo_cli("export", "dcgan", "--onnx", "--run", str(trained), "--out", str(out))
    assert_one_line_error(result, 1, "parity check failed", f"nothing written to {out}")
    assert list(tmp_path.iterdir()) == [], "no file, and no temporary left behind"
    out.write_bytes(b"an earlier good export")
    assert zoo_cli("export", "dcgan", "--onnx", "--run", str(trained), "--out", str(out)).exit_code == 1
    assert out.read_bytes() == b"an earlier good export", "a failed export does not destroy what was there"


def test_export_usage_errors(trained, zoo_cli, tmp_path):
    run = ("--run", str(trained))
    assert_one_line_error(zoo_cli("export", "dcgan", "--onnx", *run, "--graph", "encoder"), 2, "has no graph 'encoder'")
    assert_one_line_error(zoo_cli("export", "dcgan", "--onnx", *run, "--out", str(tmp_path / "g.pt")), 2, "--out must end in .onnx")
    assert_one_line_error(zoo_cli("export", "dcgan", "--format", "tflite", *run), 2, "unknown exporter 'tflite'")
    assert_one_line_error(zoo_cli("export", "dcgan", "--onnx", *run, "--opset", "3"), 2, "--opset must be between")
