"""Torch-free inference of exported zoo graphs: onnxruntime, numpy and Pillow only.

    from zoo.runtime import OnnxGenerator, save_grid
    generator = OnnxGenerator("dcgan-generator.onnx")
    images = generator.generate(16, seed=0)          # (16, C, H, W) float32 in [0, 1]
    save_grid(images, "grid.png")

A forecaster graph (convlstm's) continues frames instead: ``generator.forecast(context)`` with
context ``(N, context_frames, C, H, W)`` from :func:`read_frames`, written by :func:`save_gif`.

Everything the file needs is in its metadata (written by the ONNX exporter): the inputs with
their shapes and how to draw them, the image shape and value range. This module must never
import torch; a test runs it where torch cannot be imported.
"""

from __future__ import annotations

import ctypes
import json
import math
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from zoo import threads
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


INSTALL_ONNXRUNTIME = "pip install 'zoo[cpu]' for plain onnxruntime, or 'zoo[gpu]' for onnxruntime-gpu (CUDA)"
"""How to get the one onnxruntime zoo needs (pyproject's extras ``cpu`` and ``gpu``)."""


def check_single_onnxruntime() -> None:
    """onnxruntime and onnxruntime-gpu install the same module and overwrite each other."""
    if len(installed_onnxruntimes()) == 2:
        raise ZooError(
            "both onnxruntime and onnxruntime-gpu are installed and overwrite each other; "
            f"pip uninstall -y onnxruntime onnxruntime-gpu, then {INSTALL_ONNXRUNTIME}"
        )


def onnxruntime() -> Any:
    """The ``onnxruntime`` module, once it is known to be there, and alone."""
    check_single_onnxruntime()
    try:
        import onnxruntime as ort
    except ImportError:
        raise ZooError(f"onnxruntime is not installed: {INSTALL_ONNXRUNTIME}") from None
    return ort


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
    ort = onnxruntime()
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {device!r} for onnxruntime; use auto, cpu or cuda")
    path = str(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.intra_op_num_threads = threads.chosen()  # zoo's rule (zoo.threads), not a thread per core
    options.inter_op_num_threads = 1
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
    _check_metadata(found, session, path)
    return found


INPUT_DTYPES = ("float32", "float16", "int64", "int32")


def _check_metadata(found: dict[str, Any], session: Any, path: str | Path) -> None:
    """Every metadata field generate and forecast rely on, checked against the graph itself
    before anything is allocated from it: a file's word is not taken for a shape."""
    from zoo.printable import printable

    def bad(field: str, value: Any) -> ZooError:
        return ZooError(printable(f"{path}: its zoo.{field} metadata is {value!r:.80}; export the file again with zoo export"))

    def dims(value: Any, count: int | None = None) -> bool:
        return isinstance(value, list) and (count is None or len(value) == count) and all(type(d) is int and 0 < d <= 65536 for d in value)

    if not dims(found["image_shape"], 3):
        raise bad("image_shape", found["image_shape"])
    if found.get("value_range") is not None:  # None: the graph's outputs are not images (an encoder)
        low_high = found["value_range"]
        if not (isinstance(low_high, list) and len(low_high) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in low_high) and low_high[0] < low_high[1]):
            raise bad("value_range", low_high)
    inputs, graph_inputs = found["inputs"], {i.name: i.shape for i in session.get_inputs()}
    if not isinstance(inputs, list) or not inputs or not all(isinstance(spec, dict) for spec in inputs):
        raise bad("inputs", inputs)
    if sorted(spec.get("name") for spec in inputs if isinstance(spec.get("name"), str)) != sorted(graph_inputs):
        raise bad("inputs", inputs)
    for spec in inputs:
        shape, kind = spec.get("shape"), spec.get("distribution")
        if not dims(shape) or [d for d in graph_inputs[spec["name"]][1:]] != shape:
            raise bad("inputs", spec)
        if spec.get("dtype", "float32") not in INPUT_DTYPES or not isinstance(kind, str):
            raise bad("inputs", spec)
        if kind not in ("normal", "uniform"):
            classes = kind.removeprefix("categorical:")
            if not (kind.startswith("categorical:") and classes.isdigit() and 0 < int(classes) <= 1_000_000):
                raise bad("inputs", spec)


GENERATE_BATCH = 256
"""Images :meth:`OnnxGenerator.generate` runs through the graph at a time: memory stays bounded."""


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
    def threads(self) -> int:
        """The CPU threads the session computes with, as onnxruntime has them."""
        return self.session.get_session_options().intra_op_num_threads

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
        if self.provider != CUDA:
            return self.session.run(None, feeds)
        # IO binding: inputs are copied to the GPU once and outputs are allocated there by
        # onnxruntime itself, instead of per-call staging through host buffers
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for output in self.session.get_outputs():
            binding.bind_output(output.name, "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    @property
    def is_forecaster(self) -> bool:
        return "horizon" in self.metadata

    def forecast(self, context: np.ndarray) -> np.ndarray:
        """The ``horizon`` frames after ``context`` ``(N, context_frames, C, H, W)`` in [0, 1]."""
        if not self.is_forecaster:
            raise UsageError(f"{self.path.name} draws from its inputs' distribution; only forecaster graphs (convlstm) take frames to continue")
        (spec,) = self.inputs
        expected = tuple(spec["shape"])
        if context.ndim != 5 or tuple(context.shape[1:]) != expected:
            raise UsageError(f"{self.path.name} takes context frames shaped (N, {', '.join(map(str, expected))}), got {tuple(context.shape)}")
        return self.run({spec["name"]: context.astype(np.float32)})[0]

    def generate(self, n: int, seed: int | None = None, label: int | None = None) -> np.ndarray:
        """``n`` images, ``(n, C, H, W)`` float32, in the graph's value range."""
        if n < 1:
            raise UsageError(f"-n must be at least 1, got {n}")
        outputs = self.metadata.get("outputs", ["image"])
        if self.is_forecaster:
            context_frames = self.metadata.get("context_frames")
            raise UsageError(
                f"{self.path.name} is a forecaster: it continues frames rather than drawing images; "
                f"give --input a GIF or a folder of at least {context_frames} frames"
            )
        if outputs[0] != "image":
            raise UsageError(
                f"{self.path.name} is the {self.metadata.get('model')} {self.metadata.get('graph')} graph "
                f"(outputs {', '.join(outputs)}), not an image generator; export the generator graph to draw images"
            )
        feeds = self.draw_inputs(n, seed, label)  # all at once, so the images do not depend on GENERATE_BATCH
        return np.concatenate([
            self.run({name: value[start : start + GENERATE_BATCH] for name, value in feeds.items()})[0]
            for start in range(0, n, GENERATE_BATCH)
        ])


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


def save_grid(
    images: np.ndarray, path: str | Path, nrow: int | None = None, value_range: tuple[float, float] = (0.0, 1.0), scale: int = 1
) -> Path:
    from zoo.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        image_grid(enlarge(images, scale), nrow, value_range=value_range).save(tmp, format="PNG")
    return path


# -- samples to take away: a picture for people, or the images themselves for other tools ----

DISPLAY_MIN_SIDE = 112
"""Pictures for people (zoo sample's and zoo generate's grids, every GIF) are enlarged, nearest
neighbour and by a whole factor, until a tile is at least this many pixels a side (16 x 16
digits 7 times, 28 x 28 and 32 x 32 4 times, 64 x 64 twice); ``--scale K`` sets the factor."""
MAX_SCALE = 16


def display_scale(side: int, scale: int | None = None) -> int:
    """The factor a picture of ``side``-pixel tiles is enlarged by: ``scale``, else the rule above."""
    return scale if scale is not None else max(1, -(-DISPLAY_MIN_SIDE // side))


def enlarge(images: np.ndarray, scale: int) -> np.ndarray:
    """``(..., H, W)`` images ``scale`` times larger, each pixel a ``scale`` x ``scale`` block."""
    return images if scale == 1 else images.repeat(scale, axis=-2).repeat(scale, axis=-1)


def to_uint8(images: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    low, high = value_range
    return (np.clip((images - low) / (high - low), 0, 1) * 255 + 0.5).astype(np.uint8)


def is_folder_target(out: str) -> bool:
    """``--out DIR/`` (or an existing folder): one file per image rather than one picture."""
    return bool(out) and (out.endswith(("/", "\\")) or Path(out).is_dir())


def save_each(images: np.ndarray, folder: str | Path, value_range: tuple[float, float] = (0.0, 1.0), scale: int = 1) -> list[Path]:
    """One PNG per image, ``000000.png`` on, into ``folder``, which must be new or empty; the
    folder appears whole (written beside it, then renamed)."""
    from PIL import Image

    from zoo.atomic import atomic_dir

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"--out {folder}/ already exists and is not an empty folder; give a new one")
    pixels = to_uint8(enlarge(images, scale), value_range)
    digits = max(6, len(str(len(images) - 1)))
    names = [f"{i:0{digits}d}.png" for i in range(len(images))]
    with atomic_dir(folder) as tmp:
        for name, image in zip(names, pixels):
            picture = Image.fromarray(image[0], "L") if image.shape[0] == 1 else Image.fromarray(image.transpose(1, 2, 0), "RGB")
            picture.save(tmp / name, format="PNG")
    return [folder / name for name in names]


def save_npz(images: np.ndarray, path: str | Path, value_range: tuple[float, float] = (0.0, 1.0), labels: np.ndarray | None = None) -> Path:
    """The images as ``images``, uint8 ``(N, H, W, C)`` (what FID tools such as torch-fidelity,
    clean-fid and StudioGAN read), and ``labels`` when given, in one compressed ``.npz``."""
    from zoo.atomic import atomic_path

    path = Path(path)
    arrays = {"images": to_uint8(images, value_range).transpose(0, 2, 3, 1)}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return path


FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


MAX_DECODED_PIXELS = 50_000_000
"""The most pixels zoo decodes from one image file (about 7,000 x 7,000), checked from its header first."""
MAX_FRAMES = 1000
"""The most frames read from one GIF or folder."""


def open_image(path: str | Path) -> Any:
    """``PIL.Image.open(path)``, refused with a one-line :class:`UsageError` when its header announces
    more than :data:`MAX_DECODED_PIXELS` (Pillow's own bomb warning, a second stderr line, is replaced by this)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        picture = Image.open(path)
    width, height = picture.size
    if width * height > MAX_DECODED_PIXELS:
        picture.close()
        raise UsageError(
            f"{path} is {width} x {height} pixels, more than the {MAX_DECODED_PIXELS:,} zoo decodes from one image; "
            "shrink it first (a decompression bomb, or a photo far larger than any training size)"
        )
    return picture


def read_frames(path: str | Path, channels: int, size: int) -> np.ndarray:
    """The frames of an animated GIF, or the images of a folder in name order, as float32 in
    [0, 1] ``(T, channels, size, size)``, resized with Pillow's bilinear filter."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    path = Path(path)
    mode = "L" if channels == 1 else "RGB"
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
            if not files:
                raise UsageError(f"{path} holds no image files ({', '.join(FRAME_SUFFIXES)}) to read as frames")
            if len(files) > MAX_FRAMES:
                raise UsageError(f"{path} holds {len(files):,} frames; zoo reads at most {MAX_FRAMES:,}")
            pictures = []
            for file in files:
                with open_image(file) as picture:
                    pictures.append(picture.convert(mode))
        elif path.is_file():
            with open_image(path) as animation:
                pictures = []
                for frame in ImageSequence.Iterator(animation):
                    if len(pictures) == MAX_FRAMES:
                        raise UsageError(f"{path} has more than {MAX_FRAMES:,} frames; zoo reads at most {MAX_FRAMES:,}")
                    pictures.append(frame.convert(mode))
        else:
            raise UsageError(f"{path} does not exist; give a GIF or a folder of frames")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError, SyntaxError) as exc:
        raise UsageError(f"cannot read frames from {path}: {exc}") from None
    sizes = {picture.size for picture in pictures}
    if len(sizes) > 1:
        raise UsageError(f"the frames in {path} differ in size ({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}); give frames of one size")
    resized = [np.asarray(p.resize((size, size), Image.BILINEAR) if p.size != (size, size) else p, dtype=np.float32) / 255.0 for p in pictures]
    frames = np.stack(resized)
    return frames[:, None] if channels == 1 else frames.transpose(0, 3, 1, 2)


def save_gif(frames: np.ndarray, path: str | Path, frame_ms: int = 100, loop: bool = True) -> Path:
    """Write uint8 ``(T, C, H, W)`` frames as an animated GIF, atomically."""
    from PIL import Image

    from zoo.atomic import atomic_path

    path = Path(path)
    channels = frames.shape[1]
    images = [Image.fromarray(f[0], "L") if channels == 1 else Image.fromarray(f.transpose(1, 2, 0), "RGB") for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0 if loop else 1, disposal=1)
    return path
