"""Dated values ("paths"): a number or {year = value}, linear between given years, flat outside.

One helper serves every assumption that can change over time (TFR, e0, coverage rates, unit
costs, migration levels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import numpy as np

from .errors import ScenarioError

PathSpec = Union[float, int, Mapping]


def is_dated(table) -> bool:
    """A table whose keys are all years: a dated value, not a table of settings."""
    return bool(table) and all(str(k).lstrip("-").isdigit() for k in table)


def check_path(spec, *, file: str | None = None, key: str | None = None,
               lower: float | None = None, upper: float | None = None,
               years: tuple[int, int] | None = None) -> float | dict[int, float]:
    """Validate a dated value; return a float or {year: value} with int years.

    `years` = (first, last) rejects dated entries outside the horizon.
    """
    if isinstance(spec, bool):
        raise ScenarioError(f"expected a number or a table {{year = value}}, got {spec!r}",
                            file=file, key=key)
    if isinstance(spec, (int, float)):
        points = {None: float(spec)}
    elif isinstance(spec, Mapping):
        if not spec:
            raise ScenarioError("expected at least one {year = value} entry, got an empty table",
                                file=file, key=key)
        points = {}
        for y, v in spec.items():
            try:
                year = int(y)
            except (TypeError, ValueError):
                raise ScenarioError(f"expected a year as table key, got {y!r}",
                                    file=file, key=key) from None
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ScenarioError(f"expected a number for year {year}, got {v!r}",
                                    file=file, key=key)
            if years is not None and not years[0] <= year <= years[1]:
                raise ScenarioError(f"year {year} is outside the horizon {years[0]}-{years[1]}",
                                    file=file, key=key)
            points[year] = float(v)
    else:
        raise ScenarioError(f"expected a number or a table {{year = value}}, got {spec!r}",
                            file=file, key=key)
    for year, v in points.items():
        at = "" if year is None else f" in {year}"
        if not np.isfinite(v):
            raise ScenarioError(f"expected a finite number{at}, got {v}", file=file, key=key)
        if lower is not None and v < lower:
            raise ScenarioError(f"expected a value >= {lower}{at}, got {v}", file=file, key=key)
        if upper is not None and v > upper:
            raise ScenarioError(f"expected a value <= {upper}{at}, got {v}", file=file, key=key)
    return points[None] if None in points else points


def evaluate(spec: PathSpec, years) -> np.ndarray:
    """Value of a dated value in each of `years`: linear between given years, flat outside."""
    years = np.asarray(years, dtype=float)
    if isinstance(spec, Mapping):
        xs, ys = zip(*sorted((int(y), float(v)) for y, v in spec.items()))
        return np.interp(years, xs, ys)
    return np.full(years.shape, float(spec))
