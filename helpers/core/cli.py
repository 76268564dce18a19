"""Command lines of the kit: one way to run them, so a bad input never ends in a traceback.

:func:`run` parses the arguments, calls the command, and turns the kit's errors
(:class:`~helpers.core.messages.KitError`, which includes every data error) and the
operating system's (a missing file, a full disk, no permission) into one message on stderr
and exit status 1. Anything else is a bug in the kit and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Iterable

from .messages import KitError, msg

__all__ = ["run", "fail"]


def fail(text: str) -> int:
    """Print ``text`` as an error and return exit status 1."""
    print(msg("오류: ", "error: ") + text, file=sys.stderr)
    return 1


def run(command: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
        argv: Iterable[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run ``command(args)``; returns the exit status."""
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:  # argparse already printed the usage and the problem
        return int(exit_.code or 0)
    try:
        return int(command(args) or 0)
    except KitError as err:
        return fail(str(err))
    except OSError as err:
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        return fail(f"{err.strerror or err}{where}")
    except KeyboardInterrupt:
        return fail(msg("중단되었습니다", "interrupted"))
