"""The ``zoo`` command line (click): one module per command group, shared options in ``options``.

Exit codes: 0 success, 2 usage errors, 1 runtime errors, 130 interrupted. Errors print one
line on stderr; ``zoo --debug ...`` shows the traceback instead. Commands are thin: they
check their arguments, call the library and print; nothing below this package imports click.
"""

from zoo.cli.app import cli, main

__all__ = ["cli", "main"]
