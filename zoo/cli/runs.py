"""``zoo runs``, ``zoo compare`` and ``zoo report``: what has been trained, side by side, and one run's page."""

from __future__ import annotations

import json

import click

from zoo.cli.options import json_option, runs_dir_option
from zoo.errors import UsageError
from zoo.printable import printable


@click.command("runs")
@click.argument("name", required=False)
@runs_dir_option
@json_option
def runs_command(name: str | None, runs_dir: str | None, as_json: bool) -> None:
    """List runs (of model NAME, or all) with their step and last losses."""
    from zoo import runs

    root = runs.runs_root(runs_dir)
    found = runs.list_runs(root, name, warn=lambda message: click.echo(f"warning: {printable(message)}", err=True))
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "path": str(r.path)} for r in found], indent=2))
        return
    if not found:
        click.echo(f"no runs under {root}" + (f" for {name}" if name else ""))
        return
    for r in found:
        losses = " ".join(f"{k}={v:.4g}" for k, v in r.losses.items())
        click.echo(f"{r.model:<10} step {r.step:>7}  {r.dataset:<14} {losses:<32} {r.path}")


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
    """Write one self-contained HTML page about a run: samples, curves, config, events, evaluations.

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
