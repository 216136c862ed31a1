"""The interactive charts of the HTML report (plotly figures; assembled by html_report).

Every figure: a title with the scenario name, axis titles with units, a source line
("Kilde: ...") drawn inside the figure, so it stays with the chart when a planner saves it
as an image from the chart's menu. Counts start the y axis at zero; where need exceeds
capacity the gap is shaded red. plotly is imported inside the functions (`import forecast`
stays light).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

# layout in pixels: title, plot, gap to the legend (below the axis title), legend row,
# source line; the legend is about as wide as the page's charts
TOP, PLOT_HEIGHT, LEGEND_TOP, LEGEND_ROW, SOURCE_ROW = 60, 280, 48, 22, 28
LEGEND_WIDTH = 950
SHORTFALL_FILL = "rgba(214, 39, 40, 0.25)"
FAN_BLUE = "31, 119, 180"
# (lower, upper, opacity) of the fan bands, widest first
FAN_BANDS = ((0.05, 0.95, 0.15), (0.1, 0.9, 0.25), (0.25, 0.75, 0.4))


def _go():
    import plotly.graph_objects as go
    return go


def _years(da) -> list[int]:
    return [int(y) for y in da["year"].values]


def _values(da) -> list[float | None]:
    """Plain floats for plotly, None where missing (a gap in the line)."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(da, dtype=float)]


def new_figure(title: str, y_title: str, source: str, *, y_from_zero: bool = True,
               x_title: str = "År", y_range: Sequence[float] | None = None):
    go = _go()
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        template="plotly_white", separators=", ", hovermode="x unified", showlegend=True,
        annotations=[{"text": source, "xref": "paper", "yref": "paper", "x": 0,
                      "xanchor": "left", "yanchor": "top", "showarrow": False,
                      "font": {"size": 11, "color": "#555"}}])
    place_legend(fig)  # again once the traces are in (Page.chart does)
    fig.update_xaxes(title_text=x_title, tickformat="d")
    fig.update_yaxes(title_text=y_title, tickformat=",.0f")
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    elif y_from_zero:
        fig.update_yaxes(rangemode="tozero")
    return fig


def _legend_rows(names: list[str], width: float = LEGEND_WIDTH) -> int:
    """Rows a horizontal legend of these names takes (about 6.5 px a character): one if
    they fit, else plotly wraps them into columns as wide as the widest item."""
    if not names:
        return 1
    items = [45 + 6.5 * len(n) for n in names]
    if sum(items) <= width:
        return 1
    per_row = max(1, int(width // max(items)))
    return -(-len(names) // per_row)


def place_legend(fig) -> None:
    """Legend and source line below the plot, with room for as many legend rows as the
    traces need, so neither overlaps the other; the plot keeps its height."""
    names = [t.name for t in fig.data if t.showlegend is not False and t.name]
    legend_rows = _legend_rows(names) * LEGEND_ROW
    fig.update_layout(
        height=TOP + PLOT_HEIGHT + LEGEND_TOP + legend_rows + SOURCE_ROW,
        margin={"l": 70, "r": 20, "t": TOP, "b": LEGEND_TOP + legend_rows + SOURCE_ROW},
        legend={"orientation": "h", "x": 0, "y": -LEGEND_TOP / PLOT_HEIGHT,
                "yanchor": "top"})
    fig.layout.annotations[0].y = -(LEGEND_TOP + legend_rows + 6) / PLOT_HEIGHT


def population_bands(by_band: Mapping[str, xr.DataArray], title: str, source: str):
    """Persons by KOSTRA band, stacked (the top line is the total)."""
    go = _go()
    fig = new_figure(title, "Personer (antall, 1. januar)", source, x_title="År (1. januar)")
    for band, da in by_band.items():
        fig.add_trace(go.Scatter(x=_years(da), y=_values(da), name=band, mode="lines",
                                 stackgroup="alder",
                                 hovertemplate="%{y:,.0f}"))
    return fig


def _shortfall(fig, years, need, capacity, name="Underdekning") -> None:
    """Shade the area between capacity and need where need is above capacity."""
    go = _go()
    need = np.asarray(need, dtype=float)
    cap = np.asarray(capacity, dtype=float)
    if not np.isfinite(cap).any() or not (need > cap).any():
        return
    top = np.where(np.isfinite(cap), np.fmax(need, cap), np.nan)
    fig.add_trace(go.Scatter(x=years, y=_values(cap), mode="lines", line={"width": 0},
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=years, y=_values(top), mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor=SHORTFALL_FILL, name=name,
                             hoverinfo="skip"))


def need_capacity(lines: Mapping[str, xr.DataArray], capacity: xr.DataArray | None,
                  title: str, unit: str, source: str):
    """Need (one line per scenario) against capacity; the first scenario's shortfall shaded."""
    go = _go()
    fig = new_figure(title, f"Antall ({unit})", source)
    first = next(iter(lines.values()))
    years = _years(first)
    if capacity is not None and bool(capacity.notnull().any()):
        _shortfall(fig, years, first.values, capacity.values)
        fig.add_trace(go.Scatter(x=years, y=_values(capacity), name="Kapasitet",
                                 mode="lines", line={"color": "black", "width": 2.5},
                                 hovertemplate="%{y:,.0f}"))
    for name, need in lines.items():
        fig.add_trace(go.Scatter(x=years, y=_values(need), name=f"Behov, {name}",
                                 mode="lines+markers", marker={"size": 5},
                                 hovertemplate="%{y:,.0f}"))
    return fig


def lines_by_service(series: Mapping[str, xr.DataArray], title: str, y_title: str,
                     source: str, *, bars: bool = False):
    """One line (or bar series) per service, e.g. cost in mill. kr."""
    go = _go()
    fig = new_figure(title, y_title, source)
    fig.update_yaxes(tickformat=",.0f")
    for name, da in series.items():
        if bars:
            fig.add_trace(go.Bar(x=_years(da), y=_values(da), name=name,
                                 hovertemplate="%{y:,.1f}"))
        else:
            fig.add_trace(go.Scatter(x=_years(da), y=_values(da), name=name,
                                     mode="lines+markers", marker={"size": 5},
                                     hovertemplate="%{y:,.1f}"))
    return fig


def decomposition_bars(effects: Sequence[str], by_service: Mapping[str, Sequence[float]],
                       title: str, y_title: str, source: str):
    """Change in cost by effect (bars grouped by service)."""
    go = _go()
    fig = new_figure(title, y_title, source, y_from_zero=False, x_title="Effekt")
    fig.update_xaxes(tickformat="")
    fig.update_layout(barmode="group", hovermode="closest")
    for name, values in by_service.items():
        fig.add_trace(go.Bar(x=list(effects), y=[None if not np.isfinite(v) else float(v)
                                                 for v in values],
                             name=name, hovertemplate="%{x}: %{y:,.1f}<extra>%{fullData.name}"
                                                      "</extra>"))
    fig.add_hline(y=0, line={"color": "#888", "width": 1})
    return fig


def fan(quantiles: xr.DataArray, title: str, y_title: str, source: str,
        capacity: xr.DataArray | None = None, what: str = "Median"):
    """Median and the 25–75, 10–90, 5–95 % bands of `quantiles(quantile, year)`; capacity as
    a black line with the area where the median exceeds it shaded."""
    go = _go()
    fig = new_figure(title, y_title, source)
    years = _years(quantiles)

    def at(level):
        return quantiles.sel(quantile=level, method="nearest")

    for lo, hi, alpha in FAN_BANDS:
        fig.add_trace(go.Scatter(x=years, y=_values(at(lo)), mode="lines",
                                 line={"width": 0}, showlegend=False,
                                 name=f"{lo * 100:.0f} %", hovertemplate="%{y:,.0f}"))
        fig.add_trace(go.Scatter(x=years, y=_values(at(hi)), mode="lines",
                                 line={"width": 0}, fill="tonexty",
                                 fillcolor=f"rgba({FAN_BLUE}, {alpha})",
                                 name=f"{lo * 100:.0f}–{hi * 100:.0f} %",
                                 hovertemplate="%{y:,.0f}"))
    median = at(0.5)
    if capacity is not None and bool(capacity.notnull().any()):
        cap = capacity.sel(year=years)
        _shortfall(fig, years, median.values, cap.values, "Underdekning (median)")
        fig.add_trace(go.Scatter(x=years, y=_values(cap), name="Kapasitet", mode="lines",
                                 line={"color": "black", "width": 2.5},
                                 hovertemplate="%{y:,.0f}"))
    fig.add_trace(go.Scatter(x=years, y=_values(median), name=what, mode="lines",
                             line={"color": f"rgb({FAN_BLUE})", "width": 2.5},
                             hovertemplate="%{y:,.0f}"))
    return fig


def shortfall_probability(series: Mapping[str, xr.DataArray], title: str, source: str):
    """Probability (%) that need exceeds capacity, by year, one line per service."""
    go = _go()
    fig = new_figure(title, "Sannsynlighet for underdekning (%)", source, y_range=(0, 100))
    for name, da in series.items():
        fig.add_trace(go.Scatter(x=_years(da), y=_values(100.0 * da), name=name,
                                 mode="lines+markers", marker={"size": 5},
                                 hovertemplate="%{y:.0f} %"))
    for level in (50, 80):
        fig.add_hline(y=level, line={"color": "#888", "width": 1, "dash": "dot"})
    return fig
