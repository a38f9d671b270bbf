"""Torch-free inference of exported zoo graphs: onnxruntime, numpy and Pillow only.

    from zoo.runtime import OnnxGenerator, save_grid
    generator = OnnxGenerator("dcgan-generator.onnx")
    images = generator.generate(16, seed=0)          # (16, C, H, W) float32 in [0, 1]
    save_grid(images, "grid.png")

Everything the file needs is in its metadata (written by the ONNX exporter): the inputs with
their shapes and how to draw them, the image shape and value range. This module must never
import torch; a test runs it where torch cannot be imported.
"""

from __future__ import annotations

import ctypes
import json
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
METADATA_PREFIX = "zoo."


def installed_onnxruntimes() -> list[str]:
    """Which of the onnxruntime distributions are installed."""
    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            importlib_metadata.distribution(dist)
            installed.append(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return installed


def check_single_onnxruntime() -> None:
    """onnxruntime and onnxruntime-gpu install the same module and overwrite each other."""
    if len(installed_onnxruntimes()) == 2:
        raise ZooError(
            "both onnxruntime and onnxruntime-gpu are installed and overwrite each other; "
            "pip uninstall -y onnxruntime onnxruntime-gpu, then reinstall zoo"
        )


def cuda_driver_loads() -> bool:
    """Whether the CUDA driver library can be loaded at all (no GPU: it cannot)."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def open_session(path: str | Path, device: str = "auto") -> Any:
    """An onnxruntime session on CUDA when it really loads, else on the CPU, without error spam.

    onnxruntime-gpu lists the CUDA provider as available even with no GPU and then logs errors
    when a session asks for it, so CUDA is only asked for when the driver loads, with the
    logger quietened, and ``get_providers()`` of the created session is taken as the truth.
    """
    import onnxruntime as ort

    check_single_onnxruntime()
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {device!r} for onnxruntime; use auto, cpu or cuda")
    path = str(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    want_cuda = device in ("auto", "cuda") and CUDA in ort.get_available_providers() and cuda_driver_loads()
    if want_cuda:
        ort.set_default_logger_severity(4)  # a CUDA provider that fails to start is not an error here
        try:
            session = ort.InferenceSession(path, options, providers=[CUDA, CPU])
        except Exception:  # noqa: BLE001 - fall back to the CPU below
            session = None
        finally:
            ort.set_default_logger_severity(2)
        if session is not None and session.get_providers()[0] == CUDA:
            return session
    if device == "cuda":
        raise ZooError("onnxruntime cannot use CUDA here (no GPU, no driver, or the CPU-only onnxruntime); use --device cpu")
    try:
        return ort.InferenceSession(path, options, providers=[CPU])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        raise ZooError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def read_metadata(session: Any, path: str | Path) -> dict[str, Any]:
    """The zoo metadata of an exported file, JSON values decoded."""
    props = session.get_modelmeta().custom_metadata_map
    found = {}
    for key, value in props.items():
        if key.startswith(METADATA_PREFIX):
            try:
                found[key[len(METADATA_PREFIX) :]] = json.loads(value)
            except json.JSONDecodeError:
                found[key[len(METADATA_PREFIX) :]] = value
    if "inputs" not in found or "image_shape" not in found:
        raise ZooError(f"{path} was not exported by zoo (no zoo.inputs / zoo.image_shape metadata); use zoo export")
    return found


class OnnxGenerator:
    """An exported generator graph, ready to draw images from."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        path = Path(path)
        if not path.is_file():
            raise ZooError(f"{path} does not exist; export one with `zoo export NAME --onnx --out {path}`")
        self.path = path
        self.session = open_session(path, device)
        self.metadata = read_metadata(self.session, path)
        self.provider = self.session.get_providers()[0]

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return self.metadata["inputs"]

    def draw_inputs(self, n: int, seed: int | None = None, label: int | None = None) -> dict[str, np.ndarray]:
        """Inputs for ``n`` images drawn with numpy as each input's metadata says."""
        rng = np.random.default_rng(seed)
        feeds = {}
        for spec in self.inputs:
            shape = (n, *spec["shape"])
            kind = spec["distribution"]
            if kind == "normal":
                value = rng.standard_normal(shape, dtype=np.float32)
            elif kind == "uniform":
                value = rng.random(shape, dtype=np.float32)
            elif kind.startswith("categorical:"):
                classes = int(kind.split(":", 1)[1])
                if label is not None and not 0 <= label < classes:
                    raise UsageError(f"--label must be in [0, {classes}), got {label}")
                value = np.full(shape, label) if label is not None else rng.integers(0, classes, shape)
            else:
                raise ZooError(f"{self.path}: input {spec['name']!r} has an unknown distribution {kind!r}")
            feeds[spec["name"]] = value.astype(spec.get("dtype", "float32"))
        if label is not None and not any(s["distribution"].startswith("categorical:") for s in self.inputs):
            raise UsageError(f"{self.path.name} is unconditional: it takes no --label")
        return feeds

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)

    def generate(self, n: int, seed: int | None = None, label: int | None = None) -> np.ndarray:
        """``n`` images, ``(n, C, H, W)`` float32, in the graph's value range."""
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        outputs = self.metadata.get("outputs", ["image"])
        if outputs[0] != "image":
            raise UsageError(
                f"{self.path.name} is the {self.metadata.get('model')} {self.metadata.get('graph')} graph "
                f"(outputs {', '.join(outputs)}), not an image generator; export the generator graph to draw images"
            )
        return self.run(self.draw_inputs(n, seed, label))[0]


def image_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2, value_range: tuple[float, float] = (0.0, 1.0)):
    """Tile ``(N, C, H, W)`` images into one Pillow image, like torchvision's make_grid."""
    from PIL import Image

    low, high = value_range
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(round(n**0.5)))
    rows = -(-n // nrow)
    grid = np.zeros((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), dtype=np.float32)
    for i, image in enumerate(images):
        y, x = divmod(i, nrow)
        top, left = padding + y * (h + padding), padding + x * (w + padding)
        grid[:, top : top + h, left : left + w] = (image - low) / (high - low)
    pixels = (np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(pixels[0], "L") if c == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")


def save_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    from zoo.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        image_grid(images, nrow, value_range=value_range).save(tmp, format="PNG")
    return path
