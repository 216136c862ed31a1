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
from .plotting import (DPI, SHORTFALL, add_source, count_axis, dash, figure, scenario_title,
                       service_text, shade_shortfall, source_text, styled, year_axis)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROLES = ("places", "home_care", "social_assistance")
GROWTH_GROUPS = ("0-5", "6-15", "16-66", "67-79", "80-89", "90+")


def save_png(fig: "Figure", path) -> None:
    """Write `fig` as PNG to `path` (any suffix, e.g. a temporary file)."""
    fig.savefig(path, format="png", dpi=DPI)


def _price_label(ds: xr.Dataset) -> str:
    py = ds.attrs.get("price_year")
    return f"Kostnad (mill. kr, {f'{py}-priser' if py is not None else 'faste priser'})"


# --- the charts --------------------------------------------------------------------------

@styled
def population_growth_chart(pop_ds: xr.Dataset, source: str | None = None) -> "Figure":
    """Growth of each age group (and the total) in % from the base year."""
    from ..report import AGE_GROUPS

    by_age = pop_ds["pop"].sum("sex")
    years = by_age["year"].values
    base = int(years[0])
    fig, (ax,) = figure()
    series = {dash(g): by_age.sel(age=slice(*AGE_GROUPS[g])).sum("age") for g in GROWTH_GROUPS}
    series["Totalt"] = by_age.sum("age")
    for name, s in series.items():
        v = s.values.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = 100.0 * (v / v[0] - 1.0)
        style = {"color": "black", "linewidth": 2.5} if name == "Totalt" else {"linewidth": 1.8}
        ax.plot(years, growth, label=name, **style)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_title(f"Befolkningsvekst etter aldersgruppe{scenario_title(pop_ds)}")
    ax.set_ylabel(f"Endring fra {base} (%)")   # a change in %, not a count: may go below 0
    year_axis(ax, years, "År (1. januar)")
    ax.legend(title="Alder", loc="upper left", ncols=2)
    add_source(fig, source or source_text(pop_ds))
    return fig


def _lines(demand_ds: xr.Dataset, comparison: xr.Dataset | None) -> list[tuple[str, xr.Dataset]]:
    """The scenarios to draw: those of the comparison when there is one, else the run's."""
    if comparison is None:
        return [(str(demand_ds.attrs.get("scenario", "")) or "Scenario", demand_ds)]
    return [(str(s), comparison.sel(scenario=s)) for s in comparison["scenario"].values]


def _capacity(demand_ds: xr.Dataset, service: str):
    """The service's capacity over the years, or None when it has none."""
    if "capacity" not in demand_ds:
        return None
    cap = demand_ds["capacity"].sel(service=service)
    return cap.values.astype(float) if bool(cap.notnull().any()) else None


def _comparison_source(demand_ds, comparison, pop_ds=None) -> str:
    if comparison is None:
        return source_text(demand_ds, pop_ds)
    names = ", ".join(str(s) for s in comparison["scenario"].values)
    version = demand_ds.attrs.get("forecast_version") or (
        pop_ds.attrs.get("forecast_version") if pop_ds is not None else None)
    return f"Kilde: forecast{' ' + str(version) if version else ''}, scenarioer {names}"


@styled
def _need_vs_capacity(demand_ds, service, comparison, title, ylabel, source) -> "Figure":
    fig, (ax,) = figure()
    years = demand_ds["year"].values
    capacity = _capacity(demand_ds, service)
    for i, (name, ds) in enumerate(_lines(demand_ds, comparison)):
        ax.plot(ds["year"].values, ds["need"].sel(service=service).values, marker="o",
                markersize=3, color=f"C{i % 10}", label=f"Behov, {name}")
    if capacity is not None:
        # only the run's own shortfall: the capacity drawn is the run's, and an alternative
        # may plan another
        label = SHORTFALL if comparison is None else (
            f"Underdekning, {demand_ds.attrs.get('scenario', 'scenario')}")
        shade_shortfall(ax, years, demand_ds["need"].sel(service=service).values, capacity,
                        label=label)
        ax.step(years, capacity, where="post", color="black", linewidth=2.0, label="Kapasitet")
    ax.set_title(title)
    count_axis(ax, ylabel)
    year_axis(ax, years)
    ax.legend(loc="lower right")
    add_source(fig, source or _comparison_source(demand_ds, comparison))
    return fig


def _titled_need_chart(demand_ds, service, comparison, what: str, source) -> "Figure":
    label, unit = service_text(demand_ds, service)
    title = f"{label}: {what}{scenario_title(demand_ds) if comparison is None else ''}"
    return _need_vs_capacity(demand_ds, service, comparison, title, f"Antall ({unit})", source)


def places_chart(demand_ds: xr.Dataset, service: str,
                 comparison: xr.Dataset | None = None, source: str | None = None) -> "Figure":
    """Need for 24-hour places under each coverage alternative, against capacity (steps);
    shortfall shaded."""
    return _titled_need_chart(demand_ds, service, comparison, "behov og kapasitet", source)


def home_care_chart(demand_ds: xr.Dataset, service: str,
                    comparison: xr.Dataset | None = None, source: str | None = None) -> "Figure":
    """Home-care users per year (one line per scenario), with capacity where there is one."""
    return _titled_need_chart(demand_ds, service, comparison, "brukere", source)


# Any service when no chart roles are given: need against capacity, as for the places.
service_chart = places_chart


@styled
def social_assistance_chart(demand_ds: xr.Dataset, service: str,
                            comparison: xr.Dataset | None = None,
                            source: str | None = None) -> "Figure":
    """Social-assistance recipients (upper panel) and their cost (lower panel): two units,
    two panels, so neither line hides under the other."""
    label, unit = service_text(demand_ds, service)
    lines = _lines(demand_ds, comparison)
    has_cost = any("cost" in ds and bool(ds["cost"].sel(service=service).notnull().any())
                   for _, ds in lines)
    fig, axes = figure(2 if has_cost else 1, height=6.0 if has_cost else None)
    ax = axes[0]
    for i, (name, ds) in enumerate(lines):
        ax.plot(ds["year"].values, ds["need"].sel(service=service).values, color=f"C{i % 10}",
                marker="o", markersize=3, label=f"Mottakere, {name}")
    ax.set_title(f"{label}: mottakere og kostnad"
                 f"{scenario_title(demand_ds) if comparison is None else ''}")
    count_axis(ax, f"Antall ({unit})")
    ax.legend(loc="lower right")
    if has_cost:
        cost_ax = axes[1]
        for i, (name, ds) in enumerate(lines):
            if "cost" in ds:
                cost_ax.plot(ds["year"].values, ds["cost"].sel(service=service).values / 1e6,
                             color=f"C{i % 10}", linestyle="--", label=f"Kostnad, {name}")
        count_axis(cost_ax, _price_label(demand_ds))
        cost_ax.legend(loc="lower right")
    for a in axes:
        year_axis(a, demand_ds["year"].values)
    for a in axes[:-1]:
        a.set_xlabel("")
    add_source(fig, source or _comparison_source(demand_ds, comparison))
    return fig


# --- which charts a run draws ------------------------------------------------------------

def _safe_name(service: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", service).strip("_") or "service"


def chart_makers(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                 charts: Mapping[str, str] | None = None,
                 comparison: xr.Dataset | None = None, *,
                 uncertainty: xr.Dataset | None = None) -> dict[str, Callable[[], "Figure"]]:
    """File stem -> a function drawing that chart. The roles are checked here, drawing waits.

    With `charts` ({"places": id, "home_care": id, "social_assistance": id}, any subset):
    population_growth, places, home_care, social_assistance. Without: population_growth and a
    need-vs-capacity chart `service_<id>` per service. With `uncertainty` (the quantiles of a
    run with draws, `RunResult.uncertainty`) also population_80_fan and a fan chart of need
    against capacity with the probability of shortfall: places_fan for the places service,
    or `service_<id>_fan` for every service with a capacity when no roles are given.
    """
    from . import fan_charts

    if comparison is not None and not (isinstance(comparison, xr.Dataset)
                                       and "scenario" in comparison.dims):
        from .tables import stack_scenarios
        comparison = stack_scenarios(comparison)
    makers: dict[str, Callable[[], Figure]] = {
        "population_growth": lambda: population_growth_chart(pop_ds)}
    if uncertainty is not None:
        makers["population_80_fan"] = lambda: fan_charts.population_fan_chart(pop_ds,
                                                                              uncertainty)
    if demand_ds is None or "need" not in demand_ds:
        return makers
    services = [str(s) for s in demand_ds["service"].values]
    source = _comparison_source(demand_ds, comparison, pop_ds)
    draw = {"places": places_chart, "home_care": home_care_chart,
            "social_assistance": social_assistance_chart}
    for role, service in (charts or {}).items():
        if role not in draw:
            raise ScenarioError(f"unknown chart {role!r}; expected one of {list(ROLES)}",
                                key=f"outputs.charts.{role}")
        if str(service) not in services:
            raise ScenarioError(f"chart {role!r} names service {service!r}, which is not "
                                f"defined; services: {services}", key=f"outputs.charts.{role}")
        makers[role] = (lambda f=draw[role], s=str(service): f(demand_ds, s, comparison,
                                                               source))
    if not charts:
        for s in services:
            makers[f"service_{_safe_name(s)}"] = (
                lambda s=s: service_chart(demand_ds, s, comparison, source))
    if uncertainty is None or "need" not in uncertainty:
        return makers
    if charts:
        fans = {"places_fan": str(charts["places"])} if "places" in charts else {}
    else:
        fans = {f"service_{_safe_name(s)}_fan": s for s in services
                if _capacity(demand_ds, s) is not None}
    for name, s in fans.items():
        makers[name] = (lambda s=s: fan_charts.need_fan_chart(
            demand_ds, uncertainty, s, source_text(demand_ds, pop_ds,
                                                   extra=fan_charts.draws_text(uncertainty))))
    return makers


def render_charts(pop_ds: xr.Dataset, demand_ds: xr.Dataset | None = None,
                  charts: Mapping[str, str] | None = None,
                  comparison: xr.Dataset | None = None, *,
                  uncertainty: xr.Dataset | None = None) -> dict[str, "Figure"]:
    """File stem -> Figure for every chart of a run (see `chart_makers`)."""
    return {name: make() for name, make in chart_makers(pop_ds, demand_ds, charts, comparison,
                                                        uncertainty=uncertainty).items()}
