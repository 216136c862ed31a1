"""The planners' workbook (openpyxl): what a planner pastes into the plan.

Years run as columns on every table of a service or of the population; amounts are in
mill. kr (the header says so); every fixed heading is Norwegian and comes from `NB`, service
labels and units from the scenario. Native Excel charts show population growth by age group
and need against capacity; every sheet prints landscape, one page wide, with its headings
repeated. No machine paths: files are named by their name only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import PurePath, PurePosixPath, PureWindowsPath

import numpy as np
import xarray as xr
from openpyxl import Workbook
from openpyxl.styles import Alignment

from . import sheet
from .workbook_text import NB, UNITS_NB

SHEETS = tuple(NB[k] for k in ("summary", "population", "ages", "services", "capacity", "cost",
                               "assumptions"))
NO_SERVICES = NB["no_services"]

MILLION = 1e6
BAND_QUANTILES = (0.1, 0.5, 0.9)   # the rows a planner reads beside the deterministic one


# --- small helpers -----------------------------------------------------------------------

def _file_name(text: str) -> str:
    """An absolute path becomes the file's name: no machine's folders in the workbook."""
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return PureWindowsPath(text).name   # splits on both slashes
    return text


def _text(value) -> str:
    """Assumption values as planners read them: {2018: 0.2} -> '2018: 0.2'; lists joined."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "ja" if value else "nei"
    return _file_name(str(value))


def _assumption_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, Mapping, list, tuple)):
        return _text(value)
    if isinstance(value, (int, float, np.number)):
        return sheet.cell(value)
    return _file_name(str(value))


def _services(demand_ds) -> list[tuple[str, str, str]]:
    """(id, label, unit) of each service."""
    ids = [str(s) for s in demand_ds["service"].values]
    labels = ([str(v) for v in demand_ds["label"].values] if "label" in demand_ds.variables
              else ids)
    units = ([str(v) for v in demand_ds["unit"].values] if "unit" in demand_ds.variables
             else [""] * len(ids))
    return list(zip(ids, labels, units))


def _has(ds, var: str) -> bool:
    return ds is not None and var in ds.data_vars and {"service", "year"} <= set(ds[var].dims)


def _series(ds, var: str, service: str, years) -> np.ndarray:
    """var(service, year) over `years` (NaN where missing)."""
    return ds[var].sel(service=service).reindex(year=years).to_numpy().astype(float)


def _prices(demand_ds) -> str:
    py = demand_ds.attrs.get("price_year") if demand_ds is not None else None
    return NB["price_year"].format(year=py) if py is not None else NB["fixed_prices"]


def _mill(demand_ds) -> str:
    return f"{NB['mill_kr']}, {_prices(demand_ds)}"


def _quantile(unc, var: str, q: float, service: str, years) -> np.ndarray:
    da = unc[var].sel(quantile=q, method="nearest").sel(service=service)
    return da.reindex(year=years).to_numpy().astype(float)


def _quantile_name(what: str, q: float) -> str:
    return NB["quantile"].format(what=what, q=f"{100 * q:g}")


def _dash(name: str) -> str:
    return name.replace("-", "\u2013")


def _first_year(value):
    return NB["none"] if value is None or math.isnan(float(value)) else int(value)


def _capacity_services(demand_ds) -> list[tuple[str, str, str]]:
    if not _has(demand_ds, "capacity"):
        return []
    return [s for s in _services(demand_ds)
            if bool(demand_ds["capacity"].sel(service=s[0]).notnull().any())]


# --- rows of the service tables ----------------------------------------------------------

def _measure_unit(demand_ds, var: str, service: str, service_unit: str) -> str:
    units = str(demand_ds[var].attrs.get("units", ""))
    if units.startswith("see coord unit") or var in ("need", "capacity", "gap"):
        return service_unit
    if units.startswith("see coord cost_basis"):   # volume: users, hours or months
        basis = str(demand_ds["cost_basis"].sel(service=service).item())
        return {"need": service_unit, "hours": "timer", "months": "måneder"}.get(basis, basis)
    return UNITS_NB.get(units, units)


def _need_rows(demand_ds, unc, sid, label, unit, years, with_gap: bool):
    """Need (and capacity, gap) of one service, with the 10/50/90 % rows when there are draws.
    The gap is need − capacity (positive = shortfall) in both, as in demand.model and
    forecast.uncertainty."""
    rows = [([label, unit, NB["need"]], _series(demand_ds, "need", sid, years), sheet.PERSONS)]
    if unc is not None:
        rows += [([label, unit, _quantile_name(NB["need"], q)],
                  _quantile(unc, "need", q, sid, years), sheet.PERSONS) for q in BAND_QUANTILES]
    if not with_gap:
        return rows
    rows += [([label, unit, NB["capacity_row"]], _series(demand_ds, "capacity", sid, years),
              sheet.PERSONS),
             ([label, unit, NB["gap"]], _series(demand_ds, "gap", sid, years), sheet.PERSONS)]
    if unc is not None:
        rows += [([label, unit, _quantile_name(NB["gap"], q)],
                  _quantile(unc, "gap", q, sid, years), sheet.PERSONS)
                 for q in BAND_QUANTILES]
        p = unc["p_shortfall"].sel(service=sid).reindex(year=years).to_numpy().astype(float)
        rows.append(([label, NB["share"], NB["p_shortfall"]], p, sheet.SHARE))
    return rows


# --- sheets ------------------------------------------------------------------------------

def _summary_sheet(ws, pop_ds, demand_ds, unc) -> None:
    from ..report import age_group_totals, summary_years

    attrs = {**pop_ds.attrs, **(demand_ds.attrs if demand_ds is not None else {})}
    years = [int(y) for y in pop_ds["year"].values]
    sheet.title(ws, 1, NB["summary"])
    scenario_file = attrs.get("scenario_file")
    info = [("scenario", attrs.get("scenario")), ("base_year", years[0]),
            ("end_year", years[-1]),
            ("prices", _prices(demand_ds) if demand_ds is not None else None),
            ("scenario_file", PurePath(str(scenario_file)).name if scenario_file else None),
            ("version", attrs.get("forecast_version"))]
    if unc is not None:
        info += [("draws", unc.attrs.get("draws")), ("seed", unc.attrs.get("seed")),
                 ("vary", unc.attrs.get("vary"))]
    row = 2
    for key, value in info:
        if value is None:
            continue
        ws.cell(row=row, column=1, value=NB[key]).font = sheet.HEADER_FONT
        ws.cell(row=row, column=2, value=sheet.cell(value))
        row += 1
    row += 1

    if demand_ds is not None:
        picked = summary_years([int(y) for y in demand_ds["year"].values])
        sheet.title(ws, row, NB["services_title"])
        sheet.header(ws, row + 1, [NB["service"], NB["unit"], NB["measure"]] + picked)
        rows = []
        capacity = {s[0] for s in _capacity_services(demand_ds)}
        for sid, label, unit in _services(demand_ds):
            rows += _need_rows(demand_ds, unc, sid, label, unit, picked, sid in capacity)
            for var, name in (("cost", "cost_row"), ("investment", "investment")):
                if _has(demand_ds, var):
                    rows.append(([label, _mill(demand_ds), NB[name]],
                                 _series(demand_ds, var, sid, picked) / MILLION, sheet.MILL))
        row = sheet.write_rows(ws, row + 2, rows) + 1
    else:
        ws.cell(row=row, column=1, value=NO_SERVICES)
        row += 2

    table = age_group_totals(pop_ds["pop"])
    picked = summary_years(table.columns)
    sheet.title(ws, row, NB["population_title"])
    sheet.header(ws, row + 1, [NB["age_group"]] + picked)
    sheet.write_rows(ws, row + 2, [([_band_name(g)], table.loc[g, picked].to_numpy(), sheet.PERSONS)
                              for g in table.index])
    sheet.print_setup(ws, "1:1", "A:C")


def _band_name(group: str) -> str:
    return NB["total"] if group == "Total" else _dash(str(group))


def _population_sheet(ws, pop_ds) -> None:
    from openpyxl.chart import Reference

    from ..report import age_group_totals

    table = age_group_totals(pop_ds["pop"])
    years = [int(y) for y in table.columns]
    sheet.title(ws, 1, NB["bands_title"])
    sheet.header(ws, 2, [NB["age_group"]] + years)
    end = sheet.write_rows(ws, 3, [([_band_name(g)], table.loc[g].to_numpy(), sheet.PERSONS)
                              for g in table.index])
    growth_row = end + 1
    sheet.title(ws, growth_row, NB["growth_title"].format(base=years[0]))
    sheet.header(ws, growth_row + 1, [NB["age_group"]] + years)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = 100.0 * (table.to_numpy() / table.to_numpy()[:, :1] - 1.0)
    first = growth_row + 2
    groups = [g for g in table.index if g not in ("67+", "80+")]  # the chart: bands and total
    rows = [([_band_name(g)], growth[list(table.index).index(g)], sheet.PERCENT) for g in groups]
    last = sheet.write_rows(ws, first, rows) - 1

    chart = sheet.line_chart(NB["growth_chart"].format(base=years[0]), NB["percent"],
                             NB["year"], from_zero=False)
    data = Reference(ws, min_col=1, max_col=len(years) + 1, min_row=first, max_row=last)
    chart.add_data(data, from_rows=True, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=2, max_col=len(years) + 1,
                                   min_row=growth_row + 1))
    ws.add_chart(chart, f"A{last + 3}")
    ws.freeze_panes = "B3"
    sheet.print_setup(ws, "1:2", "A:A")


def _ages_sheet(ws, pop_ds) -> None:
    """Persons by single year of age and sex, and both sexes; 105 is 105 and older."""
    years = [int(y) for y in pop_ds["year"].values]
    pop = pop_ds["pop"].transpose("sex", "age", "year")
    ages = [int(a) for a in pop_ds["age"].values]
    age_names = [f"{a}+" if a == ages[-1] else a for a in ages]
    sheet.title(ws, 1, NB["ages_title"])
    sheet.header(ws, 2, [NB["sex"], NB["age"]] + years)
    blocks = [(NB.get(str(s), str(s)), pop.sel(sex=s).to_numpy()) for s in pop["sex"].values]
    blocks.append((NB["both"], pop.sum("sex").to_numpy()))
    rows = [([name, age], values[i], sheet.PERSONS)
            for name, values in blocks for i, age in enumerate(age_names)]
    sheet.write_rows(ws, 3, rows)
    ws.freeze_panes = "C3"
    sheet.print_setup(ws, "1:2", "A:B")


def _empty_sheet(ws, text: str) -> None:
    """A sheet that only says why it is empty."""
    ws.cell(row=1, column=1, value=text)
    sheet.print_setup(ws, None, None)


def _services_sheet(ws, demand_ds, unc) -> None:
    from .tables import demand_measures

    if demand_ds is None:
        _empty_sheet(ws, NO_SERVICES)
        return
    years = [int(y) for y in demand_ds["year"].values]
    skip = {"need", "capacity", "gap", "cost", "investment", "unit_cost"}  # on other sheets
    measures = [v for v in demand_measures(demand_ds) if v not in skip]
    formats = {"coverage": sheet.SHARE, "capacity_coverage": sheet.SHARE}
    sheet.title(ws, 1, NB["services_sheet_title"])
    sheet.header(ws, 2, [NB["service"], NB["unit"], NB["measure"]] + years)
    rows = []
    for sid, label, unit in _services(demand_ds):
        rows += _need_rows(demand_ds, unc, sid, label, unit, years, with_gap=False)
        for var in measures:
            values = _series(demand_ds, var, sid, years)
            if np.isnan(values).all():
                continue
            fmt = formats.get(var, sheet.PERSONS if var in NB else sheet.DECIMAL)
            rows.append(([label, _measure_unit(demand_ds, var, sid, unit), NB.get(var, var)],
                         values, fmt))
    sheet.write_rows(ws, 3, rows)
    ws.freeze_panes = "D3"
    sheet.print_setup(ws, "1:2", "A:C")


def _capacity_sheet(ws, demand_ds, unc, charts) -> None:
    from openpyxl.chart import Reference

    services = _capacity_services(demand_ds) if demand_ds is not None else []
    if not services:
        _empty_sheet(ws, NO_SERVICES if demand_ds is None else NB["no_capacity"])
        return
    years = [int(y) for y in demand_ds["year"].values]
    sheet.title(ws, 1, NB["capacity_sheet_title"])
    sheet.header(ws, 2, [NB["service"], NB["unit"], NB["measure"]] + years)
    row, where = 3, {}
    for sid, label, unit in services:
        rows = _need_rows(demand_ds, unc, sid, label, unit, years, with_gap=True)
        where[sid] = {r[0][2]: row + i for i, r in enumerate(rows)}
        row = sheet.write_rows(ws, row, rows)

    row += 1
    sheet.title(ws, row, NB["first_shortfall"])
    heads = [NB["service"], NB["first_deterministic"]]
    if unc is not None:
        heads += [NB["first_p50"], NB["first_p80"]]
    sheet.header(ws, row + 1, heads)
    row += 2
    for sid, label, _ in services:
        values = [label, _first_year(demand_ds["first_shortfall_year"].sel(service=sid).item()
                                     if "first_shortfall_year" in demand_ds else None)]
        if unc is not None:
            values += [_first_year(unc[v].sel(service=sid).item())
                       for v in ("first_year_p50", "first_year_p80")]
        for j, v in enumerate(values, start=1):
            ws.cell(row=row, column=j, value=v)
        row += 1

    chosen = [s for s in services if not charts or s[0] == charts.get("places")]
    row += 1
    for sid, label, unit in chosen:   # need against capacity, for the places service
        chart = sheet.line_chart(NB["places_chart"].format(label=label, unit=unit), unit,
                                 NB["year"], from_zero=True)
        lines = [NB["need"], NB["capacity_row"]]
        if unc is not None:
            lines += [_quantile_name(NB["need"], q) for q in (BAND_QUANTILES[0],
                                                              BAND_QUANTILES[-1])]
        for name in lines:
            r = where[sid][name]
            chart.add_data(Reference(ws, min_col=3, max_col=len(years) + 3, min_row=r),
                           from_rows=True, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=4, max_col=len(years) + 3, min_row=2))
        ws.add_chart(chart, f"A{row}")
        row += 26
    ws.freeze_panes = "D3"
    sheet.print_setup(ws, "1:2", "A:C")


def _cost_sheet(ws, demand_ds, unc) -> None:
    if demand_ds is None:
        _empty_sheet(ws, NO_SERVICES)
        return
    years = [int(y) for y in demand_ds["year"].values]
    mill = _mill(demand_ds)
    sheet.title(ws, 1, NB["cost_sheet_title"].format(prices=_prices(demand_ds)))
    sheet.header(ws, 2, [NB["service"], NB["measure"]] + years)
    cost_name = f"{NB['cost_row']} ({mill})"
    invest_name = f"{NB['investment']} ({mill})"
    rows = []
    for sid, label, _ in _services(demand_ds):
        if _has(demand_ds, "cost"):
            rows.append(([label, cost_name], _series(demand_ds, "cost", sid, years) / MILLION,
                         sheet.MILL))
            if unc is not None and "cost" in unc:
                rows += [([label, _quantile_name(cost_name, q)],
                          _quantile(unc, "cost", q, sid, years) / MILLION, sheet.MILL)
                         for q in BAND_QUANTILES]
        if _has(demand_ds, "investment"):
            rows.append(([label, invest_name],
                          _series(demand_ds, "investment", sid, years) / MILLION, sheet.MILL))
        if _has(demand_ds, "unit_cost"):
            rows.append(([label, f"{NB['unit_cost']} (kr, {_prices(demand_ds)})"],
                         _series(demand_ds, "unit_cost", sid, years), sheet.PERSONS))
    for var, name in (("cost", cost_name), ("investment", invest_name)):
        if _has(demand_ds, var):
            total = demand_ds[var].sum("service", skipna=True).reindex(year=years)
            rows.append(([NB["all_services"], name], total.to_numpy() / MILLION, sheet.MILL))
    sheet.write_rows(ws, 3, rows)
    ws.freeze_panes = "C3"
    sheet.print_setup(ws, "1:2", "A:B")


def _assumptions_sheet(ws, assumptions) -> None:
    sheet.header(ws, 1, [NB[k] for k in ("section", "key", "value", "unit", "source")])
    rows = [([a.get("section"), a.get("key"), _assumption_value(a.get("value")),
              UNITS_NB.get(a.get("unit"), a.get("unit")) or None,
              _file_name(str(a["source"])) if a.get("source") else None], [], sheet.DECIMAL)
            for a in assumptions]
    end = sheet.write_rows(ws, 2, rows)
    for r in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        for c in r:
            c.alignment = Alignment(horizontal="left")
    if end > 2:
        ws.auto_filter.ref = f"A1:E{end - 1}"
    ws.freeze_panes = "A2"
    sheet.print_setup(ws, "1:1", None)


# --- entry points ------------------------------------------------------------------------

def build_workbook(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                   assumptions: Iterable[Mapping] = (), *,
                   charts: Mapping[str, str] | None = None,
                   uncertainty: xr.Dataset | None = None) -> Workbook:
    """The workbook with the sheets of `SHEETS`, in that order.

    `charts` ({"places": service id, ...}) picks the service of the need-vs-capacity chart
    (without it, every service with a capacity gets one); `uncertainty` (the run's quantiles,
    see `RunResult.uncertainty`) adds the 10/50/90 % rows and the probability of shortfall."""
    wb = Workbook()
    sheets = {name: (wb.active if i == 0 else wb.create_sheet()) for i, name in enumerate(SHEETS)}
    for name, ws in sheets.items():
        ws.title = name
    if demand_ds is None:
        uncertainty = None
    _summary_sheet(sheets[NB["summary"]], pop_ds, demand_ds, uncertainty)
    _population_sheet(sheets[NB["population"]], pop_ds)
    _ages_sheet(sheets[NB["ages"]], pop_ds)
    _services_sheet(sheets[NB["services"]], demand_ds, uncertainty)
    _capacity_sheet(sheets[NB["capacity"]], demand_ds, uncertainty, charts)
    _cost_sheet(sheets[NB["cost"]], demand_ds, uncertainty)
    _assumptions_sheet(sheets[NB["assumptions"]], list(assumptions))
    for ws in sheets.values():
        sheet.fit_columns(ws)
    wb.properties.creator = "forecast"
    wb.properties.title = str(pop_ds.attrs.get("scenario", "forecast"))
    return wb


def write_workbook(path, pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                   assumptions: Iterable[Mapping] = (), *,
                   charts: Mapping[str, str] | None = None,
                   uncertainty: xr.Dataset | None = None) -> None:
    """Save the workbook to `path` (any suffix, e.g. a temporary file)."""
    build_workbook(pop_ds, demand_ds, assumptions, charts=charts,
                   uncertainty=uncertainty).save(path)
