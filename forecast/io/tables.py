"""Demand tables shared by the writers (CSV, workbook, charts): the measures and their units,
and several scenarios side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import xarray as xr

from ..errors import ForecastError

# Demand measures in the order they are written, with their unit; None = the service's unit.
DEMAND_MEASURES: dict[str, str | None] = {
    "need": None, "capacity": None, "gap": None, "coverage": "share",
    "group_population": "persons", "hours": "hours/year", "cost": "NOK", "investment": "NOK",
}


def service_units(ds: xr.Dataset) -> dict[str, str]:
    services = [str(s) for s in ds["service"].values]
    if "unit" in ds.coords or "unit" in ds:
        return dict(zip(services, (str(u) for u in ds["unit"].values)))
    return {s: "" for s in services}


def demand_measures(ds: xr.Dataset) -> list[str]:
    """Known measures first, then any other variable over (service, year)."""
    def over_service_year(name):
        dims = set(ds[name].dims) - {"scenario", "region"}
        return dims == {"service", "year"}

    known = [m for m in DEMAND_MEASURES if m in ds.data_vars and over_service_year(m)]
    extra = [str(n) for n in ds.data_vars if n not in DEMAND_MEASURES and over_service_year(n)]
    return known + extra


def plain_units(da: xr.DataArray) -> str:
    """The units attribute; "" where it only points at a per-service coord ("see coord
    unit": substitution, volume), as the tables showed before variables had units."""
    units = str(da.attrs.get("units", da.attrs.get("unit", "")))
    return "" if units.startswith("see coord ") else units


def stack_scenarios(demands: Mapping[str, xr.Dataset] | Sequence[xr.Dataset] | xr.Dataset
                    ) -> xr.Dataset:
    """Demand Datasets of several scenarios along a new `scenario` dim.

    Accepts a mapping name -> Dataset, a sequence of Datasets (named by their `scenario`
    attribute) or a Dataset that already has the dim.
    """
    if isinstance(demands, xr.Dataset):
        if "scenario" in demands.dims:
            return demands
        demands = [demands]
    if isinstance(demands, Mapping):
        names, dss = [str(k) for k in demands], list(demands.values())
    else:
        dss = list(demands)
        names = [str(ds.attrs.get("scenario", f"scenario {i + 1}")) for i, ds in enumerate(dss)]
    if not dss:
        raise ValueError("stack_scenarios needs at least one demand Dataset")
    if len(set(names)) != len(names):
        raise ForecastError(f"scenario names must differ to compare them, got {names}",
                            key="scenario")
    stacked = xr.concat(dss, dim=pd.Index(names, name="scenario"), data_vars="all",
                        coords="minimal", compat="override", join="outer",
                        combine_attrs="drop_conflicts")
    stacked.attrs.pop("scenario", None)
    return stacked
