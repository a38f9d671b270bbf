"""Judging a quantised (int8) export by its samples rather than its pixels.

Quantisation moves every pixel a little, by design, so parity at 1e-4 cannot hold. What must
hold is that the file draws images as good as its fp32 source: the same sample-quality
figures as ``zoo evaluate`` (FID and Inception Score in the features of
``classifier:<dataset>``, against the run's test split), for both files, from the same
latents. The int8 file passes when each figure is within :data:`TOLERANCE` of the fp32 file's.

A forecaster (convlstm) draws nothing from noise: :func:`forecast_int8` calibrates it on
context frames of the run's training sequences, and judges it by ``zoo evaluate``'s forecast
errors (per-frame MSE and BCE against the truth) on test sequences, each within
:data:`TOLERANCE` of the fp32 file's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from zoo.errors import UsageError

TOLERANCE = 0.05
"""Largest relative change of FID or IS (a forecaster's MSE or BCE), int8 against fp32, that passes."""
SAMPLES = 2000
BATCH = 250
METRICS = ("fid", "is")
FORECAST_SEQUENCES = 200
"""Test sequences a forecaster's int8 file is judged on."""
CALIBRATION_SEQUENCES = 256


def int8_judge(loaded: Any, graph_outputs: tuple[str, ...], samples: int = SAMPLES, progress: bool = False) -> Callable[[Path, Path], tuple[bool, list[str]]]:
    """A judge for :meth:`ONNXExporter.export`'s ``int8``, for the run ``loaded``
    (a :class:`~zoo.runs.LoadedRun`), made before the export so a missing classifier is
    reported before any work."""
    from zoo.datasets.source import in_order
    from zoo.features import get_extractor
    from zoo.evaluation.sample_quality import extract

    if graph_outputs[0] != "image":
        raise UsageError("--int8 is judged by the quality of the images it draws, so it needs a generator graph (the default)")
    data = loaded.data("test")
    if data.spec.kind != "images" or data.labels is None:
        raise UsageError(f"--int8 is judged with classifier:{data.name}, which needs a labelled image dataset; {data.name} is not one")
    try:
        extractor = get_extractor(f"classifier:{data.name}", None)
    except UsageError as exc:
        raise UsageError(f"--int8 checks sample quality with classifier:{data.name}, and {exc}") from None
    real = extract(
        extractor,
        (batch.images for batch in in_order(data, BATCH)),
        len(data),
        desc="real",
        progress=progress,
    )

    def judge(fp32: Path, int8: Path) -> tuple[bool, list[str]]:
        from zoo.runtime import OnnxGenerator
        from zoo.evaluation.sample_quality import sample_quality

        figures = {}
        for name, path in (("fp32", fp32), ("int8", int8)):
            generator = OnnxGenerator(path, device="cpu")
            low, high = generator.metadata.get("value_range") or (0.0, 1.0)

            def batches(generator: OnnxGenerator = generator) -> Any:
                for index, start in enumerate(range(0, samples, BATCH)):
                    images = generator.generate(min(BATCH, samples - start), seed=index)  # the same latents for both files
                    yield torch.from_numpy(np.clip((images - low) / (high - low), 0, 1))

            fake = extract(extractor, batches(), samples, desc=name, progress=progress)
            figures[name] = sample_quality(real, fake, list(METRICS))
        changes = {
            "FID": (figures["fp32"]["fid"], figures["int8"]["fid"]),
            "IS": (figures["fp32"]["is_mean"], figures["int8"]["is_mean"]),
        }
        relative = {k: (b - a) / abs(a) if a else float("inf") for k, (a, b) in changes.items()}
        worst = max(abs(r) for r in relative.values())
        passed = worst <= TOLERANCE
        lines = [
            f"quality check: {samples:,} samples from the same latents, against {data.name} test ({len(data):,} images) "
            f"in {extractor.name} features",
            "  " + "; ".join(f"{k} fp32 {a:.3f}, int8 {b:.3f} ({relative[k]:+.1%})" for k, (a, b) in changes.items()),
            f"passed: FID and IS each within {TOLERANCE:.0%} of the fp32 file's"
            if passed
            else f"int8 differs from fp32 by {worst:.1%} (> {TOLERANCE:.0%})",
        ]
        return passed, lines

    return judge


def forecast_int8(loaded: Any, graph: Any, sequences: int = FORECAST_SEQUENCES) -> tuple[Callable[[Path, Path], tuple[bool, list[str]]], Callable[[], Iterator[dict[str, np.ndarray]]]]:
    """A judge and calibration feeds for the int8 export of a forecaster graph of the run
    ``loaded``: calibrated on training sequences, judged on the first ``sequences`` test ones."""
    from zoo.evaluation import forecast
    from zoo.sequences import split

    context_frames = graph.metadata["context_frames"]
    (name,) = graph.input_names
    train, test = loaded.data("train"), loaded.data("test")
    frames = test.batch(torch.arange(min(sequences, len(test)))).images
    context, target = split(frames, context_frames)

    def calibration() -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, min(CALIBRATION_SEQUENCES, len(train)), 32):
            index = torch.arange(start, min(start + 32, CALIBRATION_SEQUENCES, len(train)))
            yield {name: train.batch(index).images[:, :context_frames].numpy()}

    def judge(fp32: Path, int8: Path) -> tuple[bool, list[str]]:
        from zoo.runtime import OnnxGenerator

        figures = {}
        for label, path in (("fp32", fp32), ("int8", int8)):
            prediction = torch.from_numpy(OnnxGenerator(path, device="cpu").forecast(context.numpy()))
            errors = forecast.frame_errors(prediction, target)
            figures[label] = {key: value.mean().item() for key, value in errors.items()}
        relative = {key: (figures["int8"][key] - a) / abs(a) if a else float("inf") for key, a in figures["fp32"].items()}
        worst = max(abs(r) for r in relative.values())
        passed = worst <= TOLERANCE
        lines = [
            f"quality check: forecasts of {len(frames):,} {test.name} test sequences ({context_frames} frames given, "
            f"{target.shape[1]} predicted) against the truth, per frame",
            "  " + "; ".join(f"{key.upper()} fp32 {figures['fp32'][key]:.2f}, int8 {figures['int8'][key]:.2f} ({relative[key]:+.1%})" for key in relative),
            f"passed: MSE and BCE each within {TOLERANCE:.0%} of the fp32 file's"
            if passed
            else f"int8 differs from fp32 by {worst:.1%} (> {TOLERANCE:.0%})",
        ]
        return passed, lines

    return judge, calibration


def quality_check(loaded: Any, graph: Any) -> Any:
    """The :class:`~zoo.export.QualityCheck` for a graph of the run ``loaded``: a forecaster
    (its graph takes context frames, data rather than noise) by :func:`forecast_int8`, any
    other graph by :func:`int8_judge`."""
    from zoo.export.quality import QualityCheck

    if "context_frames" in graph.metadata:
        judge, calibration = forecast_int8(loaded, graph)
        return QualityCheck(judge, calibration)
    return QualityCheck(int8_judge(loaded, graph.outputs))
