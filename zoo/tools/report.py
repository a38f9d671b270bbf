"""``zoo report``: one self-contained HTML page about a run.

The page needs no server and fetches nothing: images are ``data:`` URIs and the CSS is
inline. Top to bottom: a header with the title, the headline metric and the command that made
the run; the sample grid beside a grid of real test images; the grids the trainer saved over
training; the model's own panels (:mod:`zoo.tools.report_panels`: reconstructions,
interpolation and traversals of a latent model, a stepped model's canvas over its steps, a
sequence model's forecasts); the training curves; the metric curves; the config; the events
of ``metrics.jsonl``; and the evaluation tables. Each section has a heading and a note
saying what it shows.

The sample grid is drawn fresh from the newest checkpoint with a fixed seed, so the page
shows what the saved weights do. It and the real images sit at fixed places and sizes right
under the header (:data:`HEADER_PX`, :data:`GRID_PX`, :data:`REAL_LEFT_PX`), so a screenshot
of the page can be checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import atomic
from zoo.errors import ZooError
from zoo.runs.headline import headline
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
from zoo.tools.report_panels import FORECAST_SEQUENCES, Panel, Picture, forecast_inputs, grid_png, model_panels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from zoo.datasets.source import ImageSet, SequenceSet
    from zoo.runs import LoadedRun

HEADER_PX = 64
GRID_PX = 512
"""Side of the box of the sample grid, and of the real images' box beside it."""
GRID_GAP_PX = 16
REAL_LEFT_PX = GRID_PX + GRID_GAP_PX
"""Where the real images' box starts, from the page's left edge (its top is :data:`HEADER_PX`)."""
GRID_SAMPLES = 64
GRID_SEED = 0
REAL_IMAGES = 64
REAL_SEQUENCES = 8
PROGRESS_PX = 192
"""Height of each grid of the samples-over-training row."""
PROGRESS_MOST = 12
"""The most saved grids the page embeds: a long run saves hundreds; it shows some, evenly spaced."""
LINE_FROM_POINTS = 3
"""A curve with fewer points is drawn as labelled markers: a line through two points shows no trend."""
SAVED_GRID = re.compile(r"step-(\d+)\.png")
"""The trainer's name for the grid it saved at a step (``samples/step-00000500.png``)."""
HEADLINE_NAMES = {"iwae_nll": "IWAE NLL", "fid": "FID", "mse": "forecast MSE"}
HEADLINE_COMPANIONS = {"iwae_nll": ("neg_elbo", "\u2212ELBO")}
"""A metric shown beside the headline, from the same evaluation: a likelihood's other bound."""

CSS = f"""
html, body {{ margin: 0; padding: 0; background: #fff; color: #222; font: 14px/1.45 system-ui, sans-serif; }}
header {{ height: {HEADER_PX}px; box-sizing: border-box; padding: 0 16px; display: flex; flex-direction: column;
  justify-content: center; overflow: hidden; white-space: nowrap; background: #f3f3f3; border-bottom: 1px solid #ddd; }}
header .title {{ font-size: 18px; overflow: hidden; text-overflow: ellipsis; }}
header .facts {{ display: flex; gap: 12px; font-size: 13px; color: #444; min-width: 0; }}
header .headline {{ flex: none; font-weight: 600; }}
header .command {{ overflow: hidden; text-overflow: ellipsis; min-width: 0; font: 12px/1.6 ui-monospace, monospace; }}
#top {{ display: flex; gap: {GRID_GAP_PX}px; margin: 0; }}
#samples, #real {{ display: block; flex: none; box-sizing: border-box; width: {GRID_PX}px; height: auto; max-height: {GRID_PX}px;
  margin: 0; object-fit: contain; image-rendering: pixelated; }}
div#samples, div#real {{ height: {GRID_PX}px; display: flex; align-items: center; justify-content: center; padding: 32px;
  background: #f7f7f7; color: #666; white-space: normal; }}
main {{ padding: 8px 16px 32px; max-width: 1200px; }}
h2 {{ margin: 28px 0 8px; font-size: 17px; border-bottom: 1px solid #ddd; }}
h3 {{ margin: 16px 0 4px; font-size: 15px; }}
table {{ border-collapse: collapse; font-variant-numeric: tabular-nums; }}
th, td {{ border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f7f7f7; font-weight: 600; }}
.note {{ color: #666; }}
.curves {{ max-width: 100%; }}
img.panel {{ display: block; max-width: 100%; height: auto; image-rendering: pixelated; }}
.progress {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.progress figure {{ margin: 0; }}
.progress img {{ display: block; height: {PROGRESS_PX}px; width: auto; image-rendering: pixelated; }}
.progress figcaption {{ font-size: 12px; color: #666; text-align: center; }}
"""


def build_report(run_dir: str | Path) -> str:
    """The HTML page for a run, as a string."""
    from zoo import runs
    from zoo.models import get_model

    summary = summarize(run_dir)
    loaded = runs.load(summary.path, device="cpu") if summary.checkpoint_step is not None else None
    data, missing = load_test_split(summary)
    grid, grid_note = sample_grid(summary, loaded, data, missing)
    real, real_note = real_grid(data, missing)
    title = f"{summary.model} · {summary.run_id} · {summary.dataset} · step {summary.steps}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        header(summary),
        '<div id="top">',
        top_img("samples", "sample grid", grid) if grid is not None else f'<div id="samples">{esc(grid_note)}</div>',
        top_img("real", "real images", real) if real is not None else f'<div id="real">{esc(real_note)}</div>',
        "</div>",
        "<main>",
        f'<p class="note">Left: {esc(grid_note)}. Right: {esc(real_note)}.</p>',
    ]
    parts += progression_section(summary)
    if loaded is not None:
        conditional = get_model(summary.model).conditional
        for panel in model_panels(loaded.model, data, missing, conditional, loaded.step):
            parts += panel_section(panel)
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
    return data_uri(png, "image/png")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


# -- the header --------------------------------------------------------------------------------


def header(summary: RunSummary) -> str:
    """The title, and under it the headline metric and the command that made the run."""
    command = summary.record.command
    command_html = (
        f'<code class="command" title="{esc(command)}">$ {esc(command)}</code>'
        if command
        else '<span class="command">no command recorded (trained through the Python API)</span>'
    )
    return (
        f'<header><div class="title"><b>{esc(summary.model)}</b>&nbsp;· {esc(summary.run_id)} · {esc(summary.dataset)} · step {summary.steps}</div>'
        f'<div class="facts"><span class="headline" id="headline">{esc(headline_text(summary))}</span>{command_html}</div></header>'
    )


def headline_text(summary: RunSummary) -> str:
    """``FID 33.25 (floor 0.625) · classifier:mnist, mnist test · step 10``: the rule of
    :mod:`zoo.runs.headline` (what ``zoo runs`` shows), with the floor and companion metric
    of the evaluation that measured it."""
    best = headline(summary.events)
    if best is None:
        return "not evaluated yet (zoo evaluate)"
    key = (best.dataset, best.split, best.extractor)
    record = next((r for r in reversed(summary.evaluation_history) if r.key == key and best.metric in r.metrics), None)
    text = f"{HEADLINE_NAMES.get(best.metric, best.metric)} {format_value(best.value)}"
    companion, companion_name = HEADLINE_COMPANIONS.get(best.metric, (None, None))
    if record is not None and companion in record.metrics:
        text += f", {companion_name} {format_value(record.metrics[companion])}"
    if record is not None and best.metric in record.floor:
        text += f" (floor {format_value(record.floor[best.metric])})"
    if record is not None and record.where:
        text += f" · {record.where}"
    if best.step is not None:
        text += f" · step {best.step}" + (f" (the newest checkpoint is step {summary.steps})" if best.step != summary.steps else "")
    return text


# -- the grids under the header ----------------------------------------------------------------


def top_img(element_id: str, alt: str, png: bytes) -> str:
    """One of the two grids under the header: :data:`GRID_PX` wide, as tall as its shape makes it
    (a square grid :data:`GRID_PX` square; a strip of sequences less), at most :data:`GRID_PX`."""
    width, height = image_size(png)
    shown = min(GRID_PX, round(GRID_PX * height / width))
    return f'<img id="{element_id}" alt="{esc(alt)}" width="{GRID_PX}" height="{shown}" src="{png_uri(png)}">'


def load_test_split(summary: RunSummary) -> "tuple[ImageSet | SequenceSet | None, str]":
    """The run's test split, or None and why not (a folder that moved, a dataset not downloaded
    here): the page then says so where it would show real images, rather than failing."""
    try:
        return summary.record.dataset.load("test"), ""
    except (ZooError, OSError) as exc:
        return None, f"the run's dataset cannot be loaded here ({exc})"


def sample_grid(
    summary: RunSummary, loaded: "LoadedRun | None", data: "ImageSet | SequenceSet | None", missing: str
) -> tuple[bytes | None, str]:
    """A PNG grid drawn now from the newest checkpoint; without one, the trainer's newest grid."""
    if loaded is None:
        return saved_grid(summary, "the run has no checkpoint (and so no model panels)")

    from zoo.contract import SequenceModel

    if isinstance(loaded.model, SequenceModel):
        # a forecaster draws nothing from noise: continue the first test sequences instead
        if data is None:
            return saved_grid(summary, f"no forecast drawn now, as {missing}")
        from zoo import sequences

        frames = forecast_inputs(data)
        prediction = loaded.model.predict(frames[:, : loaded.model.context_frames])
        return grid_png(sequences.strip(frames, prediction), frames.shape[1]), (
            f"the first {FORECAST_SEQUENCES} test sequences, each a row of truth above a row of its "
            f"{loaded.model.context_frames} given frames continued by the checkpoint at step {loaded.step}"
        )
    images = loaded.sample(GRID_SAMPLES, seed=GRID_SEED)
    return grid_png(images, round(math.sqrt(GRID_SAMPLES))), f"{GRID_SAMPLES} samples drawn from the checkpoint at step {loaded.step}, seed {GRID_SEED}"


def saved_grid(summary: RunSummary, why: str) -> tuple[bytes | None, str]:
    """The newest grid the trainer saved under ``samples/``, for a page that cannot draw one now."""
    saved = saved_grids(summary)
    if not saved:
        return None, f"no samples: {why}, and the trainer saved no sample grid"
    return saved[-1][1].read_bytes(), f"{why}; this is the grid the trainer saved as samples/{saved[-1][1].name}"


def saved_grids(summary: RunSummary) -> list[tuple[int, Path]]:
    """``(step, path)`` of every grid the trainer saved under ``samples/``, by step."""
    found = []
    for path in (summary.path / "samples").glob("step-*.png"):
        match = SAVED_GRID.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def real_grid(data: "ImageSet | SequenceSet | None", missing: str) -> tuple[bytes | None, str]:
    """The first test images (or sequences, a row each), to hold the samples against."""
    if data is None:
        return None, f"no real images: {missing}"
    import torch

    if data.spec.kind == "sequences":
        frames = data.batch(torch.arange(min(REAL_SEQUENCES, len(data)))).images
        return grid_png(frames.flatten(0, 1), frames.shape[1]), f"the first {len(frames)} sequences of the {data.name} test split, a row each"
    images = data.batch(torch.arange(min(REAL_IMAGES, len(data)))).images
    return grid_png(images, round(math.sqrt(REAL_IMAGES))), f"the first {len(images)} images of the {data.name} test split"


# -- sections ----------------------------------------------------------------------------------


def progression_section(summary: RunSummary) -> list[str]:
    """The grids the trainer saved over training, each with its step (at most :data:`PROGRESS_MOST`)."""
    saved = saved_grids(summary)
    out = ['<section id="progression">', "<h2>Samples over training</h2>"]
    if not saved:
        return out + ['<p class="note">none: the trainer has saved no sample grid yet (it saves one every --sample-every steps)</p>', "</section>"]
    shown = evenly_spaced(saved, PROGRESS_MOST)
    every = summary.record.training.get("sample_every")
    which = f"the {len(saved)}" if len(shown) == len(saved) else f"{len(shown)} of the {len(saved)}, evenly spaced,"
    cadence = f" every {every} steps and at the last" if is_number(every) else ""
    out.append(
        f'<p class="note">{which} grids the trainer saved in samples/{esc(cadence)}, each from the same noise '
        f"(seed {esc(summary.record.seed)}), so the changes are the model's</p>"
    )
    figures = "".join(
        f'<figure><img alt="samples at step {step}" src="{png_uri(path.read_bytes())}"><figcaption>step {step}</figcaption></figure>'
        for step, path in shown
    )
    return out + [f'<div class="progress">{figures}</div>', "</section>"]


def evenly_spaced(items: list[Any], most: int) -> list[Any]:
    """``most`` of ``items``, the first and last among them, evenly spaced (all when there are fewer)."""
    if len(items) <= most:
        return items
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


def panel_section(panel: Panel) -> list[str]:
    """A model panel: its heading, its note, and its picture at its display size."""
    out = [f'<section id="{esc(panel.id)}">', f"<h2>{esc(panel.title)}</h2>", f'<p class="note">{esc(panel.note)}</p>']
    if panel.picture is not None:
        out.append(picture_img(panel.picture, f"{panel.id}-picture"))
    return out + ["</section>"]


def picture_img(picture: Picture, element_id: str) -> str:
    """An ``<img>`` with its width and height given, so the layout does not wait for the image."""
    width, height = image_size(picture.data)
    scale = picture.display_scale
    return (
        f'<img id="{esc(element_id)}" class="panel" alt="{esc(picture.alt)}" width="{width * scale}" height="{height * scale}" '
        f'src="{data_uri(picture.data, picture.mime)}">'
    )


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG or GIF."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def curves_figure(panels: list[tuple[str, list[tuple[float, float]], float | None]]) -> "Figure":
    """One figure, a subplot per (title, [(step, value)], floor or None). A series of fewer than
    :data:`LINE_FROM_POINTS` points is drawn as markers labelled with their values, not a line."""
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
        if len(points) < LINE_FROM_POINTS:
            axes.plot(steps, values, linestyle="none", marker="o")
            for step, value in points:
                axes.annotate(format_value(float(value)), (step, value), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
            axes.margins(x=0.2, y=0.25)  # room for the labels; one point alone gets a range around it
        else:
            axes.plot(steps, values, marker="." if len(points) <= 30 else None, linewidth=1.2)
        if floor is not None:
            axes.axhline(floor, linestyle="--", color="grey", linewidth=1, label=FLOOR_LABEL)
            axes.legend(fontsize=7)
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    return figure


def figure_png(panels: list[tuple[str, list[tuple[float, float]], float | None]]) -> bytes:
    """:func:`curves_figure` as PNG bytes."""
    buffer = io.BytesIO()
    curves_figure(panels).savefig(buffer, format="png")
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
    out.append(
        '<p class="note">each metric measured at two steps or more on the same data and features, by the step of the '
        f"checkpoint evaluated; fewer than {LINE_FROM_POINTS} measurements are shown as points with their values, the "
        "dashed line is the real-vs-real floor</p>"
    )
    return out + [f'<img class="curves" alt="metric curves" src="{png_uri(figure_png(panels))}">']


def config_section(summary: RunSummary) -> list[str]:
    """Every field of the run record (config.json), the plugin's config first."""
    record = summary.record
    fields = flatten({"config": record.config, **{k: v for k, v in record.to_json().items() if k != "config"}})
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(format_value(v))}</td></tr>" for k, v in fields.items())
    note = '<p class="note">config.json: the model\'s config, then the dataset, the training options, the command and the versions</p>'
    return ["<h2>Config</h2>", note, f'<table id="config">{rows}</table>']


def events_section(summary: RunSummary) -> list[str]:
    """Warnings, divergence and any other event; evaluations and diversity are shown elsewhere."""
    events = [e for e in summary.events if e.get("event") not in ("evaluate", "diversity")]
    out = ["<h2>Warnings and events</h2>"]
    if not events:
        return out + ['<p class="note">none: no warnings, no divergence</p>']
    out.append(f'<p class="note">{len(events)} events of metrics.jsonl (warnings, divergence, resumptions), in the order written</p>')
    rows = []
    for e in events:
        message = e.get("message") or e.get("reason") or ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "step", "time"))
        rows.append(f"<tr><td>{esc(e.get('step', ''))}</td><td>{esc(e['event'])}</td><td>{esc(e.get('kind', ''))}</td><td>{esc(message)}</td></tr>")
    return out + [f"<table><tr><th>step</th><th>event</th><th>kind</th><th>message</th></tr>{''.join(rows)}</table>"]


def evaluation_section(summary: RunSummary) -> list[str]:
    out = ["<h2>Evaluation</h2>"]
    if not summary.evaluations:
        return out + ['<p class="note">not evaluated yet (zoo evaluate)</p>']
    out.append('<p class="note">the latest zoo evaluate per dataset, split and features, beside the real-vs-real floor where measured</p>')
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
