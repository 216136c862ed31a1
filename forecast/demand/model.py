"""Demand stage: population + service definitions → need, capacity, gap per service and year.

`compute_demand(population, config)` returns an xarray.Dataset with dims `service` (the ids,
in the scenario's order), `year` (base..end) and `group` (every age-group label used):

  coords     label(service), unit(service): strings from the scenario file
  need(service, year)              users / places / recipients needed (after substitution)
  capacity(service, year)          places available; NaN where the service has no capacity
  gap(service, year)               need − capacity
  coverage(service, year)          need ÷ group_population (aggregate over the groups)
  group_population(service, year)  persons in the service's age groups (1 January)
  hours(service, year)             hours a year; NaN where the service has no hours
  months_per_user(service, year)   months with the service per user; NaN where not given
  capacity_coverage(service, year) capacity ÷ group_population: the coverage places imply
  substitution(service, year)      users removed because another service serves them beyond
                                   its base coverage (negative: users added); NaN where none
  need_by_group(service, group, year)        users per age group before substitution;
                                             NaN for groups a service does not use and for
                                             the kinds "trend" and "capacity" (no split)
  population_by_group(service, group, year)  persons per age group
  first_shortfall_year(service)    first year with need > capacity; NaN if none
attrs: base_year, end_year (provenance is the caller's).

`forecast.cost.compute_cost` adds the cost variables to this Dataset (see there).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ScenarioError
from ..paths import evaluate
from .capacity import capacity_series, first_shortfall_year, served, substitution_users
from .coverage import coverage_users
from .services import DemandConfig

WEEKS_PER_YEAR = 52.0
UNITS = {"coverage": "share", "group_population": "persons", "hours": "hours/year",
         "months_per_user": "months", "capacity_coverage": "share",
         "population_by_group": "persons"}


def _group_labels(config: DemandConfig) -> list[str]:
    labels = []
    for s in config.services.values():
        for g in s.groups:
            if g.label not in labels:
                labels.append(g.label)
    return labels


def compute_demand(population: xr.Dataset, config: DemandConfig) -> xr.Dataset:
    years = config.years
    have = set(int(y) for y in population["year"].values)
    missing = [int(y) for y in years if int(y) not in have]
    if missing:
        raise ValueError(f"the population has no stock for the years {missing}")
    pop = population["pop"].sel(year=years).sum("sex").transpose("age", "year")
    ages = pop["age"].values
    arr = pop.to_numpy().astype(float)
    group_labels = _group_labels(config)
    n_years = len(years)
    nan = np.full(n_years, np.nan)

    rows = {}
    for sid in config.order():
        s = config.services[sid]
        key = f"services.{sid}"
        gp = np.array([arr[(ages >= g.lo) & (ages <= g.hi)].sum(axis=0) for g in s.groups])
        cap = (capacity_series(s.capacity, years, file=config.file, key=f"{key}.capacity")
               if s.capacity is not None else nan.copy())
        by_group, need = coverage_users(s.coverage, gp, years,
                                        cap if s.capacity is not None else None,
                                        file=config.file, key=f"{key}.coverage")
        sub = nan.copy()
        if s.substitution is not None:
            src = rows[s.substitution.from_service]
            sub = substitution_users(served(src["need"], src["capacity"]),
                                     src["group_population"], s.substitution.share, years)
            need = need - sub
            if (need < -1e-9).any():
                y = int(years[np.argmax(need < -1e-9)])
                raise ScenarioError(f"the substitution removes more users than the service has "
                                    f"in {y}", file=config.file, key=f"{key}.substitution.share")
        total_pop = gp.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            coverage = np.where(total_pop > 0, need / total_pop, np.nan)
            cap_cov = np.where(total_pop > 0, cap / total_pop, np.nan)
        hours = nan.copy()
        if s.hours_per_user_week is not None:
            hours = need * evaluate(s.hours_per_user_week, years) * WEEKS_PER_YEAR
        elif s.hours_per_user_year is not None:
            hours = need * evaluate(s.hours_per_user_year, years)
        months = evaluate(s.months_per_user, years) if s.months_per_user is not None else nan
        nbg = np.full((len(group_labels), n_years), np.nan)
        pbg = np.full((len(group_labels), n_years), np.nan)
        for i, g in enumerate(s.groups):
            j = group_labels.index(g.label)
            pbg[j] = gp[i]
            if by_group is not None:
                nbg[j] = by_group[i]
        rows[sid] = {"need": need, "capacity": cap, "gap": need - cap, "coverage": coverage,
                     "group_population": total_pop, "hours": hours, "months_per_user": months,
                     "capacity_coverage": cap_cov, "substitution": sub,
                     "need_by_group": nbg, "population_by_group": pbg,
                     "first_shortfall_year": first_shortfall_year(need, cap, years)}

    ids = list(config.services)
    data = {}
    for name in ("need", "capacity", "gap", "coverage", "group_population", "hours",
                 "months_per_user", "capacity_coverage", "substitution"):
        values = np.array([rows[i][name] for i in ids]).reshape(len(ids), n_years)
        data[name] = xr.DataArray(values, dims=("service", "year"))
    for name in ("need_by_group", "population_by_group"):
        values = np.array([rows[i][name] for i in ids]).reshape(len(ids), len(group_labels),
                                                                 n_years)
        data[name] = xr.DataArray(values, dims=("service", "group", "year"))
    data["first_shortfall_year"] = xr.DataArray(
        np.array([rows[i]["first_shortfall_year"] for i in ids], dtype=float), dims="service")
    services = config.services
    ds = xr.Dataset(data, coords={
        "service": ids, "year": years.astype(int), "group": group_labels,
        "label": ("service", [services[i].label for i in ids]),
        "unit": ("service", [services[i].unit for i in ids])})
    for name, unit in UNITS.items():
        ds[name].attrs["units"] = unit
    ds.attrs.update(base_year=config.base_year, end_year=config.end_year)
    return ds
