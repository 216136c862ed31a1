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
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

# Every fixed heading of the workbook (Norwegian bokmål), by what it is.
NB = {
    "summary": "Sammendrag", "population": "Befolkning", "ages": "Alder og kjønn",
    "services": "Tjenester", "capacity": "Kapasitet", "cost": "Kostnad",
    "assumptions": "Forutsetninger",
    "scenario": "Scenario", "base_year": "Basisår", "end_year": "Sluttår",
    "prices": "Prisnivå", "scenario_file": "Scenariofil", "version": "Versjon",
    "draws": "Antall trekninger", "seed": "Startverdi (seed)", "vary": "Usikre komponenter",
    "service": "Tjeneste", "unit": "Enhet", "measure": "Mål", "age_group": "Aldersgruppe",
    "sex": "Kjønn", "age": "Alder", "section": "Seksjon", "key": "Nøkkel", "value": "Verdi",
    "source": "Kilde",
    "need": "Behov", "capacity_row": "Kapasitet", "gap": "Differanse (behov − kapasitet)",
    "coverage": "Dekningsgrad", "group_population": "Målgruppe", "hours": "Timer",
    "months_per_user": "Måneder per bruker",
    "capacity_coverage": "Kapasitet per innbygger i målgruppen",
    "substitution": "Erstattet av annen tjeneste", "volume": "Kostnadsgrunnlag (volum)",
    "unit_cost": "Enhetskostnad", "cost_row": "Kostnad", "investment": "Investering",
    "p_shortfall": "Sannsynlighet for underdekning",
    "first_shortfall": "Første år med underdekning",
    "first_deterministic": "Første år med underdekning (uten usikkerhet)",
    "first_p50": "Første år sannsynligheten passerer 50 %",
    "first_p80": "Første år sannsynligheten passerer 80 %",
    "none": "ingen", "all_services": "Alle tjenester", "total": "Totalt",
    "female": "Kvinner", "male": "Menn", "both": "Begge kjønn",
    "services_title": "Tjenester", "population_title": "Befolkning 1. januar (personer)",
    "bands_title": "Befolkning 1. januar etter aldersgruppe (personer)",
    "growth_title": "Endring fra {base} (%)",
    "ages_title": "Befolkning 1. januar etter alder og kjønn (personer)",
    "services_sheet_title": "Behov per tjeneste og år",
    "capacity_sheet_title": "Behov og kapasitet per år",
    "cost_sheet_title": "Kostnad og investering (mill. kr, {prices})",
    "growth_chart": "Befolkningsvekst etter aldersgruppe (% fra {base})",
    "places_chart": "{label}: behov og kapasitet ({unit})",
    "year": "År", "percent": "%", "persons": "personer", "share": "andel", "mill_kr": "mill. kr",
    "quantile": "{what}, {q} %", "no_services": "Scenarioet har ingen tjenester.",
    "no_capacity": "Ingen tjeneste har kapasitet.",
    "fixed_prices": "faste priser", "price_year": "{year}-priser",
}
# Units as the model names them -> as the workbook shows them.
UNITS_NB = {"share": "andel", "persons": "personer", "hours/year": "timer per år",
            "months": "måneder", "NOK": "kr", "year": "år"}

SHEETS = tuple(NB[k] for k in ("summary", "population", "ages", "services", "capacity", "cost",
                               "assumptions"))
NO_SERVICES = NB["no_services"]

PERSONS = "#,##0"       # persons, places, users: whole numbers with a thousands separator
MILL = "#,##0.0"        # mill. kr, one decimal
SHARE = "0.0%"
PERCENT = "0.0"
DECIMAL = "#,##0.00"
MILLION = 1e6
BAND_QUANTILES = (0.1, 0.5, 0.9)   # the rows a planner reads beside the deterministic one

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
TITLE_FONT = Font(bold=True, size=13)


# --- small helpers -----------------------------------------------------------------------

def _cell(value):
    """A value openpyxl can write; NaN and None become an empty cell."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _file_name(text: str) -> str:
    """An absolute path becomes the file's name: no machine's folders in the workbook."""
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return PureWindowsPath(text).name   # splits on both slashes
    return text


def _text(value) -> str:
    """Assumption values as planners read them: {2018: 0.2, 2030: 0.22} -> '2018: 0.2; 2030: 0.22'."""
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
        return _cell(value)
    return _file_name(str(value))


def _header(ws, row: int, values: list) -> None:
    for j, v in enumerate(values, start=1):
        c = ws.cell(row=row, column=j, value=v)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _title(ws, row: int, text: str) -> None:
    ws.cell(row=row, column=1, value=text).font = TITLE_FONT


def _write_rows(ws, row: int, rows: Iterable[tuple[list, Iterable, str]]) -> int:
    """Each row = (labels, values, number format): labels first, then one value per column.
    Returns the row after the last one written."""
    for labels, values, fmt in rows:
        for j, v in enumerate(labels, start=1):
            ws.cell(row=row, column=j, value=_cell(v))
        for j, v in enumerate(values, start=len(labels) + 1):
            c = ws.cell(row=row, column=j, value=_cell(v))
            if isinstance(c.value, (int, float)):
                c.number_format = fmt
        row += 1
    return row


def _fit_columns(ws, minimum: int = 8, maximum: int = 45) -> None:
    """Column widths from the longest value (titles not counted)."""
    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for c in row:
            if c.value is None or c.font == TITLE_FONT:
                continue
            if isinstance(c.value, float):
                text = f"{c.value:,.1f}" if c.number_format != SHARE else "100.0%"
            else:
                text = str(c.value)
            widths[c.column] = max(widths.get(c.column, 0), len(text))
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(max(w + 2, minimum), maximum)


def _print_setup(ws, title_rows: str | None, title_cols: str | None) -> None:
    """Landscape A4, one page wide (as many pages down as needed), headings on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols


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

    The uncertainty's gap is capacity − need; the workbook shows need − capacity throughout
    (positive = shortfall), so its q % row is −gap at 1 − q."""
    rows = [([label, unit, NB["need"]], _series(demand_ds, "need", sid, years), PERSONS)]
    if unc is not None:
        rows += [([label, unit, _quantile_name(NB["need"], q)],
                  _quantile(unc, "need", q, sid, years), PERSONS) for q in BAND_QUANTILES]
    if not with_gap:
        return rows
    rows += [([label, unit, NB["capacity_row"]], _series(demand_ds, "capacity", sid, years),
              PERSONS),
             ([label, unit, NB["gap"]], _series(demand_ds, "gap", sid, years), PERSONS)]
    if unc is not None:
        rows += [([label, unit, _quantile_name(NB["gap"], q)],
                  -_quantile(unc, "gap", round(1 - q, 6), sid, years), PERSONS)
                 for q in BAND_QUANTILES]
        p = unc["p_shortfall"].sel(service=sid).reindex(year=years).to_numpy().astype(float)
        rows.append(([label, NB["share"], NB["p_shortfall"]], p, SHARE))
    return rows


# --- sheets ------------------------------------------------------------------------------

def _summary_sheet(ws, pop_ds, demand_ds, unc) -> None:
    from ..report import age_group_totals, summary_years

    attrs = {**pop_ds.attrs, **(demand_ds.attrs if demand_ds is not None else {})}
    years = [int(y) for y in pop_ds["year"].values]
    _title(ws, 1, NB["summary"])
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
        ws.cell(row=row, column=1, value=NB[key]).font = HEADER_FONT
        ws.cell(row=row, column=2, value=_cell(value))
        row += 1
    row += 1

    if demand_ds is not None:
        picked = summary_years([int(y) for y in demand_ds["year"].values])
        _title(ws, row, NB["services_title"])
        _header(ws, row + 1, [NB["service"], NB["unit"], NB["measure"]] + picked)
        rows = []
        capacity = {s[0] for s in _capacity_services(demand_ds)}
        for sid, label, unit in _services(demand_ds):
            rows += _need_rows(demand_ds, unc, sid, label, unit, picked, sid in capacity)
            for var, name in (("cost", "cost_row"), ("investment", "investment")):
                if _has(demand_ds, var):
                    rows.append(([label, _mill(demand_ds), NB[name]],
                                 _series(demand_ds, var, sid, picked) / MILLION, MILL))
        row = _write_rows(ws, row + 2, rows) + 1
    else:
        ws.cell(row=row, column=1, value=NO_SERVICES)
        row += 2

    table = age_group_totals(pop_ds["pop"])
    picked = summary_years(table.columns)
    _title(ws, row, NB["population_title"])
    _header(ws, row + 1, [NB["age_group"]] + picked)
    _write_rows(ws, row + 2, [([_band_name(g)], table.loc[g, picked].to_numpy(), PERSONS)
                              for g in table.index])
    _print_setup(ws, "1:1", "A:C")


def _band_name(group: str) -> str:
    return NB["total"] if group == "Total" else _dash(str(group))


def _line_chart(title: str, y_title: str, *, from_zero: bool):
    from openpyxl.chart import LineChart

    chart = LineChart()
    chart.title = title
    chart.y_axis.title = y_title
    chart.x_axis.title = NB["year"]
    chart.width, chart.height = 24, 12
    chart.x_axis.delete = False   # openpyxl ≥ 3.1 hides the axes unless told otherwise
    chart.y_axis.delete = False
    if from_zero:
        chart.y_axis.scaling.min = 0
    return chart


def _population_sheet(ws, pop_ds) -> None:
    from openpyxl.chart import Reference

    from ..report import age_group_totals

    table = age_group_totals(pop_ds["pop"])
    years = [int(y) for y in table.columns]
    _title(ws, 1, NB["bands_title"])
    _header(ws, 2, [NB["age_group"]] + years)
    end = _write_rows(ws, 3, [([_band_name(g)], table.loc[g].to_numpy(), PERSONS)
                              for g in table.index])
    growth_row = end + 1
    _title(ws, growth_row, NB["growth_title"].format(base=years[0]))
    _header(ws, growth_row + 1, [NB["age_group"]] + years)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = 100.0 * (table.to_numpy() / table.to_numpy()[:, :1] - 1.0)
    first = growth_row + 2
    groups = [g for g in table.index if g not in ("67+", "80+")]  # the chart: bands and total
    rows = [([_band_name(g)], growth[list(table.index).index(g)], PERCENT) for g in groups]
    last = _write_rows(ws, first, rows) - 1

    chart = _line_chart(NB["growth_chart"].format(base=years[0]), NB["percent"],
                        from_zero=False)
    data = Reference(ws, min_col=1, max_col=len(years) + 1, min_row=first, max_row=last)
    chart.add_data(data, from_rows=True, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=2, max_col=len(years) + 1,
                                   min_row=growth_row + 1))
    ws.add_chart(chart, f"A{last + 3}")
    ws.freeze_panes = "B3"
    _print_setup(ws, "1:2", "A:A")


def _ages_sheet(ws, pop_ds) -> None:
    """Persons by single year of age and sex, and both sexes; 105 is 105 and older."""
    years = [int(y) for y in pop_ds["year"].values]
    pop = pop_ds["pop"].transpose("sex", "age", "year")
    ages = [int(a) for a in pop_ds["age"].values]
    age_names = [f"{a}+" if a == ages[-1] else a for a in ages]
    _title(ws, 1, NB["ages_title"])
    _header(ws, 2, [NB["sex"], NB["age"]] + years)
    blocks = [(NB.get(str(s), str(s)), pop.sel(sex=s).to_numpy()) for s in pop["sex"].values]
    blocks.append((NB["both"], pop.sum("sex").to_numpy()))
    rows = [([name, age], values[i], PERSONS)
            for name, values in blocks for i, age in enumerate(age_names)]
    _write_rows(ws, 3, rows)
    ws.freeze_panes = "C3"
    _print_setup(ws, "1:2", "A:B")


def _services_sheet(ws, demand_ds, unc) -> None:
    from .tables import demand_measures

    if demand_ds is None:
        ws.cell(row=1, column=1, value=NO_SERVICES)
        _print_setup(ws, None, None)
        return
    years = [int(y) for y in demand_ds["year"].values]
    skip = {"need", "capacity", "gap", "cost", "investment", "unit_cost"}  # on other sheets
    measures = [v for v in demand_measures(demand_ds) if v not in skip]
    formats = {"coverage": SHARE, "capacity_coverage": SHARE}
    _title(ws, 1, NB["services_sheet_title"])
    _header(ws, 2, [NB["service"], NB["unit"], NB["measure"]] + years)
    rows = []
    for sid, label, unit in _services(demand_ds):
        rows += _need_rows(demand_ds, unc, sid, label, unit, years, with_gap=False)
        for var in measures:
            values = _series(demand_ds, var, sid, years)
            if np.isnan(values).all():
                continue
            fmt = formats.get(var, PERSONS if var in NB else DECIMAL)
            rows.append(([label, _measure_unit(demand_ds, var, sid, unit), NB.get(var, var)],
                         values, fmt))
    _write_rows(ws, 3, rows)
    ws.freeze_panes = "D3"
    _print_setup(ws, "1:2", "A:C")


def _capacity_sheet(ws, demand_ds, unc, charts) -> None:
    from openpyxl.chart import Reference

    services = _capacity_services(demand_ds) if demand_ds is not None else []
    if not services:
        ws.cell(row=1, column=1, value=NO_SERVICES if demand_ds is None else NB["no_capacity"])
        _print_setup(ws, None, None)
        return
    years = [int(y) for y in demand_ds["year"].values]
    _title(ws, 1, NB["capacity_sheet_title"])
    _header(ws, 2, [NB["service"], NB["unit"], NB["measure"]] + years)
    row, where = 3, {}
    for sid, label, unit in services:
        rows = _need_rows(demand_ds, unc, sid, label, unit, years, with_gap=True)
        where[sid] = {r[0][2]: row + i for i, r in enumerate(rows)}
        row = _write_rows(ws, row, rows)

    row += 1
    _title(ws, row, NB["first_shortfall"])
    heads = [NB["service"], NB["first_deterministic"]]
    if unc is not None:
        heads += [NB["first_p50"], NB["first_p80"]]
    _header(ws, row + 1, heads)
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
        chart = _line_chart(NB["places_chart"].format(label=label, unit=unit), unit,
                            from_zero=True)
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
    _print_setup(ws, "1:2", "A:C")


def _cost_sheet(ws, demand_ds, unc) -> None:
    if demand_ds is None:
        ws.cell(row=1, column=1, value=NO_SERVICES)
        _print_setup(ws, None, None)
        return
    years = [int(y) for y in demand_ds["year"].values]
    mill = _mill(demand_ds)
    _title(ws, 1, NB["cost_sheet_title"].format(prices=_prices(demand_ds)))
    _header(ws, 2, [NB["service"], NB["measure"]] + years)
    cost_name = f"{NB['cost_row']} ({mill})"
    invest_name = f"{NB['investment']} ({mill})"
    rows = []
    for sid, label, _ in _services(demand_ds):
        if _has(demand_ds, "cost"):
            rows.append(([label, cost_name], _series(demand_ds, "cost", sid, years) / MILLION,
                         MILL))
            if unc is not None and "cost" in unc:
                rows += [([label, _quantile_name(cost_name, q)],
                          _quantile(unc, "cost", q, sid, years) / MILLION, MILL)
                         for q in BAND_QUANTILES]
        if _has(demand_ds, "investment"):
            rows.append(([label, invest_name],
                          _series(demand_ds, "investment", sid, years) / MILLION, MILL))
        if _has(demand_ds, "unit_cost"):
            rows.append(([label, f"{NB['unit_cost']} (kr, {_prices(demand_ds)})"],
                         _series(demand_ds, "unit_cost", sid, years), PERSONS))
    for var, name in (("cost", cost_name), ("investment", invest_name)):
        if _has(demand_ds, var):
            total = demand_ds[var].sum("service", skipna=True).reindex(year=years)
            rows.append(([NB["all_services"], name], total.to_numpy() / MILLION, MILL))
    _write_rows(ws, 3, rows)
    ws.freeze_panes = "C3"
    _print_setup(ws, "1:2", "A:B")


def _assumptions_sheet(ws, assumptions) -> None:
    _header(ws, 1, [NB[k] for k in ("section", "key", "value", "unit", "source")])
    rows = [([a.get("section"), a.get("key"), _assumption_value(a.get("value")),
              UNITS_NB.get(a.get("unit"), a.get("unit")) or None,
              _file_name(str(a["source"])) if a.get("source") else None], [], DECIMAL)
            for a in assumptions]
    end = _write_rows(ws, 2, rows)
    for r in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        for c in r:
            c.alignment = Alignment(horizontal="left")
    if end > 2:
        ws.auto_filter.ref = f"A1:E{end - 1}"
    ws.freeze_panes = "A2"
    _print_setup(ws, "1:1", None)


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
        _fit_columns(ws)
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
