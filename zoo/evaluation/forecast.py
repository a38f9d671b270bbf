"""Continuing sequences with a :class:`~zoo.contract.SequenceModel`, and judging the result.

A sequence of ``T`` frames is cut into the first ``context_frames`` (the model's input) and
the rest (the target). The errors are per predicted frame, summed over the frame's pixels
and averaged over sequences, the convention of the video-prediction literature (PredRNN's
"MSE per frame"):

``mse``
    squared error of the predicted intensities;
``bce``
    binary cross-entropy in nats of the target intensities under the predicted ones, the loss
    Shi et al. train and report on Moving MNIST. Predictions are clamped to
    [:data:`EPSILON`, 1 - :data:`EPSILON`] first, so that a baseline that predicts exact 0s
    and 1s (copying the last frame) gets a finite figure.

Beside each model figure stands the same for the copy-last-frame baseline, which predicts
that nothing moves: the bar any forecaster has to clear.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from zoo.contract import SequenceModel
from zoo.sequences import split

EPSILON = 1e-3


def copy_last(context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The baseline: the last context frame, repeated ``horizon`` times."""
    return context[:, -1:].expand(-1, horizon, *context.shape[2:])


def frame_errors(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per sequence and predicted frame ``(N, horizon)``: ``mse`` and ``bce`` summed over pixels."""
    prediction, target = prediction.float(), target.float()
    mse = (prediction - target).pow(2).flatten(2).sum(-1)
    clamped = prediction.clamp(EPSILON, 1 - EPSILON)
    bce = F.binary_cross_entropy(clamped, target, reduction="none").flatten(2).sum(-1)
    return {"mse": mse, "bce": bce}


@dataclasses.dataclass
class ForecastScores:
    """Per-frame errors of the model and of the copy-last baseline over ``sequences`` sequences."""

    context_frames: int
    horizon: int
    sequences: int
    model: dict[str, list[float]]
    """``{"mse": [frame 1, ..., frame horizon], "bce": [...]}``."""
    copy_last: dict[str, list[float]]

    def mean(self, which: str, metric: str) -> float:
        values = getattr(self, which)[metric]
        return sum(values) / len(values)

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            **{m: self.mean("model", m) for m in ("mse", "bce")},
            **{f"copy_last_{m}": self.mean("copy_last", m) for m in ("mse", "bce")},
        }

    def table(self) -> list[str]:
        """One row per predicted frame and a mean row: the model and the baseline side by side."""
        header = f"{'frame':>7}  {'MSE':>9}  {'copy-last MSE':>13}  {'BCE':>9}  {'copy-last BCE':>13}"
        lines = [header]
        rows = [(f"t+{i + 1}", i) for i in range(self.horizon)] + [("mean", None)]
        for label, i in rows:
            cells = []
            for metric in ("mse", "bce"):
                for which, width in (("model", 9), ("copy_last", 13)):
                    value = self.mean(which, metric) if i is None else getattr(self, which)[metric][i]
                    cells.append(f"{value:>{width}.2f}")
            lines.append(f"{label:>7}  " + "  ".join(cells))
        return lines


def score(model: SequenceModel, batches: Iterator[torch.Tensor], progress_total: int | None = None, progress: bool = False) -> ForecastScores:
    """Forecast every sequence of ``batches`` (each ``(N, T, C, H, W)`` in [0, 1]) and score it."""
    from tqdm.auto import tqdm

    sums: dict[str, dict[str, torch.Tensor]] = {"model": {}, "copy_last": {}}
    count, horizon = 0, 0
    with tqdm(total=progress_total, disable=not progress, unit="seq", desc="forecast") as bar:
        for frames in batches:
            context, target = split(frames, model.context_frames)
            horizon = target.shape[1]
            predictions = {"model": model.predict(context, horizon), "copy_last": copy_last(context, horizon)}
            for which, prediction in predictions.items():
                for metric, errors in frame_errors(prediction, target).items():
                    sums[which][metric] = sums[which].get(metric, 0) + errors.sum(0)
            count += frames.shape[0]
            bar.update(frames.shape[0])
    if count == 0 or horizon < 1:
        raise ValueError("no sequences with frames to forecast")
    per_frame = {which: {m: (v / count).tolist() for m, v in metrics.items()} for which, metrics in sums.items()}
    return ForecastScores(model.context_frames, horizon, count, per_frame["model"], per_frame["copy_last"])
