"""Fan charts of a run with draws: population 80+, and need against capacity with the
probability of shortfall by year.

The quantiles come from `RunResult.uncertainty` (coords quantile, band, service, year;
pop_band, need, p_shortfall, first_year_p50/p80). Drawn like the other charts (see charts.py):
the object API, sized for a report page, a source line at the bottom.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .plotting import (SHORTFALL_COLOUR, add_source, count_axis, figure, scenario_title,
                     service_text, source_text, styled, year_axis)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (lower, upper, opacity) of the bands, widest first
FANS = ((0.05, 0.95, 0.15), (0.1, 0.9, 0.25), (0.25, 0.75, 0.4))


def _at(da: xr.DataArray, q: float) -> np.ndarray:
    return da.sel(quantile=q, method="nearest").to_numpy().astype(float)


def _fan(ax, years, da: xr.DataArray, colour: str) -> None:
    for low, high, alpha in FANS:
        ax.fill_between(years, _at(da, low), _at(da, high), color=colour, alpha=alpha,
                        linewidth=0, label=f"{100 * low:g}\u2013{100 * high:g} %")
    ax.plot(years, _at(da, 0.5), color=colour, linewidth=2.0, label="Median")


def draws_text(uncertainty: xr.Dataset) -> str:
    draws, seed = uncertainty.attrs.get("draws"), uncertainty.attrs.get("seed")
    text = f"{int(draws):,} trekninger".replace(",", "\u00a0") if draws is not None else ""
    return f"{text}, seed {seed}" if seed is not None else text


def _year_or_never(value) -> str:
    return "aldri" if value is None or math.isnan(float(value)) else str(int(value))


@styled
def population_fan_chart(pop_ds: xr.Dataset, uncertainty: xr.Dataset,
                         band: str = "80+", source: str | None = None) -> "Figure":
    """Persons in `band` (default 80+): the 5–95, 10–90 and 25–75 % bands of the draws,
    their median and the deterministic run."""
    from ..report import AGE_GROUPS

    da = uncertainty["pop_band"].sel(band=band)
    years = da["year"].to_numpy()
    fig, (ax,) = figure()
    _fan(ax, years, da, "C0")
    lo, hi = AGE_GROUPS[band]
    central = pop_ds["pop"].sum("sex").sel(age=slice(lo, hi)).sum("age")
    ax.plot(central["year"].to_numpy(), central.to_numpy(), color="black", linestyle="--",
            linewidth=1.5, label="Uten usikkerhet")
    ax.set_title(f"Befolkning {band.replace('-', chr(0x2013))} med usikkerhet"
                 f"{scenario_title(pop_ds)}")
    count_axis(ax, "Antall (personer)")
    year_axis(ax, years, "År (1. januar)")
    ax.legend(loc="upper left")
    add_source(fig, source or source_text(pop_ds, extra=draws_text(uncertainty)))
    return fig


@styled
def need_fan_chart(demand_ds: xr.Dataset, uncertainty: xr.Dataset, service: str,
                   source: str | None = None) -> "Figure":
    """Upper panel: the need's bands against capacity (steps); lower panel: the probability
    that need exceeds capacity in each year, with the 50 % and 80 % lines."""
    label, unit = service_text(demand_ds, service)
    need = uncertainty["need"].sel(service=service)
    years = need["year"].to_numpy()
    fig, (ax, p_ax) = figure(2, height_ratios=[2.2, 1.0], height=6.5)
    _fan(ax, years, need, "C0")
    ax.plot(demand_ds["year"].to_numpy(), demand_ds["need"].sel(service=service).to_numpy(),
            color="C0", linestyle="--", linewidth=1.2, label="Behov uten usikkerhet")
    if "capacity" in demand_ds:
        capacity = demand_ds["capacity"].sel(service=service)
        ax.step(capacity["year"].to_numpy(), capacity.to_numpy(), where="post", color="black",
                linewidth=2.0, label="Kapasitet")
    ax.set_title(f"{label}: behov med usikkerhet og kapasitet{scenario_title(demand_ds)}")
    count_axis(ax, f"Antall ({unit})")
    ax.legend(loc="upper left", ncols=2)

    p = 100.0 * uncertainty["p_shortfall"].sel(service=service).to_numpy().astype(float)
    p_ax.bar(years, p, width=0.7, color=SHORTFALL_COLOUR, alpha=0.7,
             label="Sannsynlighet for underdekning")
    for level in (50, 80):
        p_ax.axhline(level, color="0.3", linestyle=":", linewidth=1.0)
    first50 = _year_or_never(uncertainty["first_year_p50"].sel(service=service).item())
    first80 = _year_or_never(uncertainty["first_year_p80"].sel(service=service).item())
    p_ax.set_title(f"Sannsynlighet for underdekning: over 50 % fra {first50}, "
                   f"over 80 % fra {first80}", fontsize="medium")
    p_ax.set_ylim(0, 100)
    p_ax.set_ylabel("Sannsynlighet (%)")
    for a in (ax, p_ax):
        year_axis(a, years)
        a.set_xlim(years[0] - 0.5, years[-1] + 0.5)   # whole bars at both ends
    ax.set_xlabel("")
    add_source(fig, source or source_text(demand_ds, extra=draws_text(uncertainty)))
    return fig
