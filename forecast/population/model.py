"""Population stage: assumptions -> per-year arrays -> kernel -> labelled Dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ScenarioError
from ..paths import evaluate
from .kernel import N_AGE, N_SURV, allocate, project_kernel
from .rates import SEXES, life_expectancy, scale_to_e0, scale_to_tfr, survival_ratios


@dataclass
class PopulationAssumptions:
    """The dated assumptions of a scenario (values as in the scenario file)."""
    base_year: int
    end_year: int
    tfr: object = None          # None: the schedule's own level
    tfr_shift: object = 0.0
    e0: tuple = (None, None)    # per sex: None (schedule), "trend", or a dated value
    e0_shift: object = 0.0
    trend_years: tuple | None = None
    in_level: object = 1.0
    out_level: object = 1.0
    housing: object = None      # housing.HousingSpec: in-migration led by a housing programme

    @classmethod
    def from_scenario(cls, scenario) -> "PopulationAssumptions":
        f, m, g = (scenario.section(k) for k in ("fertility", "mortality", "migration"))
        housing = None
        if "housing" in scenario.raw:  # reads the programme and profile files (housing.py)
            from .housing import read_housing
            housing = read_housing(scenario, need_programme="areas" not in scenario.raw)
        return cls(housing=housing, base_year=scenario.base_year, end_year=scenario.end_year,
                   tfr=f.get("tfr"), tfr_shift=f.get("tfr_shift", 0.0),
                   e0=(m.get("e0_female"), m.get("e0_male")), e0_shift=m.get("e0_shift", 0.0),
                   trend_years=tuple(m["trend_years"]) if "trend_years" in m else None,
                   in_level=g.get("in_level", 1.0), out_level=g.get("out_level", 1.0))

    @property
    def flow_years(self) -> np.ndarray:
        return np.arange(self.base_year, self.end_year)


def e0_trend(history, sex: str, years, fit_years=None) -> np.ndarray:
    """Least-squares linear trend of life expectancy at birth, evaluated at `years`."""
    rows = history[history["sex"] == sex]
    if fit_years is not None:
        rows = rows[(rows["year"] >= fit_years[0]) & (rows["year"] <= fit_years[1])]
    if len(rows) < 2:
        raise ScenarioError(f"the e0 trend needs at least two years of history for {sex}",
                            key="mortality.trend_years")
    slope, intercept = np.polyfit(rows["year"].to_numpy(float), rows["e0"].to_numpy(float), 1)
    return intercept + slope * np.asarray(years, dtype=float)


def e0_targets(inputs, a: PopulationAssumptions) -> np.ndarray:
    """(years, 2) life expectancy at birth per flow year and sex, or NaN = keep the schedule."""
    years = a.flow_years
    out = np.full((len(years), 2), np.nan)
    shift = evaluate(a.e0_shift, years)
    for s, sex in enumerate(SEXES):
        spec = a.e0[s]
        if spec is None:
            if np.any(shift != 0):
                out[:, s] = life_expectancy(inputs.mx[s], sex) + shift
        elif spec == "trend":
            out[:, s] = e0_trend(inputs.e0_history, sex, years, a.trend_years) + shift
        else:
            out[:, s] = evaluate(spec, years) + shift
    return out


def rate_arrays(inputs, a: PopulationAssumptions) -> dict[str, np.ndarray]:
    """Per-year kernel inputs with a batch axis of 1, plus the assumed TFR and e0 per year."""
    years = a.flow_years
    n = len(years)
    e0 = e0_targets(inputs, a)
    surv = np.empty((1, n, 2, N_SURV))
    e0_used = np.empty((n, 2))
    for s, sex in enumerate(SEXES):
        cache = {}
        for t in range(n):
            key = None if np.isnan(e0[t, s]) else round(float(e0[t, s]), 12)
            if key not in cache:
                mx = inputs.mx[s] if key is None else scale_to_e0(inputs.mx[s], sex, key)
                cache[key] = (survival_ratios(mx, sex), life_expectancy(mx, sex))
            surv[0, t, s], e0_used[t, s] = cache[key]
    base_tfr = inputs.asfr.sum()
    tfr = (np.full(n, base_tfr) if a.tfr is None else evaluate(a.tfr, years))
    tfr = tfr + evaluate(a.tfr_shift, years)
    if (tfr < 0).any():
        raise ScenarioError(f"the TFR falls below zero ({tfr.min():.3f})", key="fertility.tfr_shift")
    asfr = np.stack([scale_to_tfr(inputs.asfr, v) for v in tfr])[None]
    fem_share = np.full((1, n), 1.0 / (1.0 + inputs.sex_ratio))
    inmig = inputs.inmig[None, None] * evaluate(a.in_level, years)[None, :, None, None]
    outrate = inputs.outrate[None, None] * evaluate(a.out_level, years)[None, :, None, None]
    if (outrate > 1).any():
        raise ScenarioError("out_level makes an out-migration rate exceed 1",
                            key="migration.out_level")
    return {"surv": surv, "asfr": asfr, "fem_share": fem_share, "inmig": inmig,
            "outrate": outrate, "tfr": tfr, "e0": e0_used, **_housing(a, inmig)}


def _housing(a: PopulationAssumptions, trend: np.ndarray) -> dict[str, np.ndarray]:
    """In-migration led by the housing programme, if any: {"inmig", "inmig_housing"}."""
    if a.housing is None:
        return {}
    from .housing import apply_housing
    inmig, housing = apply_housing(a.housing, trend)
    return {"inmig": inmig, "inmig_housing": housing}


def project_population(inputs, a: PopulationAssumptions, attrs: dict | None = None) -> xr.Dataset:
    """Run the cohort-component projection; stocks at 1 January, flows during each year."""
    r = rate_arrays(inputs, a)
    n = len(a.flow_years)
    pop, births, deaths, inflow, outflow = allocate(1, n)
    project_kernel(inputs.base_pop[None].astype(float), r["surv"], r["asfr"], r["fem_share"],
                   r["inmig"], r["outrate"], pop, births, deaths, inflow, outflow)
    years = np.arange(a.base_year, a.end_year + 1)

    def flows(x):  # flows of the end year are not projected
        return np.concatenate([x[0], np.full((1,) + x.shape[2:], np.nan)])

    ds = xr.Dataset(
        {
            "pop": (("year", "sex", "age"), pop[0]),
            "births": (("year", "sex"), flows(births)),
            "deaths": (("year", "sex", "age"), flows(deaths)),
            "inmig": (("year", "sex", "age"), flows(inflow)),
            "outmig": (("year", "sex", "age"), flows(outflow)),
            "tfr": (("year",), np.append(r["tfr"], np.nan)),
            "e0": (("year", "sex"), np.concatenate([r["e0"], np.full((1, 2), np.nan)])),
        },
        coords={"year": years, "sex": list(SEXES), "age": np.arange(N_AGE)},
        attrs=dict(attrs or {}),
    )
    if "inmig_housing" in r:
        ds["inmig_housing"] = (("year", "sex", "age"), flows(r["inmig_housing"]))
        ds["inmig_housing"].attrs = {"units": "persons per year", "long_name": (
            "in-migrants moving into new dwellings (part of inmig); age = age reached on "
            "1 January of the next year"), "housing_mode": a.housing.mode}
    ds["pop"].attrs = {"units": "persons", "long_name": "population at 1 January"}
    for name in ("births", "deaths", "inmig", "outmig"):
        ds[name].attrs = {"units": "persons per year",
                          "long_name": f"{name} during the year; age = age reached on "
                                       "1 January of the next year"}
    ds["tfr"].attrs = {"units": "children per woman"}
    ds["e0"].attrs = {"units": "years", "long_name": "life expectancy at birth"}
    return ds
