"""One exception family for the library and the CLI.

A :class:`BacktestError` is a *user* error: bad config, bad data, bad parameters. The CLI prints
its message as a single line on stderr and exits with code 2, no traceback. Anything else that
escapes is an internal error (exit code 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BacktestError(ValueError):
    """A problem with the user's input; the message says what and where."""

    exit_code = 2


class ConfigError(BacktestError):
    """A config file that cannot be read or does not validate.

    ``key`` is the path of the offending key in the config (e.g. ``("params", "fast")``) so that
    the loader can add the file's line number.
    """

    def __init__(self, message: str, key: tuple = ()):
        super().__init__(message)
        self.key = key


class DataError(BacktestError):
    """A data file or data folder that is missing, malformed or has no usable rows."""


class CheckFailed(BacktestError):
    """A sweep's CI threshold was missed (``backtest sweep --check``)."""

    exit_code = 3


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
