"""Errors a user can act on.

Every error raised for bad input is a ``ZooError`` whose message is one line saying what
was wrong and how to fix it. The CLI prints that line and exits with ``exit_code``;
anything else is a bug and gets a traceback under ``--debug``.
"""


class ZooError(Exception):
    """A runtime problem the user can fix (missing file, corrupt checkpoint, ...)."""

    exit_code = 1
    every_rank = False
    """True for an error that, on several processes, every rank meets alike (the ranks agreed on
    what they saw): rank 0 alone reports it."""


class UsageError(ZooError):
    """The command line or API call itself is wrong (unknown name, bad --set key, ...)."""

    exit_code = 2
