"""Backtest of every municipality: rates from data before a base year, projected from the
actual base population, compared with the counts published later, beside naive benchmarks.

For a base B every rate comes from data known on 1 January B: municipal counts up to 1.1.B,
national HMD m(x) and HFD ASFR of the years before B (forecast.population.national), so a
base before the first HMD deaths year (2010) uses the m(x) series pooled over its window.
Scores leave out the seven municipalities whose history is a fixed share of a merger
(regional.SPLIT_HISTORY). Naive benchmarks on the same municipalities:
  constant        the base population every year
  linear          the total extrapolated by its absolute change over the last NAIVE_WINDOW
                  years, age-sex shares of the base frozen
  exponential     the same with the average growth rate
  hamilton_perry  1-year cohort-change ratios by sex and 5-year block of the age reached,
                  pooled over the last NAIVE_WINDOW years; age 0 from the child-woman ratio
                  (age 0 / women 15-49) of the same years
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .backtest import GROUPS, project_regions
from .errors import DataError
from .population import national
from .population import regional as rg
from .population.calibrate import sex_ratio_at_birth
from .population.kernel import N_AGE
from .population.rates import SEXES, survival_ratios

METHODS = ("model", "constant", "linear", "exponential", "hamilton_perry")
NAIVE_WINDOW = 5
HP_EDGES = np.array([1] + list(range(5, 95, 5)) + [N_AGE])  # blocks 1-4, 5-9, .., 85-89, 90+
BANDS = list(GROUPS) + ["Total"]


@dataclass
class Setup:
    """Everything of one base and window that does not depend on the regional parameters."""
    base: int
    to: int
    window: int
    table: pd.DataFrame          # municipality, name, county, size_class, split_history
    counts: np.ndarray           # (base - window .. to, R, 2, 106), NaN where missing
    mx: np.ndarray               # (2, 106) national schedule pooled over the window
    asfr: np.ndarray             # (window, 44) national ASFR of each window year
    paths: dict                  # national_paths over the horizon
    fem_share: float
    notes: list[str] = field(default_factory=list)

    @property
    def history(self) -> np.ndarray:
        return self.counts[:self.window + 1]

    @property
    def actual(self) -> np.ndarray:
        return self.counts[self.window:].transpose(1, 0, 2, 3)


def prepare(src: dict, base: int, to: int, window: int = rg.WINDOW) -> Setup:
    """Counts, national schedules and paths for one backtest; checks the years exist."""
    first, last = int(src["counts"]["year"].min()), int(src["counts"]["year"].max())
    if to <= base:
        raise DataError(f"expected a year after the base {base}, got {to}", key="--to")
    if window < 1 or base - window < first or to > last:
        raise DataError(f"counts cover {first}..{last}; a backtest from {base} with a "
                        f"{window}-year window to {to} needs {base - window}..{to}", key="--base")
    table = src["table"][[rg.REGION, "name", "county"]].copy()
    codes = table[rg.REGION].tolist()
    counts = rg.counts_array(src["counts"], codes, np.arange(base - window, to + 1))
    if np.isnan(counts[window:]).any():
        raise DataError(f"every municipality needs counts for {base}..{to}", key="year")
    totals = counts[window].sum(axis=(1, 2))
    table["size_class"] = rg.size_class(totals)
    table["persons_base"] = totals
    table["split_history"] = table[rg.REGION].isin(rg.SPLIT_HISTORY)
    mx, asfr = rg.national_window(src["national"], base, window)
    try:
        paths = national.national_paths(src["national"], base, to, window=rg.NATIONAL_WINDOW)
    except ValueError as exc:
        raise DataError(str(exc), key="--base") from None
    ratio = sex_ratio_at_birth(src["births"], base, rg.NATIONAL_WINDOW)[2]
    notes = []
    if base - first < NAIVE_WINDOW:
        notes.append(f"naive benchmarks: {base - first} years before the base, not {NAIVE_WINDOW}")
    late = table[rg.REGION][np.isnan(counts[0]).any(axis=(1, 2))].tolist()
    if late:
        notes.append(f"no counts in {base - window} for {', '.join(late)}: their rates use the "
                     "years they have")
    return Setup(base, to, window, table, counts, mx, asfr, paths, 1.0 / (1.0 + ratio), notes)


def regional_survival(mx_path: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """(R, T, 2, 107) survival ratios of m(x) x factor (R, 2) at ages >= regional.OLD_FROM."""
    n_reg, n_year = factor.shape[0], mx_path.shape[0]
    out = np.empty((n_reg, n_year, 2, N_AGE + 1))
    for t in range(n_year):
        for s, sex in enumerate(SEXES):
            for r in range(n_reg):
                mx = mx_path[t, s].copy()
                mx[rg.OLD_FROM:] *= factor[r, s]
                out[r, t, s] = survival_ratios(mx, sex)
    return out


def model_projection(setup: Setup, params: rg.Params | None = None) -> tuple[np.ndarray, object]:
    """(R, T+1, 2, 106) projection of every municipality with the regional rates."""
    params = params or rg.Params()
    history = setup.history
    pool = rg.pool_index(params.pool, setup.table["county"], history[-1].sum(axis=(1, 2)))
    rates = rg.regional_rates(history, setup.mx, setup.asfr, pool, params)
    paths = setup.paths
    surv = paths["surv"]
    if params.old_age == "mortality":
        surv = regional_survival(paths["mx"], rates.mort_factor)
    # the path's ASFR has the national level of each year; the factor is each municipality's
    # level relative to the nation in the same years
    pop = project_regions(history[-1], surv, paths["asfr"], rates.fert_factor,
                          setup.fem_share, rates.inmig, rates.outrate)
    return pop, rates


# --- naive benchmarks ---------------------------------------------------------------------------

def first_valid(history: np.ndarray) -> np.ndarray:
    """(R,) index of each municipality's first year with counts in (L+1, R, 2, 106)."""
    return np.isnan(history).any(axis=(2, 3)).argmin(axis=0)


def extrapolate_totals(history: np.ndarray, horizon: int, kind: str) -> np.ndarray:
    """(R, horizon + 1) totals: constant, linear (absolute change) or exponential (growth
    rate) from each municipality's first year with counts to the last year of `history`."""
    totals = history.sum(axis=(2, 3))
    first = first_valid(history)
    start = totals[first, np.arange(totals.shape[1])]
    end, span = totals[-1], (len(totals) - 1 - first).astype(float)
    h = np.arange(horizon + 1)[None]
    if kind == "constant" or (span == 0).all():
        return np.repeat(end[:, None], horizon + 1, axis=1)
    span = np.maximum(span, 1.0)[:, None]
    if kind == "linear":
        return np.maximum(end[:, None] + h * (end - start)[:, None] / span, 0.0)
    if kind == "exponential":
        return end[:, None] * (end / start)[:, None] ** (h / span)
    raise ValueError(f"unknown extrapolation {kind!r}")


def frozen_shares(base: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """(R, H+1, 2, 106): totals (R, H+1) spread by the base year's age-sex shares (R, 2, 106)."""
    shares = base / base.sum(axis=(1, 2))[:, None, None]
    return totals[:, :, None, None] * shares[:, None]


def _arrivals(stock: np.ndarray) -> np.ndarray:
    """Who reaches each age next year: age a-1, and for 105+ also 105+ (age 0: nobody)."""
    out = np.zeros_like(stock)
    out[..., 1:] = stock[..., :-1]
    out[..., -1] += stock[..., -1]
    return out


def hamilton_perry(history: np.ndarray, horizon: int) -> np.ndarray:
    """(R, horizon + 1, 2, 106) by 1-year cohort-change ratios per sex and block of ages
    reached (HP_EDGES) and child-woman ratios, pooled over the transitions of `history`."""
    valid = ~np.isnan(history).any(axis=(2, 3))
    both = (valid[:-1] & valid[1:])[..., None, None]
    h = np.nan_to_num(history)
    reach, came = h[1:] * both, _arrivals(h[:-1]) * both
    block = np.searchsorted(HP_EDGES, np.arange(N_AGE), side="right") - 1
    num = np.zeros(h.shape[1:3] + (len(HP_EDGES),))
    den = np.zeros_like(num)
    for b in range(len(HP_EDGES) - 1):
        ages = slice(HP_EDGES[b], HP_EDGES[b + 1])
        num[..., b] = reach[..., ages].sum(axis=(0, -1))
        den[..., b] = came[..., ages].sum(axis=(0, -1))
    ccr = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)[..., np.maximum(block, 0)]
    women = h[1:, :, 0, 15:50].sum(axis=-1)[..., None] * both[..., 0]
    cwr = reach[..., 0].sum(axis=0) / np.maximum(women.sum(axis=0), 1e-9)   # (R, 2)
    out = np.empty((h.shape[1], horizon + 1, 2, N_AGE))
    out[:, 0] = h[-1]
    for t in range(horizon):
        nxt = ccr * _arrivals(out[:, t])
        nxt[..., 0] = cwr * nxt[:, 0, 15:50].sum(axis=-1)[:, None]
        out[:, t + 1] = nxt
    return out


def naive_projections(setup: Setup) -> dict[str, np.ndarray]:
    history = setup.counts[max(0, setup.window - NAIVE_WINDOW):setup.window + 1]
    horizon = setup.to - setup.base
    out = {kind: frozen_shares(history[-1], extrapolate_totals(history, horizon, kind))
           for kind in ("constant", "linear", "exponential")}
    out["hamilton_perry"] = hamilton_perry(history, horizon)
    return out


# --- errors and scores --------------------------------------------------------------------------

def band_totals(pop: np.ndarray) -> np.ndarray:
    """(R, Y, len(BANDS)) persons in GROUPS and in total from (R, Y, 2, 106)."""
    by_age = pop.sum(axis=2)
    parts = [by_age[..., lo:hi + 1].sum(axis=-1) for lo, hi in GROUPS.values()]
    return np.stack(parts + [by_age.sum(axis=-1)], axis=-1)


def error_table(setup: Setup, projections: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per method, municipality, year after the base and band (Total and GROUPS)."""
    actual = band_totals(setup.actual)[:, 1:]
    years = np.arange(setup.base + 1, setup.to + 1)
    t = setup.table
    n_reg, n_year, n_band = actual.shape
    idx = np.indices((n_reg, n_year, n_band)).reshape(3, -1)
    frames = []
    for method, pop in projections.items():
        proj = band_totals(pop)[:, 1:]
        frames.append(pd.DataFrame({
            "base": setup.base, "window": setup.window, "method": method,
            rg.REGION: t[rg.REGION].to_numpy()[idx[0]], "name": t["name"].to_numpy()[idx[0]],
            "size_class": t["size_class"].to_numpy()[idx[0]],
            "split_history": t["split_history"].to_numpy()[idx[0]],
            "year": years[idx[1]], "horizon": years[idx[1]] - setup.base,
            "band": np.asarray(BANDS)[idx[2]], "projected": proj.ravel(),
            "actual": actual.ravel()}))
    out = pd.concat(frames, ignore_index=True)
    out["error"] = out["projected"] - out["actual"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["error_pct"] = 100.0 * out["error"] / out["actual"]
    return out


def scores(errors: pd.DataFrame) -> pd.DataFrame:
    """Per method and year, over municipalities without a split history: MAPE, median APE and
    mean signed % error of the total, overall and by size class ("MAPE <2k", "MedAPE <2k",
    "signed <2k", ...); and per band the weighted absolute error sum |error| / sum actual, %."""
    e = errors[~errors["split_history"]]
    total = e[e["band"] == "Total"].assign(ape=lambda d: d["error_pct"].abs())
    keys = ["method", "year"]
    g = total.groupby(keys, sort=False)
    out = pd.DataFrame({"n": g.size(), "MAPE": g["ape"].mean(), "MedAPE": g["ape"].median(),
                        "mean signed": g["error_pct"].mean()})
    for label, value, how in (("MAPE", "ape", "mean"), ("MedAPE", "ape", "median"),
                              ("signed", "error_pct", "mean")):
        by_size = total.pivot_table(index=keys, columns="size_class", values=value, aggfunc=how)
        for c in rg.SIZE_CLASSES:
            out[f"{label} {c}"] = by_size[c] if c in by_size else np.nan
    bands = e[e["band"] != "Total"].assign(abs_err=lambda d: d["error"].abs())
    sums = bands.groupby(keys + ["band"], sort=False)[["abs_err", "actual"]].sum()
    weighted = (100.0 * sums["abs_err"] / sums["actual"]).unstack("band")
    for b in GROUPS:
        out[f"{b} w%"] = weighted[b] if b in weighted else np.nan
    return out.reset_index()


def run_backtest_all(src: dict, base: int, to: int, window: int | None = None,
                     params: rg.Params | None = None) -> tuple[Setup, pd.DataFrame]:
    """Every municipality from `base` to `to`: (setup, error table of every method).
    `src`: the frames of forecast.inputs.sources.read_all_sources. Default window:
    regional.WINDOW, or as many years as the counts have before the base."""
    first = int(src["counts"]["year"].min())
    setup = prepare(src, base, to, window or max(1, min(rg.WINDOW, base - first)))
    if window is None and setup.window < rg.WINDOW:
        setup.notes.append(f"window {setup.window}: the counts start in {first}")
    model, _ = model_projection(setup, params)
    return setup, error_table(setup, {"model": model, **naive_projections(setup)})


def report_tables(setup: Setup, errors: pd.DataFrame) -> list:
    """Rich tables for the terminal: the total and the bands in the last year, MAPE by year."""
    from rich.table import Table

    sc = scores(errors)
    last = sc[sc["year"] == setup.to].set_index("method")
    n = int(last["n"].iloc[0])
    head = (f"Backtest from {setup.base} (window {setup.window}) to {setup.to}, {n} "
            f"municipalities ({len(rg.SPLIT_HISTORY)} with a split history left out)")

    def frame_table(title, columns, rows, signed=()):
        table = Table(title=title, title_justify="left")
        table.add_column("method")
        for c in columns:
            table.add_column(str(c), justify="right")
        for method, values in rows:
            table.add_row(method, *[f"{v:+.2f}" if c in signed else f"{v:.2f}"
                                    for c, v in zip(columns, values)])
        return table

    total_cols = ["MAPE", "MedAPE", "mean signed"] + [f"MAPE {c}" for c in rg.SIZE_CLASSES]
    short = ["MAPE", "MedAPE", "signed"] + list(rg.SIZE_CLASSES)
    band_cols = [f"{b} w%" for b in GROUPS]
    by_year = sc.pivot_table(index="method", columns="year", values="MAPE", sort=False)
    out = [frame_table(f"{head}. Total, % error in {setup.to} (APE by size class at the base)",
                       short, [(m, last.loc[m, total_cols]) for m in last.index],
                       signed=("signed",)),
           frame_table(f"Age bands in {setup.to}: sum |error| / sum actual, %",
                       list(GROUPS), [(m, last.loc[m, band_cols]) for m in last.index]),
           frame_table("MAPE of the total by year, %", list(by_year.columns),
                       [(m, by_year.loc[m]) for m in by_year.index])]
    return out + [f"note: {note}" for note in setup.notes]
