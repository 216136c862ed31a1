"""Default rates for a municipality, derived from the published source data in shared/data.

Every number in data/<municipality>/ comes from here, so it can be rebuilt and checked.
The functions are pure: they take the tidy source frames (forecast.inputs.sources.read_sources
reads and checks the files) and a base year and use only data known on 1 January of the base
year (stocks up to 1.1.base, calendar-year statistics up to base - 1), so a backtest can
rebuild the rates of an earlier base year. The window is the years base - window .. base - 1.
forecast.inputs.calibration.rebuild_data writes the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import quad
from scipy.optimize import minimize

from ..errors import DataError
from .kernel import N_AGE
from .migration_residual import net_migration_history, smooth_net, split_net
from .rates import SEXES, life_expectancy, survival_ratios

HMD_AGES = np.arange(100)            # single ages used from HMD (0..99)
FIT_AGES = np.arange(80, 100)        # Kannisto fitted to these ages ...
FITTED_FROM = 95                     # ... and used from this age on
LAST_AGE = 130                       # the fitted hazard is integrated to this age
FERT_AGES = np.arange(12, 56)        # HFD 12- .. 55+, open groups put at 12 and 55


# --- pure pieces --------------------------------------------------------------------------

def window_years(base_year: int, window: int) -> np.ndarray:
    """The calendar years base - window .. base - 1 whose rates are pooled."""
    return np.arange(base_year - window, base_year)


def counts_array(counts: pd.DataFrame, years) -> np.ndarray:
    """(len(years), 2, 106) persons on 1 January of each year, sex order female, male."""
    table = counts.pivot_table(index=["year", "sex"], columns="age", values="persons")
    try:
        return np.stack([table.loc[[(y, s) for s in SEXES], np.arange(N_AGE)].to_numpy(float)
                         for y in years])
    except KeyError:
        raise DataError(f"population counts are needed for 1 January {years[0]}..{years[-1]}",
                        key="year") from None


def hmd_array(df: pd.DataFrame, years) -> np.ndarray:
    """(len(years), 2, 100) values at ages 0..99 from a tidy HMD frame."""
    table = df[df["age"].isin(HMD_AGES)].pivot_table(index=["year", "sex"], columns="age",
                                                     values="value", dropna=False)
    try:
        return np.stack([table.loc[[(y, s) for s in SEXES], HMD_AGES].to_numpy(float)
                         for y in years])
    except KeyError:
        raise DataError(f"HMD data are needed for {years[0]}..{years[-1]}", key="year") from None


def hmd_exposure(deaths: np.ndarray, mx: np.ndarray, pop_start: np.ndarray,
                 pop_end: np.ndarray) -> np.ndarray:
    """Person-years: deaths / m(x); where m(x) is 0 or missing (no deaths), the mean of the
    1 January populations at the same age at the start and end of the year."""
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = deaths / mx
    fallback = 0.5 * (pop_start + pop_end)
    return np.where(np.isfinite(exposure) & (mx > 0), exposure, fallback)


def hmd_years(df: pd.DataFrame, years) -> np.ndarray:
    """The years of `years` that the HMD frame has (a backtest window may start earlier)."""
    present = np.intersect1d(np.asarray(years), df["year"].unique())
    if present.size == 0:
        raise DataError(f"no HMD data for the years {years[0]}..{years[-1]}", key="year")
    return present


def deaths_exposure(src: dict, years) -> tuple[np.ndarray, np.ndarray]:
    """HMD deaths and exposures (len(years), 2, 100) for calendar years `years`."""
    deaths = hmd_array(src["deaths"], years)
    mx = hmd_array(src["mx"], years)
    pop_start = hmd_array(src["pop"], years)
    pop_end = hmd_array(src["pop"], np.asarray(years) + 1)
    return deaths, hmd_exposure(deaths, mx, pop_start, pop_end)


def kannisto_hazard(x, a: float, b: float):
    """Logistic (Kannisto) force of mortality a e^{b(x-80)} / (1 + a e^{b(x-80)})."""
    z = a * np.exp(b * (np.asarray(x, dtype=float) - 80.0))
    return z / (1.0 + z)


def fit_kannisto(deaths: np.ndarray, exposure: np.ndarray, ages=FIT_AGES) -> tuple[float, float]:
    """Poisson maximum-likelihood Kannisto parameters (a, b), hazard at mid-age x + 0.5."""
    x = np.asarray(ages) + 0.5
    m = np.clip(deaths / exposure, 1e-6, 0.999)
    b0, log_a0 = np.polyfit(x - 80.0, np.log(m / (1.0 - m)), 1)

    def nll(theta):
        mu = kannisto_hazard(x, np.exp(theta[0]), np.exp(theta[1]))
        return float(np.sum(exposure * mu - deaths * np.log(mu)))

    res = minimize(nll, [log_a0, np.log(max(b0, 0.01))], method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    return float(np.exp(res.x[0])), float(np.exp(res.x[1]))


def open_interval_rate(a: float, b: float, start: int = N_AGE - 1,
                       stop: int = LAST_AGE) -> float:
    """m(start+) = l(start) / T(start) for the Kannisto hazard, integrated to `stop`."""
    def cum_hazard(x):
        return np.log1p(a * np.exp(b * (x - 80.0))) / b

    def survivors(x):
        return np.exp(cum_hazard(start) - cum_hazard(x))

    years_lived, _ = quad(survivors, start, stop, epsabs=1e-12, limit=200)
    return 1.0 / years_lived


def mortality_schedule(deaths: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """m(x) 0..104 and the open 105+ for one sex from deaths and exposures at ages 0..99:
    observed below FITTED_FROM, the Kannisto fit at FIT_AGES from FITTED_FROM on."""
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(exposure > 0, deaths / exposure, 0.0)
    a, b = fit_kannisto(deaths[FIT_AGES], exposure[FIT_AGES])
    mx = np.empty(N_AGE)
    mx[:FITTED_FROM] = observed[:FITTED_FROM]
    mx[FITTED_FROM:N_AGE - 1] = kannisto_hazard(np.arange(FITTED_FROM, N_AGE - 1) + 0.5, a, b)
    mx[-1] = open_interval_rate(a, b)
    return mx


def window_mortality(src: dict, base_year: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(2, 106) pooled m(x) = sum deaths / sum exposure over the window, and the years used."""
    years = hmd_years(src["deaths"], window_years(base_year, window))
    deaths, exposure = deaths_exposure(src, years)
    mx = np.stack([mortality_schedule(deaths[:, s].sum(0), exposure[:, s].sum(0))
                   for s in range(2)])
    return mx, years


def e0_history(src: dict, base_year: int) -> pd.DataFrame:
    """Life expectancy at birth per HMD year before the base year, schedules built as above."""
    years = np.sort(src["deaths"]["year"].unique())
    years = years[years < base_year]
    if years.size == 0:
        return pd.DataFrame({"year": pd.Series(dtype=int), "sex": pd.Series(dtype=str),
                             "e0": pd.Series(dtype=float)})
    deaths, exposure = deaths_exposure(src, years)
    rows = [(int(y), sex, life_expectancy(mortality_schedule(deaths[i, s], exposure[i, s]), sex))
            for i, y in enumerate(years) for s, sex in enumerate(SEXES)]
    return pd.DataFrame(rows, columns=["year", "sex", "e0"])


def national_asfr(asfr: pd.DataFrame, base_year: int, window: int) -> np.ndarray:
    """Mean HFD ASFR over the window, at ages 12..55."""
    years = window_years(base_year, window)
    table = asfr[asfr["year"].isin(years)].pivot_table(index="year", columns="age",
                                                       values="asfr")
    if len(table) != window or list(table.columns) != list(FERT_AGES):
        raise DataError(f"HFD ASFR is needed for ages 12..55 in {years[0]}..{years[-1]}",
                        key="asfr")
    return table.to_numpy().mean(axis=0)


def sex_ratio_at_birth(births: pd.DataFrame, base_year: int, window: int) -> tuple[int, int, float]:
    """(first year, last year, male births per female birth) over the window."""
    years = window_years(base_year, window)
    rows = births[births["year"].isin(years)]
    if len(rows) != window:
        raise DataError(f"HMD births are needed for {years[0]}..{years[-1]}", key="year")
    return int(years[0]), int(years[-1]), float(rows["male"].sum() / rows["female"].sum())


def predicted_births(asfr_ages: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Births per year from ASFR at FERT_AGES applied to women of the (n + 1, 2, 106) stocks:
    exposure = mean of women aged a on 1 January t and t + 1 (as in the kernel)."""
    women = counts[:, 0, FERT_AGES]
    return (asfr_ages * 0.5 * (women[:-1] + women[1:])).sum(axis=1)


# --- all together --------------------------------------------------------------------------

@dataclass
class Calibration:
    """Every derived table and the key numbers the README reports."""
    base_year: int
    population: pd.DataFrame
    mx: np.ndarray               # (2, 106)
    mortality_years: np.ndarray
    asfr: np.ndarray             # at FERT_AGES
    fertility_factor: float
    sex_ratio: tuple[int, int, float]
    migration: dict              # net/resident (n, 2, 106) unsmoothed, births, infant_rate
    net: np.ndarray              # (2, 106) window mean, smoothed
    inmig: np.ndarray
    outrate: np.ndarray
    e0: pd.DataFrame

    @property
    def tfr(self) -> float:
        return float(self.asfr.sum())


def calibrate(src: dict, base_year: int = 2018, window: int = 5, *,
              birth_migration_share: float = 0.5, smooth_sigma: float = 1.0,
              mortality_base: int | None = None) -> Calibration:
    """Derive all default rates for `base_year` from the tidy source frames.

    `mortality_base` (default: the base year) lets a backtest whose base precedes the first
    HMD year take the earliest mortality schedule instead; the caller must say so."""
    population = src["counts"][src["counts"]["year"] <= base_year]
    population = population[["year", "sex", "age", "persons"]].sort_values(
        ["year", "sex", "age"], ignore_index=True)
    counts = counts_array(population, np.arange(base_year - window, base_year + 1))
    mx, mort_years = window_mortality(src, mortality_base or base_year, window)
    surv = np.stack([survival_ratios(mx[s], sex) for s, sex in enumerate(SEXES)])
    mig = net_migration_history(counts, surv, birth_migration_share)
    national = national_asfr(src["asfr"], base_year, window)
    factor = float(mig["births"].sum() / predicted_births(national, counts).sum())
    resident = mig["resident"].mean(axis=0)
    net = smooth_net(mig["net"].mean(axis=0), resident, smooth_sigma)
    inmig, outrate = split_net(net, resident)
    if (outrate > 1 + 1e-9).any():
        s, k = np.argwhere(outrate > 1 + 1e-9)[0]
        raise DataError(f"smoothed net out-migration at age {k} ({SEXES[s]}) exceeds the "
                        f"residents (rate {outrate[s, k]:.3g}); use a smaller smoothing width",
                        key="smooth_sigma")
    outrate = np.minimum(outrate, 1.0)  # rounding only: a cohort that all left has rate 1
    return Calibration(base_year, population, mx, mort_years, factor * national, factor,
                       sex_ratio_at_birth(src["births"], base_year, window), mig, net,
                       inmig, outrate, e0_history(src, base_year))


def _sex_age_frame(**columns: np.ndarray) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([SEXES, range(N_AGE)], names=["sex", "age"])
    return pd.DataFrame({k: np.asarray(v).ravel() for k, v in columns.items()},
                        index=index).reset_index()


def calibration_tables(cal: Calibration) -> dict[str, pd.DataFrame]:
    """The data/ files as frames, by file name."""
    first, last, ratio = cal.sex_ratio
    return {
        "population.csv": cal.population,
        "mortality.csv": _sex_age_frame(mx=cal.mx),
        "fertility.csv": pd.DataFrame({"age": FERT_AGES, "asfr": cal.asfr}),
        "birth_sex_ratio.csv": pd.DataFrame({"first_year": [first], "last_year": [last],
                                             "male_per_female": [ratio]}),
        "migration.csv": _sex_age_frame(net=cal.net, inmig=cal.inmig, outrate=cal.outrate),
        "e0_history.csv": cal.e0,
    }
