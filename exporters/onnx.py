"""ONNX exporter: one self-contained ``.onnx`` file per graph, verified before it is kept.

Every export is checked three ways before it is renamed into place: ``onnx.checker`` with
``full_check`` (which runs shape inference), then onnxruntime (CPU provider) against PyTorch
on seeded inputs at batch 1 and 16, failing above ``TOLERANCE``. Image dimensions are fixed;
only the batch axis is dynamic.

We use the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``), not the
TorchScript-based one: for these models it gives the clean graph (BatchNorm folded into the
convolutions, no Shape/Gather/Concat arithmetic around the latent reshape, checked on DCGAN),
it is the maintained path since torch 2.9 (the TorchScript exporter is deprecated), and it
folds parametrisations such as spectral norm into plain weights. It writes weights to a
separate ``.onnx.data`` file unless told ``external_data=False``, which we do.

``optimize``, ``fp16`` and ``int8`` turn the verified fp32 file into a faster variant
(:mod:`zoo.exporters.variants`), verified in its turn before it is kept: an optimised graph
against PyTorch at the same ``TOLERANCE``; a float16 one at ``FP16_TOLERANCE``; an int8 one,
whose pixels move by design, by the ``quality`` check the caller supplies (``zoo export``
compares its sample quality, or a forecaster's errors, with the fp32 file's, see
:mod:`zoo.export.int8_judge`), which also gives calibration feeds for a graph whose input is
data rather than noise.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo import runtime
from zoo.atomic import atomic_path, temporary_prefix
from zoo.contract import ExportGraph
from zoo.errors import UsageError, ZooError
from zoo.exporters import variants
from zoo.export import Exporter, ExportReport, ExportSource, QualityCheck

TOLERANCE = 1e-4
"""Largest absolute difference between onnxruntime and PyTorch outputs that passes."""
FP16_TOLERANCE = 1e-2
"""The same for a float16 file: 2.5 grey levels of an 8-bit image in [0, 1]."""
DEFAULT_OPSET = 18
PARITY_BATCHES = (1, 16)
ONNX_OPTIONS = {"opset": DEFAULT_OPSET, "optimize": False, "fp16": False, "int8": False}
"""The options :meth:`ONNXExporter.export` takes, with their defaults."""


class ONNXExporter(Exporter):
    name = "onnx"
    summary = "ONNX file with zoo metadata, checked by onnx.checker and onnxruntime against PyTorch"
    suffix = ".onnx"

    def export(
        self,
        graph: ExportGraph,
        source: ExportSource,
        out: Path,
        quality: Callable[[], QualityCheck] | None = None,
        progress: Callable[[str], None] | None = None,
        **options: Any,
    ) -> ExportReport:
        """``options``: ``opset`` (default :data:`DEFAULT_OPSET`), and ``optimize``, ``fp16``
        or ``int8`` for a variant; an int8 file is judged by ``quality()``. ``progress`` is
        told each stage as it begins."""
        import onnx

        stage = progress or (lambda name: None)

        opset, optimize, fp16, int8 = (options.pop(key, default) for key, default in ONNX_OPTIONS.items())
        if options:
            raise UsageError(f"the onnx exporter takes no option(s) {', '.join(options)}")
        if not 7 <= opset <= 23:
            raise UsageError(f"--opset must be between 7 and 23, got {opset}")
        if fp16 and int8:
            raise UsageError("--fp16 and --int8 are two different files; give one")
        if int8 and quality is None:
            raise UsageError("an int8 export needs a judge of its sample quality (zoo export provides one)")
        runtime.onnxruntime()  # a missing onnxruntime, which proves the file, fails before any work
        if int8:
            stage("preparing the int8 quality check")
        check = quality() if int8 else None  # likewise a run that cannot be judged
        module = graph.module.eval()
        precision = "fp16" if fp16 else "int8" if int8 else "fp32"
        # the scratch folder is named like atomic_path's files, so a killed export's is cleaned up too
        with atomic_path(out) as tmp, tempfile.TemporaryDirectory(prefix=temporary_prefix(out), suffix=".tmp", dir=out.parent) as scratch:
            fp32 = Path(scratch) / "fp32.onnx" if (optimize or precision != "fp32") else tmp
            stage("torch.onnx export")
            _torch_export(module, graph, fp32, opset)
            model = onnx.load(str(fp32))
            _write_metadata(model, graph, source, opset)
            onnx.save_model(model, str(fp32))
            stage("onnx.checker")
            try:
                onnx.checker.check_model(str(fp32), full_check=True)
            except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
                raise ZooError(f"onnx.checker rejected the exported {source.graph_name}: {str(exc).splitlines()[0]}") from None
            stage("parity vs PyTorch at batch " + " and ".join(map(str, PARITY_BATCHES)))
            diffs = parity(module, graph, fp32)
            _check_parity(diffs, TOLERANCE, source, out, "")
            lines = [
                f"exported {source.model_name} {source.graph_name} (step {source.step}) -> {out} (opset {opset}"
                + (f", {precision}" if precision != "fp32" else "")
                + (", optimised" if optimize else "")
                + ")",
                "parity vs PyTorch (onnxruntime CPU): " + _describe(diffs) + f" (tolerance {TOLERANCE:g})",
            ]
            checks: dict[str, Any] = {"max_abs_diff": diffs, "tolerance": TOLERANCE, "opset": opset, "precision": precision, "optimized": optimize}
            if fp32 != tmp:
                current = fp32
                if precision == "fp16":
                    current = Path(scratch) / "fp16.onnx"
                    stage("float16 conversion")
                    variants.to_fp16(fp32, current)
                elif precision == "int8":
                    current = Path(scratch) / "int8.onnx"
                    stage("int8 calibration and quantisation")
                    variants.to_int8(fp32, current, graph, check.calibration() if check.calibration is not None else None)
                if optimize:
                    stage("onnxruntime graph optimisation")
                    variants.optimize(current, tmp)
                else:
                    shutil.copyfile(current, tmp)
                _add_metadata(tmp, {"precision": precision, "optimized": optimize})
                if precision == "int8":
                    stage("int8 sample quality vs the fp32 file")
                    passed, verdict = check.judge(fp32, tmp)
                    against_fp32 = parity_between(fp32, tmp, graph)
                    lines.append(f"int8 vs the fp32 file: max abs diff {against_fp32:.3g} (values move by design; judged by quality below)")
                    lines += verdict
                    checks["quality"] = verdict
                    if not passed:
                        raise ZooError(f"the int8 file fails its quality check ({verdict[-1]}); nothing written to {out}")
                else:
                    tolerance = FP16_TOLERANCE if precision == "fp16" else TOLERANCE
                    label = " ".join(part for part in (precision if precision != "fp32" else "", "optimised" if optimize else "") if part)
                    stage(f"parity of the {label} file vs PyTorch")
                    variant_diffs = parity(module, graph, tmp)
                    _check_parity(variant_diffs, tolerance, source, out, f"{label} ")
                    lines.append(
                        f"{label} file vs PyTorch (onnxruntime CPU): "
                        + _describe(variant_diffs)
                        + f" (tolerance {tolerance:g})"
                    )
                    checks["variant_max_abs_diff"] = variant_diffs
        return ExportReport(path=out, checks=checks, lines=lines)


def _describe(diffs: dict[str, float]) -> str:
    return ", ".join(f"max abs diff {d:.2e} at {b}" for b, d in diffs.items())


def _check_parity(diffs: dict[str, float], tolerance: float, source: ExportSource, out: Path, what: str) -> None:
    worst = max(diffs.values())
    if not worst <= tolerance:
        raise ZooError(
            f"parity check failed: the {what}file differs from PyTorch by {worst:.3g} "
            f"(> {tolerance:g}) for {source.model_name} {source.graph_name}; nothing written to {out}"
        )


def _add_metadata(path: Path, values: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"zoo.{key}", json.dumps(value)
    onnx.save_model(model, str(path))


def parity_between(reference: Path, candidate: Path, graph: ExportGraph, batch: int = 16) -> float:
    """Max absolute difference between two files' first outputs on seeded inputs."""
    ort = runtime.onnxruntime()

    options = ort.SessionOptions()
    options.log_severity_level = 3
    feeds = {name: x.numpy() for name, x in zip(graph.input_names, graph.example_inputs(batch=batch, seed=4321))}
    a, b = (ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0] for p in (reference, candidate))
    return float(np.max(np.abs(a - b)))


def _torch_export(module: torch.nn.Module, graph: ExportGraph, path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic_shapes = tuple({0: batch} for _ in graph.inputs)
    # the dynamo exporter reports its progress through print, logging and warnings
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet_logging():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                graph.example_inputs(batch=2),
                str(path),
                input_names=graph.input_names,
                output_names=list(graph.outputs),
                dynamic_shapes=dynamic_shapes,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                optimize=True,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types; one line for the user
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ZooError(f"torch.onnx could not export the graph: {first} (zoo --debug export ... for details)") from exc


@contextlib.contextmanager
def _quiet_logging():
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "torch._dynamo")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _write_metadata(model: Any, graph: ExportGraph, source: ExportSource, opset: int) -> None:
    import zoo

    values = {
        "version": zoo.__version__,
        "model": source.model_name,
        "graph": source.graph_name,
        "inputs": [
            {"name": s.name, "shape": list(s.shape), "dtype": s.dtype, "distribution": s.distribution} for s in graph.inputs
        ],
        "outputs": list(graph.outputs),
        "image_shape": list(source.image_shape),
        "value_range": None if graph.value_range is None else list(graph.value_range),
        "checkpoint_sha256": source.checkpoint_sha256,
        "checkpoint_step": source.step,
        "opset": opset,
        "description": graph.description,
        **graph.metadata,
    }
    del model.metadata_props[:]
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key = f"zoo.{key}"
        entry.value = value if isinstance(value, str) else json.dumps(value)


def parity(module: torch.nn.Module, graph: ExportGraph, path: Path) -> dict[str, float]:
    """Max absolute difference between onnxruntime (CPU) and PyTorch at each parity batch size."""
    ort = runtime.onnxruntime()

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    diffs = {}
    for batch in PARITY_BATCHES:
        inputs = graph.example_inputs(batch=batch, seed=1234 + batch)
        with torch.no_grad():
            expected = module(*inputs)
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        got = session.run(None, {name: x.numpy() for name, x in zip(graph.input_names, inputs)})
        if len(got) != len(expected):
            raise ZooError(f"the exported graph has {len(got)} outputs, PyTorch gives {len(expected)}")
        diffs[f"batch {batch}"] = max(
            float(np.max(np.abs(g - e.detach().cpu().numpy()))) if g.shape == tuple(e.shape) else float("inf")
            for g, e in zip(got, expected)
        )
    return diffs
