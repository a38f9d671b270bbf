"""Judging a quantised (int8) export by its samples rather than its pixels.

Quantisation moves every pixel a little, by design, so parity at 1e-4 cannot hold. What must
hold is that the file draws images as good as its fp32 source: the same sample-quality
figures as ``zoo evaluate`` (FID and Inception Score in the features of
``classifier:<dataset>``, against the run's test split), for both files, from the same
latents. The int8 file passes when each figure is within :data:`TOLERANCE` of the fp32 file's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo.errors import UsageError

TOLERANCE = 0.05
"""Largest relative change of FID or IS, int8 against fp32, that passes."""
SAMPLES = 2000
BATCH = 250
METRICS = ("fid", "is")


def int8_judge(loaded: Any, graph_outputs: tuple[str, ...], samples: int = SAMPLES, progress: bool = False) -> Callable[[Path, Path], tuple[bool, list[str]]]:
    """A judge for :meth:`ONNXExporter.export`'s ``int8``, for the run ``loaded``
    (a :class:`~zoo.runs.LoadedRun`), made before the export so a missing classifier is
    reported before any work."""
    from zoo.datasets.source import in_order
    from zoo.features import get_extractor
    from zoo.sample_quality import extract

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
        from zoo.sample_quality import sample_quality

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
