"""Rates for every municipality: national schedules, each municipality's fertility level and
net migration from its own counts, shrunk towards a pool of similar ones (empirical Bayes).

A municipality of 200-2,000 people gives noisy single-age residuals, so each estimate is a
weighted mean of its own value and its pool's (county or size class), the weight growing with
the data behind it: migration rates by sex and age with PY / (PY + K); the overall level at
ages 1..66 restored with PYtot / (PYtot + K_LEVEL); fertility as a Poisson-gamma posterior
mean (births_obs + ALPHA f_pool) / (births_pred + ALPHA); optionally (OLD_AGE = "mortality")
the old-age residual beyond the pool's migration as a mortality level at ages >= OLD_FROM.
Functions are pure (arrays or frames in, rates out) and use only the counts passed in, so a
backtest passes counts up to 1 January of its base. forecast.inputs.sources reads the frames
(read_all_sources) and forecast.inputs.calibration writes the tables (rebuild_norway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from ..errors import DataError
from .calibrate import FERT_AGES
from .kernel import N_AGE
from .migration_residual import implied_births, residual_net_migration, smooth_net, split_net
from .rates import SEXES, life_expectancy, survival_ratios

REGION = "municipality"
# csdata gives these a fixed share of a merged municipality before a later split: their
# history is not counts (shared/data/README.md), so results flag them and scores leave them out
SPLIT_HISTORY = ("1508", "1580", "1806", "1875", "5055", "5056", "5059")
SIZE_EDGES = (2000, 5000, 20000)
SIZE_CLASSES = ("<2k", "2-5k", "5-20k", ">20k")
OLD_FROM = 67                  # "old ages": the mortality option acts from here
LEVEL_AGES = slice(1, OLD_FROM)  # ages whose total net migration is the municipality's level

# Chosen by the backtest grid (scripts/backtest_all_grid.py --search: bases 2008-2013 to
# 2018, each with the longest window up to WINDOW, 350 municipalities; means over the bases):
# - WINDOW: longer is better at every base (MAPE of the total in 2018 falls from window 3 to
#   the longest, e.g. base 2013: 2.83 % (3), 2.59 (5), 2.28 (8)): short windows carry the
#   migration peak of their years forward.
# - POOL, K, K_LEVEL: the level matters most: K_LEVEL 0 / 5,000 / 20,000 / 80,000 gives MAPE
#   4.14 / 3.38 / 3.14 / 3.21 % (county, K 100). Pools: county 3.14, size class 3.38, nation
#   3.20 %. K (shape) hardly moves the total; the mean band error is lowest at K 100-250
#   (4.71 % against 5.00 with K 0 and 4.84 with K 1,000).
# - ALPHA: the 0-5 band error 10.53 / 10.36 / 10.26 / 10.27 / 11.22 % for alpha 0 / 100 /
#   400 / 1,600 / pool only.
# - OLD_AGE: a mortality level at 67+ is no better: bands 67-79 / 80-89 / 90+ 1.64 / 2.86 /
#   7.86 % kept as migration, 1.63 / 2.77 / 8.09 (beta 200), 1.66 / 2.87 / 7.79 (beta 1,000).
POOL = "county"
K_MIGRATION = 100.0            # person-years of one sex and age
K_LEVEL = 20000.0              # person-years at ages 1..66
ALPHA_FERTILITY = 400.0        # expected births
OLD_AGE = "migration"          # old-age residuals kept as migration (status quo)
BETA_MORTALITY = 200.0         # expected deaths (only with OLD_AGE = "mortality")
WINDOW = 8                     # years of municipal counts (transitions) pooled
NATIONAL_WINDOW = 5            # years pooled in the national schedules (as for Bærum)
E0_YEARS = 20                  # e0_history.csv: years before the base (national.py's e0 fit)


@dataclass
class Params:
    pool: str = POOL
    k_migration: float = K_MIGRATION
    k_level: float = K_LEVEL
    alpha: float = ALPHA_FERTILITY
    old_age: str = OLD_AGE
    beta: float = BETA_MORTALITY
    smooth_sigma: float = 1.0
    birth_migration_share: float = 0.5


@dataclass
class RegionalRates:
    net: np.ndarray             # (R, 2, 106) net migrants a year, smoothed
    resident: np.ndarray        # (R, 2, 106) mean mid-year residents of the window
    inmig: np.ndarray           # (R, 2, 106) the kernel's in-migrant counts ...
    outrate: np.ndarray         # (R, 2, 106) ... and out-migration rates
    fert_factor: np.ndarray     # (R,) level relative to the national ASFR
    fert_own: np.ndarray        # (R,) unshrunk level
    births: np.ndarray          # (R,) implied births a year (window mean) ...
    births_national: np.ndarray  # (R,) ... and the births the national ASFR gives
    mort_factor: np.ndarray     # (R, 2) multiplier of m(x) at ages >= OLD_FROM (1 = national)
    info: dict = field(default_factory=dict)


# --- checking ------------------------------------------------------------------------------

def check_counts(counts: pd.DataFrame, known, path, table: str) -> None:
    """Known codes, sexes and ages; every sex and age once a year; each municipality's years
    consecutive up to the last year of the file (a late start is allowed: a merger).
    `path` (the counts) and `table` (the table of the `known` codes) name the files in
    the messages."""
    def fail(message, column):
        raise DataError(message, file=str(path), key=column)
    unknown = ~counts[REGION].isin(set(known))
    if unknown.any():
        fail(f"unknown municipality {counts[REGION][unknown].iloc[0]!r}; expected a code of "
             f"{table}", REGION)
    if not counts["sex"].isin(SEXES).all():
        fail(f"expected female or male, got {counts['sex'][~counts['sex'].isin(SEXES)].iloc[0]!r}",
             "sex")
    bad = (counts["age"] < 0) | (counts["age"] >= N_AGE)
    if bad.any():
        fail(f"expected ages 0..{N_AGE - 1}, got {counts['age'][bad].iloc[0]}", "age")
    if (counts["persons"] < 0).any():
        fail("expected persons >= 0", "persons")
    dup = counts.duplicated([REGION, "year", "sex", "age"])
    if dup.any():
        r = counts[dup].iloc[0]
        fail(f"duplicate row for {r[REGION]}, {r['year']}, {r['sex']}, age {r['age']}", "age")
    cells = counts.groupby([REGION, "year"]).size()
    if (cells != 2 * N_AGE).any():
        code, year = cells.index[np.flatnonzero(cells.to_numpy() != 2 * N_AGE)[0]]
        fail(f"municipality {code} lacks ages in {year}; expected every sex and age "
             f"0..{N_AGE - 1}", "age")
    last = counts["year"].max()
    span = counts.groupby(REGION)["year"].agg(["min", "max", "nunique"])
    gap = (span["max"] != last) | (span["max"] - span["min"] + 1 != span["nunique"])
    if gap.any():
        code = span.index[gap][0]
        fail(f"municipality {code} lacks years; expected every year from its first to {last}",
             "year")
    missing = sorted(set(known) - set(counts[REGION]))
    if missing:
        fail(f"no counts for municipality {missing[0]!r} of {table}", REGION)


def counts_array(counts: pd.DataFrame, codes, years) -> np.ndarray:
    """(len(years), R, 2, 106) persons on 1 January; NaN where a municipality has no count."""
    years = np.asarray(years)
    out = np.full((len(years), len(codes), 2, N_AGE), np.nan)
    rows = counts[counts["year"].isin(years) & counts[REGION].isin(set(codes))]
    r = rows[REGION].map({c: i for i, c in enumerate(codes)}).to_numpy()
    y = np.searchsorted(years, rows["year"].to_numpy())
    out[y, r, (rows["sex"] == SEXES[1]).to_numpy().astype(int),
        rows["age"].to_numpy()] = rows["persons"].to_numpy(float)
    return out


def size_class(totals: np.ndarray) -> np.ndarray:
    """Labels <2k, 2-5k, 5-20k, >20k of population totals."""
    return np.asarray(SIZE_CLASSES)[np.searchsorted(SIZE_EDGES, totals, side="right")]


def pool_index(kind: str, county, totals) -> np.ndarray:
    """(R,) pool number of each municipality: its county, size class at the base, or one."""
    if kind == "county":
        keys = np.asarray(county)
    elif kind == "size":
        keys = size_class(np.asarray(totals))
    elif kind == "national":
        keys = np.zeros(len(totals), dtype=int)
    else:
        raise ValueError(f"unknown pool {kind!r}; expected county, size or national")
    return np.unique(keys, return_inverse=True)[1]


# --- shrinkage -----------------------------------------------------------------------------

def pool_sums(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Sums over the municipalities of each pool, returned per municipality (same shape)."""
    sums = np.zeros((pool.max() + 1,) + values.shape[1:])
    np.add.at(sums, pool, values)
    return sums[pool]


def _ratio(num, den):
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def shrink_rates(net: np.ndarray, py: np.ndarray, pool: np.ndarray, k: float):
    """Own rates net / py shrunk towards the pool's rate by w = py / (py + k), elementwise.

    net, py: (R, ...) net migrants and person-years. Returns (shrunk, pool_rate)."""
    pool_rate = _ratio(pool_sums(net, pool), pool_sums(py, pool))
    w = py / (py + k) if k > 0 else (py > 0).astype(float)
    return w * _ratio(net, py) + (1.0 - w) * pool_rate, pool_rate


def shrink_level(obs: np.ndarray, expected: np.ndarray, pool: np.ndarray, prior: float):
    """Poisson-gamma posterior mean of a level obs / expected: (obs + prior f_pool) /
    (expected + prior), f_pool = the pool's sum obs / sum expected. Returns (level, f_pool)."""
    f_pool = _ratio(pool_sums(obs, pool), pool_sums(expected, pool))
    return (obs + prior * f_pool) / (expected + prior), f_pool


def level_profile(rates: np.ndarray, pool_rate: np.ndarray, py: np.ndarray,
                  sigma: float = 2.0) -> np.ndarray:
    """(2, 106) where municipalities' rates differ: the person-year-weighted mean |own - pool|
    over municipalities, smoothed over age, at LEVEL_AGES only (zero elsewhere)."""
    dev = (py * np.abs(rates - pool_rate)).sum(axis=0) / np.maximum(py.sum(axis=0), 1e-9)
    out = np.zeros_like(dev)
    out[:, LEVEL_AGES] = gaussian_filter1d(dev[:, LEVEL_AGES], sigma, axis=-1, mode="nearest")
    return out


def restore_level(rates, own_net, py, pool_rate, profile, pool, k_level) -> np.ndarray:
    """Shift each municipality's rates along `profile` so that its net at LEVEL_AGES equals
    its own total shrunk towards the pool's by PYtot / (PYtot + k_level)."""
    ages = LEVEL_AGES
    py_tot = py[..., ages].sum(axis=(1, 2))
    own = own_net[..., ages].sum(axis=(1, 2))
    pooled = (pool_rate * py)[..., ages].sum(axis=(1, 2))
    w = py_tot / (py_tot + k_level) if k_level > 0 else np.ones_like(py_tot)
    target = w * own + (1.0 - w) * pooled
    current = (rates * py)[..., ages].sum(axis=(1, 2))
    scale = (profile[None] * py)[..., ages].sum(axis=(1, 2))
    return rates + _ratio(target - current, scale)[:, None, None] * profile[None]


def mortality_levels(net, py, pool_rate, start, surv, pool, beta) -> tuple[np.ndarray, ...]:
    """(R, 2) multipliers of m(x) at ages >= OLD_FROM that explain the old-age residual beyond
    the pool's net migration, shrunk by `beta` expected deaths; and the raw ones.

    start (n, R, 2, 106) stocks, surv (2, 107): expected deaths under national mortality
    D = sum P (1 - S); with m scaled by f a survival ratio is about S^f, and f solves
    sum P (1 - S^f) = D - (own net - pool net) by Newton's method."""
    ks = np.arange(OLD_FROM, N_AGE)
    p = start[..., ks - 1]                          # (n, R, 2, K) cohorts reaching k
    p[..., -1] += start[..., -1]                    # and the open group staying 105+
    s = np.broadcast_to(surv[:, ks], p.shape)
    p, s = p.sum(axis=0), s[0]
    expected = (p * (1.0 - s)).sum(axis=-1)
    excess = (net[..., ks] - pool_rate[..., ks] * py[..., ks]).sum(axis=-1)
    target = np.maximum(expected - excess, 0.05 * expected)
    f = _ratio(target, expected) + (expected <= 0)
    log_s = np.log(s)
    for _ in range(30):
        sf = s ** f[..., None]
        g = (p * (1.0 - sf)).sum(axis=-1) - target
        dg = -(p * sf * log_s).sum(axis=-1)
        f = np.clip(f - _ratio(g, dg), 0.05, 20.0)
    implied = f * expected
    level, _ = shrink_level(implied, expected, pool, beta)
    return level, f


# --- all together ------------------------------------------------------------------------------

def regional_rates(counts: np.ndarray, mx: np.ndarray, asfr: np.ndarray, pool: np.ndarray,
                   p: Params | None = None) -> RegionalRates:
    """Rates of R municipalities from their stocks on 1 January of n + 1 consecutive years.

    counts (n + 1, R, 2, 106), NaN where a municipality has no count (a transition counts only
    when both ends exist); mx (2, 106) the national schedule pooled over the window; asfr the
    national ASFR at FERT_AGES of each transition's calendar year (n, 44), or one (44,) for
    all, so the fertility level is relative to the nation in the same years; pool (R,) pool
    numbers."""
    p = p or Params()
    surv = np.stack([survival_ratios(mx[s], sex) for s, sex in enumerate(SEXES)])
    valid = np.isfinite(counts[:-1]).all(axis=(2, 3)) & np.isfinite(counts[1:]).all(axis=(2, 3))
    if not valid.any(axis=0).all():
        raise DataError("a municipality has no two consecutive years of counts in the window",
                        key="year")
    c = np.where(np.isfinite(counts), counts, 0.0)
    net, resident = residual_net_migration(c[:-1], c[1:], surv)
    net, resident = net * valid[..., None, None], resident * valid[..., None, None]
    years = valid.sum(axis=0)[:, None, None]
    own_net, py = net.sum(axis=0), resident.sum(axis=0)
    rates, pool_rate = shrink_rates(own_net, py, pool, p.k_migration)
    profile = level_profile(_ratio(own_net, py), pool_rate, py)
    rates = restore_level(rates, own_net, py, pool_rate, profile, pool, p.k_level)
    mort = np.ones((counts.shape[1], 2))
    mort_raw = mort
    if p.old_age == "mortality":
        mort, mort_raw = mortality_levels(own_net, py, pool_rate, c[:-1] * valid[..., None, None],
                                          surv, pool, p.beta)
        rates[..., OLD_FROM:] = pool_rate[..., OLD_FROM:]
    elif p.old_age != "migration":
        raise ValueError(f"unknown old-age treatment {p.old_age!r}")
    # births implied by the age-0 stocks, with the infant migration rate of this schedule
    s0, share = surv[:, 0], p.birth_migration_share
    infant = rates[..., 1]
    births = implied_births(c[1:, :, :, 0], s0, infant, share) * valid[..., None]
    # births the national ASFR predicts (exposure: mean of women at both ends, as the kernel)
    women = c[:, :, 0][..., FERT_AGES]
    asfr = np.asarray(asfr, dtype=float).reshape(-1, 1, len(FERT_AGES))
    predicted = (asfr * 0.5 * (women[:-1] + women[1:])).sum(axis=-1) * valid
    obs, exp_births = births.sum(axis=(0, 2)), predicted.sum(axis=0)
    fert, _ = shrink_level(obs, exp_births, pool, p.alpha)
    # the birth cohort: net = share x infant rate x births, residents = births x sqrt(S0)
    mean_births = births.sum(axis=0) / years[..., 0]
    resident_mean = py / years
    rates_net = rates * resident_mean
    rates_net[..., 0] = share * infant * mean_births
    resident_mean[..., 0] = mean_births * np.sqrt(s0)
    net_smooth = smooth_net(rates_net, resident_mean, p.smooth_sigma)
    inmig, outrate = split_net(net_smooth, resident_mean)
    clipped = int((outrate > 1).sum())
    n_years = years[:, 0, 0]
    return RegionalRates(net_smooth, resident_mean, inmig, np.minimum(outrate, 1.0), fert,
                         _ratio(obs, exp_births), obs / n_years, exp_births / n_years, mort,
                         {"mort_raw": mort_raw, "outrate_clipped": clipped,
                          "profile": profile, "pool_rate": pool_rate})


# --- national schedules and the data/norway tables --------------------------------------------

def national_window(nat: dict, base: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(mx (2, 106), asfr (window, 44)) of the `window` years before the base: m(x) pooled over
    them from the HMD series (pseudo-counts, as national.py: one method whether or not the HMD
    has deaths for those years) and each year's HFD ASFR at FERT_AGES. Only years before the
    base are read."""
    from . import national
    try:
        mx, _ = national.mortality_path(nat["mx"], None, base, 1, "constant", window)
        years, asfr = national.asfr_array(nat["asfr"])
    except ValueError as exc:
        raise DataError(str(exc), key="base_year") from None
    keep = (years >= base - window) & (years < base)
    if keep.sum() != window:
        raise DataError(f"HFD ASFR is needed for {base - window}..{base - 1}", key="base_year")
    return mx[0], asfr[keep]


def national_tables(src: dict, base: int, window: int = NATIONAL_WINDOW) -> dict:
    """mortality.csv, fertility.csv, birth_sex_ratio.csv, e0_history.csv (national)."""
    from . import national
    from .calibrate import sex_ratio_at_birth
    mx, asfr = national_window(src["national"], base, window)
    first, last, ratio = sex_ratio_at_birth(src["births"], base, window)
    years, hist = national.mx_array(src["national"]["mx"])
    keep = (years < base) & (years >= base - E0_YEARS)
    e0 = [(int(y), sex, life_expectancy(national.close_schedule(m[s]), sex))
          for y, m in zip(years[keep], hist[keep]) for s, sex in enumerate(SEXES)]
    return {"mortality.csv": _sex_age(mx=mx),
            "fertility.csv": pd.DataFrame({"age": FERT_AGES, "asfr": asfr.mean(axis=0)}),
            "birth_sex_ratio.csv": pd.DataFrame({"first_year": [first], "last_year": [last],
                                                 "male_per_female": [ratio]}),
            "e0_history.csv": pd.DataFrame(e0, columns=["year", "sex", "e0"])}


def _sex_age(**columns) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([SEXES, range(N_AGE)], names=["sex", "age"])
    return pd.DataFrame({k: np.asarray(v).ravel() for k, v in columns.items()},
                        index=index).reset_index()


def norway_tables(src: dict, base: int = 2018, window: int = WINDOW,
                  params: Params | None = None) -> dict[str, pd.DataFrame]:
    """Every file of data/norway/ as a frame, by file name, from data known on 1.1.base.
    The window is shortened to the years the counts have before the base."""
    params = params or Params()
    table, counts = src["table"], src["counts"]
    window = max(1, min(window, base - int(counts["year"].min())))
    codes = table[REGION].tolist()
    hist = counts_array(counts, codes, np.arange(base - window, base + 1))
    if np.isnan(hist[-1]).any():
        code = codes[int(np.isnan(hist[-1]).any(axis=(1, 2)).argmax())]
        raise DataError(f"no counts for municipality {code} on 1 January {base}", key="year")
    totals = hist[-1].sum(axis=(1, 2))
    pool = pool_index(params.pool, table["county"], totals)
    mx, asfr = national_window(src["national"], base, window)
    rates = regional_rates(hist, mx, asfr, pool, params)
    out = national_tables(src, base)
    tfr = out["fertility.csv"]["asfr"].sum()
    pop = counts[counts["year"] <= base].sort_values([REGION, "year", "sex", "age"])
    out["population.csv.gz"] = pop[[REGION, "year", "sex", "age", "persons"]]
    out["municipalities.csv"] = table[[REGION, "name", "county", "county_name"]].assign(
        **{f"persons_{base}": totals.astype(np.int64),
           "split_history": np.where(table[REGION].isin(SPLIT_HISTORY), "true", "false")})
    out["fertility_level.csv"] = pd.DataFrame({
        REGION: codes, "factor": rates.fert_factor, "tfr": rates.fert_factor * tfr,
        "factor_own": rates.fert_own, "births_implied": rates.births,
        "births_national": rates.births_national})
    frames = [_sex_age(net=rates.net[r], inmig=rates.inmig[r], outrate=rates.outrate[r])
              for r in range(len(codes))]
    out["migration.csv.gz"] = pd.concat(frames, keys=codes, names=[REGION, None]).reset_index(
        level=0)
    from .stochastic import components_table, estimate_components
    comps = estimate_components(base, src["national"], hist,
                                exclude=table[REGION].isin(SPLIT_HISTORY).to_numpy(),
                                min_years=min(4, hist.shape[0] - 1))
    out["stochastic.csv"] = components_table(comps)
    if params.old_age == "mortality":
        out["mortality_level.csv"] = pd.DataFrame({
            REGION: np.repeat(codes, 2), "sex": np.tile(SEXES, len(codes)),
            "factor": rates.mort_factor.ravel(), "from_age": OLD_FROM})
    return out
