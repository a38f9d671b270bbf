"""``zoo evaluate``: measure a trained run on a dataset split and keep the numbers.

The run's own dataset (and data folder) is used unless another is named, on its ``test``
split. Two kinds of measurement, each appended to the run's ``metrics.jsonl`` as one
``"event": "evaluate"`` line and turned into :class:`Result`-shaped entries for
``registry.json`` (see :mod:`zoo.evaluation.catalog`): what was measured, on what, by which command.

``nll``
    the likelihood bounds of :mod:`zoo.evaluation.likelihood`, for models that define a likelihood;
``fid``, ``kid``, ``is``, ``prdc``
    sample quality (:mod:`zoo.evaluation.sample_quality`) of ``n`` generated images against the split's
    real images, in the feature space of an extractor (:mod:`zoo.features`; by default
    ``classifier:<dataset>``), always beside the same metrics between two halves of the real
    images: the floor, what a perfect generator would get at that size.

``mse``, ``bce``
    for a :class:`~zoo.contract.SequenceModel`, which continues sequences rather than drawing
    images: per-frame errors of its forecasts of the split's sequences, beside those of the
    copy-last-frame baseline (:mod:`zoo.evaluation.forecast`).

Without ``metrics``, a likelihood model gets its bounds, plus sample quality when the
default classifier has been trained; a sequence model gets its forecast errors; any other
model gets sample quality.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Literal

from zoo import runs
from zoo.runs import metrics_log
from zoo.contract import LikelihoodModel, SequenceModel
from zoo.config import SEED_MAX, check_bounds, option
from zoo.errors import UsageError

CONDITIONAL_NOTE = "given each image's true class label: the bounds are on -log p(x | y)"
LIKELIHOOD = "nll"
FORECAST = ("mse", "bce")


@dataclasses.dataclass
class Evaluation:
    run_dir: Path
    step: int
    dataset: str
    split: str
    note: str
    likelihood: dict[str, Any] | None
    """The likelihood bounds (as in metrics.jsonl), when measured."""
    quality: dict[str, Any] | None
    """Sample-quality metrics, the extractor, counts and the ``floor``, when measured."""
    skipped: str | None
    """Why sample quality was not measured, when it was not asked for explicitly."""
    results: list[dict[str, Any]]
    """Entries for registry.json's ``results`` (one per headline number)."""
    forecast: Any = None
    """A sequence model's :class:`~zoo.evaluation.forecast.ForecastScores`, when measured."""

    def likelihood_table(self) -> list[str]:
        m = self.likelihood
        rows = [
            ("negative ELBO", m["neg_elbo"], m["neg_elbo_bpd"]),
            (f"IWAE NLL (k={m['iwae_k']})", m["iwae_nll"], m["iwae_nll_bpd"]),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'metric':<{width}}  {'nats/image':>10}  {'bits/dim':>8}"]
        lines += [f"{name:<{width}}  {nats:>10.2f}  {bpd:>8.4f}" for name, nats, bpd in rows]
        return lines

    def quality_table(self, name: str) -> list[str]:
        q = self.quality
        columns = [c for c in QUALITY_COLUMNS if c[1] in q]
        rows = [(f"{name}, {q['samples']:,} samples", q), (f"real vs real (floor), {q['floor_n']:,} a side", q["floor"])]
        width = max(len(label) for label, _ in rows)
        lines = [f"{'':<{width}}" + "".join(f"  {title:>{w}}" for title, _, w, _ in columns)]
        for label, values in rows:
            lines.append(f"{label:<{width}}" + "".join(f"  {fmt(values):>{w}}" for _, _, w, fmt in columns))
        return lines

    def report(self, name: str) -> list[str]:
        """What ``zoo evaluate`` prints: where it measured, on what data, and the tables."""
        head = f"{name} {self.run_dir} (step {self.step}) on {self.dataset} {self.split}"
        if self.forecast:
            from zoo.evaluation.forecast import EPSILON

            scores = self.forecast
            lines = [f"{head}: {scores.sequences:,} sequences, {scores.context_frames} frames given, {scores.horizon} predicted"]
            lines += [f"data: {self.note}"] if self.note else []
            lines += scores.table()
            lines.append(f"per predicted frame, summed over its pixels; BCE in nats with predictions clamped to [{EPSILON:g}, {1 - EPSILON:g}]")
        else:
            counted = f"{self.likelihood['n']:,} images" if self.likelihood else f"{self.quality['n_real']:,} real images"
            lines = [f"{head}: {counted}"] + ([f"data: {self.note}"] if self.note else [])
        if self.likelihood:
            lines.append(f"binarisation: {self.likelihood['binarization']}")
            if "conditioning" in self.results[0]:
                lines.append(f"conditioning: {self.results[0]['conditioning']}")
            lines += self.likelihood_table()
        if self.quality:
            q = self.quality
            lines += [""] if self.likelihood else []
            lines.append(f"features: {q['extractor']}: {q['extractor_description']}")
            lines += self.quality_table(name)
            notes = [f"KID over 100 subsets of {q['kid_subset_size']:,}"] if "kid_subset_size" in q else []
            if "prdc_n" in q:
                notes.append(f"precision/recall/density/coverage with k = 5 on {q['prdc_n']:,} images a side")
            notes.append(f"the floor compares two halves of the {q['n_real']:,} real images")
            lines.append("; ".join(notes))
        if self.skipped:
            lines.append(self.skipped)
        return lines


def _mean_std(key: str, digits: int):
    return lambda v: f"{v[key + '_mean']:.{digits}f} ± {v[key + '_std']:.{digits}f}"


QUALITY_COLUMNS = [
    # (title, key present when measured, width, format)
    ("FID", "fid", 8, lambda v: f"{v['fid']:.3f}"),
    ("KID", "kid_mean", 17, _mean_std("kid", 4)),
    ("IS", "is_mean", 13, _mean_std("is", 2)),
    ("precision", "precision", 9, lambda v: f"{v['precision']:.3f}"),
    ("recall", "recall", 6, lambda v: f"{v['recall']:.3f}"),
    ("density", "density", 7, lambda v: f"{v['density']:.3f}"),
    ("coverage", "coverage", 8, lambda v: f"{v['coverage']:.3f}"),
]


def parse_metrics(text: str | None) -> tuple[str, ...] | None:
    """``"fid,kid"`` -> ``("fid", "kid")``; None stays None (the model's defaults)."""
    from zoo.evaluation.sample_quality import METRICS

    if text is None:
        return None
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    allowed = (LIKELIHOOD, *METRICS, *FORECAST)
    for name in names:
        if name not in allowed:
            raise UsageError(f"unknown metric {name!r} in --metrics; choose from {', '.join(allowed)}")
    if not names:
        raise UsageError(f"--metrics is empty; choose from {', '.join(allowed)}")
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class EvaluateRequest:
    """What ``zoo evaluate NAME`` measures. Each field declared with ``option()`` is also its flag."""

    name: str
    run: str | Path | None = "latest"
    dataset: str | None = None
    """Another dataset to measure on; None: the run's own."""
    data_dir: str | Path | None = None
    split: str = option("test", "Split to measure on.")
    metrics: tuple[str, ...] | None = None
    """Names from :func:`parse_metrics`; None: the model's defaults (see the module docstring)."""
    features: str | None = option(
        None, "Feature extractor for fid/kid/is/prdc: classifier:DATASET or inception [default: classifier:<dataset>]."
    )
    weights: str | Path | None = option(None, "Weights file for the extractor (inception needs one).")
    n: int = option(10000, "Generated images for the sample-quality metrics.", flag="-n", low=2, high=1_000_000)
    batch_size: int = option(250, "Images per generation and extraction batch.", low=1, high=65536)
    k: int = option(1000, "Importance samples per image for the IWAE bound.", flag="-k", low=1, high=100_000)
    binarization: Literal["dynamic", "threshold"] = option(
        "dynamic", "How greyscale pixels become binary for Bernoulli models: one seeded draw, or > 0.5.", flag="--binarize"
    )
    seed: int = option(0, "Seed for the binarisation, the latents and the subsets.", low=0, high=SEED_MAX)
    device: str = "auto"
    runs_dir: str | Path | None = None
    command: str | None = None
    """The command line recorded with the results; None: one naming the run."""
    progress: bool = True

    def __post_init__(self) -> None:
        check_bounds(self)


def evaluate_run(request: EvaluateRequest) -> Evaluation:
    from zoo.device import pick_device
    from zoo.models import get_model
    from zoo.evaluation.sample_quality import METRICS

    name, metrics = request.name, request.metrics
    plugin = get_model(name)
    run_dir = runs.find(name, request.run, request.runs_dir)
    loaded = runs.load(run_dir, device=pick_device(request.device), model_name=name)
    command = request.command or f"zoo evaluate {name} --run {run_dir}"
    if isinstance(loaded.model, SequenceModel):
        if metrics is not None and not set(metrics) <= set(FORECAST):
            raise UsageError(f"{name} forecasts frames rather than drawing images: its metrics are {','.join(FORECAST)} (both are always measured)")
        return _evaluate_forecast(loaded, run_dir, request, command)
    if metrics is not None and set(metrics) & set(FORECAST):
        raise UsageError(f"{','.join(FORECAST)} measure forecasts of frame sequences, and {name} draws images; choose from {LIKELIHOOD}, {', '.join(METRICS)}")
    has_likelihood = isinstance(loaded.model, LikelihoodModel)
    explicit = metrics is not None
    wanted = list(metrics) if explicit else ([LIKELIHOOD] if has_likelihood else []) + list(METRICS)
    if LIKELIHOOD in wanted and not has_likelihood:
        raise UsageError(f"{name} defines no likelihood, so it has no nll; choose sample-quality metrics: --metrics {','.join(METRICS)}")
    quality_metrics = [m for m in wanted if m != LIKELIHOOD]
    if quality_metrics and request.n < 2:
        raise UsageError(f"-n must be at least 2, got {request.n}")
    data = loaded.data(request.split, request.dataset, request.data_dir)

    extractor, skipped = None, None
    if quality_metrics:
        try:
            extractor = _open_extractor(request.features, request.weights, data)
        except UsageError as exc:
            if explicit or request.features or not has_likelihood:
                raise
            skipped = f"sample quality not measured: {exc}"
            quality_metrics = []

    common = {
        "plugin_version": plugin.version,  # results describe the networks of this version
        "dataset": data.name,
        "split": data.split,
        "split_note": data.note,
        "train_steps": loaded.step,
        "train_command": loaded.record.command,
        "command": command,
    }
    likelihood = quality = None
    results: list[dict[str, Any]] = []
    if LIKELIHOOD in wanted:
        conditioning = {"conditioning": CONDITIONAL_NOTE} if plugin.conditional else {}
        likelihood, entries = _likelihood(loaded, data, request, {**common, **conditioning})
        _append_event(run_dir, {"step": loaded.step, "dataset": data.name, "split": data.split, **likelihood})
        results += entries
    if quality_metrics:
        quality, entries = _quality(loaded, data, extractor, quality_metrics, request, common)
        _append_event(run_dir, {"step": loaded.step, "dataset": data.name, "split": data.split, **quality})
        results += entries
    return Evaluation(run_dir, loaded.step, data.name, data.split, data.note, likelihood, quality, skipped, results)


def _evaluate_forecast(loaded, run_dir: Path, request: EvaluateRequest, command: str) -> Evaluation:
    """Forecast every sequence of the split and score it, beside the copy-last-frame baseline."""
    from zoo.datasets.source import in_order
    from zoo.evaluation import forecast

    data = loaded.data(request.split, request.dataset, request.data_dir)  # refuses a set of images, as zoo train does
    if data.spec.frames <= loaded.model.context_frames:
        raise UsageError(f"{data.name} has {data.spec.frames} frames a sequence, no more than the {loaded.model.context_frames} context frames")
    batches = (batch.images for batch in in_order(data, request.batch_size))
    scores = forecast.score(loaded.model, batches, progress_total=len(data), progress=request.progress)
    summary = scores.to_dict()
    _append_event(run_dir, {"step": loaded.step, "dataset": data.name, "split": data.split, **summary})
    shared = {
        "unit": "per frame, summed over its pixels; mean over predicted frames and sequences",
        "plugin_version": loaded.record.plugin_version,
        "dataset": data.name,
        "split": data.split,
        "split_note": data.note,
        "n": scores.sequences,
        "context_frames": scores.context_frames,
        "horizon": scores.horizon,
        "train_steps": loaded.step,
        "train_command": loaded.record.command,
        "command": command,
        **_stamp(),
    }
    results = [
        {
            "metric": metric,
            "value": round(scores.mean("model", metric), 2),
            "copy_last": round(scores.mean("copy_last", metric), 2),
            "per_frame": [round(v, 2) for v in scores.model[metric]],
            **shared,
        }
        for metric in FORECAST
    ]
    return Evaluation(run_dir, loaded.step, data.name, data.split, data.note, None, None, None, results, forecast=scores)


def _open_extractor(features: str | None, weights: str | Path | None, data):
    from zoo.features import get_extractor

    if features is None:
        if data.labels is None:
            raise UsageError(
                f"{data.name} has no class labels, so there is no default classifier to measure sample quality with; "
                "pass --features inception --weights FILE, or --features classifier:D for a labelled dataset D of the same kind"
            )
        features = f"classifier:{data.name}"
    return get_extractor(features, weights)


def _append_event(run_dir: Path, fields: dict[str, Any]) -> None:
    entry = {"event": "evaluate", **fields, "time": dt.datetime.now().timestamp()}
    metrics_log.append(run_dir, entry)


def _stamp() -> dict[str, str]:
    import zoo

    return {"zoo_version": zoo.__version__, "date": dt.date.today().isoformat()}


def _likelihood(loaded, data, request: EvaluateRequest, common: dict[str, Any]):
    from zoo.evaluation.likelihood import evaluate_likelihood

    result = evaluate_likelihood(
        loaded.model, data, k=request.k, binarization=request.binarization, seed=request.seed, progress=request.progress
    )
    metrics = result.metrics()
    shared = {
        "unit": "nats/image",
        **common,
        "n": result.n,
        "binarization": result.binarization,
        **_stamp(),
    }
    entries = [
        {"metric": "neg_elbo", "value": round(result.neg_elbo, 2), "bits_per_dim": round(metrics["neg_elbo_bpd"], 4), **shared},
        {"metric": "iwae_nll", "value": round(result.iwae_nll, 2), "bits_per_dim": round(metrics["iwae_nll_bpd"], 4), "k": result.k, **shared},
    ]
    return metrics, entries


def _quality(loaded, data, extractor, metrics: list[str], request: EvaluateRequest, common: dict[str, Any]):
    from zoo.datasets.source import in_order
    from zoo.evaluation.sample_quality import extract, image_batches, real_floor, sample_quality

    n, batch_size, seed, progress = request.n, request.batch_size, request.seed, request.progress

    real = extract(
        extractor,
        (batch.images for batch in in_order(data, batch_size)),
        len(data),
        desc="real",
        progress=progress,
    )
    # Each batch has its own seed, so the n images are the same whatever the batch size divides.
    fake = extract(
        extractor,
        image_batches(lambda count, index: loaded.model.sample(count, seed=seed * 1_000_003 + index), n, batch_size),
        n,
        desc="samples",
        progress=progress,
    )
    measured = sample_quality(real, fake, metrics, seed=seed)
    floor = real_floor(real, metrics, seed=seed)
    quality = {
        "extractor": extractor.name,
        "extractor_description": extractor.description,
        "samples": n,
        "n_real": len(real),
        "floor_n": len(real) // 2,
        **measured,
        "floor": floor,
    }
    shared = {
        "extractor": extractor.name,
        "extractor_description": extractor.description,
        **common,
        "n": n,
        "n_real": len(real),
        **_stamp(),
    }
    entries = []
    for metric, key, extra in (
        ("fid", "fid", {}),
        ("kid", "kid_mean", {"subset_size": measured.get("kid_subset_size")}),
        ("is", "is_mean", {}),
        ("precision", "precision", {"k": 5, "n_each": measured.get("prdc_n")}),
        ("recall", "recall", {"k": 5, "n_each": measured.get("prdc_n")}),
        ("density", "density", {"k": 5, "n_each": measured.get("prdc_n")}),
        ("coverage", "coverage", {"k": 5, "n_each": measured.get("prdc_n")}),
    ):
        if key not in measured:
            continue
        entry = {"metric": metric, "value": round(measured[key], 4)}
        if key.endswith("_mean"):
            entry["std"] = round(measured[key.replace("_mean", "_std")], 4)
        entry["floor"] = round(floor[key], 4)
        entries.append({**entry, **extra, **shared})
    return quality, entries
