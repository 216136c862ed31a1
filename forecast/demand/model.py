"""Demand stage: population + service definitions → need, capacity, gap per service and year.

`compute_demand(population, config)` takes a population whose `pop` has dims
(*lead, year, sex, age), where lead is any leading dims (none for one municipality; `region`,
`draw` or both, in any order), and returns an xarray.Dataset with the same leading dims first,
then `service` (the ids, in the scenario's order), `group` (every age-group label used) and
`year` (base..end):

  coords     label(service), unit(service): strings from the scenario file; the population's
             coords of the leading dims (region codes, region_name, …)
  need(*lead, service, year)              users / places / recipients needed (after
                                          substitution); units: the service's `unit` coord
  capacity(*lead, service, year)          places available; NaN where the service has none
  gap(*lead, service, year)               need − capacity
  coverage(*lead, service, year)          need ÷ group_population (over the groups)
  group_population(*lead, service, year)  persons in the service's age groups (1 January)
  hours(*lead, service, year)             hours a year; NaN where the service has no hours
  months_per_user(*lead, service, year)   months with the service per user; NaN where not given
  settled_recent(*lead, service, year)    coverage kind "settlement": the persons settled in the
                                          years counted, whom the users are drawn from; NaN
                                          for other kinds
  capacity_coverage(*lead, service, year) capacity ÷ group_population: coverage places imply
  substitution(*lead, service, year)      users removed because another service serves them
                                          beyond its base coverage (negative: users added);
                                          NaN where none
  need_by_group(*lead, service, group, year)        users per age group before substitution;
                                                    NaN for groups a service does not use,
                                                    for the kinds "trend", "capacity" and
                                                    "settlement" and for cohort services
                                                    (cohort.py)
  population_by_group(*lead, service, group, year)  persons per age group
  first_shortfall_year(*lead, service)    first year with need > capacity; NaN if none
Every variable has attrs["units"]. attrs: base_year, end_year (provenance is the caller's).

The leading dims are flattened into one axis L and every service is computed with arrays
(L, groups, years): no loop over regions or draws. A run of several regions (a `region` dim
longer than one) needs per-region base-year users for "base"/"target" coverage
(config.users_by_region) and cannot use "trend" coverage or capacity tables, which hold one
municipality's counts.

`forecast.cost.compute_cost` adds the cost variables to this Dataset (see there).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..errors import DataError, ScenarioError
from ..paths import evaluate
from .capacity import capacity_series, first_shortfall_year, served, substitution_users
from .cohort import cohort_users
from .coverage import coverage_users, recent_settled
from .services import DemandConfig, Service

WEEKS_PER_YEAR = 52.0
SERVICE_UNIT = "see coord unit"      # need, capacity, … count in each service's own unit
UNITS = {"need": SERVICE_UNIT, "capacity": SERVICE_UNIT, "gap": SERVICE_UNIT,
         "coverage": "share", "group_population": "persons", "hours": "hours/year",
         "months_per_user": "months", "settled_recent": "persons", "capacity_coverage": "share",
         "substitution": SERVICE_UNIT, "need_by_group": SERVICE_UNIT,
         "population_by_group": "persons", "first_shortfall_year": "year"}
SERIES = ("need", "capacity", "gap", "coverage", "group_population", "hours",
          "months_per_user", "capacity_coverage", "substitution", "settled_recent")
NON_LEAD = ("year", "sex", "age")


def _group_labels(config: DemandConfig) -> list[str]:
    labels = []
    for s in config.services.values():
        for g in s.groups:
            if g.label not in labels:
                labels.append(g.label)
    return labels


def _check_many_regions(config: DemandConfig, n_regions: int) -> None:
    """Counts of one municipality (users, trend history, places) cannot serve many."""
    for sid, s in config.services.items():
        key = f"services.{sid}"
        kind = "cohort" if s.cohort is not None else s.coverage.kind
        if s.capacity is not None:
            raise ScenarioError(f"a capacity table holds one municipality's places; a run of "
                                f"{n_regions} regions cannot use it (leave it out, or run one "
                                f"municipality)", file=config.file, key=f"{key}.capacity")
        if kind == "trend":
            raise ScenarioError(f"coverage kind 'trend' extrapolates one municipality's history "
                                f"of users; it needs a single-region run, not {n_regions} "
                                f"regions", file=config.file, key=f"{key}.coverage.kind")
        if kind == "cohort" and s.cohort.counted_entries:
            raise ScenarioError(f"counted entries are one municipality's; a run of {n_regions} "
                                f"regions needs entry_age with entry_rate", file=config.file,
                                key=f"{key}.cohort.entry_rate")
        if kind == "cohort" and sid not in config.users_by_region:
            raise ScenarioError(f"a cohort service in a run of {n_regions} regions needs "
                                f"base-year users per region (the per-region users table); "
                                f"cohort.base is one municipality's", file=config.file,
                                key=f"{key}.cohort.base")
        if kind == "settlement":
            raise ScenarioError(f"coverage kind 'settlement' counts one municipality's settled "
                                f"refugees; it needs a single-region run, not {n_regions} "
                                f"regions", file=config.file, key=f"{key}.coverage.kind")
        if kind in ("base", "target") and sid not in config.users_by_region:
            raise ScenarioError(f"coverage kind {kind!r} in a run of {n_regions} regions needs "
                                f"base-year users per region (the per-region users table); the "
                                f"scenario's users are one municipality's", file=config.file,
                                key=s.coverage.users_key)


def _region_rows(population: xr.DataArray, lead: list[str], lead_shape: tuple,
                 config: DemandConfig) -> np.ndarray:
    """For each row of L, the row of config.regions (users_by_region) its region has."""
    index = {code: i for i, code in enumerate(config.regions)}
    codes = [str(c) for c in population["region"].values]
    missing = [c for c in codes if c not in index]
    if missing:
        raise DataError(f"no base-year users for region {missing[0]!r} ({len(missing)} of the "
                        f"run's regions missing)", file=config.users_file, key="municipality")
    rows = np.array([index[c] for c in codes])
    shape = [1] * len(lead)
    shape[lead.index("region")] = len(rows)
    return np.broadcast_to(rows.reshape(shape), lead_shape).ravel()


def _where(population: xr.DataArray, lead: list[str], lead_shape: tuple):
    """row of L -> " in region 0301, draw 4" for messages ("" without leading dims)."""
    labels = [population[d].values for d in lead]

    def where(row: int) -> str:
        if not lead:
            return ""
        idx = np.unravel_index(int(row), lead_shape)
        return " in " + ", ".join(f"{d} {lab[i]}" for d, lab, i in zip(lead, labels, idx))
    return where


def _base_users(s: Service, config: DemandConfig, region_rows) -> np.ndarray | None:
    """Base-year users (L, groups) from the per-region table; None: the scenario's."""
    if s.cohort is not None:   # (L,): a cohort's users are not split by group
        if region_rows is not None and s.id in config.users_by_region:
            return config.users_by_region[s.id][region_rows].sum(axis=1)
        if s.cohort.base is None:
            raise ScenarioError("missing base-year users", file=config.file,
                                key=f"services.{s.id}.cohort.base")
        return None
    cov = s.coverage
    if cov.kind not in ("base", "target"):
        return None
    if region_rows is not None and s.id in config.users_by_region:
        return config.users_by_region[s.id][region_rows]
    if cov.users is None:
        raise ScenarioError(f"missing base-year users (one per age group) for coverage kind "
                            f"{cov.kind!r}", file=config.file, key=cov.users_key)
    return None


def _persons(population: xr.Dataset, years: np.ndarray):
    """pop(*lead, year, sex, age) → (pop DataArray in that order, lead dims, their shape,
    persons (L, age, year) of both sexes)."""
    have = set(int(y) for y in population["year"].values)
    missing = [int(y) for y in years if int(y) not in have]
    if missing:
        raise ValueError(f"the population has no stock for the years {missing}")
    pop = population["pop"]
    lead = [str(d) for d in pop.dims if d not in NON_LEAD]
    pop = pop.transpose(*lead, "year", "sex", "age")
    lead_shape = tuple(pop.sizes[d] for d in lead)
    index = {int(y): i for i, y in enumerate(pop["year"].values)}
    pos = np.array([index[int(y)] for y in years])
    values = pop.to_numpy()
    if (np.diff(pos) == 1).all():   # a slice: no copy of the whole population
        values = values[..., pos[0]:pos[-1] + 1, :, :]
    else:
        values = values[..., pos, :, :]
    by_sex = [values[..., k, :].astype(float) for k in range(values.shape[-2])]
    if any(np.isnan(v).any() for v in by_sex):   # skipped, as xarray's sum over sex did
        by_sex = [np.where(np.isnan(v), 0.0, v) for v in by_sex]
    both = by_sex[0]
    for v in by_sex[1:]:
        both = both + v
    # (L, age, year): the sums over ages then run in the same order as for one municipality
    arr = np.ascontiguousarray(np.moveaxis(both, -1, -2))
    return pop, lead, lead_shape, arr.reshape(math.prod(lead_shape), pop.sizes["age"],
                                              len(years))


def compute_demand(population: xr.Dataset, config: DemandConfig,
                   series: tuple[str, ...] | None = None) -> xr.Dataset:
    """Demand of every service: SERIES by (*lead, service, year), need and population by
    age group, the first year of shortfall. `series`: only these of SERIES, nothing by group
    (the draws keep need, capacity and what cost needs; stacking the rest for every draw
    cost a quarter of the run)."""
    years = config.years
    n_years = len(years)
    pop, lead, lead_shape, arr = _persons(population, years)
    ages = pop["age"].values
    n_lead = arr.shape[0]
    n_regions = pop.sizes.get("region", 1)
    if n_regions > 1:
        _check_many_regions(config, n_regions)
    region_rows = (_region_rows(pop, lead, lead_shape, config)
                   if "region" in lead and config.users_by_region else None)
    where = _where(pop, lead, lead_shape)
    group_labels = _group_labels(config)
    nan = np.full((n_lead, n_years), np.nan)

    rows = {}
    for sid in config.order():
        rows[sid] = _service(config.services[sid], config, arr, ages, years, group_labels,
                             rows, region_rows, where, nan)

    ids = list(config.services)
    data = {}
    for name in SERIES if series is None else series:
        values = np.stack([rows[i][name] for i in ids], axis=1)        # (L, S, Y)
        data[name] = (values.reshape(*lead_shape, len(ids), n_years), (*lead, "service", "year"))
    for name in ("need_by_group", "population_by_group") if series is None else ():
        values = np.stack([rows[i][name] for i in ids], axis=1)        # (L, S, G, Y)
        data[name] = (values.reshape(*lead_shape, len(ids), len(group_labels), n_years),
                      (*lead, "service", "group", "year"))
    if series is None:
        values = np.stack([rows[i]["first_shortfall_year"] for i in ids], axis=1).astype(float)
        data["first_shortfall_year"] = (values.reshape(*lead_shape, len(ids)),
                                        (*lead, "service"))
    services = config.services
    coords = {"service": ids, "year": years.astype(int), "group": group_labels,
              "label": ("service", [services[i].label for i in ids]),
              "unit": ("service", [services[i].unit for i in ids])}
    for name, coord in pop.coords.items():   # region codes, region_name, draw, …
        if coord.dims and set(coord.dims) <= set(lead):
            coords[name] = coord
    ds = xr.Dataset({name: xr.DataArray(v, dims=dims, attrs={"units": UNITS[name]})
                     for name, (v, dims) in data.items()}, coords=coords)
    ds.attrs.update(base_year=config.base_year, end_year=config.end_year)
    return ds


def _service(s: Service, config: DemandConfig, arr, ages, years, group_labels, rows,
             region_rows, where, nan) -> dict:
    """One service over every row of L: a dict of (L, years) / (L, groups, years) arrays."""
    key = f"services.{s.id}"
    n_lead, n_years = nan.shape
    gp = np.stack([arr[:, (ages >= g.lo) & (ages <= g.hi), :].sum(axis=1) for g in s.groups],
                  axis=1)                                               # (L, G, Y)
    if s.capacity is not None:
        cap = np.broadcast_to(capacity_series(s.capacity, years, file=config.file,
                                              key=f"{key}.capacity"), nan.shape).copy()
    else:
        cap = nan.copy()
    users = _base_users(s, config, region_rows)
    if users is None:
        file, users_key, error = config.file, None, ScenarioError
    else:   # too many users is a mistake of the users table
        file, users_key, error = config.users_file, "users", DataError
    if s.cohort is not None:
        base = np.full(n_lead, s.cohort.base) if users is None else users
        by_group, need = None, cohort_users(s.cohort, base, arr, ages, years, file=config.file,
                                            key=f"{key}.cohort", where=where)
    else:
        by_group, need = coverage_users(
            s.coverage, gp, years, cap if s.capacity is not None else None, users, file=file,
            key=f"{key}.coverage", users_key=users_key, error=error, where=where)
    sub = nan.copy()
    if s.substitution is not None:
        src = rows[s.substitution.from_service]
        sub = substitution_users(served(src["need"], src["capacity"]), src["group_population"],
                                 s.substitution.share, years)
        need = need - sub
        if (need < -1e-9).any():
            row, j = np.argwhere(need < -1e-9)[0]
            raise ScenarioError(f"the substitution removes more users than the service has in "
                                f"{int(years[j])}{where(row)}", file=config.file,
                                key=f"{key}.substitution.share")
    total_pop = gp.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(total_pop > 0, need / total_pop, np.nan)
        cap_cov = np.where(total_pop > 0, cap / total_pop, np.nan)
    hours = nan.copy()
    if s.hours_per_user_week is not None:
        hours = need * evaluate(s.hours_per_user_week, years) * WEEKS_PER_YEAR
    elif s.hours_per_user_year is not None:
        hours = need * evaluate(s.hours_per_user_year, years)
    months = (np.broadcast_to(evaluate(s.months_per_user, years), nan.shape)
              if s.months_per_user is not None else nan)
    settled = (np.broadcast_to(recent_settled(s.coverage, years), nan.shape)
               if s.coverage is not None and s.coverage.kind == "settlement" else nan)
    nbg = np.full((n_lead, len(group_labels), n_years), np.nan)
    pbg = np.full((n_lead, len(group_labels), n_years), np.nan)
    for i, g in enumerate(s.groups):
        j = group_labels.index(g.label)
        pbg[:, j] = gp[:, i]
        if by_group is not None:
            nbg[:, j] = by_group[:, i]
    return {"need": need, "capacity": cap, "gap": need - cap, "coverage": coverage,
            "group_population": total_pop, "hours": hours, "months_per_user": months,
            "capacity_coverage": cap_cov, "substitution": sub, "settled_recent": settled,
            "need_by_group": nbg,
            "population_by_group": pbg,
            "first_shortfall_year": first_shortfall_year(need, cap, years)}
