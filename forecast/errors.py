"""User-facing errors: one line naming the file, the key and what was expected."""

from __future__ import annotations


class ForecastError(Exception):
    """A mistake in the user's input. The CLI prints the message and exits 2."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.message = message
        self.file = file
        self.key = key
        where = ": ".join(str(p) for p in (file, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ScenarioError(ForecastError):
    """A scenario file is malformed or inconsistent."""


class DataError(ForecastError):
    """A data file is missing, malformed or inconsistent."""
