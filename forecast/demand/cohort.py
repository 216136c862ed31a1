"""Cohort services: users followed year by year (entries and exits), not a coverage rate.

Housing for people with intellectual disabilities is planned this way: the users of today,
the new users known to come when they reach an age, and the few who leave each year.
A service has a `[services.<id>.cohort]` table instead of `coverage`:

  base            users at 1 January of the base year (number >= 0). In a run of many
                  regions it comes per region from the users table instead.
  entries         dated value: persons entering in each calendar year after the base year
  entry_age       the age at which a birth cohort enters (1..105), with one of
    entries_by_birth_year  dated value over birth years: persons born in year b who enter
                           in year b + entry_age (for mapped needs by birth cohort)
    entry_rate      dated value in [0, 1]: the share of the cohort reaching entry_age in year
                    t who enter; that cohort is aged entry_age - 1 on 1 January of t
  exits_per_year  dated value >= 0: users who leave each year, or
  exit_rate       dated value in [0, 1]: the share of the users at 1 January who leave
  source
Exactly one way of entering; at most one way of leaving (none: nobody leaves). Dated values
follow forecast.paths: a number or {year = value}, linear between given years, flat outside.

users(base) = base;  users(t) = users(t-1) + entries(t) - exits(t)  for t after the base.
need = users; capacity, substitution, intensity and cost work as for every service.

`cohort_users` runs over a leading axis L (regions × draws flattened): base (L,) and the
population by age (L, age, years) in, users (L, years) out. Counted entries (`entries`,
`entries_by_birth_year`) are one municipality's; `entry_rate` follows each row's population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_keys
from ..errors import ScenarioError
from ..paths import check_path, evaluate

COHORT_KEYS = ("base", "entries", "entry_age", "entries_by_birth_year", "entry_rate",
               "exits_per_year", "exit_rate", "source")
ENTRY_KEYS = ("entries", "entries_by_birth_year", "entry_rate")
MAX_AGE = 105


@dataclass
class Cohort:
    base: float | None = None                       # None: per region from the users table
    entries: float | dict | None = None             # by calendar year
    entry_age: int | None = None
    entries_by_birth_year: float | dict | None = None
    entry_rate: float | dict | None = None
    exits_per_year: float | dict | None = None
    exit_rate: float | dict | None = None
    source: str | None = None

    @property
    def counted_entries(self) -> bool:
        """Entries are counts of one municipality (not a rate of its population)."""
        return self.entry_rate is None


def parse_cohort(table, *, file: str, key: str, base_year: int, end_year: int,
                 base_required: bool = True) -> Cohort:
    """Validate a cohort table; `key` is its dotted name (services.<id>.cohort).

    base_required=False: base-year users may come per region from a table instead."""
    check_keys(table, COHORT_KEYS, file, key)
    cohort = Cohort(source=table.get("source"))
    if "base" in table:
        base = table["base"]
        if isinstance(base, bool) or not isinstance(base, (int, float)) or not base >= 0:
            raise ScenarioError(f"expected a number of users >= 0, got {base!r}", file=file,
                                key=f"{key}.base")
        cohort.base = float(base)
    elif base_required:
        raise ScenarioError("missing; expected the users at 1 January of the base year "
                            "(a number)", file=file, key=f"{key}.base")

    given = [k for k in ENTRY_KEYS if k in table]
    if len(given) > 1:
        raise ScenarioError(f"give one way of entering, not {' and '.join(given)}", file=file,
                            key=f"{key}.{given[1]}")
    if given in (["entries_by_birth_year"], ["entry_rate"]) and "entry_age" not in table:
        raise ScenarioError(f"missing; {given[0]} needs the age at which a cohort enters "
                            "(an integer)", file=file, key=f"{key}.entry_age")
    if "entry_age" in table:
        age = table["entry_age"]
        if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= MAX_AGE:
            raise ScenarioError(f"expected an age 1-{MAX_AGE} (integer), got {age!r}",
                                file=file, key=f"{key}.entry_age")
        if given not in (["entries_by_birth_year"], ["entry_rate"]):
            raise ScenarioError("entry_age needs entries_by_birth_year or entry_rate (entries "
                                "counts calendar years)", file=file, key=f"{key}.entry_age")
        cohort.entry_age = age
    if not given:
        raise ScenarioError("missing; a cohort service needs entries ({year = persons}), or "
                            "entry_age with entries_by_birth_year or entry_rate", file=file,
                            key=f"{key}.entries")
    if "entries" in table:
        cohort.entries = check_path(table["entries"], file=file, key=f"{key}.entries",
                                    lower=0.0, years=(base_year + 1, end_year))
    elif "entry_rate" in table:
        cohort.entry_rate = check_path(table["entry_rate"], file=file,
                                       key=f"{key}.entry_rate", lower=0.0, upper=1.0,
                                       years=(base_year + 1, end_year))
    else:
        k = f"{key}.entries_by_birth_year"
        by_birth = check_path(table["entries_by_birth_year"], file=file, key=k, lower=0.0)
        first, last = base_year + 1 - cohort.entry_age, end_year - cohort.entry_age
        late = [b for b in (by_birth if isinstance(by_birth, dict) else ())
                if not first <= b <= last]
        if late:
            raise ScenarioError(f"birth year {late[0]} enters in {late[0] + cohort.entry_age}, "
                                f"outside the horizon {base_year + 1}-{end_year}; expected "
                                f"birth years {first}-{last}", file=file, key=k)
        cohort.entries_by_birth_year = by_birth

    if "exits_per_year" in table and "exit_rate" in table:
        raise ScenarioError("give exits_per_year or exit_rate, not both", file=file,
                            key=f"{key}.exit_rate")
    if "exits_per_year" in table:
        cohort.exits_per_year = check_path(table["exits_per_year"], file=file,
                                           key=f"{key}.exits_per_year", lower=0.0,
                                           years=(base_year + 1, end_year))
    if "exit_rate" in table:
        cohort.exit_rate = check_path(table["exit_rate"], file=file, key=f"{key}.exit_rate",
                                      lower=0.0, upper=1.0, years=(base_year + 1, end_year))
    return cohort


def _no_place(_row: int) -> str:
    return ""


def cohort_entries(cohort: Cohort, persons: np.ndarray, ages: np.ndarray,
                   years: np.ndarray) -> np.ndarray:
    """Persons entering each year (L, years); persons (L, age, years) at 1 January."""
    shape = (persons.shape[0], len(years))
    if cohort.entries is not None:
        entries = np.broadcast_to(evaluate(cohort.entries, years), shape)
    elif cohort.entries_by_birth_year is not None:
        entries = np.broadcast_to(evaluate(cohort.entries_by_birth_year,
                                           years - cohort.entry_age), shape)
    else:   # the cohort reaching entry_age during year t is entry_age - 1 on 1 January
        reaching = persons[:, ages == cohort.entry_age - 1, :].sum(axis=1)
        entries = evaluate(cohort.entry_rate, years) * reaching
    entries = np.array(entries, dtype=float)
    entries[:, 0] = 0.0   # the base year's users are `base`
    return entries


def cohort_users(cohort: Cohort, base: np.ndarray, persons: np.ndarray, ages: np.ndarray,
                 years: np.ndarray, *, file: str, key: str, where=_no_place) -> np.ndarray:
    """Users each year for every row of L: base (L,) users in years[0], the base year."""
    entries = cohort_entries(cohort, persons, ages, years)
    exits_n = (evaluate(cohort.exits_per_year, years) if cohort.exits_per_year is not None
               else np.zeros(len(years)))
    exit_rate = (evaluate(cohort.exit_rate, years) if cohort.exit_rate is not None
                 else np.zeros(len(years)))
    users = np.empty(entries.shape)
    users[:, 0] = base
    for j in range(1, len(years)):   # a loop over years only; every row at once
        start = users[:, j - 1]
        users[:, j] = start + entries[:, j] - exits_n[j] - exit_rate[j] * start
    if (users < -1e-9).any():
        row, j = np.argwhere(users < -1e-9)[0]
        raise ScenarioError(f"exits leave a negative number of users ({users[row, j]:.1f}) in "
                            f"{int(years[j])}{where(row)}", file=file,
                            key=f"{key}.exits_per_year")
    return users
