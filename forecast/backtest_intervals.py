"""Calibration of the stochastic intervals against what happened (issue 9, item 2).

For a base B every deterministic rate is rebuilt from data known on 1 January B exactly as
backtest_all does (regional rates of the municipal counts up to B, national m(x) and ASFR
paths from the years before B), and the stochastic components are estimated from the same
data (stochastic.estimate_components with the counts up to B). simulate() then gives the
quantiles of persons by band, which are compared with the counts published later, over the
municipalities without a split history (regional.SPLIT_HISTORY):

  coverage      share of municipalities whose actual value lies inside [q_lo, q_hi]
                (50 %: q25..q75, 80 %: q10..q90), at each horizon and for each measure
  interval score of the central (1 - alpha) interval (Gneiting & Raftery 2007, eq. 43)
                  (u - l) + 2/alpha (l - y) [y < l] + 2/alpha (y - u) [y > u]
                divided by the actual y so municipalities of every size are comparable,
                then averaged over municipalities

simulate() takes PopulationInputs and assumptions with one schedule per input; the national
paths of backtest_all (m(x) and ASFR per year) enter as the first year's schedules with the
path's e0 and TFR as dated targets (mortality scaled to e0 each year, ASFR scaled to the
TFR). The draws = 0 projection therefore differs slightly from backtest_all.model_projection;
`centre_gap` reports by how much.

Scale factors (local migration sd, national migration sd, fertility, mortality) multiply
the estimated standard deviations, so a caller can tune the spread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import backtest_all as ba
from .population import regional as rg
from .population import stochastic as st
from .population.model import BANDS, PopulationAssumptions, PopulationInputs

MEASURES = ("Total", "67-79", "80-89", "90+")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
INTERVALS = {50: (0.25, 0.75), 80: (0.1, 0.9)}


# --- scores ----------------------------------------------------------------------------------

def coverage(lower, upper, actual) -> float:
    """Share of the values of `actual` inside [lower, upper] (ends included); NaNs ignored."""
    lower, upper, actual = (np.asarray(x, dtype=float) for x in (lower, upper, actual))
    ok = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(actual)
    inside = (actual >= lower) & (actual <= upper)
    return float(inside[ok].mean()) if ok.any() else float("nan")


def interval_score(lower, upper, actual, alpha: float) -> np.ndarray:
    """Interval score of the central (1 - alpha) interval [lower, upper] (Gneiting & Raftery
    2007): width plus 2/alpha times the distance by which the actual falls outside."""
    lower, upper, actual = (np.asarray(x, dtype=float) for x in (lower, upper, actual))
    below = np.maximum(lower - actual, 0.0)
    above = np.maximum(actual - upper, 0.0)
    return (upper - lower) + 2.0 / alpha * (below + above)


def relative_interval_score(lower, upper, actual, alpha: float) -> float:
    """Mean over values of the interval score divided by the actual (actual > 0 only)."""
    actual = np.asarray(actual, dtype=float)
    s = interval_score(lower, upper, actual, alpha)
    ok = np.isfinite(s) & (actual > 0)
    return float(np.mean(s[ok] / actual[ok])) if ok.any() else float("nan")


# --- components ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    """Factors on the estimated standard deviations (1 = as estimated)."""
    local: float = 1.0          # local migration sd (a and b of sigma_r)
    national: float = 1.0       # national migration shock sd
    fertility: float = 1.0      # TFR innovation sd
    mortality: float = 1.0      # Lee-Carter k innovation sd (covariance times scale^2)
    local_phi: float | None = None  # override of the local migration AR(1) phi (diagnostic)


def scaled(c: st.Components, scale: Scale) -> st.Components:
    for name in ("local", "national", "fertility", "mortality"):
        if getattr(scale, name) < 0:
            raise ValueError(f"a variance scale must be >= 0, got {name}={getattr(scale, name)}")
    return replace(c, mig_local_a=c.mig_local_a * scale.local,
                   mig_local_b=c.mig_local_b * scale.local,
                   mig_nat_sigma=c.mig_nat_sigma * scale.national,
                   tfr_sigma=c.tfr_sigma * scale.fertility,
                   k_cov=np.asarray(c.k_cov) * scale.mortality ** 2,
                   mig_local_phi=(c.mig_local_phi if scale.local_phi is None
                                  else float(scale.local_phi)))


def components_for(src: dict, setup: ba.Setup) -> st.Components:
    """Every component from data before setup.base: national series before B, municipal
    counts of the window up to 1.1.B (split-history municipalities left out of the fit)."""
    history = setup.history
    exclude = setup.table["split_history"].to_numpy()
    # a 2008 base has three transitions of counts (they start in 2005): allow three years
    c = st.estimate_components(setup.base, src["national"], history, exclude=exclude,
                               min_years=min(4, history.shape[0] - 1))
    if history.shape[0] - 1 < 4:
        c.info["mig_note"] = "fewer than 4 transitions"
    return c


# --- inputs for simulate -------------------------------------------------------------------------

def base_inputs(setup: ba.Setup, params: rg.Params | None = None
                ) -> tuple[PopulationInputs, PopulationAssumptions]:
    """PopulationInputs and assumptions of every municipality for setup.base .. setup.to with
    the rates of backtest_all.model_projection (national paths as dated e0 and TFR)."""
    params = params or rg.Params()
    if params.old_age == "mortality":
        raise ValueError("old_age='mortality' needs regional survival, which simulate() does "
                         "not take")
    history = setup.history
    pool = rg.pool_index(params.pool, setup.table["county"], history[-1].sum(axis=(1, 2)))
    rates = rg.regional_rates(history, setup.mx, setup.asfr, pool, params)
    p = setup.paths
    years = [int(y) for y in p["years"]]
    e0 = tuple({y: float(p["e0"][t, s]) for t, y in enumerate(years)} for s in range(2))
    tfr = {y: float(p["tfr"][t]) for t, y in enumerate(years)}
    inputs = PopulationInputs(
        regions=tuple(setup.table[rg.REGION]), names=tuple(setup.table["name"]),
        base_pop=np.ascontiguousarray(history[-1]), mx=p["mx"][0].copy(),
        asfr=p["asfr"][0].copy(), fert_level=np.asarray(rates.fert_factor, dtype=float),
        sex_ratio=1.0 / setup.fem_share - 1.0, inmig=rates.inmig[None], outrate=rates.outrate[None])
    a = PopulationAssumptions(base_year=setup.base, end_year=setup.to, tfr=tfr, e0=e0)
    return inputs, a


# --- one base -------------------------------------------------------------------------------------

def actual_bands(setup: ba.Setup) -> np.ndarray:
    """(R, T+1, len(MEASURES)) actual persons from the base to setup.to."""
    by_age = setup.actual.sum(axis=2)
    parts = [by_age[..., BANDS[m][0]:BANDS[m][1] + 1].sum(axis=-1) if m != "Total"
             else by_age.sum(axis=-1) for m in MEASURES]
    return np.stack(parts, axis=-1)


def score_base(q: np.ndarray, actual: np.ndarray, base: int, quantiles=QUANTILES,
               keep=None) -> pd.DataFrame:
    """Rows (base, horizon, measure, n, cover50, cover80, ris80) from quantiles
    q (Q, R, T+1, M) and actual (R, T+1, M); keep (R,) bool: municipalities scored."""
    quantiles = list(np.round(quantiles, 6))
    idx = {p: quantiles.index(round(p, 6)) for pair in INTERVALS.values() for p in pair}
    keep = np.ones(actual.shape[0], bool) if keep is None else np.asarray(keep, bool)
    rows = []
    for h in range(1, actual.shape[1]):
        for m, measure in enumerate(MEASURES):
            y = actual[keep, h, m]
            row = {"base": base, "horizon": h, "measure": measure, "n": int(keep.sum())}
            for level, (lo, hi) in INTERVALS.items():
                row[f"cover{level}"] = coverage(q[idx[lo], keep, h, m], q[idx[hi], keep, h, m], y)
            lo, hi = INTERVALS[80]
            row["ris80"] = relative_interval_score(q[idx[lo], keep, h, m],
                                                   q[idx[hi], keep, h, m], y, alpha=0.2)
            rows.append(row)
    return pd.DataFrame(rows)


def run_base(src: dict, base: int, to: int = 2018, n_draws: int = 500, seed=1,
             scale: Scale = Scale(), regions=None, quantiles=QUANTILES,
             components: st.Components | None = None) -> tuple[pd.DataFrame, dict]:
    """Score one base: (rows of score_base, info). regions: municipality codes to project
    (default all; the components are always estimated from every municipality)."""
    t0 = time.perf_counter()
    first = int(src["counts"]["year"].min())
    setup = ba.prepare(src, base, to, max(1, min(rg.WINDOW, base - first)))
    comps = components if components is not None else components_for(src, setup)
    inputs, a = base_inputs(setup)
    keep = ~setup.table["split_history"].to_numpy()
    actual = actual_bands(setup)
    if regions is not None:
        sel = np.isin(np.asarray(inputs.regions), list(regions))
        inputs = _subset(inputs, sel)
        keep, actual = keep[sel], actual[sel]
    ds = st.simulate(inputs, a, scaled(comps, scale), n_draws, seed, quantiles=quantiles,
                     vary=st.COMPONENTS)
    q = ds["pop_band"].sel(band=list(MEASURES)).to_numpy()
    rows = score_base(q, actual, base, quantiles, keep)
    return rows, {"components": comps, "seconds": time.perf_counter() - t0, "setup": setup,
                  "quantiles": q, "actual": actual, "keep": keep}


def _subset(inputs: PopulationInputs, sel: np.ndarray) -> PopulationInputs:
    return replace(inputs, regions=tuple(np.asarray(inputs.regions)[sel]),
                   names=tuple(np.asarray(inputs.names)[sel]), base_pop=inputs.base_pop[sel],
                   fert_level=inputs.fert_level[sel], inmig=inputs.inmig[:, sel],
                   outrate=inputs.outrate[:, sel])


def centre_gap(src: dict, base: int, to: int = 2018) -> float:
    """Largest relative difference of the total between the draws = 0 run of base_inputs and
    backtest_all.model_projection, over municipalities and years."""
    first = int(src["counts"]["year"].min())
    setup = ba.prepare(src, base, to, max(1, min(rg.WINDOW, base - first)))
    inputs, a = base_inputs(setup)
    det = st.simulate(inputs, a, st.Components(base_year=base), 0, 0)
    ours = det["pop_band"].sel(band="Total", quantile=0.5).to_numpy()
    ref = ba.model_projection(setup)[0].sum(axis=(2, 3))
    return float(np.max(np.abs(ours / ref - 1.0)))


def run_bases(src: dict, bases=range(2008, 2014), to: int = 2018, n_draws: int = 500, seed=1,
              scale: Scale = Scale(), components: dict | None = None) -> pd.DataFrame:
    """score_base rows of every base; components {base: Components} reuses estimates."""
    frames = []
    for b in bases:
        rows, info = run_base(src, b, to, n_draws, seed, scale,
                              components=(components or {}).get(b))
        if components is not None:
            components[b] = info["components"]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)
