"""Faster ONNX files: --optimize, --fp16 and --int8, each verified before it is kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from support import assert_one_line_error, run_zoo_without_torch
from zoo.export import export_run
from zoo.runtime import OnnxGenerator
from zoo.training.trainer import TrainOptions, TrainRequest, train

TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    options = TrainOptions(steps=60, batch_size=32, progress=False, sample_every=1000)
    return train(TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=runs_dir, options=options)).run_dir


def metadata(path: Path) -> dict:
    return OnnxGenerator(path, device="cpu").metadata


def images(path: Path) -> np.ndarray:
    return OnnxGenerator(path, device="cpu").generate(16, seed=3)


def test_optimize_saves_the_optimised_graph_and_keeps_the_outputs(trained, tmp_path):
    plain = export_run("dcgan", "onnx", run=trained, out=tmp_path / "plain.onnx").path
    report = export_run("dcgan", "onnx", run=trained, out=tmp_path / "fast.onnx", optimize=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.onnx", "plain.onnx"], "no scratch files left"
    assert metadata(report.path)["optimized"] is True and metadata(report.path)["precision"] == "fp32"
    assert "optimised file vs PyTorch" in report.lines[-1] and max(report.checks["variant_max_abs_diff"].values()) <= 1e-4
    assert np.abs(images(report.path) - images(plain)).max() <= 1e-4
    fast_ops = [n.op_type for n in onnx.load(str(report.path)).graph.node]
    assert len(fast_ops) <= len(onnx.load(str(plain)).graph.node)


def test_fp16_stores_half_weights_behind_float32_inputs_and_states_its_tolerance(trained, tmp_path):
    report = export_run("dcgan", "onnx", run=trained, out=tmp_path / "half.onnx", fp16=True)
    model = onnx.load(str(report.path))
    weights = [t for t in model.graph.initializer if len(t.dims) > 1]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "(tolerance 0.01)" in report.lines[-1] and metadata(report.path)["precision"] == "fp16"
    plain = export_run("dcgan", "onnx", run=trained, out=tmp_path / "plain.onnx").path
    assert 0 < np.abs(images(report.path) - images(plain)).max() <= 1e-2


def test_int8_is_quantised_judged_by_sample_quality_and_runs_without_torch(trained, tmp_path, digits_classifier):
    report = export_run("dcgan", "onnx", run=trained, out=tmp_path / "int8.onnx", int8=True)
    ops = {n.op_type for n in onnx.load(str(report.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert metadata(report.path)["precision"] == "int8"
    assert any(line.startswith("  FID fp32") for line in report.lines) and report.lines[-1].startswith("passed")
    assert len(report.checks["quality"]) == 3
    out = tmp_path / "grid.png"
    result = run_zoo_without_torch(tmp_path, "generate", report.path, "-n", "16", "--seed", "0", "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert out.is_file()


def test_a_failed_quality_check_writes_nothing(trained, tmp_path, digits_classifier, monkeypatch, zoo_cli):
    import zoo.export.int8_judge

    monkeypatch.setattr(zoo.export.int8_judge, "TOLERANCE", -1.0)  # no change can pass
    out = tmp_path / "int8.onnx"
    result = zoo_cli("export", "dcgan", "--onnx", "--int8", "--run", str(trained), "--out", str(out))
    assert_one_line_error(result, 1, "the int8 file fails its quality check", f"nothing written to {out}")
    assert list(tmp_path.iterdir()) == []


def test_options_that_do_not_fit_are_one_line_errors(trained, tmp_path, zoo_cli, monkeypatch):
    result = zoo_cli("export", "dcgan", "--onnx", "--fp16", "--int8", "--run", str(trained))
    assert_one_line_error(result, 2, "--fp16 and --int8 make two different files")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "empty-cache"))  # no classifier trained there
    result = zoo_cli("export", "dcgan", "--onnx", "--int8", "--run", str(trained), "--out", str(tmp_path / "q.onnx"))
    assert_one_line_error(result, 2, "classifier:digits", "zoo features train")
    assert not (tmp_path / "q.onnx").exists()


def test_each_variant_has_its_own_default_file(trained, tmp_path, zoo_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for flags, name in (((), "dcgan-generator.onnx"), (("--optimize",), "dcgan-generator-optimized.onnx"), (("--fp16",), "dcgan-generator-fp16.onnx")):
        result = zoo_cli("export", "dcgan", "--run", str(trained), "--onnx", *flags)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dcgan-generator-fp16.onnx", "dcgan-generator-optimized.onnx", "dcgan-generator.onnx"]
    plain = metadata(tmp_path / "dcgan-generator.onnx")
    assert plain.get("precision", "fp32") == "fp32" and not plain.get("optimized"), "the later variants replaced nothing"
