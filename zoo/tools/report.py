"""``zoo report``: one self-contained HTML page about a run.

The page needs no server and fetches nothing: images are ``data:`` URIs and the CSS is
inline. Top to bottom: a title, the sample grid, the training curves, the metric curves,
the config, the events of ``metrics.jsonl`` and the evaluation tables.

The sample grid is drawn fresh from the newest checkpoint with a fixed seed, so the page
shows what the saved weights do. It sits at a fixed place and size (:data:`HEADER_PX`,
:data:`GRID_PX`) right under the title, so a screenshot of the page can be checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from pathlib import Path
from typing import Any

from zoo import atomic
from zoo.tools.compare import (
    FLOOR_LABEL,
    TRAINING_BOOKKEEPING,
    EvalRecord,
    RunSummary,
    flatten,
    format_duration,
    format_value,
    is_number,
    summarize,
)

HEADER_PX = 48
GRID_PX = 512
GRID_SAMPLES = 64
GRID_SEED = 0
FORECAST_SEQUENCES = 4

CSS = f"""
html, body {{ margin: 0; padding: 0; background: #fff; color: #222; font: 14px/1.45 system-ui, sans-serif; }}
header {{ height: {HEADER_PX}px; box-sizing: border-box; padding: 0 16px; display: flex; align-items: center;
  overflow: hidden; white-space: nowrap; background: #f3f3f3; border-bottom: 1px solid #ddd; font-size: 18px; }}
#samples {{ display: block; width: {GRID_PX}px; height: {GRID_PX}px; margin: 0; image-rendering: pixelated; }}
main {{ padding: 8px 16px 32px; max-width: 1200px; }}
h2 {{ margin: 28px 0 8px; font-size: 17px; border-bottom: 1px solid #ddd; }}
h3 {{ margin: 16px 0 4px; font-size: 15px; }}
table {{ border-collapse: collapse; font-variant-numeric: tabular-nums; }}
th, td {{ border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f7f7f7; font-weight: 600; }}
.note {{ color: #666; }}
.curves {{ max-width: 100%; }}
"""


def build_report(run_dir: str | Path) -> str:
    """The HTML page for a run, as a string."""
    summary = summarize(run_dir)
    grid, grid_note = sample_grid(summary)
    title = f"{summary.model} · {summary.run_id} · {summary.dataset} · step {summary.steps}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        f"<header><b>{esc(summary.model)}</b>&nbsp;· {esc(summary.run_id)} · {esc(summary.dataset)} · step {summary.steps}</header>",
    ]
    if grid is not None:
        parts.append(f'<img id="samples" alt="sample grid" src="{png_uri(grid)}">')
    parts.append("<main>")
    parts.append(f'<p class="note">{esc(grid_note)}</p>')
    parts += training_section(summary)
    parts += metric_curves_section(summary)
    parts += config_section(summary)
    parts += events_section(summary)
    parts += evaluation_section(summary)
    parts.append(f'<p class="note">{esc(str(summary.path))}</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the page atomically to ``out`` (default ``RUN_DIR/report.html``) and return its path."""
    target = Path(out) if out is not None else Path(run_dir).expanduser() / "report.html"
    atomic.write_text(target, build_report(run_dir))
    return target


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def sample_grid(summary: RunSummary) -> tuple[bytes | None, str]:
    """A PNG grid drawn now from the newest checkpoint; without one, the trainer's newest grid."""
    if summary.checkpoint_step is None:
        saved = sorted((summary.path / "samples").glob("step-*.png"))
        if not saved:
            return None, "no samples: the run has no checkpoint and wrote no sample grid"
        return saved[-1].read_bytes(), f"the run has no checkpoint; this is the grid the trainer saved as samples/{saved[-1].name}"

    import torch
    from torchvision.utils import save_image

    from zoo import runs
    from zoo.contract import SequenceModel

    loaded = runs.load(summary.path, device="cpu")
    buffer = io.BytesIO()
    if isinstance(loaded.model, SequenceModel):
        # a forecaster draws nothing from noise: continue the first test sequences instead
        from zoo import sequences

        frames = loaded.data("test").batch(torch.arange(FORECAST_SEQUENCES)).images
        prediction = loaded.model.predict(frames[:, : loaded.model.context_frames])
        save_image(sequences.strip(frames, prediction), buffer, nrow=frames.shape[1], padding=2, format="png")
        return buffer.getvalue(), (
            f"the first {FORECAST_SEQUENCES} test sequences, each a row of truth above a row of its "
            f"{loaded.model.context_frames} given frames continued by the checkpoint at step {loaded.step}"
        )
    images = loaded.sample(GRID_SAMPLES, seed=GRID_SEED)
    save_image(images, buffer, nrow=round(math.sqrt(GRID_SAMPLES)), padding=2, format="png")
    return buffer.getvalue(), f"{GRID_SAMPLES} samples drawn from the checkpoint at step {loaded.step}, seed {GRID_SEED}"


def figure_png(panels: list[tuple[str, list[tuple[float, float]], float | None]]) -> bytes:
    """One figure, a subplot per (title, [(step, value)], floor or None), as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    # Figure + the Agg canvas directly, not pyplot: no global state, no GUI backend
    figure = Figure(figsize=(4.2 * cols, 2.8 * rows), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    for i, (title, points, floor) in enumerate(panels):
        axes = figure.add_subplot(rows, cols, i + 1)
        steps, values = zip(*points)
        axes.plot(steps, values, marker="." if len(points) <= 30 else None, linewidth=1.2)
        if floor is not None:
            axes.axhline(floor, linestyle="--", color="grey", linewidth=1, label=FLOOR_LABEL)
            axes.legend(fontsize=7)
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def training_section(summary: RunSummary) -> list[str]:
    """A subplot per logged quantity (losses, discriminator accuracy, KL...) and the samples' diversity."""
    keys = dict.fromkeys(k for line in summary.training for k, v in line.items() if is_number(v) and k not in TRAINING_BOOKKEEPING)
    panels = [(key, [(line["step"], line[key]) for line in summary.training if is_number(line.get(key))], None) for key in keys]
    diversity = [
        (e["step"], e["ratio"])
        for e in summary.events
        if e.get("event") == "diversity" and is_number(e.get("step")) and is_number(e.get("ratio"))
    ]
    if diversity:
        panels.append(("sample diversity / data diversity", diversity, None))
    out = ["<h2>Training curves</h2>"]
    if not panels:
        return out + ['<p class="note">nothing logged yet</p>']
    wall = f", wall time {format_duration(summary.wall_time_s)}" if summary.wall_time_s is not None else ""
    out.append(f'<p class="note">{len(summary.training)} log lines up to step {summary.logged_step}{esc(wall)}</p>')
    return out + [f'<img class="curves" alt="training curves" src="{png_uri(figure_png(panels))}">']


def metric_curves_section(summary: RunSummary) -> list[str]:
    """A subplot per metric that has been measured at two steps or more on the same data."""
    panels = []
    for latest in summary.evaluations:
        history = [e for e in summary.evaluation_history if e.key == latest.key and e.step is not None]
        for metric in latest.metrics:
            by_step = {e.step: e.metrics[metric] for e in history if metric in e.metrics}  # later ones win
            if len(by_step) >= 2:
                panels.append((latest.label(metric), sorted(by_step.items()), latest.floor.get(metric)))
    out = ["<h2>Metric curves</h2>"]
    if not panels:
        return out + ['<p class="note">no metric has been measured at two steps or more yet (zoo evaluate after further training)</p>']
    return out + [f'<img class="curves" alt="metric curves" src="{png_uri(figure_png(panels))}">']


def config_section(summary: RunSummary) -> list[str]:
    """Every field of the run record (config.json), the plugin's config first."""
    record = summary.record
    fields = flatten({"config": record.config, **{k: v for k, v in record.to_json().items() if k != "config"}})
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(format_value(v))}</td></tr>" for k, v in fields.items())
    return ["<h2>Config</h2>", f'<table id="config">{rows}</table>']


def events_section(summary: RunSummary) -> list[str]:
    """Warnings, divergence and any other event; evaluations and diversity are shown elsewhere."""
    events = [e for e in summary.events if e.get("event") not in ("evaluate", "diversity")]
    out = ["<h2>Warnings and events</h2>"]
    if not events:
        return out + ['<p class="note">none: no warnings, no divergence</p>']
    rows = []
    for e in events:
        message = e.get("message") or e.get("reason") or ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "step", "time"))
        rows.append(f"<tr><td>{esc(e.get('step', ''))}</td><td>{esc(e['event'])}</td><td>{esc(e.get('kind', ''))}</td><td>{esc(message)}</td></tr>")
    return out + [f"<table><tr><th>step</th><th>event</th><th>kind</th><th>message</th></tr>{''.join(rows)}</table>"]


def evaluation_section(summary: RunSummary) -> list[str]:
    out = ["<h2>Evaluation</h2>"]
    if not summary.evaluations:
        return out + ['<p class="note">not evaluated yet (zoo evaluate)</p>']
    for record in summary.evaluations:
        out += evaluation_table(record, summary.steps)
    return out


def evaluation_table(record: EvalRecord, checkpoint_step: int) -> list[str]:
    """Metrics as columns; a row for this run and one for the real-vs-real floor."""
    context = ", ".join(f"{k} {format_value(v)}" for k, v in record.context.items() if k != "time")
    when = f"at step {record.step}"
    if record.step is not None and record.step != checkpoint_step:
        when += f" (the newest checkpoint is step {checkpoint_step})"
    if is_number(record.context.get("time")):
        when += f" on {dt.datetime.fromtimestamp(record.context['time']):%Y-%m-%d %H:%M}"
    metrics = list(record.metrics)
    header = "".join(f"<th>{esc(m)}</th>" for m in metrics)
    rows = [f"<tr><th>this run (step {esc(record.step)})</th>" + "".join(f"<td>{esc(format_value(record.metrics[m]))}</td>" for m in metrics) + "</tr>"]
    if record.floor:
        cells = "".join(f"<td>{esc(format_value(record.floor[m])) if m in record.floor else '-'}</td>" for m in metrics)
        rows.append(f"<tr><th>{esc(FLOOR_LABEL)}</th>{cells}</tr>")
    return [
        f"<h3>{esc(record.where or 'evaluation')}</h3>",
        f'<p class="note">measured {esc(when)}{esc("; " + context) if context else ""}</p>',
        f'<table class="evaluation"><tr><th></th>{header}</tr>{"".join(rows)}</table>',
    ]
