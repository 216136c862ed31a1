"""openpyxl mechanics of the workbook: cells, headings, rows with number formats, column
widths, print setup and line charts. What goes on which sheet is excel.py's."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

PERSONS = "#,##0"       # persons, places, users: whole numbers with a thousands separator
MILL = "#,##0.0"        # mill. kr, one decimal
SHARE = "0.0%"
PERCENT = "0.0"
DECIMAL = "#,##0.00"

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
TITLE_FONT = Font(bold=True, size=13)


def cell(value):
    """A value openpyxl can write; NaN and None become an empty cell."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def header(ws, row: int, values: list) -> None:
    for j, v in enumerate(values, start=1):
        c = ws.cell(row=row, column=j, value=v)
        c.font, c.fill = HEADER_FONT, HEADER_FILL
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def title(ws, row: int, text: str) -> None:
    ws.cell(row=row, column=1, value=text).font = TITLE_FONT


def write_rows(ws, row: int, rows: Iterable[tuple[list, Iterable, str]]) -> int:
    """Each row = (labels, values, number format): labels first, then one value per column.
    Returns the row after the last one written."""
    for labels, values, fmt in rows:
        for j, v in enumerate(labels, start=1):
            ws.cell(row=row, column=j, value=cell(v))
        for j, v in enumerate(values, start=len(labels) + 1):
            c = ws.cell(row=row, column=j, value=cell(v))
            if isinstance(c.value, (int, float)):
                c.number_format = fmt
        row += 1
    return row


def fit_columns(ws, minimum: int = 8, maximum: int = 45) -> None:
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


def print_setup(ws, title_rows: str | None, title_cols: str | None) -> None:
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


def line_chart(title: str, y_title: str, x_title: str, *, from_zero: bool):
    from openpyxl.chart import LineChart

    chart = LineChart()
    chart.title = title
    chart.y_axis.title = y_title
    chart.x_axis.title = x_title
    chart.width, chart.height = 24, 12
    chart.x_axis.delete = False   # openpyxl ≥ 3.1 hides the axes unless told otherwise
    chart.y_axis.delete = False
    if from_zero:
        chart.y_axis.scaling.min = 0
    return chart
