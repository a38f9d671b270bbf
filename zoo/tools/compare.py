"""What a run's files say, and several runs side by side (``zoo compare``).

:func:`summarize` reads one run directory (``config.json``, ``metrics.jsonl``, the
checkpoints) into a :class:`RunSummary`: its progress (status, steps, target and last losses,
see :mod:`zoo.runs.progress`), wall time, the training log, events and the latest evaluation
per (dataset, split, extractor). :func:`compare_runs` lines runs up
in one :class:`Comparison`, printed by ``.table()`` or as JSON by ``.to_json()``.
:mod:`zoo.tools.report` draws its page from the same summary.

Evaluation lines (``"event": "evaluate"``) are read generically, whoever wrote them: every
numeric top-level key other than :data:`EVAL_CONTEXT` is a metric, ``dataset``, ``split``
and ``extractor`` say what it was measured on, and a ``floor`` dict holds the same metrics
measured between two halves of the real data. A metric with a spread (``kid_mean`` and
``kid_std``, see :func:`with_spreads`) is one row of ``mean ± std`` cells.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from zoo import runs
from zoo.runs import metrics_log, progress
from zoo.runs.progress import LastLosses, Progress, read_progress
from zoo.runs.record import RunRecord

TRAINING_BOOKKEEPING = progress.BOOKKEEPING
"""Keys of a training log line that are not measurements of the model."""
EVAL_CONTEXT = (
    "step", "time", "n", "samples", "n_real", "floor_n", "kid_subset_size", "prdc_n", "iwae_k",
    "sequences", "context_frames", "horizon",
)
"""Numeric keys of an evaluate line that say how it was measured, not what."""
EVAL_IDENTITY = ("dataset", "split", "extractor")
NOT_COMPARED = (
    "model", "dataset.name", "created", "command", "dataset.spec", "dataset.note", "training.progress", "schema",
    "training.steps",
)  # fmt: skip
"""config.json entries left out of the config rows: the model and dataset have rows of their
own, and the rest differ between any two runs (creation time, command line) or repeat other
fields, so a row would only be noise. ``training.steps`` is the target the run began with,
which a ``--resume --steps`` changes without rewriting config.json: the ``target steps`` row
shows the one in force."""
FLOOR_LABEL = "real vs real (floor)"


is_number = metrics_log.is_number


def _text(value: Any) -> str | None:
    """A string field of a log line as text to show (a damaged one as its repr, escaped)."""
    from zoo.printable import printable

    return None if value is None else printable(value if isinstance(value, str) else repr(value))


@dataclasses.dataclass
class EvalRecord:
    """One evaluate line of ``metrics.jsonl``."""

    dataset: str | None
    split: str | None
    extractor: str | None
    step: int | None
    metrics: dict[str, float]
    floor: dict[str, float]
    context: dict[str, Any]
    """n, n_real, iwae_k, time: how the numbers were measured."""

    @classmethod
    def from_line(cls, entry: dict[str, Any]) -> "EvalRecord":
        floor = entry.get("floor")
        return cls(
            dataset=_text(entry.get("dataset")),
            split=_text(entry.get("split")),
            extractor=_text(entry.get("extractor")),
            step=entry.get("step") if metrics_log.is_step(entry.get("step")) else None,
            metrics={k: v for k, v in entry.items() if is_number(v) and k not in EVAL_CONTEXT},
            floor={k: v for k, v in floor.items() if is_number(v)} if isinstance(floor, dict) else {},
            context={k: entry[k] for k in EVAL_CONTEXT if k in entry and k != "step"},
        )

    @property
    def key(self) -> tuple[str | None, str | None, str | None]:
        """Later evaluations with the same key supersede earlier ones."""
        return (self.dataset, self.split, self.extractor)

    @property
    def where(self) -> str:
        """``classifier:mnist, mnist test``: what the numbers were measured with and on."""
        data = " ".join(part for part in (self.dataset, self.split) if part)
        return ", ".join(part for part in (self.extractor, data) if part)

    def label(self, metric: str) -> str:
        return f"{metric} [{self.where}]" if self.where else metric


@dataclasses.dataclass
class RunSummary:
    path: Path
    record: RunRecord
    """The run's config.json."""
    checkpoint_step: int | None
    logged_step: int | None
    wall_time_s: float | None
    """From the run's creation to its last training log line (pauses before a --resume included)."""
    training: list[dict[str, Any]]
    """Training log lines, one per step (a step logged twice keeps its later line), by step."""
    events: list[dict[str, Any]]
    """Every ``"event"`` line, in the order written."""
    evaluation_history: list[EvalRecord]
    progress: Progress
    """Status, the newest step trained, the target and the last losses (:mod:`zoo.runs.progress`)."""

    @property
    def model(self) -> str:
        return self.record.model

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def dataset(self) -> str:
        return self.record.dataset.name

    @property
    def steps(self) -> int:
        """The newest checkpoint's step (else the last logged one): what sampling and the
        report's grid use. The newest step trained is ``progress.step``."""
        if self.checkpoint_step is not None:
            return self.checkpoint_step
        return self.logged_step or 0

    @property
    def last_losses(self) -> LastLosses:
        return self.progress.last_losses

    @property
    def final(self) -> dict[str, float]:
        """The last losses' values (the means of the last logged interval)."""
        return self.progress.last_losses.values

    @property
    def evaluations(self) -> list[EvalRecord]:
        """The latest evaluation per (dataset, split, extractor), in order of first appearance."""
        latest: dict[tuple, EvalRecord] = {}
        for record in self.evaluation_history:
            latest[record.key] = record
        order = list(dict.fromkeys(record.key for record in self.evaluation_history))
        return [latest[key] for key in order]


def summarize(run_dir: str | Path) -> RunSummary:
    """Read a run directory; a folder that is not a run is a one-line :class:`ZooError`."""
    from zoo.runs.checkpoint import list_checkpoints

    run_dir = Path(run_dir).expanduser()
    record = runs.read_record(run_dir)
    log = metrics_log.read(run_dir)
    training_lines = metrics_log.training_lines(run_dir)
    by_step = {e["step"]: e for e in training_lines}
    checkpoints = list_checkpoints(run_dir)
    last = training_lines[-1] if training_lines else {}
    return RunSummary(
        path=run_dir,
        record=record,
        checkpoint_step=checkpoints[-1][0] if checkpoints else None,
        logged_step=int(last["step"]) if last else None,
        wall_time_s=_wall_time(record, training_lines),
        training=[by_step[step] for step in sorted(by_step)],
        events=[e for e in log if "event" in e],
        evaluation_history=[EvalRecord.from_line(e) for e in log if e.get("event") == "evaluate"],
        progress=read_progress(run_dir, record, log),
    )


def _wall_time(record: RunRecord, training_lines: list[dict[str, Any]]) -> float | None:
    times = [e["time"] for e in training_lines if is_number(e.get("time"))]
    if not times:
        return None
    try:
        start = dt.datetime.fromisoformat(record.created).timestamp()
    except ValueError:
        start = times[0]  # an old run without "created": count from its first log line
    return max(0.0, max(times) - start)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"config": {"latent_dim": 16}}`` -> ``{"config.latent_dim": 16}``."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def comparable_fields(record: RunRecord) -> dict[str, Any]:
    """The run record flattened, the plugin config first, without :data:`NOT_COMPARED`."""
    ordered = {"config": record.config, **{k: v for k, v in record.to_json().items() if k != "config"}}
    return {
        key: value
        for key, value in flatten(ordered).items()
        if not any(key == skip or key.startswith(skip + ".") for skip in NOT_COMPARED)
    }


_MISSING = object()


@dataclasses.dataclass
class Row:
    label: str
    kind: str
    """run, duration, value, config, evaluation, metric or floor: how to print and read it."""
    values: list[Any]
    """One per run; None where the run lacks it."""
    key: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the row holds, for programs: the config field, or the metric and what it was measured on."""
    spread: list[Any] | None = None
    """A metric with a spread: each run's std beside its mean in ``values`` (JSON ``"std"``)."""


@dataclasses.dataclass
class Comparison:
    runs: list[RunSummary]
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [{"path": str(r.path), "model": r.model, "run_id": r.run_id} for r in self.runs],
            "rows": [
                {"label": row.label, "kind": row.kind, **row.key, "values": row.values, **({} if row.spread is None else {"std": row.spread})}
                for row in self.rows
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """The rows as aligned text, one column per run; ``-`` where a run lacks a value."""
        cells = [
            [row.label, *(format_cell(row.kind, value, spread) for value, spread in zip(row.values, row.spread or [None] * len(row.values)))]
            for row in self.rows
        ]
        lines = aligned(cells)
        rule = "  ".join("-" * max(len(line[i]) for line in cells) for i in range(len(cells[0])))
        return "\n".join([lines[0], rule, *lines[1:]])


def aligned(rows: list[list[str]] | list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines: columns as wide as their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def format_cell(kind: str, value: Any, spread: Any = None) -> str:
    """One cell of the table; ``spread``, where given, is shown as ``value ± spread``."""
    if value is None:
        return "-"
    if spread is not None:
        return f"{format_value(value)} ± {format_value(spread)}"
    if kind == "duration":
        return format_duration(value)
    if kind == "evaluation":
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return format_value(value)


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'  # an empty string must not look like a missing value
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def compare_runs(paths: list[str | Path]) -> Comparison:
    """One row per quantity, one column per run (one run gives just its column)."""
    summaries = [summarize(path) for path in paths]
    states = [s.progress for s in summaries]
    rows = [
        Row("run", "value", [s.run_id for s in summaries]),
        Row("model", "value", [s.model for s in summaries]),
        Row("dataset", "value", [s.dataset for s in summaries]),
        Row("status", "value", [p.status for p in states]),
        Row("steps", "value", [p.step for p in states]),  # trained, whatever the target or the checkpoints
    ]
    if any(p.target != p.step for p in states):
        rows.append(Row("target steps", "value", [p.target for p in states]))
    if any(p.checkpoint_step != p.step for p in states):
        rows.append(Row("newest checkpoint", "value", [p.checkpoint_step for p in states]))
    rows.append(Row("wall time", "duration", [s.wall_time_s for s in summaries], {"unit": "s"}))
    losses = [p.last_losses for p in states]
    if any(loss.values for loss in losses):
        rows.append(Row("last losses", "value", [loss.describe() if loss.values else None for loss in losses]))
    for name in _union(loss.values for loss in losses):
        rows.append(Row(f"last {name}", "value", [loss.values.get(name) for loss in losses], {"field": name}))
    rows += _config_rows(summaries)
    rows += _evaluation_rows(summaries)
    return Comparison(summaries, rows)


def _union(keyed: Any) -> list[str]:
    """The keys of several dicts, each once, in order of first appearance."""
    return list(dict.fromkeys(key for mapping in keyed for key in mapping))


def _config_rows(summaries: list[RunSummary]) -> list[Row]:
    """A row for every config.json field whose value is not the same in all runs."""
    fields = [comparable_fields(s.record) for s in summaries]
    names = _union(fields)
    names.sort(key=lambda name: not name.startswith("config."))  # the plugin's config first (a stable sort)
    rows = []
    for name in names:
        values = [f.get(name, _MISSING) for f in fields]
        if all(v == values[0] and type(v) is type(values[0]) for v in values):
            continue
        rows.append(Row(name, "config", [None if v is _MISSING else v for v in values], {"field": name}))
    return rows


def _evaluation_rows(summaries: list[RunSummary]) -> list[Row]:
    """Per (dataset, split, extractor): when and on how much it was measured, each metric, its floor."""
    latest = [{e.key: e for e in s.evaluations} for s in summaries]
    rows = []
    for key in _union(latest):
        records = [by_key.get(key) for by_key in latest]
        sample = next(r for r in records if r is not None)
        identity = dict(zip(EVAL_IDENTITY, key))
        rows.append(
            Row(
                f"evaluated [{sample.where}]" if sample.where else "evaluated",
                "evaluation",
                [None if r is None else {"step": r.step, **{k: v for k, v in r.context.items() if k != "time"}} for r in records],
                identity,
            )
        )
        for name, metric, std in with_spreads(_union(r.metrics for r in records if r is not None)):
            key = {"metric": metric, **({"std_metric": std} if std else {})}
            measured = [None if r is None else r.metrics for r in records]
            floors = [None if r is None else r.floor for r in records]
            rows.append(_metric_row(sample.label(name), "metric", measured, metric, std, {**key, **identity}))
            floor = _metric_row(f"{sample.label(name)} {FLOOR_LABEL}", "floor", floors, metric, std, {**key, "floor": True, **identity})
            if any(v is not None for v in floor.values):
                rows.append(floor)
    return rows


def _metric_row(label: str, kind: str, measured: list[dict[str, float] | None], metric: str, std: str | None, key: dict[str, Any]) -> Row:
    """``metric`` (and its ``std``) from each run's measurements; None where a run lacks it."""
    values = [None if m is None else m.get(metric) for m in measured]
    spread = None if std is None else [None if m is None else m.get(std) for m in measured]
    return Row(label, kind, values, key, spread)


def with_spreads(metrics: list[str]) -> list[tuple[str, str, str | None]]:
    """Metric names as (name to show, key of the value, key of its std or None), in order.

    ``NAME_std`` is the spread of ``NAME_mean`` or, without one, of ``NAME``: ``kid_mean`` and
    ``kid_std`` make one metric ``kid`` shown as ``mean ± std``. A std with neither is a metric
    of its own.
    """
    present = set(metrics)

    def owner(std: str) -> str | None:
        base = std[: -len("_std")]
        return next((key for key in (f"{base}_mean", base) if key in present), None)

    spreads = {owner(name): name for name in metrics if name.endswith("_std") and owner(name) is not None}
    shown = []
    for name in metrics:
        if name in spreads.values():
            continue  # shown beside its mean
        std = spreads.get(name)
        display = name[: -len("_mean")] if std is not None and name.endswith("_mean") else name
        shown.append((display, name, std))
    return shown
