"""Coverage kinds: the share of a service's age groups that use it, year by year.

A service's `[services.<id>.coverage]` table has a `kind` and the keys of that kind:

  kind = "base"      users  = base-year users, one per age group (a number if one group).
                     Coverage = users / base-year population of the group, held constant.
  kind = "target"    users as for "base"; target = a rate in [0, 1] (one for every group, or a
                     list with one per group); target_year = year. Coverage runs linearly from
                     the base coverage in the base year to the target in target_year, flat after.
  kind = "path"      rate = a dated value in [0, 1] (one for every group, or a list with one per
                     group): explicit rates by year, linear between the given years.
  kind = "trend"     history = {year = users} (years up to the base year); window = [first, last]
                     (default: the first and last history year); method = "absolute" (the
                     average yearly change in users over the window, added every year) or
                     "relative" (the average yearly growth rate, compounded); until = year
                     (optional) after which the coverage of the group is held at that year's
                     level. Base-year users: `users` if given, else history[base_year].
  kind = "capacity"  users = the places of the service's [capacity] table each year; coverage
                     is the coverage those places imply.
  kind = "settlement" users = rate × the persons settled in the municipality (refugees) in the
                     `years_counted` calendar years before 1 January of each year:
                       users(t) = rate(t) × Σ_{k=1..n} settled(t − k),  n = years_counted
                     settled = {year = persons settled that year}: a dated value from
                     base_year − n (so the base year's stock is known) to at most end_year;
                     years_counted = n (default 5: the integration grant's five years);
                     rate = a dated value in [0, 1]. The age groups give the population the
                     coverage share is reported against; they do not drive the users.

Every kind also accepts `users` (the observed base-year count, kept as an assumption) and
`source`. "trend", "capacity" and "settlement" give users for the groups together (no split
by group).

`coverage_users` works on a leading axis L (regions × draws flattened): group populations
(L, groups, years) in, users (L, years) out. "base" and "target" take base-year users per
L row (per region from a table, or the scenario's repeated); "path" rates apply to every row;
"trend" and "capacity" hold one municipality's counts (the caller allows them only then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError
from ..paths import check_path, evaluate

KINDS = ("base", "target", "path", "trend", "capacity", "settlement")
COMMON_KEYS = ("kind", "users", "source")
KIND_KEYS = {"base": (), "target": ("target", "target_year"), "path": ("rate",),
             "trend": ("history", "window", "method", "until"), "capacity": (),
             "settlement": ("settled", "years_counted", "rate")}
ALL_KEYS = tuple(sorted(set(COMMON_KEYS).union(*KIND_KEYS.values())))
TREND_METHODS = ("absolute", "relative")


@dataclass
class Coverage:
    kind: str
    users: tuple[float, ...] | None = None        # base-year users per group (trend: total)
    target: tuple[float, ...] | None = None       # per group
    target_year: int | None = None
    rate: tuple | None = None                     # per group: float or {year: value}
    history: dict[int, float] | None = None
    window: tuple[int, int] | None = None
    method: str = "absolute"
    until: int | None = None
    settled: dict[int, float] | None = None       # settlement: persons settled per year
    years_counted: int = 5                        # settlement: years a settled person counts
    source: str | None = None
    users_key: str = "coverage.users"             # where the users were given (for errors)


def _number(value, file, key, *, lower=None, upper=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ScenarioError(f"expected a number, got {value!r}", file=file, key=key)
    if lower is not None and value < lower:
        raise ScenarioError(f"expected a value >= {lower}, got {value}", file=file, key=key)
    if upper is not None and value > upper:
        raise ScenarioError(f"expected a value <= {upper}, got {value}", file=file, key=key)
    return float(value)


def _year(value, file, key) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"expected a year (integer), got {value!r}", file=file, key=key)
    return value


def _per_group(value, n: int, file, key, check, *, allow_single=True) -> tuple:
    """One value per group: a list of n values, or (allow_single) one value for every group."""
    if isinstance(value, list):
        if len(value) != n:
            raise ScenarioError(f"expected one value per age group ({n}), got {len(value)}",
                                file=file, key=key)
        return tuple(check(v, f"{key}[{i}]") for i, v in enumerate(value))
    if not allow_single and n > 1:
        raise ScenarioError(f"expected a list with one value per age group ({n}), got {value!r}",
                            file=file, key=key)
    one = check(value, key)
    return (one,) * n


def parse_coverage(table, n_groups: int, *, file: str, key: str, base_year: int,
                   end_year: int, has_capacity: bool, users=None,
                   users_key: str | None = None, users_required: bool = True) -> Coverage:
    """Validate a coverage table; `key` is its dotted name (services.<id>.coverage).

    Base-year users may be given in the table or, as a fact of the service that survives a
    change of coverage kind in an alternative, by the caller (`users`, found at `users_key`).
    users_required=False: "base"/"target" users may come per region from a table instead."""
    if not isinstance(table, dict):
        raise ScenarioError(f"expected a table with `kind`, got {table!r}", file=file, key=key)
    if "kind" not in table:
        raise ScenarioError(f"missing; expected one of {', '.join(KINDS)}", file=file,
                            key=f"{key}.kind")
    kind = table["kind"]
    if kind not in KINDS:
        raise ScenarioError(f"unknown coverage kind {kind!r}; expected one of {', '.join(KINDS)}",
                            file=file, key=f"{key}.kind")
    allowed = set(COMMON_KEYS) | set(KIND_KEYS[kind])
    for k in table:
        if k not in ALL_KEYS:
            raise ScenarioError(f"unknown key; expected one of {', '.join(ALL_KEYS)}",
                                file=file, key=f"{key}.{k}")
        if k not in allowed:
            raise ScenarioError(f"not used by coverage kind {kind!r}; its keys are "
                                f"{', '.join(sorted(allowed))}", file=file, key=f"{key}.{k}")
    source = table.get("source")
    if source is not None and not isinstance(source, str):
        raise ScenarioError(f"expected a string, got {source!r}", file=file, key=f"{key}.source")
    horizon = (base_year, end_year)
    if users is not None and "users" in table:
        raise ScenarioError(f"users are given for the service ({users_key}) too; give them "
                            "once", file=file, key=f"{key}.users")
    if users is None and "users" in table:
        users, users_key = table["users"], f"{key}.users"
    users_key = users_key or f"{key}.users"
    cov = Coverage(kind=kind, source=source, users_key=users_key)

    if users is not None:
        n_users = 1 if kind in ("trend", "settlement") else n_groups
        cov.users = _per_group(users, n_users, file, users_key,
                               lambda v, k: _number(v, file, k, lower=0.0), allow_single=False)
    elif kind in ("base", "target") and users_required:
        raise ScenarioError(f"missing base-year users (one per age group) for coverage kind "
                            f"{kind!r}", file=file, key=users_key)

    if kind == "target":
        for k in ("target", "target_year"):
            if k not in table:
                raise ScenarioError("missing; coverage kind 'target' needs target and "
                                    "target_year", file=file, key=f"{key}.{k}")
        cov.target = _per_group(table["target"], n_groups, file, f"{key}.target",
                                lambda v, k: _number(v, file, k, lower=0.0, upper=1.0))
        cov.target_year = _year(table["target_year"], file, f"{key}.target_year")
        if cov.target_year <= base_year:
            raise ScenarioError(f"expected a year after the base year {base_year}, got "
                                f"{cov.target_year}", file=file, key=f"{key}.target_year")
    elif kind == "path":
        if "rate" not in table:
            raise ScenarioError("missing; coverage kind 'path' needs rate (a number or "
                                "{year = value}, or a list of them per age group)",
                                file=file, key=f"{key}.rate")
        cov.rate = _per_group(table["rate"], n_groups, file, f"{key}.rate",
                              lambda v, k: check_path(v, file=file, key=k, lower=0.0, upper=1.0,
                                                      years=horizon))
    elif kind == "trend":
        _parse_trend(table, cov, file, key, base_year, end_year)
    elif kind == "settlement":
        _parse_settlement(table, cov, file, key, base_year, end_year)
    elif kind == "capacity" and not has_capacity:
        raise ScenarioError("coverage kind 'capacity' needs the service's capacity table "
                            "(base, openings, closures)", file=file, key=f"{key}.kind")
    return cov


def _parse_trend(table, cov: Coverage, file, key, base_year, end_year) -> None:
    if "history" not in table:
        raise ScenarioError("missing; coverage kind 'trend' needs history = {year = users}",
                            file=file, key=f"{key}.history")
    hist = table["history"]
    if not isinstance(hist, dict) or len(hist) < 2:
        raise ScenarioError(f"expected a table {{year = users}} with at least two years, got "
                            f"{hist!r}", file=file, key=f"{key}.history")
    checked = check_path(hist, file=file, key=f"{key}.history", lower=0.0)
    late = [y for y in checked if y > base_year]
    if late:
        raise ScenarioError(f"history year {late[0]} is after the base year {base_year}",
                            file=file, key=f"{key}.history")
    cov.history = dict(sorted(checked.items()))
    method = table.get("method", "absolute")
    if method not in TREND_METHODS:
        raise ScenarioError(f"expected one of {', '.join(TREND_METHODS)}, got {method!r}",
                            file=file, key=f"{key}.method")
    cov.method = method
    years = list(cov.history)
    window = table.get("window", [years[0], years[-1]])
    if (not isinstance(window, list) or len(window) != 2
            or any(isinstance(w, bool) or not isinstance(w, int) for w in window)
            or window[0] >= window[1]):
        raise ScenarioError(f"expected [first_year, last_year], got {window!r}",
                            file=file, key=f"{key}.window")
    for w in window:
        if w not in cov.history:
            raise ScenarioError(f"window year {w} is not in history (years "
                                f"{', '.join(map(str, years))})", file=file, key=f"{key}.window")
    cov.window = (window[0], window[1])
    if method == "relative" and cov.history[window[0]] <= 0:
        raise ScenarioError("a relative trend needs users > 0 in the first window year",
                            file=file, key=f"{key}.history")
    if cov.users is None:
        if base_year not in cov.history:
            raise ScenarioError(f"missing base-year users: give users or history for "
                                f"{base_year}", file=file, key=cov.users_key)
        cov.users = (cov.history[base_year],)
    if "until" in table:
        cov.until = _year(table["until"], file, f"{key}.until")
        if not base_year < cov.until <= end_year:
            raise ScenarioError(f"year {cov.until} is outside the horizon "
                                f"{base_year + 1}-{end_year}", file=file, key=f"{key}.until")


def _parse_settlement(table, cov: Coverage, file, key, base_year, end_year) -> None:
    n = table.get("years_counted", 5)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 30:
        raise ScenarioError(f"expected a whole number of years in 1-30, got {n!r}", file=file,
                            key=f"{key}.years_counted")
    cov.years_counted = n
    for k in ("settled", "rate"):
        if k not in table:
            raise ScenarioError("missing; coverage kind 'settlement' needs settled = {year = "
                                "persons} and rate", file=file, key=f"{key}.{k}")
    first = base_year - n
    settled = table["settled"]
    if not isinstance(settled, dict):
        raise ScenarioError(f"expected a table {{year = persons settled}}, got {settled!r}",
                            file=file, key=f"{key}.settled")
    # years before `first` would never be counted; years after the horizon never reached
    cov.settled = dict(sorted(check_path(settled, file=file, key=f"{key}.settled", lower=0.0,
                                         years=(first, end_year)).items()))
    if min(cov.settled) > first:
        raise ScenarioError(f"the base year's users count the settlements of {first}-"
                            f"{base_year - 1}: give settled from {first}, got "
                            f"{min(cov.settled)}", file=file, key=f"{key}.settled")
    cov.rate = (check_path(table["rate"], file=file, key=f"{key}.rate", lower=0.0, upper=1.0,
                           years=(base_year, end_year)),)


def recent_settled(cov: Coverage, years: np.ndarray) -> np.ndarray:
    """Persons settled in the `years_counted` years before 1 January of each year."""
    n = cov.years_counted
    every = np.arange(years[0] - n, years[-1])
    settled = evaluate(cov.settled, every)
    return np.array([settled[i:i + n].sum() for i in range(len(years))])


def trend_slope(cov: Coverage) -> float:
    """Average yearly change over the window: users a year (absolute) or a rate (relative)."""
    (a, b), h = cov.window, cov.history
    if cov.method == "absolute":
        return (h[b] - h[a]) / (b - a)
    return (h[b] / h[a]) ** (1.0 / (b - a)) - 1.0


def _no_place(_row: int) -> str:
    return ""


def coverage_users(cov: Coverage, group_pop: np.ndarray, years: np.ndarray,
                   capacity: np.ndarray | None, users: np.ndarray | None = None, *, file: str,
                   key: str, users_key: str | None = None, error=ScenarioError,
                   where=_no_place):
    """Users of a service each year, for every row of the leading axis L.

    group_pop: (L, groups, years) persons; years[0] is the base year.
    capacity: (L, years) places (kind "capacity").
    users: (L, groups) base-year users for "base"/"target"; default the scenario's.
    users_key, error: where those users came from and the error to raise about them;
    where(row) names a row of L in messages (" in region 0301"; "" for one municipality).
    Returns (by_group, total): by_group (L, groups, years) or None for kinds without a split,
    total (L, years).
    """
    base = years[0]
    if cov.kind in ("base", "target"):
        users = np.broadcast_to(np.asarray(cov.users if users is None else users, float),
                                group_pop.shape[:2])
        users_key = users_key or cov.users_key
        pop0 = group_pop[:, :, 0]
        pos = pop0 > 0
        rate0 = np.where(pos, users / np.where(pos, pop0, 1.0), 0.0)
        bad = (~pos & (users > 0)) | (rate0 > 1.0)
        if bad.any():
            row, i = np.argwhere(bad)[0]
            raise error(f"base-year users {users[row, i]:g} exceed the group's population "
                        f"{pop0[row, i]:g} in {base}{where(row)} (coverage above 1)", file=file,
                        key=users_key + (f"[{i}]" if users.shape[1] > 1 else ""))
        if cov.kind == "base":
            rates = rate0[:, :, None]
        else:
            # np.interp's arithmetic (y0 + slope * (x - x0), y1 from the target year on),
            # so a region gives the same numbers as a single-municipality run
            target = np.asarray(cov.target, float)
            slope = (target - rate0) / (cov.target_year - base)
            t = years.astype(float)
            rates = np.where(t >= cov.target_year, target[:, None],
                             slope[:, :, None] * (t - base) + rate0[:, :, None])
        by_group = rates * group_pop
        return by_group, by_group.sum(axis=1)
    if cov.kind == "path":
        rates = np.array([evaluate(r, years) for r in cov.rate])
        by_group = rates * group_pop
        return by_group, by_group.sum(axis=1)
    if cov.kind == "capacity":
        return None, np.array(capacity, dtype=float)
    if cov.kind == "settlement":
        users = evaluate(cov.rate[0], years) * recent_settled(cov, years)
        return None, np.repeat(users[None, :], group_pop.shape[0], axis=0)
    return None, _trend_users(cov, group_pop.sum(axis=1), years, file=file, key=key,
                              where=where)


def _trend_users(cov: Coverage, pop: np.ndarray, years: np.ndarray, *, file, key,
                 where) -> np.ndarray:
    """pop (L, years) -> users (L, years)."""
    t = years - years[0]
    u0, slope = cov.users[0], trend_slope(cov)
    one = u0 + slope * t if cov.method == "absolute" else u0 * (1.0 + slope) ** t
    users = np.repeat(one[None, :], pop.shape[0], axis=0)
    if cov.until is not None:
        i = int(np.searchsorted(years, cov.until))
        pos = pop[:, i] > 0
        rate = np.where(pos, users[:, i] / np.where(pos, pop[:, i], 1.0), 0.0)
        users[:, i + 1:] = rate[:, None] * pop[:, i + 1:]
    bad = (users < 0) | (users > pop)
    if bad.any():
        row, j = np.argwhere(bad)[0]
        y, u, p = years[j], users[row, j], pop[row, j]
        if u < 0:
            msg = (f"the trend gives negative users ({u:.1f}) in {y}{where(row)}; shorten it "
                   f"with until = year")
        else:
            msg = (f"the trend gives more users ({u:.1f}) than the group's population ({p:g}) "
                   f"in {y}{where(row)}")
        raise ScenarioError(msg, file=file, key=f"{key}.history")
    return users
