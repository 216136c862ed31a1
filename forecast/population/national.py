"""National paths of mortality and fertility over a projection horizon.

Pure functions on arrays: HMD m(x) 1950-2017 and HFD ASFR 1967-2017 in (the tidy frames of
forecast.inputs.sources.read_national), schedules per flow year out. Every method uses only
calendar years before the base year (the data known on 1 January of the base year). The
defaults below were chosen by the backtests of scripts/national_backtest.py (bases 1990-2013,
horizons 5-20 years, observed to 2017).

The 1950-2009 HMD file has m(x) but no deaths or exposures. Where counts are needed (pooling
years, the Kannisto fit at 80-99) they are pseudo-counts: exposure = the stationary
population l(x)(1 - q(x)/2) of that year's own schedule (same radix every year), deaths =
m(x) x exposure. A Poisson fit on these counts is a fit weighted by expected deaths, close to
what real exposures give at 80-99 (tests/test_national.py compares 2013-2017).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from .calibrate import (FERT_AGES, FIT_AGES, FITTED_FROM, fit_kannisto, kannisto_hazard,
                        open_interval_rate)
from .kernel import N_AGE
from .rates import SEXES, life_expectancy, scale_to_e0, scale_to_tfr, survival_ratios

# Chosen by scripts/national_backtest.py: bases 1990, 1995, 2000, 2005, 2008, 2010, 2013 at
# horizons 5, 10, 15, 20 ("grid"), and every base 1990-2016 at horizons 1-20 ("all"),
# observed to 2017; mean absolute errors.
# - mortality: the e0 trend over 20 years had the smallest errors in e80 (0.27 years grid,
#   0.18 all) and log m at 80-99 (0.10), e65 as small as today's 8-year trend in the grid
#   (0.70; all 0.49 against 0.41), e0 0.57 women / 1.70 men (8-year: 0.90 / 1.27).
#   Lee-Carter (fits of 20-40 years, 1- or 5-year jump-off, coherent by sex) under-predicted
#   the gains at 65-89 and in e0: e65 0.90-1.27, e80 0.47-0.56. The one-factor scaling does
#   over-state survival at 90+ (log m at 90-99 about 11 % too low, e90 +0.25..0.33 years);
#   "e0_trend_lc" removes that bias at the same e0, with Lee-Carter's e65 and e80 errors.
# - fertility: phi = 1, the last observed TFR held, had the smallest TFR error in both
#   grids (0.101 grid, 0.082 all), then phi = 0.95 (0.105, 0.089) and the window mean held
#   (0.119, 0.084); linear trends 0.20-0.41. Pulling towards the mean TFR of the 30 years
#   before the base did not pay: that mean was above the later TFR (bias +0.07 to +0.10).
#   With phi = 1 a long_run_tfr has no effect: pass damping < 1 to use one.
DEFAULT_MORTALITY = "e0_trend"
DEFAULT_FIT_YEARS = {"e0_trend": 20, "e0_trend_lc": 30, "lee_carter": 30, "li_lee": 30}
DEFAULT_FERTILITY = "damped"
DEFAULT_DAMPING = 1.0
DEFAULT_TARGET_YEARS = 30       # long-run TFR = mean TFR of these years before the base

MORTALITY_METHODS = ("constant", "e0_trend", "e0_trend_lc", "lee_carter", "li_lee")
FERTILITY_METHODS = ("constant", "trend", "damped")
HIST_AGES = np.arange(100)      # single ages taken from HMD; 95+ comes from the Kannisto fit
ZERO_FLOOR = 1e-5               # m(x) = 0 (no death at a child age) before taking logs


# --- arrays from the tidy frames -----------------------------------------------------------

def mx_array(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(years, (Y, 2, 100)) m(x) at ages 0..99 from the tidy HMD frame."""
    table = frame[frame["age"].isin(HIST_AGES)].pivot_table(
        index=["year", "sex"], columns="age", values="value", dropna=False)
    years = np.sort(frame["year"].unique())
    arr = np.stack([table.loc[[(y, s) for s in SEXES], HIST_AGES].to_numpy(float)
                    for y in years])
    if np.isnan(arr).any():
        raise ValueError("HMD m(x) is missing at some age 0..99")
    return years, arr


def asfr_array(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(years, (Y, 44)) ASFR at ages 12..55 (open groups at their bounds)."""
    table = frame.pivot_table(index="year", columns="age", values="asfr")
    if list(table.columns) != list(FERT_AGES) or table.isna().any().any():
        raise ValueError("HFD ASFR must have ages 12..55 in every year")
    return table.index.to_numpy(), table.to_numpy(float)


def _before(years, values, base_year: int, need: int, what: str):
    """The rows of calendar years before the base year; at least `need` of them."""
    years = np.asarray(years)
    keep = years < base_year
    if keep.sum() < need:
        raise ValueError(f"{what} needs {need} years before {base_year}, has {keep.sum()}")
    if np.any(np.diff(years[keep]) != 1):
        raise ValueError(f"{what}: the history years must be consecutive and in order")
    return years[keep], np.asarray(values, dtype=float)[keep]


# --- mortality: closing a schedule at old ages -----------------------------------------------

def stationary_exposure(m: np.ndarray) -> np.ndarray:
    """Person-years l(x)(1 - q/2) at ages 0..99 of the schedule itself (radix 100,000)."""
    q = np.minimum(m / (1.0 + 0.5 * m), 1.0)
    lx = 1e5 * np.concatenate([[1.0], np.cumprod(1.0 - q[:-1])])
    return lx * (1.0 - 0.5 * q)


def fit_kannisto_scoring(deaths: np.ndarray, exposure: np.ndarray,
                         ages=FIT_AGES) -> tuple[float, float]:
    """The Poisson maximum-likelihood Kannisto (a, b) of calibrate.fit_kannisto, by Fisher
    scoring on (log a, b): the same optimum some hundred times faster, which the backtests
    need (one fit per projected year and sex). Falls back to fit_kannisto if it fails."""
    z = np.column_stack([np.ones(len(ages)), np.asarray(ages) + 0.5 - 80.0])
    m = np.clip(deaths / exposure, 1e-6, 0.999)
    theta = np.linalg.lstsq(z, np.log(m / (1.0 - m)), rcond=None)[0]
    for _ in range(100):
        mu = 1.0 / (1.0 + np.exp(-(z @ theta)))
        score = z.T @ ((deaths - exposure * mu) * (1.0 - mu))
        info = (z * (exposure * mu * (1.0 - mu) ** 2)[:, None]).T @ z
        step = np.linalg.solve(info, score)
        theta = theta + step
        if np.abs(step).max() < 1e-12:
            return float(np.exp(theta[0])), float(theta[1])
        if not np.all(np.isfinite(theta)):
            break
    return fit_kannisto(deaths, exposure, ages)


def close_schedule(m: np.ndarray) -> np.ndarray:
    """(106,) m(x) as calibrate builds it: given below 95, the Kannisto hazard fitted at 80..99
    (Poisson on the stationary pseudo-counts) at 95..104, and the open 105+ from that hazard."""
    exposure = stationary_exposure(m)
    a, b = fit_kannisto_scoring(m[FIT_AGES] * exposure[FIT_AGES], exposure[FIT_AGES])
    out = np.empty(N_AGE)
    out[:FITTED_FROM] = m[:FITTED_FROM]
    out[FITTED_FROM:N_AGE - 1] = kannisto_hazard(np.arange(FITTED_FROM, N_AGE - 1) + 0.5, a, b)
    out[-1] = open_interval_rate(a, b)
    return out


def pooled_rates(m: np.ndarray) -> np.ndarray:
    """(2, 100) pooled m = sum deaths / sum exposure over years of (Y, 2, 100) pseudo-counts."""
    expo = np.apply_along_axis(stationary_exposure, -1, m)
    return (m * expo).sum(0) / expo.sum(0)


def _closed(m: np.ndarray) -> np.ndarray:
    """close_schedule over the leading axes of (..., 100)."""
    flat = m.reshape(-1, m.shape[-1])
    return np.stack([close_schedule(row) for row in flat]).reshape(m.shape[:-1] + (N_AGE,))


def _e0(mx: np.ndarray) -> np.ndarray:
    """(..., 2) life expectancy at birth of (..., 2, 106) schedules."""
    flat = mx.reshape(-1, 2, N_AGE)
    return np.array([[life_expectancy(row[s], sex) for s, sex in enumerate(SEXES)]
                     for row in flat]).reshape(mx.shape[:-2] + (2,))


# --- mortality: Lee-Carter ---------------------------------------------------------------------

def lee_carter(log_m: np.ndarray, weights: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a(x), b(x), k(t) of log m(t, x) = a(x) + b(x) k(t) (Lee and Carter 1992): a = mean over
    years, b and k from the first singular vectors, sum b = 1, sum k = 0.

    `weights` per age make it weighted least squares, sum_x w(x) sum_t (resid)^2, still solved
    exactly by one SVD (of the residuals times sqrt w). Weighting by expected deaths stops the
    noisy log-rates of child ages (a handful of deaths, some years none) from driving k."""
    a = log_m.mean(axis=0)
    root = np.ones(log_m.shape[1]) if weights is None else np.sqrt(weights)
    u, s, vt = np.linalg.svd((log_m - a) * root, full_matrices=False)
    b, k = vt[0] / root, s[0] * u[:, 0]
    scale = b.sum()
    return a, b / scale, k * scale


def _checked(b: np.ndarray, who: str) -> np.ndarray:
    """b(x) of a fit whose first component is a common change of all ages; with sum b = 1 an
    average |b| above 0.1 means it is not (rates rose at some ages and fell at others)."""
    if np.abs(b).mean() > 0.1:
        raise ValueError(f"the Lee-Carter fit for {who} shows no common change of mortality "
                         "over the fit years; use a longer fit period")
    return b


def death_weights(m: np.ndarray) -> np.ndarray:
    """Per-age weights for lee_carter: mean pseudo-deaths m x stationary exposure over the years
    of (Y, 100) rates, about the inverse variance of log m(x)."""
    return (m * np.apply_along_axis(stationary_exposure, -1, m)).mean(axis=0)


def drift(k: np.ndarray) -> float:
    """Random walk with drift: the mean yearly change of k, (k_last - k_first) / (n - 1)."""
    return float((k[-1] - k[0]) / (len(k) - 1))


def ar1(k: np.ndarray) -> float:
    """Least-squares AR(1) coefficient through the origin, kept in [0, 1)."""
    phi = float(k[1:] @ k[:-1] / (k[:-1] @ k[:-1])) if np.any(k[:-1]) else 0.0
    return min(max(phi, 0.0), 0.99)


def _log(m: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(m, ZERO_FLOOR))


def _lee_carter_change(m: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(T, 2, 100) change of log m from the jump-off: b(x) x drift x steps, per sex, from the
    (Y, 2, 100) rates of the fit years."""
    out = np.empty((len(steps), 2, m.shape[-1]))
    for s in range(2):
        _, b, k = lee_carter(_log(m[:, s]), death_weights(m[:, s]))
        b = _checked(b, SEXES[s] + "s")
        out[:, s] = b[None] * (drift(k) * steps)[:, None]
    return out


def _li_lee_change(m: np.ndarray, steps: np.ndarray, window: int) -> np.ndarray:
    """Coherent (Li and Lee 2005): a common B(x) K(t) from the mean of the sexes' log m, K a
    random walk with drift; each sex's residual b_s(x) k_s(t) decays as an AR(1) to zero."""
    log_m, w = _log(m), death_weights(m.mean(axis=1))
    _, B, K = lee_carter(log_m.mean(axis=1), w)
    B = _checked(B, "both sexes")
    common = B[None] * (drift(K) * steps)[:, None]
    out = np.empty((len(steps), 2, log_m.shape[-1]))
    for s in range(2):
        resid = log_m[:, s] - log_m[:, s].mean(axis=0) - np.outer(K, B)
        _, b, k = lee_carter(resid, w)  # K sums to 0, so resid has zero mean over years
        k_jump = k[-window:].mean()
        out[:, s] = common + b[None] * (k_jump * (ar1(k) ** steps - 1.0))[:, None]
    return out


def scale_along(mx: np.ndarray, b: np.ndarray, sex: str, e0: float) -> np.ndarray:
    """m(x) exp(b(x) kappa) with the kappa that gives life expectancy at birth `e0`: the
    level of an e0 target, the age pattern of improvement of Lee-Carter's b(x)."""
    def gap(kappa):
        return life_expectancy(mx * np.exp(b * kappa), sex) - e0
    # widen from kappa = 0 towards the target: where b < 0 at some ages e0 is not monotone
    # in kappa far out, so the root nearest the jump-off is the one wanted
    step = -1.0 if gap(0.0) < 0 else 1.0
    near, far = 0.0, step
    while np.sign(gap(far)) == np.sign(gap(near)):
        near, far = far, 2.0 * far
        if abs(far) > 1e4:
            raise ValueError(f"life expectancy {e0:.2f} cannot be reached along b(x)")
    return mx * np.exp(b * brentq(gap, min(near, far), max(near, far), xtol=1e-12,
                                  rtol=1e-14, maxiter=200))


# --- mortality path ----------------------------------------------------------------------------

def mortality_path(mx_history, history_years, base_year: int, years_ahead: int,
                   method: str = DEFAULT_MORTALITY, window: int = 5,
                   fit_years: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mx (T, 2, 106), e0 (T, 2)) for the flow years base .. base + T - 1.

    mx_history: (Y, 2, >=100) m(x) by calendar year (ages 0..99 are used), or the tidy HMD
    frame (then history_years is ignored). Only the years before `base_year` are read.
    The jump-off schedule pools the last `window` years; it stands for their middle year.
      constant    the jump-off schedule every year
      e0_trend    least-squares line through the e0 of each of the `fit_years` years before
                  the base (each schedule closed as below); every age of the jump-off schedule
                  scaled by one factor to reach it (today's model, rates.scale_to_e0)
      e0_trend_lc the same e0 trend, reached along Lee-Carter's b(x) of the fit years: log m
                  falls most where it fell most in the past (less at 90+)
      lee_carter  per sex, Lee-Carter on log m(0..99) of the fit years, k a random walk with
                  drift, from the jump-off (no jump-off bias); then the Kannisto closure
      li_lee      coherent Lee-Carter of both sexes (see _li_lee_change)
    """
    if method not in MORTALITY_METHODS:
        raise ValueError(f"unknown mortality method {method!r}; one of {MORTALITY_METHODS}")
    if isinstance(mx_history, pd.DataFrame):
        history_years, mx_history = mx_array(mx_history)
    fit = fit_years or DEFAULT_FIT_YEARS.get(method, window)
    need = max(window, fit if method != "constant" else 0, 2)
    years, hist = _before(history_years, np.asarray(mx_history)[..., :100], base_year, need,
                          f"mortality ({method})")
    flow = base_year + np.arange(years_ahead)
    steps = flow - (years[-1] - (window - 1) / 2.0)   # years after the jump-off's middle
    jump = pooled_rates(hist[-window:])
    if method in ("lee_carter", "li_lee"):
        # Lee-Carter on the closed yearly schedules: 95-99 smoothed by the Kannisto fit
        m = _closed(hist[-fit:])[..., :100]
        change = (_lee_carter_change(m, steps) if method == "lee_carter"
                  else _li_lee_change(m, steps, min(window, fit)))
        mx = _closed(np.exp(_log(jump)[None] + change))
        return mx, _e0(mx)
    mx = np.broadcast_to(_closed(jump), (years_ahead, 2, N_AGE)).copy()
    if method == "constant":
        return mx, _e0(mx)
    closed_fit = _closed(hist[-fit:])
    fit_e0 = _e0(closed_fit)
    for s, sex in enumerate(SEXES):
        slope, icpt = np.polyfit(years[-fit:].astype(float), fit_e0[:, s], 1)
        if method == "e0_trend_lc":
            m = closed_fit[:, s, :100]
            b = _checked(lee_carter(_log(m), death_weights(m))[1], sex + "s")
            b = np.concatenate([b, np.full(N_AGE - 100, b[-1])])  # 100..105+ move as 99
        for t, y in enumerate(flow):
            target = icpt + slope * y
            mx[t, s] = (scale_to_e0(mx[t, s], sex, target) if method == "e0_trend"
                        else scale_along(mx[t, s], b, sex, target))
    return mx, _e0(mx)


# --- fertility ---------------------------------------------------------------------------------

def damped_tfr(last: float, target: float, phi: float, years_ahead: int) -> np.ndarray:
    """TFR in flow years 0..T-1: last + the gap to the target shrinking by phi a year,
    target + (last - target) phi^t, so year 0 (the base year) keeps the last observed level."""
    return target + (last - target) * phi ** np.arange(years_ahead)


def fertility_path(asfr_history, history_years, base_year: int, years_ahead: int,
                   method: str = DEFAULT_FERTILITY, window: int = 5,
                   long_run_tfr: float | None = None, damping: float = DEFAULT_DAMPING,
                   target_years: int = DEFAULT_TARGET_YEARS) -> tuple[np.ndarray, np.ndarray]:
    """(asfr (T, 106) with zeros outside 12..55, tfr (T,)) for the flow years from the base.

    asfr_history: (Y, 44) ASFR at ages 12..55 by calendar year, or the tidy HFD frame.
    The age shape is always the mean schedule of the `window` years before the base.
      constant  that mean schedule every year
      trend     the least-squares linear trend of TFR over the window (floored at 0)
      damped    from the last observed TFR (year base - 1) towards `long_run_tfr` by
                `damping` a year; the target defaults to the mean TFR of the `target_years`
                years before the base (as many as the data have), never a later figure
    """
    if method not in FERTILITY_METHODS:
        raise ValueError(f"unknown fertility method {method!r}; one of {FERTILITY_METHODS}")
    if not 0.0 <= damping <= 1.0:
        raise ValueError(f"the damping factor must be in 0..1, got {damping}")
    if isinstance(asfr_history, pd.DataFrame):
        history_years, asfr_history = asfr_array(asfr_history)
    years, hist = _before(history_years, asfr_history, base_year, max(window, 2), "fertility")
    if hist.shape[1] != len(FERT_AGES):
        raise ValueError(f"expected ASFR at ages 12..55 ({len(FERT_AGES)} columns)")
    shape = hist[-window:].mean(axis=0)
    tfr_hist = hist.sum(axis=1)
    flow = base_year + np.arange(years_ahead)
    if method == "constant":
        tfr = np.full(years_ahead, shape.sum())
    elif method == "trend":
        slope, icpt = np.polyfit(years[-window:].astype(float), tfr_hist[-window:], 1)
        tfr = np.maximum(icpt + slope * flow, 0.0)
    else:
        target = tfr_hist[-target_years:].mean() if long_run_tfr is None else long_run_tfr
        tfr = damped_tfr(tfr_hist[-1], target, damping, years_ahead)
    asfr = np.zeros((years_ahead, N_AGE))
    asfr[:, FERT_AGES] = np.stack([scale_to_tfr(shape, v) for v in tfr])
    return asfr, tfr


# --- together ----------------------------------------------------------------------------------

def national_paths(src: dict, base_year: int, end_year: int, mortality: str = DEFAULT_MORTALITY,
                   fertility: str = DEFAULT_FERTILITY, window: int = 5, *,
                   fit_years: int | None = None, damping: float = DEFAULT_DAMPING,
                   long_run_tfr: float | None = None) -> dict[str, np.ndarray]:
    """mx (T, 2, 106), surv (T, 2, 107), asfr (T, 106), tfr (T,), e0 (T, 2) for the flow years
    base_year .. end_year - 1, from inputs.sources.read_national's frames (only years before
    the base)."""
    n = end_year - base_year
    if n < 1:
        raise ValueError("end_year must be after base_year")
    mx, e0 = mortality_path(src["mx"], None, base_year, n, mortality, window, fit_years)
    asfr, tfr = fertility_path(src["asfr"], None, base_year, n, fertility, window,
                               long_run_tfr, damping)
    surv = np.stack([[survival_ratios(mx[t, s], sex) for s, sex in enumerate(SEXES)]
                     for t in range(n)])
    return {"years": base_year + np.arange(n), "mx": mx, "surv": surv, "asfr": asfr,
            "tfr": tfr, "e0": e0}
