"""Options and arguments that several commands share, each declared once, and the recorded command line."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def invocation() -> str:
    """The command line as the user typed it, for the records (``zoo train ...``)."""
    return click.get_current_context().find_root().obj["command"]


runs_dir_option = click.option(
    "--runs-dir", type=click.Path(file_okay=False), default=None, help="Where runs live [default: $ZOO_RUNS_DIR or ./runs]."
)
run_option = click.option("--run", "run", default="latest", show_default=True, help="Run directory, or latest.")
device_option = click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
label_option = click.option("--label", default=None, help="Class for every image (conditional models): an index, or a class name of the run's dataset.")
skip_bad_images_option = click.option(
    "--skip-bad-images", is_flag=True, help="Leave out image files that cannot be decoded (the run's note lists how many) instead of failing."
)
residency_option = click.option(
    "--data-in-memory/--stream",
    "residency",
    default=None,
    callback=lambda ctx, param, value: "auto" if value is None else ("memory" if value else "stream"),
    help="Hold a prepared dataset in memory, or stream it from its shards [default: in memory if it fits, see zoo data prepare].",
)
input_option = click.option("--input", "input_path", required=True, type=click.Path(), help="An image file or a folder of images.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
no_progress_option = click.option("--no-progress", is_flag=True, help="Hide the progress bar.")


def _threads_option(with_torch: bool) -> Callable[[F], F]:
    def use(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
        from zoo import threads
        from zoo.config import check_range

        check_range("--threads", value, 1, threads.MAX_THREADS)
        if with_torch:
            import torch  # noqa: F401 - loaded first: torch caps a count it reads from the environment at the cores

        threads.use(value)

    return click.option(
        "--threads",
        type=int,
        default=None,
        expose_value=False,
        callback=use,
        help="CPU threads for PyTorch and onnxruntime [default: $ZOO_THREADS, else $OMP_NUM_THREADS, else half the cores; 1 per process under --nproc].",
    )


threads_option = _threads_option(with_torch=True)
onnx_threads_option = _threads_option(with_torch=False)
"""Applied as it is parsed (see :mod:`zoo.threads`), so a command's body never sees it;
``onnx_threads_option`` for commands that run onnxruntime alone and never import torch."""


def flags_of(request: type, *, skip: Iterable[str] = ()) -> Callable[[F], F]:
    """click options for the fields of a request dataclass declared with :func:`zoo.config.option`.

    Flag, type, default and help all come from the field, so a default lives in the dataclass
    alone: ``bool`` fields become on/off flags, ``Literal`` ones choices, ``X | None`` an
    optional X. Fields declared without ``option()`` are not flags.
    """
    hints = typing.get_type_hints(request)
    made = []
    for field in dataclasses.fields(request):
        if "help" not in field.metadata or field.name in skip:
            continue
        made.append(_click_option(field, hints[field.name]))

    def apply(command: F) -> F:
        for decorate in reversed(made):
            command = decorate(command)
        return command

    return apply


def request_fields(request: type, given: dict[str, Any]) -> dict[str, Any]:
    """The generated flags' values popped from a command's keyword arguments, to build ``request`` with."""
    return {f.name: given.pop(f.name) for f in dataclasses.fields(request) if f.name in given}


def _click_option(field: dataclasses.Field, hint: Any) -> Callable[[F], F]:
    flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
    kind = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if _is_optional(hint) else hint
    help = field.metadata["help"]
    if kind is bool:
        return click.option(flag, field.name, is_flag=True, default=field.default, help=help)
    # bounds (option's low and high) are checked when the request is made, in one line
    if Path in typing.get_args(hint):
        kind = click.Path(dir_okay=False)
    elif typing.get_origin(kind) is typing.Literal:
        kind = click.Choice([str(choice) for choice in typing.get_args(kind)])
    return click.option(flag, field.name, type=kind, default=field.default, show_default=field.default is not None, help=help)


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)

