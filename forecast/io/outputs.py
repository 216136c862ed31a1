"""Result files for planners: tidy CSV, NetCDF, the Excel workbook, PNG charts and the HTML
report.

Every command writes its files through one `write_folder` call: into a temporary folder
beside the target, which replaces the target as a whole only when every file is written, so a
failed run leaves the earlier results untouched and no run's files are mixed with another's.
With `manifest` (scenario, command) a manifest.json lists each file with its size and sha256.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from numbers import Number
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ForecastError
from .atomic import write_folder
from .tables import (DEMAND_MEASURES, demand_measures, plain_units, service_units,
                     stack_scenarios)

RUN_FORMATS = frozenset({"csv", "netcdf", "excel", "png", "html"})
# internal_in/out exist for sub-areas only; inmig_housing is part of inmig and stays out
FLOW_COMPONENTS = ("births", "deaths", "inmig", "outmig", "internal_in", "internal_out")



# --- tidy tables -------------------------------------------------------------------------

def population_frames(pop_ds: xr.Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(population, flows) as tidy tables.

    population: year, sex, age, persons (stock at 1 January).
    flows: year, sex, age, component, persons, for the flows during `year`; `age` is the age
    reached on 1 January of the next year, and births are rows of age 0. Years without flows
    (the end year of a projection) are left out. A sub-area result gets an `area` column
    first, a multi-region result a `region` column.
    """
    lead = [d for d in ("region", "area") if d in pop_ds.dims]
    dims = lead + ["year", "sex", "age"]
    population = _long(pop_ds["pop"].transpose(*dims), dims, "persons")
    comps = [c for c in FLOW_COMPONENTS if c in pop_ds]
    columns = dims + ["component", "persons"]
    if not comps:
        return population, pd.DataFrame(columns=columns)
    arrays = []
    for comp in comps:
        da = pop_ds[comp]
        if "age" not in da.dims:  # births(year, sex): the cohort reaching age 0, other ages NaN
            da = da.expand_dims(age=pop_ds["age"].values).where(pop_ds["age"] == 0)
        arrays.append(da.transpose(*dims).to_numpy())
    stacked = np.stack(arrays, axis=len(lead) + 1)      # (*lead, year, component, sex, age)
    years = pop_ds["year"].to_numpy()
    has = ~np.isnan(stacked).all(axis=tuple(i for i in range(stacked.ndim) if i != len(lead)))
    stacked = stacked.compress(has, axis=len(lead))
    coords = [pop_ds[d].to_numpy() for d in lead] + [years[has], np.array(comps),
                                                    pop_ds["sex"].to_numpy(),
                                                    pop_ds["age"].to_numpy()]
    names = lead + ["year", "component", "sex", "age"]
    index = pd.MultiIndex.from_product(coords, names=names)
    flows = pd.DataFrame({"persons": stacked.ravel()}, index=index).reset_index()
    births = flows["component"] == "births"
    flows = flows[~births | (flows["age"] == 0)]
    return population, flows[columns].reset_index(drop=True)


def _long(da: xr.DataArray, dims: list[str], name: str) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([da[d].to_numpy() for d in dims], names=dims)
    return pd.DataFrame({name: da.to_numpy().ravel()}, index=index).reset_index()


def demand_frame(demand_ds: xr.Dataset, scenario: str | None = None) -> pd.DataFrame:
    """Long table scenario, service, year, measure, value, unit; missing values are left out.

    Variables that are not over (service, year) — first_shortfall_year(service) — are not in
    this table (they are in the NetCDF and the workbook). A Dataset with a `scenario` dim (see
    `stack_scenarios`) gives rows for each of its scenarios.
    """
    lead = ["region"] if "region" in demand_ds.dims else []
    columns = ["scenario", *lead, "service", "year", "measure", "value", "unit"]
    if "scenario" in demand_ds.dims:
        parts = [demand_frame(demand_ds.sel(scenario=s, drop=True), str(s))
                 for s in demand_ds["scenario"].values]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if scenario is None:
        scenario = str(demand_ds.attrs.get("scenario", ""))
    units = service_units(demand_ds)
    parts = []
    for measure in demand_measures(demand_ds):
        da = demand_ds[measure].transpose(*lead, "service", "year")
        frame = (da.reset_coords(drop=True).to_dataframe(name="value").reset_index()
                 [[*lead, "service", "year", "value"]])
        frame = frame[frame["value"].notna()]
        if frame.empty:
            continue
        frame["service"] = frame["service"].astype(str)
        unit = DEMAND_MEASURES.get(measure, "")
        if measure in DEMAND_MEASURES and unit is None:
            frame["unit"] = frame["service"].map(units)
        else:
            frame["unit"] = unit if unit else plain_units(da)
        frame.insert(2 + len(lead), "measure", measure)
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "scenario", scenario)
    return out[columns]


# --- NetCDF ------------------------------------------------------------------------------

def uncertainty_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The quantiles over draws (forecast.uncertainty) as one tidy table: [region,] variable,
    item (band or service id), label, unit, year, quantile, value. The probability of
    shortfall has rows with quantile empty; the sums over regions have region "total"."""
    frames = []
    lead = ["region"] if "region" in ds.dims else []
    for name, da in ds.data_vars.items():
        if "year" not in da.dims:
            continue
        item = "band" if "band" in da.dims else "service"
        dims = [d for d in lead if d in da.dims] + [item, "year"] + (
            ["quantile"] if "quantile" in da.dims else [])
        frame = da.transpose(*dims).to_series().rename("value").reset_index()
        frame = frame.rename(columns={item: "item"})
        if lead and "region" not in da.dims:
            frame.insert(0, "region", "total")
        if "quantile" not in da.dims:
            frame["quantile"] = np.nan
        variable = name[6:] if name.startswith("total_") else name
        frame.insert(len(lead), "variable", variable)
        if item == "service":
            labels = dict(zip(ds["service"].values, ds["label"].values))
            units = dict(zip(ds["service"].values, ds["unit"].values))
            frame["label"] = frame["item"].map(labels)
            base = variable.removesuffix("_tolerance")   # streamed quantiles' error bounds
            frame["unit"] = ("NOK" if base == "cost" else "share"
                             if base == "p_shortfall" else frame["item"].map(units))
        else:
            frame["label"] = frame["item"]
            frame["unit"] = "persons"
        frames.append(frame[lead + ["variable", "item", "label", "unit", "year", "quantile",
                                    "value"]])
    return pd.concat(frames, ignore_index=True)


def uncertainty_scenarios_frame(named: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """uncertainty_frame of each scenario's quantiles, a scenario column first."""
    frames = []
    for name, u in named.items():
        frame = uncertainty_frame(u)
        frame.insert(0, "scenario", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _attr_value(value):
    """An attribute value netCDF can store: strings, numbers and numeric arrays."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (str, bytes, np.number)) or isinstance(value, Number):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.ndim == 1 and arr.size and arr.dtype.kind in "iuf":
            return arr
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps(list(np.asarray(value, dtype=object).ravel()), ensure_ascii=False,
                          default=str)
    return str(value)


def _safe_attrs(attrs: Mapping) -> dict:
    return {str(k): _attr_value(v) for k, v in attrs.items()}


def netcdf_safe(ds: xr.Dataset) -> xr.Dataset:
    """A copy with plain unicode string variables and attributes netCDF can store."""
    out = ds.copy()
    out.attrs = _safe_attrs(ds.attrs)
    for name in list(out.variables):
        var = out.variables[name]
        if var.dtype.kind in "OUST" or isinstance(var.dtype, pd.StringDtype):
            values = np.asarray([("" if v is None else str(v)) for v in np.asarray(var.values,
                                 dtype=object).ravel()], dtype=str).reshape(var.shape)
            new = xr.Variable(var.dims, values, attrs=var.attrs)
            if name in out.coords:
                out = out.assign_coords({name: new})
            else:
                out[name] = new
        out.variables[name].attrs = _safe_attrs(out.variables[name].attrs)
        out.variables[name].encoding = {}
    return out


def merged_result(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None) -> xr.Dataset:
    """Population and demand in one Dataset; demand variables named like population ones get
    the prefix `demand_`. Attributes: the population's, then the demand's."""
    if demand_ds is None:
        merged = pop_ds.copy()
    else:
        clash = [n for n in demand_ds.variables if n in pop_ds.variables and n != "year"]
        demand = demand_ds.rename({n: f"demand_{n}" for n in clash})
        merged = xr.merge([pop_ds, demand], join="outer", compat="no_conflicts",
                          combine_attrs="drop")
        merged.attrs = {**pop_ds.attrs, **demand_ds.attrs}
        for source in (pop_ds, demand):  # merge drops variable attributes: units come back
            for name in source.variables:
                merged[name].attrs = dict(source[name].attrs)
    return netcdf_safe(merged)


def _write_netcdf(ds: xr.Dataset):
    def write(tmp: Path) -> None:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4")
    return write


def _write_csv(frame: pd.DataFrame):
    def write(tmp: Path) -> None:
        frame.to_csv(tmp, index=False, lineterminator="\n")
    return write


# --- commands ----------------------------------------------------------------------------

def write_population_outputs(out_dir, pop_ds: xr.Dataset, fmt: str = "csv", *,
                             manifest: Mapping | None = None,
                             uncertainty: xr.Dataset | None = None) -> list[Path]:
    """The population-only result: population.csv + flows.csv, or population.nc; with
    `uncertainty` (quantiles over draws) also uncertainty.csv or uncertainty.nc.

    The folder `out_dir` is replaced as a whole (see `atomic.write_folder`); with `manifest`
    (scenario, command, ...) a manifest.json is written beside the files.
    """
    if fmt == "csv":
        population, flows = population_frames(pop_ds)
        writers = {"population.csv": _write_csv(population), "flows.csv": _write_csv(flows)}
    elif fmt == "netcdf":
        writers = {"population.nc": _write_netcdf(netcdf_safe(pop_ds))}
    else:
        raise ForecastError(f"unknown output format {fmt!r}; expected 'csv' or 'netcdf'",
                            key="format")
    if uncertainty is not None:
        writers["uncertainty." + ("csv" if fmt == "csv" else "nc")] = (
            _write_csv(uncertainty_frame(uncertainty)) if fmt == "csv"
            else _write_netcdf(netcdf_safe(uncertainty)))
    return write_folder(out_dir, writers, manifest)


def write_run_outputs(out_dir, population_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                      assumptions: Iterable[Mapping] = (),
                      formats: Iterable[str] = RUN_FORMATS, *,
                      charts: Mapping[str, str] | None = None,
                      comparison=None, comparison_table: pd.DataFrame | None = None,
                      areas: xr.Dataset | None = None,
                      manifest: Mapping | None = None,
                      uncertainty: xr.Dataset | None = None,
                      descriptions: Mapping[str, str] | None = None,
                      comparison_uncertainty: Mapping[str, xr.Dataset] | None = None
                      ) -> list[Path]:
    """Write a full run's results to `out_dir`, all of them or none.

    csv: population.csv, flows.csv, demand.csv (and comparison.csv when `comparison` is
    given); netcdf: result.nc (population + demand); with `uncertainty` (quantiles over
    draws, forecast.uncertainty) also uncertainty.csv and uncertainty.nc; excel:
    forecast.xlsx; png: the charts (see `charts.render_charts`); html: report.html (see
    `html_report.render_report`, with the scenarios' `descriptions` by name). `charts` maps
    the roles places / home_care / social_assistance to service ids; `comparison` holds the
    demand of several scenarios (anything `stack_scenarios` takes) and draws one line per
    scenario; with `comparison_table` (the side-by-side table of `compare`) that table is
    comparison.csv and every scenario's demand goes to demand_scenarios.csv;
    `comparison_uncertainty` (each scenario's quantiles over draws, by name) goes to
    uncertainty_scenarios.csv (uncertainty.csv with a scenario column) and to the report
    (their probabilities of shortfall side by side). `areas`, the
    sub-areas' population, replaces the municipality's in population.csv and flows.csv (an
    `area` column); the workbook, charts and result.nc show the municipality. `uncertainty`
    also adds the 10/50/90 % rows and the probability of shortfall to the workbook, and the
    fan charts (PNG and in the report).
    The folder `out_dir` is replaced as a whole (see `atomic.write_folder`): files of an
    earlier run that this one does not write are gone, and a folder holding files forecast
    did not write is refused. With `manifest` (scenario, command, ...) a manifest.json is
    written beside the files. Returns the paths written (without manifest.json).
    """
    formats = set(formats)
    unknown = formats - RUN_FORMATS
    if unknown:
        raise ForecastError(f"unknown output format(s) {sorted(unknown)}; expected some of "
                            f"{sorted(RUN_FORMATS)}", key="--format")
    if "region" in population_ds.dims and formats & {"excel", "png", "html"}:
        raise ForecastError("the workbook, charts and report are made for one municipality; "
                            "for many use --format csv,netcdf (or --municipality CODE)",
                            key="--format")
    assumptions = list(assumptions)
    stacked = stack_scenarios(comparison) if comparison is not None else None
    writers = {}
    if "csv" in formats:
        population, flows = population_frames(areas if areas is not None else population_ds)
        writers["population.csv"] = _write_csv(population)
        writers["flows.csv"] = _write_csv(flows)
        if demand_ds is not None:
            writers["demand.csv"] = _write_csv(demand_frame(demand_ds))
        if comparison_table is not None:
            writers["comparison.csv"] = _write_csv(comparison_table)
            writers["demand_scenarios.csv"] = _write_csv(demand_frame(stacked))
        elif stacked is not None:
            writers["comparison.csv"] = _write_csv(demand_frame(stacked))
        if uncertainty is not None:
            writers["uncertainty.csv"] = _write_csv(uncertainty_frame(uncertainty))
        if comparison_uncertainty:
            writers["uncertainty_scenarios.csv"] = _write_csv(
                uncertainty_scenarios_frame(comparison_uncertainty))
    if "netcdf" in formats:
        writers["result.nc"] = _write_netcdf(merged_result(population_ds, demand_ds))
        if uncertainty is not None:
            writers["uncertainty.nc"] = _write_netcdf(netcdf_safe(uncertainty))
    if "excel" in formats:
        from . import excel
        writers["forecast.xlsx"] = (
            lambda tmp: excel.write_workbook(tmp, population_ds, demand_ds, assumptions,
                                             charts=charts, uncertainty=uncertainty))
    if "png" in formats:
        from . import charts as charts_mod
        for name, make in charts_mod.chart_makers(population_ds, demand_ds, charts, stacked,
                                                  uncertainty=uncertainty).items():
            writers[f"{name}.png"] = _png_writer(charts_mod, make)
    if "html" in formats:
        from . import html_report
        writers["report.html"] = (
            lambda tmp: html_report.write_report(
                tmp, population_ds, demand_ds, assumptions, descriptions=descriptions,
                charts=charts, comparison=stacked, uncertainty=uncertainty,
                comparison_uncertainty=comparison_uncertainty))
    return write_folder(out_dir, writers, manifest)


def _png_writer(charts_mod, make):
    def write(tmp: Path) -> None:
        charts_mod.save_png(make(), tmp)
    return write

