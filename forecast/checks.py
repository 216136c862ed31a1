"""Checks of scenario tables, shared by the scenario loader and the stages' parsers (so no
stage imports the loader)."""

from __future__ import annotations

from .errors import ScenarioError


def check_keys(table, allowed, file: str, key: str) -> None:
    """`table` must be a table whose keys are all in `allowed`; a `source` must be a string."""
    if not isinstance(table, dict):
        raise ScenarioError(f"expected a table, got {table!r}", file=file, key=key)
    for k in table:
        if k not in allowed:
            raise ScenarioError(f"unknown key; expected one of {', '.join(allowed)}",
                                file=file, key=f"{key}.{k}" if key else k)
    source = table.get("source")
    if source is not None and not isinstance(source, str):
        raise ScenarioError(f"expected a string, got {source!r}", file=file,
                            key=f"{key}.source" if key else "source")
