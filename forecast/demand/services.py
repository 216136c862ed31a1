"""Service definitions: the scenario's `services` tables → DemandConfig.

Services are data: none is named in the code. One `[services.<id>]` table per service
(id: lower-case letters, digits and _), with these keys:

  label       string, required: the planners' name ("Heldøgns omsorgsplasser")
  unit        string, required: what `need` counts ("plasser", "brukere", "mottakere")
  groups      required: the age groups the service draws on, "a-b" (inclusive), "a+" (a to
              105+) or "a"; one string or a list; no overlaps. KOSTRA's care groups are
              ["0-66", "67-79", "80-89", "90+"]; 24-hour care per resident 80+ is "80+".
  coverage    table, required: kind = base | target | path | trend | capacity (coverage.py)
  cohort      table, instead of coverage: users followed as a cohort, with entries (by year,
              or at an age by birth year) and exits (cohort.py)
  intensity   table, optional: how much of the service a user gets
                hours_per_user_week | hours_per_user_year   dated value → hours(service, year)
                months_per_user   dated value: months with the service per user a year
                source
  capacity    table, optional: base, openings, closures (capacity.py)
  substitution table, optional: from, share (capacity.py)
  cost        table, optional: basis, unit_cost, price_year, real_growth,
              investment_per_place; parsed by forecast/cost.py (parse_costs), not here
  source      string, optional: where the values come from. Every nested table may have its
              own `source`; `DemandConfig.assumptions()` lists each value with the nearest one.

The top-level `[cost]` table holds the global price settings (forecast/cost.py).
Base-year users may also come per region from a table (region_users.py): DemandConfig then
holds users_by_region[service id] = (R, groups) for the region codes `regions`.
Every dated value is "a number or {year = value}" (forecast.paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ScenarioError
from ..paths import check_path
from ..checks import check_keys
from .capacity import Capacity, Substitution, parse_capacity, parse_substitution
from .cohort import Cohort, parse_cohort
from .coverage import Coverage, parse_coverage

SERVICE_KEYS = ("label", "unit", "groups", "users", "coverage", "cohort", "intensity",
                "capacity", "substitution", "cost", "source")
INTENSITY_KEYS = {"hours_per_user_week": 168.0, "hours_per_user_year": 8784.0,
                  "months_per_user": 12.0}   # key -> upper bound
REQUIRED_KEYS = ("label", "unit", "groups", "coverage")
MAX_AGE = 105
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_GROUP = re.compile(r"^\s*(\d+)\s*(?:(\+)|-\s*(\d+))?\s*$")


@dataclass(frozen=True)
class AgeGroup:
    label: str
    lo: int
    hi: int   # inclusive; 105 = 105 and older


@dataclass
class Service:
    id: str
    label: str
    unit: str
    groups: tuple[AgeGroup, ...]
    coverage: Coverage | None        # None for a cohort service
    hours_per_user_week: float | dict | None = None
    hours_per_user_year: float | dict | None = None
    months_per_user: float | dict | None = None
    intensity_source: str | None = None
    capacity: Capacity | None = None
    substitution: Substitution | None = None
    source: str | None = None
    cohort: Cohort | None = None


@dataclass
class DemandConfig:
    file: str
    base_year: int
    end_year: int
    services: dict[str, Service] = field(default_factory=dict)
    # base-year users per region: service id -> (len(regions), groups); see region_users.py
    users_by_region: dict[str, np.ndarray] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    users_file: str | None = None    # the file they were read from (for errors)

    @property
    def years(self) -> np.ndarray:
        return np.arange(self.base_year, self.end_year + 1)

    def order(self) -> list[str]:
        """Service ids, those that others substitute for first."""
        first = [sid for sid, s in self.services.items() if s.substitution is None]
        return first + [sid for sid in self.services if sid not in first]

    def assumptions(self) -> list[dict]:
        """Every value of the services tables: section, key, value, unit, source (the cost
        values are forecast.cost.CostConfig.assumptions())."""
        rows = []

        def add(section, key, value, unit="", source=None):
            if value is not None:
                rows.append({"section": section, "key": key, "value": value, "unit": unit,
                             "source": source or ""})

        for s in self.services.values():
            sec = f"services.{s.id}"
            add(sec, "label", s.label, "", s.source)
            add(sec, "groups", ", ".join(g.label for g in s.groups), "age", s.source)
            if s.cohort is not None:
                _cohort_assumptions(add, sec, s)
            c = s.coverage or _NO_COVERAGE
            csrc = c.source or s.source
            add(sec, "coverage.kind", c.kind, "", csrc)
            add(sec, c.users_key.removeprefix(f"{sec}."), _one(c.users), s.unit,
                csrc if c.users_key.endswith("coverage.users") else s.source)
            add(sec, "coverage.target", _one(c.target), "share", csrc)
            add(sec, "coverage.target_year", c.target_year, "year", csrc)
            add(sec, "coverage.rate", _one(c.rate), "share", csrc)
            add(sec, "coverage.history", c.history, s.unit, csrc)
            if c.kind == "trend":
                add(sec, "coverage.window", list(c.window), "years", csrc)
                add(sec, "coverage.method", c.method, "", csrc)
            add(sec, "coverage.until", c.until, "year", csrc)
            if c.kind == "settlement":
                add(sec, "coverage.settled", c.settled, "persons settled a year", csrc)
                add(sec, "coverage.years_counted", c.years_counted, "years", csrc)
            src = s.intensity_source or s.source
            add(sec, "intensity.hours_per_user_week", s.hours_per_user_week,
                "hours per user a week", src)
            add(sec, "intensity.hours_per_user_year", s.hours_per_user_year,
                "hours per user a year", src)
            add(sec, "intensity.months_per_user", s.months_per_user, "months per user a year",
                src)
            if s.capacity is not None:
                src = s.capacity.source or s.source
                add(sec, "capacity.base", s.capacity.base, s.unit, src)
                add(sec, "capacity.openings", s.capacity.openings or None, s.unit, src)
                add(sec, "capacity.closures", s.capacity.closures or None, s.unit, src)
            if s.substitution is not None:
                src = s.substitution.source or s.source
                add(sec, "substitution.from", s.substitution.from_service, "", src)
                add(sec, "substitution.share", s.substitution.share, "share", src)
            if s.id in self.users_by_region:
                users = self.users_by_region[s.id]
                add(sec, "users_by_region", f"{len(self.regions)} regions, total "
                    f"{users.sum():g}", s.unit, self.users_file)
        return rows


_NO_COVERAGE = Coverage(kind=None)   # a cohort service: every coverage row is left out


def _cohort_assumptions(add, sec: str, s: Service) -> None:
    c = s.cohort
    src = c.source or s.source
    add(sec, "cohort.base", c.base, s.unit, src)
    add(sec, "cohort.entries", c.entries, f"{s.unit} a year", src)
    add(sec, "cohort.entry_age", c.entry_age, "age", src)
    add(sec, "cohort.entries_by_birth_year", c.entries_by_birth_year,
        f"{s.unit} per birth year", src)
    add(sec, "cohort.entry_rate", c.entry_rate, "share of the cohort", src)
    add(sec, "cohort.exits_per_year", c.exits_per_year, f"{s.unit} a year", src)
    add(sec, "cohort.exit_rate", c.exit_rate, "share a year", src)


def _one(values):
    """Per-group tuples as a value for the assumptions list (a single one unwrapped)."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def parse_groups(value, *, file: str, key: str) -> tuple[AgeGroup, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ScenarioError(f'expected an age group like "80+" or a list like ["0-66", "67-79"],'
                            f" got {value!r}", file=file, key=key)
    groups = []
    for item in items:
        m = _GROUP.match(item) if isinstance(item, str) else None
        if m is None:
            raise ScenarioError(f'expected an age group "a-b", "a+" or "a", got {item!r}',
                                file=file, key=key)
        lo = int(m.group(1))
        hi = MAX_AGE if m.group(2) else int(m.group(3)) if m.group(3) else lo
        if not lo <= hi <= MAX_AGE:
            raise ScenarioError(f"age group {item!r} is not within 0-{MAX_AGE} with first <= "
                                f"last", file=file, key=key)
        groups.append(AgeGroup(item.replace(" ", ""), lo, hi))
    ordered = sorted(groups, key=lambda g: g.lo)
    for a, b in zip(ordered, ordered[1:]):
        if b.lo <= a.hi:
            raise ScenarioError(f"age groups {a.label} and {b.label} overlap", file=file, key=key)
    return tuple(groups)


def _string(table, k, file, prefix, required=False):
    value = table.get(k)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"expected a non-empty string, got {value!r}", file=file,
                            key=f"{prefix}.{k}")
    return value


def parse_service(sid: str, table, *, file: str, base_year: int, end_year: int,
                  region_users: bool = False) -> Service:
    prefix = f"services.{sid}"
    if not _ID.match(sid):
        raise ScenarioError("expected a service id of lower-case letters, digits and _",
                            file=file, key=prefix)
    check_keys(table, SERVICE_KEYS, file, prefix)
    for k in REQUIRED_KEYS:
        if k not in table and not (k == "coverage" and "cohort" in table):
            raise ScenarioError("missing; a service needs " + ", ".join(REQUIRED_KEYS)
                                + " (or cohort instead of coverage)", file=file,
                                key=f"{prefix}.{k}")
    horizon = (base_year, end_year)
    groups = parse_groups(table["groups"], file=file, key=f"{prefix}.groups")
    capacity = None
    if "capacity" in table:
        capacity = parse_capacity(table["capacity"], file=file, key=f"{prefix}.capacity",
                                  base_year=base_year, end_year=end_year)
    coverage = cohort = None
    if "cohort" in table:
        cohort = _parse_cohort_service(table, file, prefix, base_year, end_year, region_users)
    else:
        coverage = parse_coverage(table["coverage"], len(groups), file=file,
                                  key=f"{prefix}.coverage", base_year=base_year,
                                  end_year=end_year, has_capacity=capacity is not None,
                                  users=table.get("users"),
                                  users_key=f"{prefix}.users" if "users" in table else None,
                                  users_required=not region_users)
    service = Service(id=sid, label=_string(table, "label", file, prefix, True),
                      unit=_string(table, "unit", file, prefix, True), groups=groups,
                      coverage=coverage, capacity=capacity,
                      source=_string(table, "source", file, prefix), cohort=cohort)
    if "intensity" in table:
        _parse_intensity(service, table["intensity"], file, f"{prefix}.intensity", horizon)
    if "substitution" in table:
        service.substitution = parse_substitution(
            table["substitution"], file=file, key=f"{prefix}.substitution",
            base_year=base_year, end_year=end_year)
    return service


def _parse_cohort_service(table, file, prefix, base_year, end_year, region_users) -> Cohort:
    for k in ("coverage", "users"):
        if k in table:
            raise ScenarioError(f"a cohort service has no {k}: its users are cohort.base, "
                                "entries and exits", file=file, key=f"{prefix}.{k}")
    return parse_cohort(table["cohort"], file=file, key=f"{prefix}.cohort",
                        base_year=base_year, end_year=end_year,
                        base_required=not region_users)


def _parse_intensity(service: Service, table, file: str, key: str, horizon) -> None:
    check_keys(table, (*INTENSITY_KEYS, "source"), file, key)
    if "hours_per_user_week" in table and "hours_per_user_year" in table:
        raise ScenarioError("give hours per user a week or a year, not both", file=file,
                            key=f"{key}.hours_per_user_year")
    for k, upper in INTENSITY_KEYS.items():
        if k in table:
            setattr(service, k, check_path(table[k], file=file, key=f"{key}.{k}", lower=0.0,
                                           upper=upper, years=horizon))
    service.intensity_source = _string(table, "source", file, key)


def parse_demand(raw: dict, file: str, base_year: int, end_year: int, *,
                 region_users: bool = False) -> DemandConfig:
    """The `services` tables of a merged scenario → DemandConfig (other keys, and each
    service's `cost` table, belong to other stages and are ignored here).

    region_users: base-year users will come from a per-region table (read_region_users), so
    coverage kinds "base" and "target" may leave out `users`."""
    config = DemandConfig(file=file, base_year=base_year, end_year=end_year)
    services = raw.get("services", {})
    if not isinstance(services, dict):
        raise ScenarioError(f"expected a table of services, got {services!r}", file=file,
                            key="services")
    for sid, table in services.items():
        config.services[sid] = parse_service(sid, table, file=file, base_year=base_year,
                                             end_year=end_year, region_users=region_users)
    for s in config.services.values():
        if s.substitution is not None:
            key = f"services.{s.id}.substitution.from"
            src = config.services.get(s.substitution.from_service)
            if src is None or src is s:
                raise ScenarioError(f"expected the id of another service (one of "
                                    f"{', '.join(x for x in config.services if x != s.id)}), "
                                    f"got {s.substitution.from_service!r}", file=file, key=key)
            if src.substitution is not None:
                raise ScenarioError(f"service {src.id!r} has a substitution of its own; chains "
                                    f"are not supported", file=file, key=key)
    return config
