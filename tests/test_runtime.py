"""The torch-free inference path: zoo.runtime and zoo generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.errors import UsageError
from zoo.export import export_run
from zoo.runtime import OnnxGenerator, installed_onnxruntimes, open_session
from zoo.training.trainer import TrainOptions, TrainRequest, train

from support import assert_one_line_error, run_isolated, run_zoo_without_torch, site_with_only

ROOT = Path(__file__).resolve().parents[1]
TINY = ("generator_width=8", "discriminator_width=8", "latent_dim=16")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    run = train(TrainRequest("dcgan", overrides=TINY, device="cpu", runs_dir=runs_dir, options=TrainOptions(steps=5, progress=False)))
    return export_run("dcgan", "onnx", run=run.run_dir, out=runs_dir / "g.onnx").path


def test_generator_draws_images_of_the_declared_shape(onnx_file):
    generator = OnnxGenerator(onnx_file, device="cpu")
    images = generator.generate(5, seed=0)
    assert images.shape == (5, 1, 16, 16) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert np.array_equal(images, generator.generate(5, seed=0))
    assert not np.array_equal(images, generator.generate(5, seed=1))


def test_many_images_run_through_the_graph_in_bounded_batches_as_one_run_would_give_them(onnx_file, monkeypatch):
    from zoo.runtime import GENERATE_BATCH

    generator = OnnxGenerator(onnx_file, device="cpu")
    whole_run = generator.run
    fed = []
    monkeypatch.setattr(generator, "run", lambda feeds: fed.append(len(next(iter(feeds.values())))) or whole_run(feeds))
    images = generator.generate(2 * GENERATE_BATCH + 88, seed=1)
    assert fed == [GENERATE_BATCH, GENERATE_BATCH, 88]
    np.testing.assert_allclose(images, whole_run(generator.draw_inputs(2 * GENERATE_BATCH + 88, seed=1))[0], atol=1e-5)


def test_only_onnxruntime_and_numpy_run_the_file(onnx_file, tmp_path):
    site = site_with_only(tmp_path, ["onnxruntime", "numpy"])
    code = (
        "import numpy as np, onnxruntime as ort; "
        "assert 'torch' not in sys.modules; "
        f"s = ort.InferenceSession({str(onnx_file)!r}, providers=['CPUExecutionProvider']); "
        "print([s.run(None, {'latent': np.zeros((b, 16), np.float32)})[0].shape for b in (1, 5)])"
    )
    result = run_isolated(site, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(1, 1, 16, 16), (5, 1, 16, 16)]"
    assert run_isolated(site, "import torch").returncode != 0, "torch must not be importable there"


def test_zoo_generate_needs_no_torch(onnx_file, tmp_path):
    out = tmp_path / "grid.png"
    result = run_zoo_without_torch(tmp_path, "generate", onnx_file, "-n", "16", "--seed", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (4 * 112 + 5 * 2, 4 * 112 + 5 * 2), "16 x 16 tiles enlarged to 112 pixels"
    assert "[E:" not in result.stderr and "CUDA" not in result.stderr, "no provider error spam"
    raw, each = tmp_path / "raw.npz", tmp_path / "each"
    for name, out, *more in (("npz", raw), ("pngs", f"{each}/", "--scale", "2")):
        (tmp_path / name).mkdir()
        done = run_zoo_without_torch(tmp_path / name, "generate", onnx_file, "-n", "6", "--seed", "0", "--out", out, *more)
        assert done.returncode == 0, done.stderr
    with np.load(raw) as arrays:
        images = arrays["images"]
    assert images.shape == (6, 16, 16, 1) and images.dtype == np.uint8
    first = np.asarray(Image.open(each / "000000.png"))
    assert first.shape == (32, 32) and np.array_equal(first[::2, ::2], images[0, ..., 0]), "--scale 2: each pixel a 2 x 2 block"


def test_cpu_device_gives_a_cpu_session(onnx_file):
    assert open_session(onnx_file, device="cpu").get_providers() == ["CPUExecutionProvider"]
    assert OnnxGenerator(onnx_file, device="cpu").provider == "CPUExecutionProvider"
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        open_session(onnx_file, device="tpu")


def test_cpu_only_machine_has_no_error_spam_and_refuses_cuda(onnx_file):
    code = (
        "from zoo.runtime import open_session, cuda_driver_loads; "
        f"s = open_session({str(onnx_file)!r}); print(s.get_providers()[0], cuda_driver_loads())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    provider, driver = result.stdout.split()
    if driver == "True":
        pytest.skip("a CUDA driver is present: this test is about machines without one")
    assert provider == "CPUExecutionProvider" and result.stderr == ""
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="cannot use CUDA"):
        open_session(onnx_file, device="cuda")


def test_one_onnxruntime_distribution_only():
    """pyproject's environment markers pick exactly one of the two for this platform."""
    assert len(installed_onnxruntimes()) == 1, installed_onnxruntimes()


@pytest.mark.battery("onnx metadata")
def test_generate_errors(onnx_file, zoo_cli, tmp_path):
    assert_one_line_error(zoo_cli("generate", str(tmp_path / "missing.onnx")), 1, "does not exist")
    assert_one_line_error(zoo_cli("generate", str(onnx_file), "--label", "3", "--out", str(tmp_path / "x.png")), 2, "unconditional")
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"not a model")
    assert_one_line_error(zoo_cli("generate", str(foreign), "--out", str(tmp_path / "x.png")), 1, "cannot load")


@pytest.mark.battery("onnx metadata")
def test_metadata_cannot_drive_the_terminal(onnx_file, zoo_cli, tmp_path):
    """An ESC sequence in a file's metadata is printed escaped, never raw."""
    import onnx

    model = onnx.load(str(onnx_file))
    for prop in model.metadata_props:
        if prop.key == "zoo.model":
            prop.value = "dcgan\x1b]0;pwned\x07\x1b[2J"
    hostile = tmp_path / "hostile.onnx"
    onnx.save_model(model, str(hostile))
    result = zoo_cli("generate", str(hostile), "-n", "2", "--out", str(tmp_path / "g.png"))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr + result.stdout and "\x07" not in result.stderr
    assert "dcgan\\x1b]0;pwned\\x07" in result.stderr, "shown, escaped"


def test_printable_escapes_control_and_bidi_characters_and_keeps_the_rest():
    from zoo.printable import printable

    assert printable("plain: ünïcödé 数字 ±") == "plain: ünïcödé 数字 ±"
    assert printable("a\x1b[31mb\x07\x7f\x9b") == "a\\x1b[31mb\\x07\\x7f\\x9b"
    assert printable("safe\u202eexe.png") == "safe\\u202eexe.png", "a right-to-left override is a format character"
    assert printable("two\nlines") == "two\nlines"


def _with_metadata(onnx_file: Path, out: Path, **changes: str) -> Path:
    import onnx

    model = onnx.load(str(onnx_file))
    for prop in model.metadata_props:
        if prop.key in changes:
            prop.value = changes[prop.key]
    onnx.save_model(model, str(out))
    return out


@pytest.mark.battery("onnx metadata")
@pytest.mark.parametrize(
    "changes",
    [
        {"zoo.inputs": '[{"name": "latent", "shape": [1000000000000], "dtype": "float32", "distribution": "normal"}]'},
        {"zoo.inputs": '[{"name": "latent", "shape": [17], "dtype": "float32", "distribution": "normal"}]'},
        {"zoo.inputs": '[{"name": "other", "shape": [16], "dtype": "float32", "distribution": "normal"}]'},
        {"zoo.inputs": '[{"name": "latent", "shape": [16], "dtype": "complex128", "distribution": "normal"}]'},
        {"zoo.inputs": '[{"name": "latent", "shape": [16], "dtype": "float32", "distribution": "cauchy"}]'},
        {"zoo.inputs": '[{"name": "latent", "shape": [16], "dtype": "float32", "distribution": "categorical:-3"}]'},
        {"zoo.inputs": '{"name": "latent"}'},
        {"zoo.inputs": "[]"},
        {"zoo.image_shape": "[1, 16]"},
        {"zoo.image_shape": '"big"'},
        {"zoo.value_range": "[1.0, 0.0]"},
        {"zoo.value_range": '["a", 1]'},
    ],
)
def test_hostile_metadata_is_one_line_before_anything_is_allocated(onnx_file, zoo_cli, tmp_path, changes):
    hostile = _with_metadata(onnx_file, tmp_path / "hostile.onnx", **changes)
    result = zoo_cli("generate", str(hostile), "-n", "2", "--out", str(tmp_path / "g.png"))
    assert_one_line_error(result, 1, "metadata is", "export the file again")
    assert not (tmp_path / "g.png").exists()
