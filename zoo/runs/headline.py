"""A run's headline metric: the one number of its evaluations that ``zoo runs`` shows.

The rule: the first metric of :data:`HEADLINE_METRICS` that any of the run's ``zoo evaluate``
lines measured, with the value of the newest line that measured it (on whatever data and
features that line names). The order puts a likelihood model's IWAE NLL before the FID it may
also have, a GAN's FID next, and a forecaster's MSE, which has neither, last. Lower is better
for all three.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.runs import metrics_log

HEADLINE_METRICS = ("iwae_nll", "fid", "mse")


@dataclasses.dataclass(frozen=True)
class Headline:
    metric: str
    value: float
    step: int | None
    """The training step of the checkpoint evaluated."""
    dataset: str | None = None
    split: str | None = None
    extractor: str | None = None

    def text(self, trained_step: int | None = None) -> str:
        """``fid 3.45``, and ``@1000`` when it was measured at an earlier step than ``trained_step``."""
        stale = self.step is not None and trained_step is not None and self.step != trained_step
        return f"{self.metric} {self.value:.4g}" + (f" @{self.step}" if stale else "")


def headline(log: list[dict[str, Any]]) -> Headline | None:
    """The run's headline metric from its log (:func:`metrics_log.read`), or None if unevaluated."""
    evaluations = [entry for entry in log if entry.get("event") == "evaluate"]
    for metric in HEADLINE_METRICS:
        measured = [entry for entry in evaluations if metrics_log.is_number(entry.get(metric))]
        if measured:
            newest = measured[-1]
            text = {key: newest[key] if isinstance(newest.get(key), str) else None for key in ("dataset", "split", "extractor")}
            step = newest.get("step") if metrics_log.is_step(newest.get("step")) else None
            return Headline(metric, float(newest[metric]), step, **text)
    return None
