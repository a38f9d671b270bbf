"""``zoo runs``, ``zoo compare`` and ``zoo report``: what has been trained, side by side, and one run's page."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from zoo.cli.options import json_option, runs_dir_option
from zoo.errors import UsageError
from zoo.printable import printable

if TYPE_CHECKING:
    from zoo.runs import RunInfo


@click.command("runs")
@click.argument("name", required=False)
@runs_dir_option
@json_option
def runs_command(name: str | None, runs_dir: str | None, as_json: bool) -> None:
    """List runs (of model NAME, or all): status, steps, headline metric and last losses.

    Status is running, finished, interrupted or failed; steps are the newest step trained,
    over the target where it is known; the metric is the run's IWAE NLL, else FID, else
    forecast MSE, from the newest evaluation of it; last losses are the means the trainer
    logged over its last interval.
    """
    from zoo import runs
    from zoo.runs.progress import LAST_LOSSES
    from zoo.tools.compare import aligned

    root = runs.runs_root(runs_dir)
    found = runs.list_runs(root, name, warn=lambda message: click.echo(f"warning: {printable(message)}", err=True))
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found], indent=2))
        return
    if not found:
        click.echo(f"no runs under {root}" + (f" for {name}" if name else ""))
        return
    header = ("model", "run", "dataset", "status", "steps", "metric", f"last losses ({LAST_LOSSES})", "path")
    rows = [header] + [_row(r) for r in found]
    click.echo("\n".join(aligned(rows)))


def _row(run: "RunInfo") -> tuple[str, ...]:
    """A run's cells, in the header's order."""
    progress = run.progress
    steps = f"{progress.step}/{progress.target}" if progress.target is not None else str(progress.step)
    metric = run.headline.text(progress.step) if run.headline is not None else "-"
    losses = progress.last_losses.text() or "-"
    return (printable(run.model), printable(run.path.name), printable(run.dataset), progress.status, steps, metric, losses, printable(str(run.path)))


@click.command("compare")
@click.argument("run_args", metavar="RUN...", nargs=-1, required=True)
@json_option
@runs_dir_option
def compare_command(run_args: tuple[str, ...], as_json: bool, runs_dir: str | None) -> None:
    """Runs side by side: steps, wall time, final losses, differing config, every evaluation metric.

    Each RUN is a run directory, or a model name for that model's newest run.
    """
    from zoo import runs
    from zoo.tools.compare import compare_runs

    comparison = compare_runs([runs.resolve(run, runs_dir) for run in run_args])
    click.echo(comparison.to_json() if as_json else comparison.table())


@click.command("report")
@click.argument("run")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="HTML file to write [default: RUN_DIR/report.html].")
@runs_dir_option
def report_command(run: str, out: str | None, runs_dir: str | None) -> None:
    """Write one self-contained HTML page about a run: headline metric and command, samples beside real
    images, the grids saved over training, the panels its model supports (reconstructions,
    interpolations and traversals; the drawing steps; forecasts), curves, config, events, evaluations.

    RUN is a run directory, or a model name for that model's newest run. The page embeds its
    images and opens in a browser from the file.
    """
    from zoo import runs
    from zoo.tools.report import write_report

    if out is not None and not out.lower().endswith((".html", ".htm")):
        raise UsageError(f"--out must name an .html file, got {out!r}")
    run_dir = runs.resolve(run, runs_dir)
    path = write_report(run_dir, out)
    click.echo(f"report of {run_dir} -> {path}", err=True)
    click.echo(str(path))


COMMANDS = [runs_command, compare_command, report_command]
