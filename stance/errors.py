"""Errors raised for user mistakes, each with the CLI exit code it maps to.

Every error the library raises for bad input says what was expected, what came,
and how to fix it. The CLI prints ``error: <message>`` (no traceback) and exits
with :attr:`StanceError.exit_code`.

| exit code | meaning                                                        |
|-----------|----------------------------------------------------------------|
| 0         | success (rows with bad claim/response are reported, not fatal) |
| 1         | unexpected internal error (a bug: please report it)            |
| 2         | bad command line, option or config value                       |
| 3         | input data problem (unreadable file, missing column, bad row)  |
| 4         | model problem (not found, incomplete, unsafe or incompatible)  |
| 5         | output problem (cannot write, interrupted run found)           |
| 130       | interrupted by the user (Ctrl-C)                               |
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StanceError(Exception):
    """Base class of every error the library raises for a user mistake."""

    exit_code = 1


class ConfigError(StanceError, ValueError):
    """A parameter, option or config value is invalid."""

    exit_code = 2


class InputDataError(StanceError, ValueError):
    """Input data cannot be read or does not have the expected shape."""

    exit_code = 3


class ModelLoadError(StanceError, OSError):
    """A model directory is missing, incomplete, unsafe or incompatible."""

    exit_code = 4


class OutputError(StanceError, OSError):
    """Output cannot be written, or a previous interrupted run is in the way."""

    exit_code = 5


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``.

    >>> did_you_mean("reponse", ["claim", "response"])
    " Did you mean 'response'?"
    """
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f" Did you mean '{lowered[name.lower()]}'?"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
        close = [lowered[c] for c in close]
    return f" Did you mean '{close[0]}'?" if close else ""
