"""What an exporter is handed to judge a variant by when value parity cannot (an int8 file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable


@dataclasses.dataclass(frozen=True)
class QualityCheck:
    """How a lossy variant (int8) of a graph is judged, when value parity cannot judge it.

    ``judge(reference, candidate)`` compares two exported files by what the run's model is for
    (sample quality, or a forecaster's errors) and returns whether the candidate passes, with
    lines saying why. ``calibration()``, when given, yields input feeds for a graph whose input
    is data rather than noise.
    """

    judge: Callable[[Path, Path], tuple[bool, list[str]]]
    calibration: Callable[[], Iterable[dict[str, Any]]] | None = None
