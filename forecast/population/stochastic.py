"""Stochastic population projections: components estimated from history, per-draw factors,
and quantiles of persons by age band from one kernel call (issue 9, first slice).

Pure functions, arrays in and arrays out (the tidy HMD/HFD frames of
forecast.inputs.sources.read_national are accepted where national.py accepts them). Every
estimate uses only calendar years before the base year.

Components (each a zero-mean deviation from the deterministic centre path, symmetric, so the
median draw follows the centre):
  fertility   national TFR: x_t = TFR_t - centre_t is an AR(1) started at 0 at the base,
              x_t = phi x_{t-1} + sigma e_t, phi and sigma by least squares on the HFD TFR
              series of the years before the base (AR(1) with a constant, i.e. about the
              series' mean). A draw's fertility level is (centre_t + x_t) / centre_t.
  mortality   per sex, Lee-Carter k(t) on log m(0..99) of the fit years (weighted by
              deaths, as national.lee_carter); k a random walk with drift, the innovations'
              covariance over the two sexes estimated from diff(k) - drift. A draw's m(x) in
              year t is the centre schedule times exp(b(x) (k_t - drift path)), the
              deviation being the cumulated innovations from the base.
  migration   each municipality's yearly residual net-migration rate (net / start
              population, ages 1..105, migration_residual.residual_net_migration with the
              national survival of the window) minus its own mean over the window. The
              national shock n_t is the cross-municipality mean of those deviations; the
              local part l_rt = e_rt - n_t. sigma_r = a / sqrt(P_r) + b is fitted by least
              squares to the municipalities' standard deviations of l; the local and national
              parts are stationary AR(1)s with pooled phi. A draw's net-rate deviation
              delta_rt = n_t + l_rt becomes in_level = 1 + delta/g_r and out_level =
              1 - delta/g_r, g_r the gross migration rate of the region's schedule (in- plus
              out-migrants per resident), so the net changes by delta x population.
  old_age     each municipality's yearly residual rate of the care bands 67-79, 80-89 and
              90+ (residual_net_migration with national survival: local deaths and moves,
              by the age reached, over the band's persons) minus its own mean and the year's
              mean over municipalities; sd_rb = a_b / sqrt(P_rb) + b_b by least squares. A
              draw's band persons are multiplied by 1 + x_t, x_t = rho_b x_{t-1} + sd e_t,
              rho_b = 1 - 1/L_b with L_b the years a deviation stays in the band's stock
              (13, 10, 4): random deaths and the municipality's own old-age mortality and
              moves, which the total's migration level does not reach.

Random numbers: the national shocks from np.random.default_rng([seed, 0]); each region's
local migration from [seed, 1, key] and its old-age deviations from [seed, 2, key], key a
hash of the region code (region_key), so a region's draws do not depend on the others run
with it, the chunks or the workers.
"""

from __future__ import annotations

import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr
from numba import njit, prange

from ..quantiles import quantiles_last
from .kernel import LANES, N_AGE, N_SURV, from_lanes, project_draws, to_lanes
from .migration_residual import residual_net_migration
from .model import (BANDS, PopulationAssumptions, PopulationInputs, band_edges, e0_targets,
                    fertility_arrays, migration_arrays, project_population)
from .national import _log, asfr_array, death_weights, drift, lee_carter, mx_array
from .rates import SEXES, scale_to_e0, survival_ratios

COMPONENTS = ("fertility", "mortality", "migration", "old_age")
# the care bands whose local deviations the old_age component draws, and how long a yearly
# deviation stays in the band's stock (rho = 1 - 1/L, L about the years a cohort spends in
# the band: 13 for 67-79, 10 for 80-89, 4 for 90+, the remaining life at 90)
OLD_BANDS = {"67-79": (67, 79), "80-89": (80, 89), "90+": (90, 105)}
OLD_RHO = np.array([1 - 1 / 13, 1 - 1 / 10, 1 - 1 / 4])
QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
TFR_FIRST_YEAR = 1967           # HFD's first year
MORTALITY_FIT_YEARS = 30        # as national.DEFAULT_FIT_YEARS["lee_carter"]
MAX_LEVEL_CHANGE = 0.95         # |delta / g| is clipped here so out_level stays >= 0.05
CHUNK_BYTES = 256 * 2 ** 20     # band outputs of one kernel call (regions are chunked)


# --- estimation ----------------------------------------------------------------------------

def fit_ar1(x: np.ndarray, demean: bool = True) -> tuple[float, float]:
    """(phi, sigma) of x_t = c + phi x_{t-1} + sigma e_t by least squares (c = 0 when
    demean is False); sigma from the residuals with the fitted parameters' degrees of
    freedom removed. phi is kept in [0, 0.999]."""
    x = np.asarray(x, dtype=float)
    if len(x) < 4:
        raise ValueError(f"an AR(1) needs at least 4 values, got {len(x)}")
    y, lag = x[1:], x[:-1]
    z = np.column_stack([np.ones_like(lag), lag]) if demean else lag[:, None]
    coef = np.linalg.lstsq(z, y, rcond=None)[0]
    resid = y - z @ coef
    sigma = float(np.sqrt(resid @ resid / max(len(y) - z.shape[1], 1)))
    return float(min(max(coef[-1], 0.0), 0.999)), sigma


def tfr_series(asfr, years=None) -> tuple[np.ndarray, np.ndarray]:
    """(years, TFR) from the tidy HFD frame (year, age, asfr) or a (Y, ages) array."""
    if isinstance(asfr, pd.DataFrame):
        years, asfr = asfr_array(asfr)
    return np.asarray(years), np.asarray(asfr, dtype=float).sum(axis=1)


def estimate_fertility(years, tfr, base_year: int, first_year: int = TFR_FIRST_YEAR) -> dict:
    """AR(1) of the national TFR over first_year .. base_year - 1."""
    years, tfr = np.asarray(years), np.asarray(tfr, dtype=float)
    keep = (years >= first_year) & (years < base_year)
    phi, sigma = fit_ar1(tfr[keep])
    return {"tfr_phi": phi, "tfr_sigma": sigma, "tfr_last": float(tfr[keep][-1]),
            "tfr_years": (int(years[keep][0]), int(years[keep][-1]))}


def estimate_mortality(mx, years, base_year: int, fit_years: int = MORTALITY_FIT_YEARS) -> dict:
    """Lee-Carter per sex on the fit years before the base: b(x) (2, 106) (ages 100..105 as
    99), the drift, and the covariance (2, 2) of the random walk's innovations."""
    if isinstance(mx, pd.DataFrame):
        years, mx = mx_array(mx)
    years, mx = np.asarray(years), np.asarray(mx, dtype=float)[..., :100]
    keep = np.flatnonzero(years < base_year)[-fit_years:]
    if len(keep) < 5:
        raise ValueError(f"mortality needs at least 5 years before {base_year}")
    b = np.empty((2, N_AGE))
    drifts, innov = np.empty(2), []
    for s in range(2):
        m = mx[keep, s]
        _, bs, k = lee_carter(_log(m), death_weights(m))
        b[s, :100], b[s, 100:] = bs, bs[-1]
        drifts[s] = drift(k)
        innov.append(np.diff(k) - drifts[s])
    cov = np.cov(np.array(innov), ddof=1)
    return {"b": b, "k_drift": drifts, "k_cov": cov,
            "mortality_years": (int(years[keep][0]), int(years[keep][-1]))}


def net_rate_history(counts: np.ndarray, surv: np.ndarray) -> np.ndarray:
    """(n, R) residual net-migration rate of each transition year: net migrants at ages
    1..105 (migration_residual, kernel timing) over the population at the start.
    counts (n + 1, R, 2, 106) stocks on 1 January; surv (2, 107) national survival."""
    out = np.empty((counts.shape[0] - 1, counts.shape[1]))
    for t in range(counts.shape[0] - 1):
        net, _ = residual_net_migration(counts[t], counts[t + 1], surv)
        out[t] = net.sum(axis=(-2, -1)) / counts[t].sum(axis=(-2, -1))
    return out


def estimate_migration(rates: np.ndarray, population: np.ndarray, exclude=None,
                       min_years: int = 4) -> dict:
    """National and local parts of the yearly net-rate deviations.

    rates (n, R) net-migration rates per year and municipality, population (R,) persons (for
    the size rule), exclude (R,) bool: municipalities left out of the fits (e.g. those
    without a real history); a municipality needs `min_years` yearly rates. Returns the
    national AR(1) (phi, sigma), the local pooled phi, and sigma_r = a / sqrt(P) + b fitted by
    least squares across municipalities."""
    rates = np.asarray(rates, dtype=float)
    pop = np.asarray(population, dtype=float)
    use = np.ones(rates.shape[1], bool) if exclude is None else ~np.asarray(exclude, bool)
    use &= np.isfinite(rates).sum(axis=0) >= min_years  # too short a history
    use &= np.isfinite(pop) & (pop > 0)
    e = rates[:, use] - np.nanmean(rates[:, use], axis=0)
    national = np.nanmean(e, axis=1)
    local = e - national[:, None]
    nat_phi, nat_sigma = _stationary_ar1(national)
    loc_phi = _pooled_phi(local)
    sd = np.nanstd(local, axis=0, ddof=1)
    z = np.column_stack([1.0 / np.sqrt(pop[use]), np.ones(use.sum())])
    a, b = np.linalg.lstsq(z, sd, rcond=None)[0]
    if b < 0:  # keep sigma positive for the largest municipalities
        a, b = float(sd @ z[:, 0] / (z[:, 0] @ z[:, 0])), 0.0
    return {"mig_nat_phi": nat_phi, "mig_nat_sigma": nat_sigma, "mig_local_phi": loc_phi,
            "mig_local_a": float(a), "mig_local_b": float(b),
            "mig_years": rates.shape[0], "mig_regions": int(use.sum()),
            "mig_national_share": float(nat_sigma ** 2 / (nat_sigma ** 2 + np.mean(sd ** 2)))}


def old_band_rates(counts: np.ndarray, surv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, R, 3) residual rate (net of national survival: local deaths and moves) of each
    care band per transition, by the age reached, over the band's persons at the start;
    and (R, 3) the band populations at the last stock."""
    n = counts.shape[0] - 1
    rates = np.empty((n, counts.shape[1], len(OLD_BANDS)))
    for t in range(n):
        net, _ = residual_net_migration(counts[t], counts[t + 1], surv)
        for j, (lo, hi) in enumerate(OLD_BANDS.values()):
            start = counts[t + 1][..., lo:hi + 1].sum(axis=(-2, -1)) - net[..., lo:hi + 1].sum(
                axis=(-2, -1))
            rates[t, :, j] = net[..., lo:hi + 1].sum(axis=(-2, -1)) / np.maximum(start, 1.0)
    pop = np.stack([counts[-1][..., lo:hi + 1].sum(axis=(-2, -1))
                    for lo, hi in OLD_BANDS.values()], axis=-1)
    return rates, pop


def estimate_old_age(counts: np.ndarray, surv: np.ndarray, exclude=None, min_years: int = 4
                     ) -> dict:
    """sd = a / sqrt(P_band) + b of each region's yearly deviation (from its own mean and
    the year's mean over regions) of the care bands' residual rates, by least squares over
    the municipalities; a, b (3,)."""
    rates, pop = old_band_rates(counts, surv)
    use = np.ones(rates.shape[1], bool) if exclude is None else ~np.asarray(exclude, bool)
    use &= np.isfinite(rates).all(axis=2).sum(axis=0) >= min_years
    a, b = np.zeros(len(OLD_BANDS)), np.zeros(len(OLD_BANDS))
    for j in range(len(OLD_BANDS)):
        ok = use & (pop[:, j] > 0)
        e = rates[:, ok, j] - np.nanmean(rates[:, ok, j], axis=0)
        local = e - np.nanmean(e, axis=1, keepdims=True)
        sd = np.nanstd(local, axis=0, ddof=1)
        z = np.column_stack([1.0 / np.sqrt(pop[ok, j]), np.ones(ok.sum())])
        a[j], b[j] = np.linalg.lstsq(z, sd, rcond=None)[0]
        if b[j] < 0:
            a[j], b[j] = float(sd @ z[:, 0] / (z[:, 0] @ z[:, 0])), 0.0
    return {"old_a": a, "old_b": b}


def _pooled_phi(x: np.ndarray) -> float:
    """AR(1) coefficient through the origin pooled over the columns of (n, R), in [0, 0.99]."""
    prod = x[1:] * x[:-1]
    ok = np.isfinite(prod)
    num, den = prod[ok].sum(), (x[:-1] ** 2)[ok].sum()
    return float(min(max(num / den if den > 0 else 0.0, 0.0), 0.99))


def _stationary_ar1(x: np.ndarray) -> tuple[float, float]:
    """phi through the origin and the stationary (marginal) standard deviation of x."""
    return _pooled_phi(x[:, None]), float(np.sqrt(np.mean(x ** 2)))


@dataclass
class Components:
    """Estimated stochastic components (see the module docstring). sigma = 0 switches one
    off; every deviation has mean zero."""
    base_year: int
    tfr_phi: float = 0.0
    tfr_sigma: float = 0.0              # children per woman, innovation of the AR(1)
    tfr_last: float = 1.6               # last observed TFR: the default centre for factors
    b: np.ndarray = field(default_factory=lambda: np.full((2, N_AGE), 1.0 / 100))
    k_drift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    k_cov: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    mig_nat_phi: float = 0.0
    mig_nat_sigma: float = 0.0          # net migrants per resident a year (stationary sd)
    mig_local_phi: float = 0.0
    mig_local_a: float = 0.0            # sigma_r = a / sqrt(P_r) + b (stationary sd)
    mig_local_b: float = 0.0
    old_a: np.ndarray = field(default_factory=lambda: np.zeros(len(OLD_BANDS)))
    old_b: np.ndarray = field(default_factory=lambda: np.zeros(len(OLD_BANDS)))
    info: dict = field(default_factory=dict)

    def old_sigma(self, band_population) -> np.ndarray:
        """(R, 3) sd of the yearly local deviation of each care band's residual rate."""
        p = np.maximum(np.asarray(band_population, dtype=float), 1.0)
        return self.old_a[None, :] / np.sqrt(p) + self.old_b[None, :]

    def local_sigma(self, population) -> np.ndarray:
        p = np.maximum(np.asarray(population, dtype=float), 1.0)
        return self.mig_local_a / np.sqrt(p) + self.mig_local_b

    def zero(self) -> "Components":
        """The same components with every variance zero."""
        return replace(self, tfr_sigma=0.0, k_cov=np.zeros((2, 2)), mig_nat_sigma=0.0,
                       mig_local_a=0.0, mig_local_b=0.0, old_a=np.zeros(len(OLD_BANDS)),
                       old_b=np.zeros(len(OLD_BANDS)))

    def describe(self) -> str:
        sd = np.sqrt(np.diag(self.k_cov))
        corr = (self.k_cov[0, 1] / (sd[0] * sd[1])) if sd.prod() > 0 else 0.0
        i = self.info
        lines = [
            f"Stochastic components, base {self.base_year}",
            f"  fertility: national TFR deviation AR(1), phi {self.tfr_phi:.3f}, innovation "
            f"sigma {self.tfr_sigma:.4f} children per woman (fit {i.get('tfr_years', '?')}); "
            f"stationary sd {self.tfr_sigma / np.sqrt(max(1 - self.tfr_phi ** 2, 1e-6)):.3f}",
            f"  mortality: Lee-Carter k random walk with drift (fit "
            f"{i.get('mortality_years', '?')}): drift women {self.k_drift[0]:.3f}, men "
            f"{self.k_drift[1]:.3f} a year; innovation sd women {sd[0]:.3f}, men {sd[1]:.3f}, "
            f"correlation {corr:.2f}",
            f"  migration: national shock (net migrants per resident) AR(1) phi "
            f"{self.mig_nat_phi:.2f}, sd {self.mig_nat_sigma * 1000:.2f} per 1,000; local "
            f"AR(1) phi {self.mig_local_phi:.2f}, sd = {self.mig_local_a:.3f} / sqrt(P) + "
            f"{self.mig_local_b * 1000:.2f} per 1,000 (e.g. {self.local_sigma(2000) * 1000:.1f} "
            f"per 1,000 at 2,000 people, {self.local_sigma(100000) * 1000:.1f} at 100,000); "
            f"national share of the variance {i.get('mig_national_share', float('nan')):.2f} "
            f"({i.get('mig_years', '?')} years, {i.get('mig_regions', '?')} municipalities)",
            "  old age: local yearly deviation of the residual rate (deaths and moves) of "
            + ", ".join(f"{b} sd {a:.2f} / sqrt(P) + {c * 1000:.1f} per 1,000 (rho {r:.2f})"
                        for b, a, c, r in zip(OLD_BANDS, self.old_a, self.old_b, OLD_RHO)),
        ]
        return "\n".join(lines)


SCALARS = ("tfr_phi", "tfr_sigma", "tfr_last", "mig_nat_phi", "mig_nat_sigma",
           "mig_local_phi", "mig_local_a", "mig_local_b")


def components_table(c: Components) -> pd.DataFrame:
    """The components as a long table (parameter, sex, age, value): the scalars, the drift
    and innovation covariance of k per sex, and b(x) per sex and age; base_year first."""
    rows = [("base_year", "", "", float(c.base_year))]
    rows += [(name, "", "", float(getattr(c, name))) for name in SCALARS]
    for s, sex in enumerate(SEXES):
        rows.append(("k_drift", sex, "", float(c.k_drift[s])))
        for s2, sex2 in enumerate(SEXES):
            rows.append((f"k_cov_{sex2}", sex, "", float(c.k_cov[s, s2])))
    for s, sex in enumerate(SEXES):
        rows += [("b", sex, str(age), float(c.b[s, age])) for age in range(N_AGE)]
    for j, band in enumerate(OLD_BANDS):
        rows += [("old_a", "", band, float(c.old_a[j])), ("old_b", "", band, float(c.old_b[j]))]
    for key, value in c.info.items():   # fit years and sizes, for describe()
        parts = value if isinstance(value, tuple) else (value,)
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in parts):
            rows += [(f"info_{key}", "", str(i), float(v)) for i, v in enumerate(parts)]
    return pd.DataFrame(rows, columns=["parameter", "sex", "age", "value"])


def components_from_table(df: pd.DataFrame) -> Components:
    """The inverse of components_table; raises KeyError naming a missing parameter."""
    df = df.fillna("")
    scalar = {p: float(v) for p, v in zip(df["parameter"], df["value"])}
    keyed = {(p, str(sx), str(ag)): float(v)
             for p, sx, ag, v in zip(df["parameter"], df["sex"], df["age"], df["value"])}
    b = np.array([[keyed[("b", sex, str(age))] for age in range(N_AGE)] for sex in SEXES])
    drift_ = np.array([keyed[("k_drift", sex, "")] for sex in SEXES])
    cov = np.array([[keyed[(f"k_cov_{s2}", s1, "")] for s2 in SEXES] for s1 in SEXES])
    info: dict = {}
    for p, ag, v in zip(df["parameter"], df["age"], df["value"]):
        if p.startswith("info_"):
            info.setdefault(p[5:], []).append(int(v) if float(v).is_integer() else float(v))
    info = {k: (tuple(v) if len(v) > 1 else v[0]) for k, v in info.items()}
    old = {name: np.array([keyed[(name, "", band)] for band in OLD_BANDS])
           for name in ("old_a", "old_b")}
    return Components(base_year=int(scalar["base_year"]), b=b, k_drift=drift_, k_cov=cov,
                      info=info, **old, **{name: scalar[name] for name in SCALARS})


# Chosen against what happened (forecast.backtest_intervals, scripts/interval_calibration.py,
# bases 2008-2013, 350 municipalities, horizons 5-10): as estimated, the local persistence is 0
# (short, demeaned series bias it down), deviations average out over the horizon, and the 80 %
# interval of municipal totals held 45 % of outcomes (scaling the sd alone reached 58 % at 4x).
# With phi 0.9 and the local sd x 1.25 it holds 78-83 % and the 50 % interval 55-62 %. The
# bases all end in 2018 and share the shocks of 2013-2018, so this is weak evidence; the
# bands 67-79, 80-89 and 90+ stay at 30-55 % coverage whatever the migration scale (random
# deaths and the centre's own error are missing).
CALIBRATED_LOCAL_PHI = 0.9
CALIBRATED_LOCAL_SCALE = 1.25


def calibrated(c: "Components") -> "Components":
    """The components with the local migration persistence and spread chosen by the interval
    backtests (above); the raw estimates stay in `info`."""
    return replace(c, mig_local_phi=max(c.mig_local_phi, CALIBRATED_LOCAL_PHI),
                   mig_local_a=c.mig_local_a * CALIBRATED_LOCAL_SCALE,
                   mig_local_b=c.mig_local_b * CALIBRATED_LOCAL_SCALE,
                   info={**c.info, "raw_mig_local_phi": c.mig_local_phi,
                         "raw_mig_local_a": c.mig_local_a, "raw_mig_local_b": c.mig_local_b})


def estimate_components(base_year: int, national: dict, counts: np.ndarray | None = None,
                        exclude=None, mort_fit_years: int = MORTALITY_FIT_YEARS,
                        tfr_first_year: int = TFR_FIRST_YEAR, window: int = 5,
                        min_years: int = 4) -> Components:
    """Every component from data before `base_year`.

    national: {"mx": tidy HMD frame or (years, (Y, 2, >=100)), "asfr": tidy HFD frame or
    (years, (Y, ages))}; counts (n + 1, R, 2, 106) municipal stocks on 1 January of the
    window's years, the last the base year (None: no migration component); exclude (R,)
    municipalities left out of the migration fit. The survival used for the residuals pools
    the last `window` years of m(x) before the base; a municipality needs `min_years` yearly
    migration rates."""
    mx, asfr = national["mx"], national["asfr"]
    mx_years, mx_arr = mx_array(mx) if isinstance(mx, pd.DataFrame) else mx
    t_years, tfr = tfr_series(*((asfr,) if isinstance(asfr, pd.DataFrame) else asfr[::-1]))
    fert = estimate_fertility(t_years, tfr, base_year, tfr_first_year)
    mort = estimate_mortality(mx_arr, mx_years, base_year, mort_fit_years)
    info = {"tfr_years": fert.pop("tfr_years"), "mortality_years": mort.pop("mortality_years")}
    mig = {}
    if counts is not None:
        from .national import close_schedule, pooled_rates
        keep = np.asarray(mx_years) < base_year
        m = pooled_rates(np.asarray(mx_arr)[keep][-window:, :, :100])
        surv = np.stack([survival_ratios(close_schedule(m[s]), sex)
                         for s, sex in enumerate(SEXES)])
        rates = net_rate_history(np.asarray(counts, dtype=float), surv)
        est = estimate_migration(rates, counts[-1].sum(axis=(-2, -1)), exclude, min_years)
        info.update({k: est.pop(k) for k in ("mig_years", "mig_regions", "mig_national_share")})
        mig = est
        mig.update(estimate_old_age(np.asarray(counts, dtype=float), surv, exclude, min_years))
    return Components(base_year=base_year, **fert, **mort, **mig, info=info)


# --- draws -----------------------------------------------------------------------------------

def _check(vary) -> tuple[str, ...]:
    vary = tuple(vary)
    bad = [v for v in vary if v not in COMPONENTS]
    if bad:
        raise ValueError(f"unknown stochastic component {bad[0]!r}; one of {COMPONENTS}")
    return vary


def _ar1_paths(eps: np.ndarray, phi: float, sigma: float, stationary: bool) -> np.ndarray:
    """AR(1) paths along the last axis of standard normals eps. stationary: sigma is the
    marginal sd and x_0 starts from it; else sigma is the innovation sd and x_{-1} = 0."""
    if phi == 0.0:  # the same numbers as the recursion below, without it
        return sigma * eps
    out = np.empty_like(eps)
    if stationary:
        inn = sigma * np.sqrt(1.0 - phi ** 2)
        out[..., 0] = sigma * eps[..., 0]
    else:
        inn = sigma
        out[..., 0] = inn * eps[..., 0]
    for t in range(1, eps.shape[-1]):
        out[..., t] = phi * out[..., t - 1] + inn * eps[..., t]
    return out


def national_factors(components: Components, n_draws: int, years, seed, vary=COMPONENTS,
                     tfr_centre=None) -> dict:
    """The shocks every municipality of a draw shares:
      fert      (D, 1, T) factor on the centre TFR, (centre + x) / centre, floored at 0.01
      k_dev     (D, T, 2) deviation of Lee-Carter k from its drift path (log m shifts by
                b(x) k_dev)
      national  (D, T)    the national part of the net-migration rate deviation
    From np.random.default_rng([seed, 0]) in a fixed order whatever `vary` holds, so switching
    one component off leaves the others' draws alone. tfr_centre (T,) (default tfr_last)."""
    vary = _check(vary)
    if n_draws < 0:
        raise ValueError(f"the number of draws must be >= 0, got {n_draws}")
    c = components
    n_year = len(np.asarray(years))
    rng = np.random.default_rng([int(seed), 0])
    e_fert = rng.standard_normal((n_draws, n_year))
    e_mort = rng.standard_normal((n_draws, n_year, 2))
    e_nat = rng.standard_normal((n_draws, n_year))
    centre = (np.full(n_year, c.tfr_last) if tfr_centre is None
              else np.asarray(tfr_centre, dtype=float))
    if "fertility" in vary and c.tfr_sigma > 0:
        x = _ar1_paths(e_fert, c.tfr_phi, c.tfr_sigma, stationary=False)
        fert = np.maximum((centre + x) / centre, 0.01)[:, None, :]
    else:
        fert = np.ones((n_draws, 1, n_year))
    k_dev = np.zeros((n_draws, n_year, 2))
    if "mortality" in vary and np.any(c.k_cov != 0):
        chol = np.linalg.cholesky(c.k_cov + 1e-18 * np.eye(2))
        k_dev = np.cumsum(e_mort @ chol.T, axis=1)
    national = np.zeros((n_draws, n_year))
    if "migration" in vary:
        national = _ar1_paths(e_nat, c.mig_nat_phi, c.mig_nat_sigma, stationary=True)
    return {"fert": np.ascontiguousarray(fert), "k_dev": k_dev, "national": national}


def region_key(code) -> int:
    """A stable integer for a region code, so a region's local draws do not depend on which
    other regions run with it, in which chunk or on which worker."""
    return zlib.crc32(str(code).encode("utf-8"))


def local_deviations(components: Components, n_draws: int, keys, n_year: int, seed,
                     vary=COMPONENTS, population=None) -> np.ndarray:
    """(D, R, T) the local part of the net-migration rate deviation of each region: a
    stationary AR(1) scaled by the region's sd (population (R,) persons; default the sd at
    b), from np.random.default_rng([seed, 1, key]) for each region key (region_key)."""
    c = components
    keys = list(keys)
    out = np.zeros((n_draws, len(keys), n_year))
    if "migration" not in _check(vary):
        return out
    sig = (np.full(len(keys), c.mig_local_b) if population is None
           else c.local_sigma(population))
    local, level = np.empty((n_draws, n_year)), np.empty((2, n_draws, n_year, 1))
    zero, one = np.zeros((n_draws, n_year)), np.ones(n_year)
    for i, key in enumerate(keys):
        _migration_draws(region_streams(seed, key)[0], c.mig_local_phi,
                         sig[i], zero, 1.0, one, one, local, level[0], level[1])
        out[:, i] = local
    return out


@njit(cache=True, nogil=True)
def _migration_draws(rng, phi, sigma, national, gross, centre_in, centre_out, local, in_level,
                     out_level):
    """One region's migration draws: its local deviation (D, T), a stationary AR(1) of
    marginal sd sigma from the normals of rng in the order of rng.standard_normal((D, T)),
    and in_level, out_level = (1 +- u) x the centre's levels, u = (national + local) / gross
    clipped to +-MAX_LEVEL_CHANGE, in lanes (NB, T, W): draw d at [d // W, t, d % W], the
    last block filled up with the last draw (W = 1: plain (D, T, 1)). local of shape (0, 0):
    the deviation is not kept. The same arithmetic, operation for operation, as the NumPy
    recursion it replaced, so the draws (and the calibration) are unchanged."""
    n_draw, n_year = national.shape
    w = in_level.shape[2]
    inn = np.sqrt(1.0 - phi ** 2)
    g = max(gross, 1e-9)
    keep = local.shape[0] > 0
    eps = np.empty(n_year)
    for d in range(n_draw):
        for t in range(n_year):   # a draw's normals first: a tight loop is faster
            eps[t] = rng.standard_normal()
        x = 0.0
        for t in range(n_year):
            e = eps[t]
            x = e if (phi == 0.0 or t == 0) else phi * x + inn * e
            dev = x * sigma
            if keep:
                local[d, t] = dev
            u = min(max((national[d, t] + dev) / g, -MAX_LEVEL_CHANGE), MAX_LEVEL_CHANGE)
            in_level[d // w, t, d % w] = (1.0 + u) * centre_in[t]
            out_level[d // w, t, d % w] = (1.0 - u) * centre_out[t]
    _fill_lanes(in_level, n_draw)
    _fill_lanes(out_level, n_draw)


@njit(cache=True, nogil=True)
def _fill_lanes(x, n_draw):
    """The lanes past the last draw (x (NB, ..., W)) set to the last draw's values."""
    w = x.shape[-1]
    last, blk = (n_draw - 1) % w, (n_draw - 1) // w
    y = x[blk].reshape(-1, w)
    for i in range(y.shape[0]):
        for j in range(last + 1, w):
            y[i, j] = y[i, last]


@njit(cache=True, nogil=True)
def _old_age_draws(rng, sigma, rho, factor, n_draw):
    """One region's old-age factors of n_draw draws in lanes (NB, T+1, 3, W), draw d at
    [d // W, ..., d % W], the last block filled up with the last draw (W = 1: plain (D,
    T+1, 3, 1)): 1 at the base, then max(1 + x_t, 0.05), x_t = rho x_(t-1) + sigma e_t, from
    the normals of rng in the order of rng.standard_normal((D, 3, T))."""
    n_year, n_band, w = factor.shape[1] - 1, factor.shape[2], factor.shape[3]
    eps = np.empty(n_band * n_year)
    for d in range(n_draw):
        for i in range(n_band * n_year):   # a draw's normals first: a tight loop is faster
            eps[i] = rng.standard_normal()
        b, j = d // w, d % w
        for k in range(n_band):
            factor[b, 0, k, j] = 1.0
            x = 0.0
            for t in range(n_year):
                x = rho[k] * x + sigma[k] * eps[k * n_year + t]
                factor[b, t + 1, k, j] = max(1.0 + x, 0.05)
    _fill_lanes(factor, n_draw)


def old_age_factors(components: Components, n_draws: int, keys, n_year: int, seed,
                    band_population, vary=COMPONENTS) -> np.ndarray:
    """(R, D, T+1, 3) factors on the care bands' persons in each stock year (1 at the base):
    1 + x_t, x_t = rho x_{t-1} + sigma_rb e_t the accumulated local deviation of the band's
    residual rate, from np.random.default_rng([seed, 2, key]) per region key;
    band_population (R, 3) at the base. Floored at 0.05. Empty (shape (0, 0, 0, 0)) when
    the component does not vary."""
    keys = list(keys)
    if not _varies_old_age(components, vary):
        return np.zeros((0, 0, 0, 0))
    sig = components.old_sigma(band_population)                   # (R, 3)
    out = np.empty((len(keys), n_draws, n_year + 1, len(OLD_BANDS), 1))   # lanes of 1
    for i, key in enumerate(keys):
        _old_age_draws(region_streams(seed, key)[1], sig[i], OLD_RHO, out[i], n_draws)
    return out[..., 0]


def _varies_old_age(components: Components, vary) -> bool:
    return "old_age" in _check(vary) and bool(np.any(components.old_a) or
                                               np.any(components.old_b))


def old_age_groups(edges: np.ndarray) -> np.ndarray:
    """(G,) the care band (index into OLD_BANDS) of each age group of `edges`, -1 outside;
    the edges must split at every care band's bounds."""
    lows = np.asarray(edges)[:-1]
    band = np.full(len(lows), -1, dtype=np.int64)
    for j, (lo, hi) in enumerate(OLD_BANDS.values()):
        band[(lows >= lo) & (lows <= hi)] = j
    return band


def migration_levels(delta: np.ndarray, gross_rate=None) -> tuple[np.ndarray, np.ndarray]:
    """(in_level, out_level) = 1 +- delta / g for net-rate deviations delta (D, R, T), g (R,)
    the gross migration rate (default 1), clipped at +-MAX_LEVEL_CHANGE."""
    g = np.ones(delta.shape[1]) if gross_rate is None else np.asarray(gross_rate, dtype=float)
    u = np.clip(delta / np.maximum(g, 1e-9)[None, :, None], -MAX_LEVEL_CHANGE, MAX_LEVEL_CHANGE)
    return 1.0 + u, 1.0 - u


def draw_factors(components: Components, n_draws: int, n_regions: int, years, seed,
                 vary=COMPONENTS, population=None, gross_rate=None, tfr_centre=None) -> dict:
    """national_factors plus the regions' migration (regions keyed 0..R-1):
      mig_delta  (D, R, T) net-migration rate deviation (national + local), per resident
      in_level, out_level (D, R, T) 1 +- mig_delta / gross_rate (clipped to +-0.95)."""
    f = national_factors(components, n_draws, years, seed, vary, tfr_centre)
    n_year = len(np.asarray(years))
    local = local_deviations(components, n_draws, range(n_regions), n_year, seed, vary,
                             population)
    delta = f["national"][:, None, :] + local
    f["mig_delta"] = delta
    f["in_level"], f["out_level"] = migration_levels(delta, gross_rate)
    return f


def centre_mx(inputs: PopulationInputs, a: PopulationAssumptions) -> np.ndarray:
    """(T, 2, 106) the deterministic m(x) of each flow year (as model.mortality_arrays)."""
    e0 = e0_targets(inputs, a)
    out = np.empty((len(a.flow_years), 2, N_AGE))
    for s, sex in enumerate(SEXES):
        cache = {}
        for t in range(out.shape[0]):
            key = None if np.isnan(e0[t, s]) else round(float(e0[t, s]), 12)
            if key not in cache:
                cache[key] = inputs.mx[s] if key is None else scale_to_e0(inputs.mx[s], sex, key)
            out[t, s] = cache[key]
    return out


def survival_many(mx: np.ndarray, sex: str) -> np.ndarray:
    """rates.survival_ratios over the leading axes of (..., 106) schedules, vectorised (the
    same life table: a(0) by Andreev-Kingkade, a = 0.5 above, open group l/m)."""
    mx = np.asarray(mx, dtype=float)
    m0 = mx[..., 0]
    if sex == "male":
        a0 = np.where(m0 < 0.02300, 0.14929 - 1.99545 * m0,
                      np.where(m0 < 0.08307, 0.02832 + 3.26201 * m0, 0.29915))
    else:
        a0 = np.where(m0 < 0.01724, 0.14903 - 2.05527 * m0,
                      np.where(m0 < 0.06891, 0.04667 + 3.88089 * m0, 0.31411))
    ax = np.full(mx.shape, 0.5)
    ax[..., 0] = a0
    qx = np.minimum(mx / (1.0 + (1.0 - ax) * mx), 1.0)
    qx[..., -1] = 1.0
    lx = np.empty(mx.shape)
    lx[..., 0] = 1.0
    lx[..., 1:] = np.cumprod(1.0 - qx[..., :-1], axis=-1)
    Lx = lx - (1.0 - ax) * lx * qx
    Lx[..., -1] = lx[..., -1] / mx[..., -1]
    t104 = Lx[..., -2] + Lx[..., -1]
    surv = np.zeros(mx.shape[:-1] + (N_SURV,))
    surv[..., 0] = Lx[..., 0]
    np.divide(Lx[..., 1:N_AGE - 1], Lx[..., :N_AGE - 2], out=surv[..., 1:N_AGE - 1],
              where=Lx[..., :N_AGE - 2] > 0)
    last = np.divide(Lx[..., -1], t104, out=np.zeros(t104.shape), where=t104 > 0)
    surv[..., N_AGE - 1] = surv[..., N_AGE] = last
    return surv


def survival_draws(mx: np.ndarray, b: np.ndarray, k_dev: np.ndarray) -> np.ndarray:
    """(D, 1, T, 2, 107) survival ratios of m(x) exp(b(x) k_dev) per draw, year and sex;
    mx (T, 2, 106), b (2, 106), k_dev (D, T, 2). Where k_dev is 0 the ratios are those of
    rates.survival_ratios of the centre, exactly as in the deterministic run."""
    return from_lanes(survival_and_half(mx, b, k_dev)[0], k_dev.shape[0])[:, None]


def survival_and_half(mx: np.ndarray, b: np.ndarray, k_dev: np.ndarray, ratios: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
    """survival_draws and its square root (the half-year survival), in one pass, in the
    draws kernel's lanes (NB, T, 2, 107, LANES) (kernel.to_lanes). ratios=False: the
    half-year survival only (the draws' kernel reads nothing else), the first of shape 0."""
    n_draw, n_year = k_dev.shape[:2]
    n_block = -(-n_draw // LANES)
    out = np.empty((n_block, n_year, 2, N_SURV, LANES) if ratios else (0, 0, 0, 0, 0))
    half = np.empty((n_block, n_year, 2, N_SURV, LANES))
    centre = np.stack([np.stack([survival_ratios(mx[t, s], sex) for s, sex in enumerate(SEXES)])
                       for t in range(n_year)])                              # (T, 2, 107)
    _survival_draws(np.ascontiguousarray(mx, dtype=float), np.ascontiguousarray(b, dtype=float),
                    np.ascontiguousarray(k_dev, dtype=float), centre, out, half)
    return out, half


@njit(cache=True, parallel=True)
def _survival_draws(mx, b, k_dev, centre, out, half):
    """survival_many of each moved schedule (the same life table), the centre's where k is
    0; sex 0 female, 1 male (a(0) of Andreev-Kingkade). out, half (NB, T, 2, 107, W):
    draw d at [d // W, ..., d % W]; lanes past the last draw get the last draw's. out of
    size 0: not written."""
    n_draw, n_year = k_dev.shape[0], k_dev.shape[1]
    n_block, w = half.shape[0], half.shape[4]
    ratios = out.size > 0
    for blk in prange(n_block):
        lx = np.empty(N_AGE)
        big_l = np.empty(N_AGE)
        m = np.empty(N_AGE)
        sv = np.empty(N_SURV)
        for j in range(w):
            d = min(blk * w + j, n_draw - 1)
            for t in range(n_year):
                for s in range(2):
                    k = k_dev[d, t, s]
                    if k == 0.0:
                        for a in range(N_SURV):
                            if ratios:
                                out[blk, t, s, a, j] = centre[t, s, a]
                            half[blk, t, s, a, j] = np.sqrt(centre[t, s, a])
                        continue
                    for a in range(N_AGE):
                        m[a] = mx[t, s, a] * np.exp(b[s, a] * k)
                    m0 = m[0]
                    if s == 1:
                        a0 = (0.14929 - 1.99545 * m0 if m0 < 0.02300 else
                              (0.02832 + 3.26201 * m0 if m0 < 0.08307 else 0.29915))
                    else:
                        a0 = (0.14903 - 2.05527 * m0 if m0 < 0.01724 else
                              (0.04667 + 3.88089 * m0 if m0 < 0.06891 else 0.31411))
                    lx[0] = 1.0
                    for a in range(N_AGE):
                        ax = a0 if a == 0 else 0.5
                        qx = 1.0 if a == N_AGE - 1 else min(m[a] / (1.0 + (1.0 - ax) * m[a]),
                                                            1.0)
                        if a + 1 < N_AGE:
                            lx[a + 1] = lx[a] * (1.0 - qx)
                        big_l[a] = lx[a] - (1.0 - ax) * lx[a] * qx
                    big_l[N_AGE - 1] = lx[N_AGE - 1] / m[N_AGE - 1]
                    sv[0] = big_l[0]
                    for a in range(1, N_AGE - 1):
                        sv[a] = (big_l[a] / big_l[a - 1]) if big_l[a - 1] > 0 else 0.0
                    t104 = big_l[N_AGE - 2] + big_l[N_AGE - 1]
                    last = big_l[N_AGE - 1] / t104 if t104 > 0 else 0.0
                    sv[N_AGE - 1] = last
                    sv[N_AGE] = last
                    for a in range(N_SURV):
                        if ratios:
                            out[blk, t, s, a, j] = sv[a]
                        half[blk, t, s, a, j] = np.sqrt(sv[a])


# --- simulation --------------------------------------------------------------------------------

def gross_rates(inputs: PopulationInputs, mig: dict) -> np.ndarray:
    """(R,) in-migrants plus out-migrants of the first projection year per resident at the
    base, from the kernel's migration arrays (levels applied)."""
    pop = inputs.base_pop
    n_reg = pop.shape[0]
    inm = np.broadcast_to(mig["inmig"][0][:, 0], (n_reg, 2, N_AGE)).sum(axis=(-2, -1))
    inm = inm * np.broadcast_to(mig["in_level"][0][:, 0], (n_reg,))
    out = (np.broadcast_to(mig["outrate"][0][:, 0], pop.shape) * pop).sum(axis=(-2, -1))
    out = out * np.broadcast_to(mig["out_level"][0][:, 0], (n_reg,))
    return (inm + out) / np.maximum(pop.sum(axis=(-2, -1)), 1.0)


@dataclass
class DrawPlan:
    """Everything the kernel needs for the draws of a run except the regions' local
    migration, which group_draws draws per region chunk: the national shocks (survival and
    fertility per draw), the centre's compact rate arrays and each region's size and gross
    migration rate. Built once by plan_draws; a chunk of regions needs only this."""
    inputs: PopulationInputs
    components: Components
    n_draws: int
    seed: int
    vary: tuple
    n_year: int
    edges: np.ndarray           # (G+1,) int64 age-group edges of the output
    half: np.ndarray            # (NB, T, 2, 107, LANES) half-year survival, draws in lanes
    asfr: np.ndarray            # (T, 106)
    fert: np.ndarray            # (NB, T, LANES) national factor on the centre TFR
    fem_share: np.ndarray       # (T,)
    mig: dict                   # model.migration_arrays of the centre
    national: np.ndarray        # (D, T) national net-migration deviation
    population: np.ndarray      # (R,) persons at the base
    gross: np.ndarray           # (R,) gross migration rate
    old_population: np.ndarray  # (R, 3) persons in the care bands at the base
    # batches of draws (plan_batches): each region's generators, kept from batch to batch so
    # the batches continue its streams; None: fresh generators (all draws in one plan)
    streams: dict | None = None

    def bytes_per_region(self) -> int:
        return self.n_draws * (self.n_year + 1) * (len(self.edges) - 1) * 8


def plan_draws(inputs: PopulationInputs, a: PopulationAssumptions, components: Components,
               n_draws: int, seed, vary=COMPONENTS, edges=None) -> DrawPlan:
    """The shared part of the draws (see DrawPlan); edges: age-group edges (default BANDS)."""
    return next(plan_batches(inputs, a, components, n_draws, seed, vary, edges, n_draws))


def plan_batches(inputs: PopulationInputs, a: PopulationAssumptions, components: Components,
                 n_draws: int, seed, vary=COMPONENTS, edges=None, batch: int | None = None):
    """DrawPlans of draws 0..batch-1, batch..2 batch-1, ...: the same draws as one plan of
    n_draws (the national shocks are drawn once for all; each region's generators go on
    from batch to batch), with the survival of one batch in memory at a time."""
    vary = _check(vary)
    if n_draws < 1:
        raise ValueError(f"the number of draws must be >= 1, got {n_draws}")
    if inputs.exchange is not None:
        raise ValueError("draws of sub-areas (regions that exchange movers) are not supported")
    batch = n_draws if batch is None else int(batch)
    years = a.flow_years
    asfr, tfr = fertility_arrays(inputs, a)
    mig = migration_arrays(inputs, a)
    f = national_factors(components, n_draws, years, seed, vary, tfr_centre=tfr)
    mx = centre_mx(inputs, a)
    edges = band_edges(BANDS) if edges is None else np.asarray(edges, dtype=np.int64)
    shared = dict(inputs=inputs, components=components, seed=int(seed), vary=vary,
                  n_year=len(years), edges=edges, asfr=np.array(asfr, dtype=float, order="C"),
                  fem_share=np.full(len(years), 1.0 / (1.0 + inputs.sex_ratio)), mig=mig,
                  population=inputs.base_pop.sum(axis=(-2, -1)), gross=gross_rates(inputs, mig),
                  old_population=np.stack([inputs.base_pop[..., lo:hi + 1].sum(axis=(-2, -1))
                                           for lo, hi in OLD_BANDS.values()], axis=-1),
                  streams=None if batch >= n_draws else {})
    for d0 in range(0, n_draws, batch):
        d1 = min(n_draws, d0 + batch)
        half = survival_and_half(mx, components.b, f["k_dev"][d0:d1], ratios=False)[1]
        yield DrawPlan(n_draws=d1 - d0, half=half, fert=to_lanes(f["fert"][d0:d1, 0]),
                       national=np.ascontiguousarray(f["national"][d0:d1]), **shared)


@contextmanager
def small_pages():
    """New NumPy arrays on ordinary 4 kB pages while the draws run. NumPy asks the kernel for
    2 MB pages for large arrays; here the first write to those (the survival of 10,000 draws
    is 684 MB) took 1.6-3 s of CPU against ~0.35 s on small pages (the run as a whole: ~14-15
    s against ~17-19 s), and the kernel was no slower without them. NumPy's own switch
    (NUMPY_MADVISE_HUGEPAGE=0 does the same at start-up); restored after."""
    core = getattr(np, "_core", None) or np.core
    switch = getattr(core.multiarray, "_set_madvise_hugepage", None)
    if switch is None:
        yield
        return
    was = switch(False)
    try:
        yield
    finally:
        switch(was)


class Scratch:
    """Work arrays reused from one chunk of regions to the next. A new array's pages are
    mapped and zeroed by the operating system when first written (~2.5 us a 4 kB page):
    fresh arrays for every chunk cost about 6 s of CPU at 10,000 draws of every
    municipality, more than the random numbers."""

    def __init__(self):
        self._flat: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape) -> np.ndarray:
        n = int(np.prod(shape))
        flat = self._flat.get(name)
        if flat is None or flat.size < n:
            flat = self._flat[name] = np.empty(n)
        return flat[:n].reshape(shape)


def group_draws(plan: DrawPlan, lo: int, hi: int, scratch: Scratch | None = None
                ) -> np.ndarray:
    """(hi - lo, T+1, 1, G, D) persons by region, year, age group and draw (draws last), both
    sexes (the sex dim has length 1), of regions lo..hi-1: each region's local draws (its
    own random streams, on the CPUs in parallel), then one kernel call. A region's numbers
    do not depend on lo, hi, so any chunking gives the same result. The work arrays and the
    result are buffers of `scratch` (a new one if None), valid until its next use."""
    inputs, mig, c = plan.inputs, plan.mig, plan.components
    n_reg, n_year, n_draw = hi - lo, plan.n_year, plan.n_draws
    keys = [region_key(code) for code in inputs.regions[lo:hi]]
    n_all = len(inputs.regions)

    def regions(x):   # the chunk's regions of a compact (1, R|1, ...) array
        x = x[0]
        return np.ascontiguousarray(np.broadcast_to(x, (n_all,) + x.shape[1:])[lo:hi],
                                    dtype=float)
    centre_in, centre_out = regions(mig["in_level"]), regions(mig["out_level"])   # (Rc, T)
    sigma = (c.local_sigma(plan.population[lo:hi]) if "migration" in plan.vary
             else np.zeros(n_reg))
    scratch = Scratch() if scratch is None else scratch
    n_block = -(-n_draw // LANES)
    in_level = scratch.empty("in_level", (n_reg, n_block, n_year, LANES))
    out_level = scratch.empty("out_level", (n_reg, n_block, n_year, LANES))
    not_kept = np.zeros((0, 0))
    old = _varies_old_age(c, plan.vary)
    factor = (scratch.empty("factor", (n_reg, n_block, n_year + 1, len(OLD_BANDS), LANES))
              if old else np.zeros((0, 0, 0, 0, 0)))
    old_sigma = c.old_sigma(plan.old_population[lo:hi])

    streams = [region_streams(plan.seed, key) for key in keys]
    if plan.streams is not None:   # a batch of draws: go on with the region's generators
        streams = [plan.streams.setdefault(lo + i, g) for i, g in enumerate(streams)]

    def draw_region(i: int) -> None:
        _migration_draws(streams[i][0], c.mig_local_phi, sigma[i], plan.national,
                         plan.gross[lo + i], centre_in[i], centre_out[i], not_kept,
                         in_level[i], out_level[i])
        if old:
            _old_age_draws(streams[i][1], old_sigma[i], OLD_RHO, factor[i], n_draw)
    _on_threads(draw_region, n_reg)
    group = scratch.empty("group", (n_reg, n_year + 1, 1, len(plan.edges) - 1, n_draw))
    project_draws(np.ascontiguousarray(inputs.base_pop[lo:hi], dtype=float), plan.half,
                  plan.asfr, plan.fert, np.asarray(inputs.fert_level[lo:hi]),
                  plan.fem_share, regions(mig["inmig"]), in_level, regions(mig["outrate"]),
                  out_level, plan.edges, old_age_groups(plan.edges) if old
                  else np.full(len(plan.edges) - 1, -1), factor, group[:, :, 0])
    return group


def _on_threads(work, n: int) -> None:
    """work(i) for i in 0..n-1 on a thread per CPU (the numba parts release the GIL); each
    i writes its own slices, so the result does not depend on the threads."""
    n_threads = min(n, os.cpu_count() or 1)
    if n_threads <= 1:
        for i in range(n):
            work(i)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(work, range(n)))


def region_streams(seed: int, key: int) -> tuple:
    """A region's generators: local migration [seed, 1, key], old age [seed, 2, key]."""
    return (np.random.default_rng([int(seed), 1, int(key)]),
            np.random.default_rng([int(seed), 2, int(key)]))


def region_chunks(plan: DrawPlan, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """(lo, hi) chunks of regions whose group outputs take about chunk_bytes."""
    n_reg = len(plan.inputs.regions)
    size = int(max(1, min(n_reg, chunk_bytes // max(plan.bytes_per_region(), 1))))
    return [(lo, min(n_reg, lo + size)) for lo in range(0, n_reg, size)]


@small_pages()
def simulate(inputs: PopulationInputs, a: PopulationAssumptions, components: Components,
             n_draws: int, seed, quantiles=QUANTILES, vary=COMPONENTS,
             bands: dict | None = None, chunk_bytes: int = CHUNK_BYTES) -> xr.Dataset:
    """Quantiles over draws of persons by age band: pop_band(quantile, region, year, band),
    bands `bands` (default BANDS) plus "Total", both sexes. One kernel call ("bands" output)
    per chunk of regions with every draw; exact quantiles (np.quantile) over the draws.
    n_draws = 0: every quantile is the deterministic projection."""
    vary = _check(vary)
    if n_draws < 0:
        raise ValueError(f"the number of draws must be >= 0, got {n_draws}")
    bands = bands or BANDS
    q = np.asarray(quantiles, dtype=float)
    n_reg, n_year = len(inputs.regions), len(a.flow_years)
    coords = {"quantile": q, "region": list(inputs.regions),
              "year": np.arange(a.base_year, a.end_year + 1), "band": list(bands) + ["Total"]}
    if inputs.names is not None:
        coords["region_name"] = ("region", list(inputs.names))
    attrs = {"draws": n_draws, "seed": str(seed), "vary": ", ".join(vary),
             "components": components.describe()}
    if n_draws == 0:
        det = project_population(inputs, a, outputs="bands", bands=bands)
        pb = det["pop_band"].sum("sex").to_numpy()
        data = np.concatenate([pb, pb.sum(axis=-1, keepdims=True)], axis=-1)
        out = np.broadcast_to(data[None], (len(q),) + data.shape).copy()
        return _dataset(out, coords, attrs)
    plan = plan_draws(inputs, a, components, n_draws, seed, vary, band_edges(bands))
    n_band = len(bands)
    out = np.empty((len(q), n_reg, n_year + 1, n_band + 1))
    scratch = Scratch()
    for lo, hi in region_chunks(plan, chunk_bytes):
        group = group_draws(plan, lo, hi, scratch)         # (Rc, T+1, 1, G, D)
        # the bands and the total, the draws on the last (contiguous) axis
        full = np.empty((hi - lo, n_year + 1, n_band + 1, n_draws))
        full[..., :n_band, :] = group[:, :, 0]
        full[..., n_band, :] = full[..., :n_band, :].sum(axis=-2)
        out[:, lo:hi] = quantiles_last(full, q)
    return _dataset(out, coords, attrs)


def _dataset(values: np.ndarray, coords: dict, attrs: dict) -> xr.Dataset:
    ds = xr.Dataset({"pop_band": (("quantile", "region", "year", "band"), values)},
                    coords=coords, attrs=attrs)
    ds["pop_band"].attrs = {"units": "persons", "long_name": "population at 1 January by age "
                            "band, quantiles over draws (both sexes)"}
    return ds
