"""Capacity pipeline and substitution between services.

`[services.<id>.capacity]`:
  base      places at 1 January of the base year (number >= 0, required)
  openings  {year = places} opened in that year, counted from that year on (optional)
  closures  {year = places} closed in that year, counted from that year on (optional)
  source    where the figures come from
Years of openings and closures lie after the base year and no later than the end year.
capacity(t) = base + openings up to t − closures up to t; gap = need − capacity; the first
year of shortfall is the first year with need > capacity; capacity ÷ group population is the
coverage the places imply.

`[services.<id>.substitution]` (home care corrected for 24-hour places):
  from      id of the service whose users are served instead (e.g. "heldogn")
  share     dated value in [0, 1]: users of this service removed per person served there
            beyond the base coverage (default 1)
  source
People served by the `from` service = min(need, capacity) (need where it has no capacity).
Beyond the base coverage = served(t) − served(base) / pop(base) × pop(t), with pop the `from`
service's group population. This service's users fall by share × that excess; when the `from`
service serves fewer than its base coverage would, the excess is negative and users rise
(people without a place are cared for at home). The substitution is zero in the base year.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ScenarioError
from ..paths import check_path, evaluate
from ..checks import check_keys

CAPACITY_KEYS = ("base", "openings", "closures", "source")
SUBSTITUTION_KEYS = ("from", "share", "source")


@dataclass
class Capacity:
    base: float
    openings: dict[int, float] = field(default_factory=dict)
    closures: dict[int, float] = field(default_factory=dict)
    source: str | None = None


@dataclass
class Substitution:
    from_service: str
    share: float | dict[int, float] = 1.0
    source: str | None = None


def parse_capacity(table, *, file: str, key: str, base_year: int, end_year: int) -> Capacity:
    check_keys(table, CAPACITY_KEYS, file, key)
    if "base" not in table:
        raise ScenarioError("missing; expected the places in the base year (a number)",
                            file=file, key=f"{key}.base")
    base = table["base"]
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base >= 0:
        raise ScenarioError(f"expected a number of places >= 0, got {base!r}", file=file,
                            key=f"{key}.base")
    cap = Capacity(base=float(base), source=table.get("source"))
    for name in ("openings", "closures"):
        if name not in table:
            continue
        value = table[name]
        if not isinstance(value, dict):
            raise ScenarioError(f"expected a table {{year = places}}, got {value!r}",
                                file=file, key=f"{key}.{name}")
        if value:
            checked = check_path(value, file=file, key=f"{key}.{name}", lower=0.0,
                                 years=(base_year + 1, end_year))
            setattr(cap, name, dict(sorted(checked.items())))
    return cap


def capacity_series(cap: Capacity, years: np.ndarray, *, file: str, key: str) -> np.ndarray:
    """Places available each year (the base year's are `base`)."""
    delta = np.zeros(len(years))
    for y, n in cap.openings.items():
        delta[years == y] += n
    for y, n in cap.closures.items():
        delta[years == y] -= n
    series = cap.base + np.cumsum(delta)
    if (series < 0).any():
        y = int(years[np.argmax(series < 0)])
        raise ScenarioError(f"closures leave a negative number of places in {y}",
                            file=file, key=f"{key}.closures")
    return series


def first_shortfall_year(need: np.ndarray, capacity: np.ndarray, years: np.ndarray):
    """The first year with need > capacity; NaN if none (or no capacity).

    need, capacity: (..., years); returns (...) (a float for 1-d input)."""
    short = np.asarray(need) > np.asarray(capacity) + 1e-9
    first = np.where(short.any(axis=-1), years[np.argmax(short, axis=-1)], np.nan)
    return float(first) if first.ndim == 0 else first


def parse_substitution(table, *, file: str, key: str, base_year: int,
                       end_year: int) -> Substitution:
    check_keys(table, SUBSTITUTION_KEYS, file, key)
    src = table.get("from")
    if not isinstance(src, str):
        raise ScenarioError(f"expected the id of another service (a string), got {src!r}",
                            file=file, key=f"{key}.from")
    share = check_path(table.get("share", 1.0), file=file, key=f"{key}.share", lower=0.0,
                       upper=1.0, years=(base_year, end_year))
    return Substitution(from_service=src, share=share, source=table.get("source"))


def served(need: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """People served: min(need, capacity), or need where there is no capacity."""
    return np.where(np.isnan(capacity), need, np.fmin(need, capacity))


def substitution_users(served_from: np.ndarray, pop_from: np.ndarray, share, years) -> np.ndarray:
    """Users removed from the substituting service each year (negative: users added).

    served_from, pop_from: (..., years), years[0] the base year."""
    p0 = pop_from[..., :1]
    ref_rate = np.where(p0 > 0, served_from[..., :1] / np.where(p0 > 0, p0, 1.0), 0.0)
    excess = served_from - ref_rate * pop_from
    return evaluate(share, years) * excess
