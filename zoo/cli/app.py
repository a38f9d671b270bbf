"""The ``zoo`` group: one-line errors and exit codes, the recorded command line, and every command."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import click

from zoo.errors import ZooError
from zoo.printable import printable


class ZooGroup(click.Group):
    """Turns zoo errors (and unexpected ones) into one line and an exit code, unless --debug."""

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        # Keep the command line as given, for the records: sys.argv is wrong when zoo runs in-process.
        args = list(sys.argv[1:] if args is None else args)
        obj = extra.setdefault("obj", {})
        obj["command"] = shlex.join(["zoo", *args])
        obj["args"] = args
        return super().main(args, *rest, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ZooError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from zoo.training.distributed import error_prefix, is_main

            if is_main() or not exc.every_rank:
                click.echo(f"error: {error_prefix()}{printable(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `zoo list | head` closed the pipe: not an error. Point stdout at devnull so
            # Python's final flush does not raise again on the way out.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            # the disk is full, a folder is read-only, a file vanished: the system's words, one line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
            click.echo(f"error: {printable(reason)}{printable(where)}; nothing already written was changed", err=True)
            ctx.exit(1)
        except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback under --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {printable(exc)} (run `zoo --debug ...` for the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="zoo", prog_name="zoo")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train, sample and ship image generators (GANs, VAEs, recurrent models)."""
    ctx.ensure_object(dict)["debug"] = debug


def main() -> None:
    from zoo.training import distributed

    if not distributed.launched():
        cli(obj={})
        return
    # One process of several under torchrun: leave without the interpreter's teardown, in which
    # gloo's worker threads can abort a process whose run succeeded ("terminate called without
    # an active exception", SIGABRT; pytorch/pytorch#179291). Everything zoo writes is closed by now.
    try:
        cli(obj={})
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)




def _add_commands() -> None:
    from zoo.cli import bench, data, evaluate, export, latent, models, runs, sample, train

    for module in (models, train, sample, export, evaluate, latent, runs, bench, data):
        for command in module.COMMANDS:
            cli.add_command(command)


_add_commands()
