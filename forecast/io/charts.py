"""PNG charts for planners (matplotlib, headless).

The figures are built with matplotlib's object API (`matplotlib.figure.Figure`, rendered by
the Agg canvas), never through pyplot: no display, no global figure state, and the caller's
backend is left alone. matplotlib is imported inside the functions so `import forecast` stays
fast. Labels are planner-facing (Norwegian); every axis names its unit in parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import ScenarioError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROLES = ("places", "home_care", "social_assistance")
GROWTH_GROUPS = ("0-5", "6-15", "16-66", "67-79", "80-89", "90+")
FIGSIZE = (9.0, 5.0)
DPI = 120


def _figure() -> "Figure":
    from matplotlib.figure import Figure
    return Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")


def save_png(fig: "Figure", path) -> None:
    """Write `fig` as PNG to `path` (any suffix, e.g. a temporary file)."""
    fig.savefig(path, format="png", dpi=DPI)


def _dash(name: str) -> str:
    return name.replace("-", "\u2013")


def _thousands(x, _pos=None) -> str:
    return f"{x:,.0f}".replace(",", "\u00a0")


def _year_axis(ax, years, label: str = "År") -> None:
    years = sorted(int(y) for y in years)
    span = years[-1] - years[0]
    step = 1 if span <= 10 else 2 if span <= 24 else 5
    ax.set_xticks(list(range(years[0], years[-1] + 1, step)))
    if span > 0:
        ax.set_xlim(years[0], years[-1])
    ax.set_xlabel(label)
    ax.grid(True, alpha=0.3)


def _scenario_title(ds: xr.Dataset) -> str:
    name = ds.attrs.get("scenario")
    return f" \u2013 {name}" if name else ""


def _service_text(ds: xr.Dataset, service: str) -> tuple[str, str]:
    """(label, unit) of a service; the id and 'antall' when the Dataset has none."""
    label = str(ds["label"].sel(service=service).item()) if "label" in ds.variables else service
    unit = str(ds["unit"].sel(service=service).item()) if "unit" in ds.variables else ""
    return label, unit or "antall"


def _price_label(ds: xr.Dataset, scale: float) -> str:
    py = ds.attrs.get("price_year")
    money = "mill. NOK" if scale == 1e6 else "NOK"
    return f"Kostnad ({money}, {py}-priser)" if py is not None else f"Kostnad ({money}, faste priser)"


# --- the charts --------------------------------------------------------------------------

def population_growth_chart(pop_ds: xr.Dataset) -> "Figure":
    """Growth of each age group (and the total) in % from the base year."""
    from ..report import AGE_GROUPS

    by_age = pop_ds["pop"].sum("sex")
    years = by_age["year"].values
    base = int(years[0])
    fig = _figure()
    ax = fig.add_subplot()
    series = {_dash(g): by_age.sel(age=slice(*AGE_GROUPS[g])).sum("age") for g in GROWTH_GROUPS}
    series["Totalt"] = by_age.sum("age")
    for name, s in series.items():
        v = s.values.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = 100.0 * (v / v[0] - 1.0)
        style = {"color": "black", "linewidth": 2.5} if name == "Totalt" else {"linewidth": 1.6}
        ax.plot(years, growth, label=name, **style)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_title(f"Befolkningsvekst etter aldersgruppe{_scenario_title(pop_ds)}")
    ax.set_ylabel(f"Endring fra {base} (%)")
    _year_axis(ax, years, "År (1. januar)")
    ax.legend(title="Alder", loc="upper left", fontsize="small")
    return fig


def _lines(demand_ds: xr.Dataset, comparison: xr.Dataset | None) -> list[tuple[str, xr.Dataset]]:
    """The scenarios to draw: those of the comparison when there is one, else the run's."""
    if comparison is None:
        return [(str(demand_ds.attrs.get("scenario", "")) or "Scenario", demand_ds)]
    return [(str(s), comparison.sel(scenario=s)) for s in comparison["scenario"].values]


def _need_vs_capacity(demand_ds, service, comparison, title, ylabel) -> "Figure":
    from matplotlib.ticker import FuncFormatter

    fig = _figure()
    ax = fig.add_subplot()
    for name, ds in _lines(demand_ds, comparison):
        ax.plot(ds["year"].values, ds["need"].sel(service=service).values,
                marker="o", markersize=3, label=f"Behov, {name}")
    if "capacity" in demand_ds:
        cap = demand_ds["capacity"].sel(service=service)
        if bool(cap.notnull().any()):
            ax.step(cap["year"].values, cap.values, where="post", color="black",
                    linewidth=2.0, label="Kapasitet")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    _year_axis(ax, demand_ds["year"].values)
    ax.legend(loc="best", fontsize="small")
    return fig


def _titled_need_chart(demand_ds, service, comparison, what: str) -> "Figure":
    label, unit = _service_text(demand_ds, service)
    title = f"{label}: {what}{_scenario_title(demand_ds) if comparison is None else ''}"
    return _need_vs_capacity(demand_ds, service, comparison, title, f"Antall ({unit})")


def places_chart(demand_ds: xr.Dataset, service: str,
                 comparison: xr.Dataset | None = None) -> "Figure":
    """Need for 24-hour places under each coverage alternative, against capacity (steps)."""
    return _titled_need_chart(demand_ds, service, comparison, "behov og kapasitet")


def home_care_chart(demand_ds: xr.Dataset, service: str,
                    comparison: xr.Dataset | None = None) -> "Figure":
    """Home-care users per year (one line per scenario), with capacity where there is one."""
    return _titled_need_chart(demand_ds, service, comparison, "brukere")


# Any service when no chart roles are given: need against capacity, as for the places.
service_chart = places_chart


def social_assistance_chart(demand_ds: xr.Dataset, service: str,
                            comparison: xr.Dataset | None = None) -> "Figure":
    """Social-assistance recipients (left axis) and their cost (right axis)."""
    from matplotlib.ticker import FuncFormatter

    label, unit = _service_text(demand_ds, service)
    lines = _lines(demand_ds, comparison)
    top = max((float(np.nanmax(np.abs(ds["cost"].sel(service=service).values)))
               for _, ds in lines if "cost" in ds
               and bool(ds["cost"].sel(service=service).notnull().any())), default=0.0)
    scale = 1e6 if top >= 1e6 else 1.0
    fig = _figure()
    ax = fig.add_subplot()
    ax2 = ax.twinx()
    colours = [f"C{i}" for i in range(10)]
    for i, (name, ds) in enumerate(lines):
        c = colours[i % 10]
        ax.plot(ds["year"].values, ds["need"].sel(service=service).values, color=c,
                marker="o", markersize=3, label=f"Mottakere, {name}")
        if "cost" in ds:
            ax2.plot(ds["year"].values, ds["cost"].sel(service=service).values / scale,
                     color=c, linestyle="--", label=f"Kostnad, {name}")
    ax.set_title(f"{label}: mottakere og kostnad"
                 f"{_scenario_title(demand_ds) if comparison is None else ''}")
    ax.set_ylabel(f"Antall ({unit})")
    ax2.set_ylabel(_price_label(demand_ds, scale))
    for a in (ax, ax2):
        a.yaxis.set_major_formatter(FuncFormatter(_thousands))
    _year_axis(ax, demand_ds["year"].values)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best", fontsize="small")
    return fig


# --- which charts a run draws ------------------------------------------------------------

def _safe_name(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", service).strip("_") or "service"


def chart_makers(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                 charts: Mapping[str, str] | None = None,
                 comparison: xr.Dataset | None = None) -> dict[str, Callable[[], "Figure"]]:
    """File stem -> a function drawing that chart. The roles are checked here, drawing waits.

    With `charts` ({"places": id, "home_care": id, "social_assistance": id}, any subset):
    population_growth, places, home_care, social_assistance. Without: population_growth and a
    need-vs-capacity chart `service_<id>` per service.
    """
    if comparison is not None and not (isinstance(comparison, xr.Dataset)
                                       and "scenario" in comparison.dims):
        from .tables import stack_scenarios
        comparison = stack_scenarios(comparison)
    makers: dict[str, Callable[[], Figure]] = {
        "population_growth": lambda: population_growth_chart(pop_ds)}
    if demand_ds is None or "need" not in demand_ds:
        return makers
    services = [str(s) for s in demand_ds["service"].values]
    if not charts:
        for s in services:
            makers[f"service_{_safe_name(s)}"] = (
                lambda s=s: service_chart(demand_ds, s, comparison))
        return makers
    draw = {"places": places_chart, "home_care": home_care_chart,
            "social_assistance": social_assistance_chart}
    for role, service in charts.items():
        if role not in draw:
            raise ScenarioError(f"unknown chart {role!r}; expected one of {list(ROLES)}",
                                key=f"outputs.charts.{role}")
        if str(service) not in services:
            raise ScenarioError(f"chart {role!r} names service {service!r}, which is not "
                                f"defined; services: {services}", key=f"outputs.charts.{role}")
        makers[role] = (lambda f=draw[role], s=str(service): f(demand_ds, s, comparison))
    return makers


def render_charts(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                  charts: Mapping[str, str] | None = None,
                  comparison: xr.Dataset | None = None) -> dict[str, "Figure"]:
    """File stem -> Figure for every chart of a run (see `chart_makers`)."""
    return {name: make() for name, make in chart_makers(pop_ds, demand_ds, charts,
                                                        comparison).items()}
