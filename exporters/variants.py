"""Faster variants of a verified fp32 ONNX file, made with onnxruntime's own tools.

``optimize``
    onnxruntime's offline graph optimisation (``ORT_ENABLE_EXTENDED``: constant folding and
    the fusions every provider can run), saved to the file, so sessions skip that work.
``to_fp16``
    float16 weights and compute (onnxruntime.transformers' ``convert_float_to_float16``),
    with float32 inputs and outputs so callers feed and read the same arrays. Meant for the
    CUDA provider; on a CPU onnxruntime runs it by casting back to float32 where it lacks
    float16 kernels, which verifies the file but is not faster.
``to_int8``
    static quantisation (``onnxruntime.quantization.quantize_static``, QDQ format, int8
    weights per channel, uint8 activations) calibrated on inputs drawn the way the graph's
    metadata says: latents from the model's prior, labels uniformly; or, for a graph whose
    input is data (a forecaster's context frames), on examples of that data the caller gives.

Each writes a new file and leaves its source alone; the exporter verifies the result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from zoo import runtime
from zoo.contract import ExportGraph

CALIBRATION_BATCHES = 16
CALIBRATION_BATCH_SIZE = 32


def optimize(source: Path, out: Path) -> None:
    ort = runtime.onnxruntime()

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # EXTENDED, not ALL: ALL adds CPU-only layout changes that the CUDA provider cannot run
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def to_fp16(source: Path, out: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save_model(model, str(out))


def calibration_inputs(graph: ExportGraph, batches: int = CALIBRATION_BATCHES, batch_size: int = CALIBRATION_BATCH_SIZE, seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Seeded inputs as the graph's :class:`~zoo.contract.TensorSpec` s draw them (the prior)."""
    for index in range(batches):
        inputs = graph.example_inputs(batch=batch_size, seed=seed * 1_000_003 + index)
        yield {name: x.numpy() for name, x in zip(graph.input_names, inputs)}


def to_int8(source: Path, out: Path, graph: ExportGraph, calibration: Iterable[dict[str, np.ndarray]] | None = None) -> None:
    """``calibration``: the feeds to calibrate on; None draws them from the graph's prior."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(calibration) if calibration is not None else calibration_inputs(graph)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # the quantiser's recommended first step: shape inference and a folded graph
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
