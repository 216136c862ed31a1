"""The planners' workbook (openpyxl): summary, population, services, capacity, cost, assumptions.

Sheet names and headers are Norwegian (planner-facing); identifiers stay English.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

SHEETS = ("Sammendrag", "Befolkning", "Tjenester", "Kapasitet", "Kostnad", "Forutsetninger")

PERSONS = "#,##0"      # persons, places, users: whole numbers with a thousands separator
NOK = "#,##0"
HOURS = "#,##0"
SHARE = "0.0%"
YEAR = "0"
DECIMAL = "#,##0.00"

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
TITLE_FONT = Font(bold=True, size=13)
NO_SERVICES = "Scenarioet har ingen tjenester."


# --- small helpers -----------------------------------------------------------------------

def _cell(value):
    """A value openpyxl can write; NaN and None become an empty cell."""
    if value is None:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _text(value) -> str:
    """Assumption values as planners read them: {2018: 0.2, 2030: 0.22} -> '2018: 0.2; 2030: 0.22'."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "ja" if value else "nei"
    return str(value)


def _assumption_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, Mapping, list, tuple)):
        return _text(value)
    if isinstance(value, (int, float, np.number)):
        return _cell(value)
    return str(value)


def _write_table(ws, row: int, headers: list[str], rows: Iterable[list],
                 formats: Mapping[int, str] | None = None, *, filter_: bool = False) -> int:
    """Headers (bold) at `row`, then the rows; `formats` = column index -> number format.
    Returns the row after the table."""
    formats = formats or {}
    first = row
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=row, column=j, value=h)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for values in rows:
        row += 1
        for j, v in enumerate(values, start=1):
            c = ws.cell(row=row, column=j, value=_cell(v))
            if j - 1 in formats and isinstance(c.value, (int, float)):
                c.number_format = formats[j - 1]
    if filter_ and row > first:
        ws.auto_filter.ref = f"A{first}:{get_column_letter(len(headers))}{row}"
    return row + 1


def _fit_columns(ws, minimum: int = 8, maximum: int = 60, min_row: int = 1) -> None:
    """Column widths from the longest value (titles and rows above `min_row` not counted)."""
    widths: dict[int, int] = {}
    for row in ws.iter_rows(min_row=min_row):
        for c in row:
            if c.value is None or c.font == TITLE_FONT:
                continue
            if isinstance(c.value, float):
                text = f"{c.value:,.0f}" if c.number_format != SHARE else "100.0%"
            else:
                text = str(c.value)
            widths[c.column] = max(widths.get(c.column, 0), len(text))
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(max(w + 2, minimum), maximum)


def _services(demand_ds) -> list[tuple[str, str, str]]:
    """(id, label, unit) of each service."""
    ids = [str(s) for s in demand_ds["service"].values]
    labels = ([str(v) for v in demand_ds["label"].values] if "label" in demand_ds.variables
              else ids)
    units = ([str(v) for v in demand_ds["unit"].values] if "unit" in demand_ds.variables
             else [""] * len(ids))
    return list(zip(ids, labels, units))


def _value(ds, var: str, service: str, year):
    if var not in ds:
        return None
    return ds[var].sel(service=service, year=year).item()


def _has(ds, var: str) -> bool:
    return ds is not None and var in ds.data_vars and {"service", "year"} <= set(ds[var].dims)


def _price_suffix(demand_ds) -> str:
    py = demand_ds.attrs.get("price_year") if demand_ds is not None else None
    return f"{py}-priser" if py is not None else "faste priser"


# --- sheets ------------------------------------------------------------------------------

def _summary_sheet(ws, pop_ds, demand_ds) -> None:
    from ..report import age_group_totals, summary_years

    attrs = {**pop_ds.attrs, **(demand_ds.attrs if demand_ds is not None else {})}
    years = [int(y) for y in pop_ds["year"].values]
    ws.cell(row=1, column=1, value="Sammendrag").font = TITLE_FONT
    info = [("Scenario", attrs.get("scenario")), ("Basisår", years[0]),
            ("Sluttår", years[-1]),
            ("Prisnivå", _price_suffix(demand_ds) if demand_ds is not None else None),
            ("Scenariofil", attrs.get("scenario_file")),
            ("Versjon", attrs.get("forecast_version"))]
    row = 2
    for key, value in info:
        if value is None:
            continue
        ws.cell(row=row, column=1, value=key).font = HEADER_FONT
        ws.cell(row=row, column=2, value=_cell(value))
        row += 1
    row += 1
    table_start = row + 1

    if demand_ds is not None:
        picked = summary_years([int(y) for y in demand_ds["year"].values])
        measures = [("need", "Behov", PERSONS), ("capacity", "Kapasitet", PERSONS),
                    ("gap", "Differanse (behov − kapasitet)", PERSONS), ("cost", "Kostnad", NOK)]
        nok = f"NOK ({_price_suffix(demand_ds)})"
        measures = [m for m in measures if _has(demand_ds, m[0])]
        ws.cell(row=row, column=1, value="Tjenester").font = TITLE_FONT
        row += 1
        headers = ["Tjeneste", "Enhet", "Mål"] + [str(y) for y in picked]
        row = _write_table(ws, row, headers, []) - 1   # the header row; values follow
        for sid, label, unit in _services(demand_ds):
            for var, name, fmt in measures:
                row += 1
                vals = [_value(demand_ds, var, sid, y) for y in picked]
                ws.cell(row=row, column=1, value=label)
                ws.cell(row=row, column=2, value=nok if var == "cost" else unit)
                ws.cell(row=row, column=3, value=name)
                for j, v in enumerate(vals, start=4):
                    c = ws.cell(row=row, column=j, value=_cell(v))
                    c.number_format = fmt
        row += 2
    else:
        ws.cell(row=row, column=1, value=NO_SERVICES)
        row += 2

    table = age_group_totals(pop_ds["pop"])
    picked = summary_years(table.columns)
    ws.cell(row=row, column=1, value="Befolkning 1. januar (personer)").font = TITLE_FONT
    rows = [[_dash(str(name)) if name != "Total" else "Totalt"] +
            [float(table.loc[name, y]) for y in picked] for name in table.index]
    _write_table(ws, row + 1, ["Aldersgruppe"] + [str(y) for y in picked], rows,
                 {j: PERSONS for j in range(1, len(picked) + 1)})
    _fit_columns(ws, min_row=table_start)


def _dash(name: str) -> str:
    return name.replace("-", "\u2013")


def _population_sheet(ws, pop_ds) -> None:
    from ..report import age_group_totals

    table = age_group_totals(pop_ds["pop"])
    groups = list(table.index)
    headers = ["År"] + [("Totalt" if g == "Total" else _dash(str(g))) for g in groups]
    rows = [[int(y)] + [float(table.loc[g, y]) for g in groups] for y in table.columns]
    _write_table(ws, 1, headers, rows, {j: PERSONS for j in range(1, len(headers))})
    ws.freeze_panes = "B2"


def _service_rows(demand_ds, columns):
    """One row per service and year: label, unit, year, then each (var) in `columns`."""
    for sid, label, unit in _services(demand_ds):
        for y in demand_ds["year"].values:
            yield [label, unit, int(y)] + [_value(demand_ds, var, sid, y) for var in columns]


def _long_sheet(ws, demand_ds, columns: list[tuple[str, str, str]], extra=None) -> None:
    """A long table per service and year; `columns` = (var, header, number format)."""
    if demand_ds is None:
        ws.cell(row=1, column=1, value=NO_SERVICES)
        return
    cols = [c for c in columns if _has(demand_ds, c[0])]
    headers = ["Tjeneste", "Enhet", "År"] + [h for _, h, _ in cols]
    formats = {3 + i: f for i, (_, _, f) in enumerate(cols)}
    rows = list(_service_rows(demand_ds, [v for v, _, _ in cols]))
    if extra is not None:
        headers, rows = extra(headers, rows)
    _write_table(ws, 1, headers, rows, formats, filter_=True)
    ws.freeze_panes = "D2"


def _services_sheet(ws, demand_ds) -> None:
    from .tables import DEMAND_MEASURES, demand_measures, plain_units

    columns = [("need", "Behov", PERSONS), ("coverage", "Dekningsgrad", SHARE),
               ("group_population", "Målgruppe (personer)", PERSONS),
               ("hours", "Timer per år", HOURS)]
    if demand_ds is not None:
        for var in demand_measures(demand_ds):
            if var not in DEMAND_MEASURES:
                units = plain_units(demand_ds[var])
                columns.append((var, f"{var} ({units})" if units else var, DECIMAL))
    _long_sheet(ws, demand_ds, columns)


def _capacity_sheet(ws, demand_ds) -> None:
    columns = [("need", "Behov", PERSONS), ("capacity", "Kapasitet", PERSONS),
               ("gap", "Differanse (behov − kapasitet)", PERSONS)]

    def shortfall(headers, rows):
        if demand_ds is None or "first_shortfall_year" not in demand_ds:
            return headers, rows
        first = [demand_ds["first_shortfall_year"].sel(service=sid).item()
                 for sid, _, _ in _services(demand_ds)]
        n_years = demand_ds.sizes["year"]
        out = []
        for i, r in enumerate(rows):  # rows run service by service, year by year
            v = first[i // n_years]
            out.append(r + ["ingen" if v is None or (isinstance(v, float) and math.isnan(v))
                            else int(v)])
        return headers + ["Første år med underdekning"], out

    _long_sheet(ws, demand_ds, columns, shortfall)


def _cost_sheet(ws, demand_ds) -> None:
    if demand_ds is None:
        ws.cell(row=1, column=1, value=NO_SERVICES)
        return
    suffix = _price_suffix(demand_ds)
    cols = [(v, h) for v, h in (("cost", f"Kostnad (NOK, {suffix})"),
                                ("investment", f"Investering (NOK, {suffix})"))
            if _has(demand_ds, v)]
    headers = ["Tjeneste", "År"] + [h for _, h in cols]
    rows = [[r[0], r[2]] + r[3:] for r in _service_rows(demand_ds, [v for v, _ in cols])]
    for y in demand_ds["year"].values:
        rows.append(["Alle tjenester", int(y)] +
                    [float(demand_ds[v].sel(year=y).sum("service", skipna=True).item())
                     for v, _ in cols])
    _write_table(ws, 1, headers, rows, {2 + i: NOK for i in range(len(cols))}, filter_=True)
    ws.freeze_panes = "C2"


def _assumptions_sheet(ws, assumptions) -> None:
    rows = [[a.get("section"), a.get("key"), _assumption_value(a.get("value")),
             a.get("unit"), a.get("source")] for a in assumptions]
    _write_table(ws, 1, ["Seksjon", "Nøkkel", "Verdi", "Enhet", "Kilde"], rows, filter_=True)
    for r in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        for c in r:
            c.alignment = Alignment(horizontal="left")
    ws.freeze_panes = "A2"


# --- entry points ------------------------------------------------------------------------

def build_workbook(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                   assumptions: Iterable[Mapping] = ()) -> Workbook:
    """The workbook with the sheets of `SHEETS`, in that order."""
    wb = Workbook()
    sheets = {name: (wb.active if i == 0 else wb.create_sheet()) for i, name in enumerate(SHEETS)}
    for name, ws in sheets.items():
        ws.title = name
    _summary_sheet(sheets["Sammendrag"], pop_ds, demand_ds)
    _population_sheet(sheets["Befolkning"], pop_ds)
    _services_sheet(sheets["Tjenester"], demand_ds)
    _capacity_sheet(sheets["Kapasitet"], demand_ds)
    _cost_sheet(sheets["Kostnad"], demand_ds)
    _assumptions_sheet(sheets["Forutsetninger"], list(assumptions))
    for name, ws in sheets.items():
        if name != "Sammendrag":  # fits its own columns below its information block
            _fit_columns(ws)
    wb.properties.creator = "forecast"
    wb.properties.title = str(pop_ds.attrs.get("scenario", "forecast"))
    return wb


def write_workbook(path, pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                   assumptions: Iterable[Mapping] = ()) -> None:
    """Save the workbook to `path` (any suffix, e.g. a temporary file)."""
    build_workbook(pop_ds, demand_ds, assumptions).save(path)
