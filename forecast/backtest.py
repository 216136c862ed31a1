"""Backtesting: rebuild the rates from data before a base year, project, compare with actuals.

A projection is judged by how it would have done. For a base year B the rates come only from
data known on 1 January B (calibrate.calibrate), the projection runs from the actual
1.1.B population, and the result is compared with the published counts of later years, beside
a naive benchmark: the total grows at its average yearly rate over the calibration window and
the age-sex shares of the base year stay frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError
from .population.calibrate import FERT_AGES, calibrate, counts_array
from .population.kernel import N_AGE, empty, project_kernel
from .population.model import PopulationAssumptions, PopulationInputs, project_population
from .population.model import BANDS

GROUPS = BANDS


@dataclass
class Backtest:
    base_year: int
    to_year: int
    window: int
    notes: list[str]
    errors: pd.DataFrame      # method, group, year, projected, actual, error, error_pct


def inputs_from_calibration(cal, base_pop: np.ndarray) -> PopulationInputs:
    asfr = np.zeros(N_AGE)
    asfr[FERT_AGES] = cal.asfr
    return PopulationInputs(regions=("baerum",), base_pop=base_pop[None], mx=cal.mx, asfr=asfr,
                            fert_level=np.ones(1), sex_ratio=cal.sex_ratio[2],
                            inmig=cal.inmig[None, None], outrate=cal.outrate[None, None],
                            e0_history=cal.e0, layout="single")


def project_regions(base_pop: np.ndarray, surv: np.ndarray, asfr: np.ndarray,
                    fert_factor: np.ndarray, fem_share: float, inmig: np.ndarray,
                    outrate: np.ndarray) -> np.ndarray:
    """Project R municipalities that exchange nobody, in one kernel call: pop (R, T+1, 2, 106).

    base_pop (R, 2, 106); surv (T, 2, 107) national or (R, T, 2, 107) per municipality;
    asfr (T, 106) the national schedule, times fert_factor (R,); inmig and outrate (R, 2, 106)
    constant over the horizon. The one place that knows the kernel's calling convention."""
    c = np.ascontiguousarray
    n_reg, n_year = base_pop.shape[0], surv.shape[-3]
    surv = c(surv[None, None] if surv.ndim == 3 else surv[None], dtype=float)
    pop = np.empty((1, n_reg, n_year + 1, 2, N_AGE))
    ones = np.ones((1, 1, 1))
    no_moves = np.zeros((1, 1, 2, N_AGE))
    project_kernel(c(base_pop, dtype=float), surv, np.sqrt(surv), c(asfr[None, None], dtype=float),
                   c(np.asarray(fert_factor, dtype=float)[None, :, None]),
                   np.full((1, n_year), float(fem_share)), c(inmig[None, :, None], dtype=float),
                   ones, c(outrate[None, :, None], dtype=float), ones, no_moves, no_moves, False,
                   np.array([0, N_AGE], dtype=np.int64), pop, empty(4), empty(5), empty(5),
                   empty(5), empty(5), empty(5), empty(5), empty(4))
    return pop[0]


def group_totals(pop: np.ndarray) -> dict[str, np.ndarray]:
    """Persons per group from (years, 2, 106) stocks."""
    by_age = pop.sum(axis=1)
    out = {name: by_age[:, lo:hi + 1].sum(axis=1) for name, (lo, hi) in GROUPS.items()}
    out["Total"] = by_age.sum(axis=1)
    return out


def naive_projection(counts: np.ndarray, window: int, horizon: int) -> np.ndarray:
    """Total at its average growth rate over the window, base-year age-sex shares frozen.

    counts: (window + 1, 2, 106) stocks from 1.1.(base - window) to 1.1.base.
    """
    totals = counts.sum(axis=(1, 2))
    growth = (totals[-1] / totals[0]) ** (1.0 / window)
    shares = counts[-1] / totals[-1]
    steps = np.arange(horizon + 1)
    return totals[-1] * growth ** steps[:, None, None] * shares[None]


def error_frame(method: str, projected: np.ndarray, actual: np.ndarray, years) -> pd.DataFrame:
    rows = []
    proj, act = group_totals(projected), group_totals(actual)
    for group in proj:
        for i, year in enumerate(years):
            err = proj[group][i] - act[group][i]
            rows.append((method, group, int(year), proj[group][i], act[group][i], err,
                         100.0 * err / act[group][i]))
    return pd.DataFrame(rows, columns=["method", "group", "year", "projected", "actual",
                                       "error", "error_pct"])


def run_backtest(src: dict, base_year: int, to_year: int, window: int = 5,
                 e0: str = "trend") -> Backtest:
    """Rates from data before `base_year`, projected to `to_year`, compared with the counts.
    `src`: the frames of forecast.inputs.sources.read_sources."""
    counts_years = src["counts"]["year"]
    if to_year <= base_year:
        raise DataError(f"expected a year after the base {base_year}, got {to_year}", key="--to")
    if to_year > counts_years.max() or base_year - window < counts_years.min():
        raise DataError(f"counts cover {counts_years.min()}..{counts_years.max()}; a backtest "
                        f"from {base_year} with a {window}-year window to {to_year} needs "
                        f"{base_year - window}..{to_year}", key="--base")
    notes = []
    first_hmd = int(src["deaths"]["year"].min())
    mortality_base = max(base_year, first_hmd + 1)
    if mortality_base != base_year:
        notes.append(f"mortality: no HMD year before {base_year}; the schedule of "
                     f"{first_hmd}..{mortality_base - 1} is used (a look-ahead of mortality only)")
    cal = calibrate(src, base_year, window, mortality_base=mortality_base)
    history_years = cal.e0["year"].nunique()
    use_trend = e0 == "trend" and history_years >= 2
    if e0 == "trend" and not use_trend:
        notes.append(f"e0: {history_years} year(s) of history before {base_year}; "
                     "mortality kept constant instead of a trend")
    years = np.arange(base_year, to_year + 1)
    all_counts = counts_array(src["counts"], years)
    inputs = inputs_from_calibration(cal, all_counts[0])
    trend = "trend" if use_trend else None
    assumptions = PopulationAssumptions(base_year=base_year, end_year=to_year, e0=(trend, trend))
    projected = project_population(inputs, assumptions)["pop"].to_numpy()[0]
    window_counts = counts_array(src["counts"], np.arange(base_year - window, base_year + 1))
    naive = naive_projection(window_counts, window, to_year - base_year)
    errors = pd.concat([error_frame("model", projected, all_counts, years),
                        error_frame("naive", naive, all_counts, years)], ignore_index=True)
    return Backtest(base_year, to_year, window, notes, errors[errors["year"] > base_year])


def summary(backtests: list[Backtest]) -> pd.DataFrame:
    """Mean absolute % error over the age groups (not the total) and the total's % error,
    at the last year of each backtest, for the model and the naive benchmark."""
    rows = []
    for bt in backtests:
        last = bt.errors[bt.errors["year"] == bt.to_year]
        row = {"base": bt.base_year, "to": bt.to_year, "window": bt.window}
        for method in ("model", "naive"):
            part = last[last["method"] == method].set_index("group")
            row[f"{method} total %"] = part.loc["Total", "error_pct"]
            row[f"{method} groups MAPE %"] = part.drop("Total")["error_pct"].abs().mean()
        rows.append(row)
    return pd.DataFrame(rows)
