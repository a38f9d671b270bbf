"""Options and arguments that several commands share, each declared once, and the recorded command line."""

from __future__ import annotations

import click


def invocation() -> str:
    """The command line as the user typed it, for the records (``zoo train ...``)."""
    return click.get_current_context().find_root().obj["command"]


runs_dir_option = click.option(
    "--runs-dir", type=click.Path(file_okay=False), default=None, help="Where runs live [default: $ZOO_RUNS_DIR or ./runs]."
)
run_option = click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
device_option = click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
label_option = click.option("--label", type=int, default=None, help="Class label for every image (conditional models).")
input_option = click.option("--input", "input_path", required=True, type=click.Path(), help="An image file or a folder of images.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
no_progress_option = click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
