"""Population stage: typed inputs and assumptions -> compact rate arrays -> kernel -> Dataset.

One function, `project_population`, serves one municipality, many municipalities and
sub-areas (regions that exchange movers). It reads no file and never sees the scenario: the
loader (forecast.inputs) builds `PopulationInputs` and `PopulationAssumptions`.

Rates are shared schedules plus per-region level factors where that is what they are:
mortality and the age schedule of fertility are national (one array for every region),
each region has a fertility level factor; migration schedules are per region (they differ in
shape), scaled by dated levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..bounds import MAX_TFR
from ..errors import DataError, ScenarioError
from ..paths import evaluate
from .kernel import N_AGE, N_SURV, empty, project_kernel
from .rates import SEXES, life_expectancy, scale_to_e0, scale_to_tfr, survival_ratios

BANDS = {"0-5": (0, 5), "6-15": (6, 15), "16-66": (16, 66), "67-79": (67, 79),
         "80-89": (80, 89), "90+": (90, 105)}


@dataclass
class Exchange:
    """Movers between regions (sub-areas) through one pool."""
    rate: np.ndarray            # (R, 2, 106) movers to other regions per mid-year resident
    share: np.ndarray           # (R, 2, 106) share of the pool going to each region (sum 1)
    source: str | None = None   # the file the rates come from, for error messages


@dataclass
class PopulationInputs:
    """Everything the population stage needs from data files, as arrays (sex order female,
    male; age index as in kernel.py). R regions, C migration components."""
    regions: tuple[str, ...]
    base_pop: np.ndarray        # (R, 2, 106) persons at 1 January of the base year
    mx: np.ndarray              # (2, 106) central death rates, 105 = open group (shared)
    asfr: np.ndarray            # (106,) fertility schedule by age of mother (shared) ...
    fert_level: np.ndarray      # (R,) ... times each region's level
    sex_ratio: float            # male births per female birth
    inmig: np.ndarray           # (C, R, 2, 106) in-migrants a year by age reached
    outrate: np.ndarray         # (C, R, 2, 106) out-migrants per mid-year resident
    components: tuple[str, ...] = ("net",)
    names: tuple[str, ...] | None = None
    e0_history: pd.DataFrame | None = None
    housing_inmig: np.ndarray | None = None   # (R, T, 2, 106) movers into new dwellings
    housing_mode: str = "replace"
    existing_level: np.ndarray | None = None  # (T,) trend share kept in "replace" mode
    exchange: Exchange | None = None
    flagged: tuple[str, ...] = ()             # regions whose history is not real counts
    layout: str = "regions"                   # "single" municipality, "areas" or "regions"


@dataclass
class PopulationAssumptions:
    """The dated assumptions of a scenario (values as in the scenario file, checked)."""
    base_year: int
    end_year: int
    tfr: object = None          # None: the schedule's own level
    tfr_shift: object = 0.0
    e0: tuple = (None, None)    # per sex: None (schedule), "trend", or a dated value
    e0_shift: object = 0.0
    trend_years: tuple | None = None
    in_level: object = 1.0
    out_level: object = 1.0
    components: dict = field(default_factory=dict)  # name -> {"in_level": .., "out_level": ..}

    @property
    def flow_years(self) -> np.ndarray:
        return np.arange(self.base_year, self.end_year)


def e0_trend(history, sex: str, years, fit_years=None) -> np.ndarray:
    """Least-squares linear trend of life expectancy at birth, evaluated at `years`."""
    rows = history[history["sex"] == sex] if history is not None else pd.DataFrame()
    if fit_years is not None and len(rows):
        rows = rows[(rows["year"] >= fit_years[0]) & (rows["year"] <= fit_years[1])]
    if len(rows) < 2:
        raise ScenarioError(f"the e0 trend needs at least two years of history for {sex}",
                            key="mortality.trend_years")
    slope, intercept = np.polyfit(rows["year"].to_numpy(float), rows["e0"].to_numpy(float), 1)
    return intercept + slope * np.asarray(years, dtype=float)


def e0_targets(inputs: PopulationInputs, a: PopulationAssumptions) -> np.ndarray:
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
    bad = (out < 15) | (out > 110)
    if bad.any():
        t, s = np.argwhere(bad)[0]
        raise ScenarioError(f"life expectancy of {SEXES[s]}s in {years[t]} comes to "
                            f"{out[t, s]:.1f} years; expected 15..110", key="mortality.e0_shift")
    return out


def mortality_arrays(inputs: PopulationInputs, a: PopulationAssumptions):
    """(T, 2, 107) survival ratios and (T, 2) life expectancy per flow year."""
    years = a.flow_years
    e0 = e0_targets(inputs, a)
    surv = np.empty((len(years), 2, N_SURV))
    e0_used = np.empty((len(years), 2))
    for s, sex in enumerate(SEXES):
        cache = {}
        for t in range(len(years)):
            key = None if np.isnan(e0[t, s]) else round(float(e0[t, s]), 12)
            if key not in cache:
                try:
                    mx = inputs.mx[s] if key is None else scale_to_e0(inputs.mx[s], sex, key)
                except ValueError as exc:  # the schedule cannot be scaled to that level
                    raise ScenarioError(f"{exc} ({sex}s, {years[t]})",
                                        key=f"mortality.e0_{sex}") from None
                cache[key] = (survival_ratios(mx, sex), life_expectancy(mx, sex))
            surv[t, s], e0_used[t, s] = cache[key]
    return surv, e0_used


def fertility_arrays(inputs: PopulationInputs, a: PopulationAssumptions):
    """(T, 106) fertility schedule and (T,) its TFR; a region's TFR is this × its level."""
    years = a.flow_years
    tfr = (np.full(len(years), inputs.asfr.sum()) if a.tfr is None else evaluate(a.tfr, years))
    tfr = tfr + evaluate(a.tfr_shift, years)
    if (tfr < 0).any():
        raise ScenarioError(f"the TFR falls below zero ({tfr.min():.3f})", key="fertility.tfr_shift")
    if (tfr > MAX_TFR).any():
        raise ScenarioError(f"the TFR rises above {MAX_TFR:g} ({tfr.max():.3f}); expected "
                            "children per woman", key="fertility.tfr_shift")
    return np.stack([scale_to_tfr(inputs.asfr, v) for v in tfr]), tfr


def component_levels(inputs: PopulationInputs, a: PopulationAssumptions):
    """(C, T) in- and out-migration levels of each component, every level applied."""
    years = a.flow_years
    unknown = sorted(set(a.components) - set(inputs.components))
    if unknown:
        raise ScenarioError(f"the migration file has no component {unknown[0]!r}; it has "
                            f"{', '.join(inputs.components)}", key=f"migration.components.{unknown[0]}")

    def level(key):
        return np.stack([evaluate(getattr(a, key), years) * evaluate(
            a.components.get(c, {}).get(key, 1.0), years) for c in inputs.components])
    return level("in_level"), level("out_level")


def migration_arrays(inputs: PopulationInputs, a: PopulationAssumptions) -> dict:
    """Compact kernel arrays of migration: inmig (1, R, T|1, 2, 106) with in_level
    (1, 1|R, T), outrate likewise; plus the trend and housing parts for the result."""
    in_lv, out_lv = component_levels(inputs, a)
    n_year = len(a.flow_years)
    if len(inputs.components) == 1:  # the common case: one schedule times a dated level
        outrate = inputs.outrate[0][None, :, None]
        out_level = out_lv[0][None, None]
        worst = (inputs.outrate[0].max() * out_lv[0]).max()
        trend = inputs.inmig[0][:, None] * in_lv[0][None, :, None, None]
    else:
        outrate = np.einsum("crsa,ct->rtsa", inputs.outrate, out_lv)[None]
        out_level = np.ones((1, 1, n_year))
        worst = outrate.max()
        trend = np.einsum("crsa,ct->rtsa", inputs.inmig, in_lv)
    if worst > 1:
        raise ScenarioError("the migration levels make an out-migration rate exceed 1",
                            key="migration.out_level")
    out = {"outrate": np.ascontiguousarray(outrate), "out_level": out_level,
           "trend": trend, "in_levels": in_lv, "out_levels": out_lv}
    if inputs.housing_inmig is None:
        if len(inputs.components) == 1:
            out["inmig"] = inputs.inmig[0][None, :, None]
            out["in_level"] = in_lv[0][None, None]
        else:
            out["inmig"], out["in_level"] = trend[None], np.ones((1, 1, n_year))
        return out
    housing = inputs.housing_inmig
    if inputs.housing_mode == "add":
        total = trend + housing
    else:
        total = housing + inputs.existing_level[None, :, None, None] * trend
    out.update(inmig=np.ascontiguousarray(total[None]), in_level=np.ones((1, 1, n_year)),
               housing=housing)
    return out


def band_edges(bands: dict[str, tuple[int, int]]) -> np.ndarray:
    """Edges [lo_0, lo_1, ..., hi_last + 1] of contiguous age bands."""
    spans = list(bands.values())
    for (lo, hi), (lo2, _) in zip(spans, spans[1:]):
        if lo2 != hi + 1:
            raise ValueError("age bands must be contiguous and in order")
    return np.array([s[0] for s in spans] + [spans[-1][1] + 1], dtype=np.int64)


def project_population(inputs: PopulationInputs, a: PopulationAssumptions, *,
                       outputs: str = "full", bands: dict | None = None,
                       attrs: dict | None = None) -> xr.Dataset:
    """Project every region; a Dataset over (region, year, sex, age).

    outputs = "full": stocks at 1 January (pop) and the flows of each year (births, deaths,
    inmig, outmig, and internal_in/internal_out when regions exchange movers), so the identity
    can be checked; "bands": only persons by age band (pop_band(region, year, sex, band),
    `bands` default BANDS) and the stock in the end year, for large batches.
    """
    years = a.flow_years
    n_reg, n_year = len(inputs.regions), len(years)
    surv, e0 = mortality_arrays(inputs, a)
    asfr, tfr = fertility_arrays(inputs, a)
    mig = migration_arrays(inputs, a)
    ex = inputs.exchange
    if ex is not None:
        leave = mig["outrate"][0] * mig["out_level"][0, 0][None, :, None, None] + ex.rate[:, None]
        if (leave > 1 + 1e-12).any():
            r, t, s, k = np.argwhere(leave > 1 + 1e-12)[0]
            raise DataError(f"area {inputs.regions[r]!r}, {SEXES[s]} age {k}, {years[t]}: "
                            f"out_rate {ex.rate[r, s, k]:.4g} + out-migration to outside "
                            f"{leave[r, t, s, k] - ex.rate[r, s, k]:.4g} exceed 1",
                            file=ex.source, key="out_rate")
        move_rate, move_share = ex.rate[:, None], ex.share[:, None]
    else:
        move_rate = move_share = np.zeros((1, 1, 2, N_AGE))
    fem_share = np.full((1, n_year), 1.0 / (1.0 + inputs.sex_ratio))
    fert = inputs.fert_level[None, :, None]
    bands = bands or BANDS
    edges = band_edges(bands)
    full = outputs == "full"
    flow = (1, n_reg, n_year, 2, N_AGE)
    pop = np.empty((1, n_reg, n_year + 1, 2, N_AGE)) if full else empty(5)
    births = np.empty((1, n_reg, n_year, 2)) if full else empty(4)
    flows = [np.empty(flow) if full else empty(5) for _ in range(5)]
    band_pop = empty(5) if full else np.zeros((1, n_reg, n_year + 1, 2, len(bands)))
    final = empty(4) if full else np.empty((1, n_reg, 2, N_AGE))
    def arg(x):  # a writeable C-contiguous copy: one compiled signature for every caller
        return np.array(x, dtype=float, order="C")

    project_kernel(arg(inputs.base_pop), arg(surv[None, None]), arg(np.sqrt(surv)[None, None]),
                   arg(asfr[None, None]), arg(fert), fem_share, arg(mig["inmig"]),
                   arg(mig["in_level"]), arg(mig["outrate"]), arg(mig["out_level"]),
                   arg(move_rate), arg(move_share), ex is not None, edges, pop, births, *flows,
                   band_pop, final)
    coords = {"region": list(inputs.regions), "year": np.arange(a.base_year, a.end_year + 1),
              "sex": list(SEXES), "age": np.arange(N_AGE)}
    if inputs.names is not None:
        coords["region_name"] = ("region", list(inputs.names))
    end_nan = np.full((1,), np.nan)
    data = {"tfr": (("year",), np.concatenate([tfr, end_nan])),
            "e0": (("year", "sex"), np.concatenate([e0, np.full((1, 2), np.nan)])),
            "fert_level": (("region",), inputs.fert_level.astype(float))}
    if full:
        def with_end(x):  # flows of the end year are not projected
            return np.concatenate([x, np.full(x.shape[:1] + (1,) + x.shape[2:], np.nan)], axis=1)
        dims = ("region", "year", "sex", "age")
        data["pop"] = (dims, pop[0])
        data["births"] = (dims[:3], with_end(births[0]))
        names = ("deaths", "inmig", "outmig", "internal_in", "internal_out")
        for name, x in zip(names, flows):
            if name.startswith("internal") and ex is None:
                continue
            data[name] = (dims, with_end(x[0]))
        if "housing" in mig:
            data["inmig_housing"] = (dims, with_end(mig["housing"]))
    else:
        coords["band"] = list(bands)
        data["pop_band"] = (("region", "year", "sex", "band"), band_pop[0])
        data["pop_end"] = (("region", "sex", "age"), final[0])
    ds = xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))
    if full and len(inputs.components) > 1:
        _add_components(ds, inputs, mig)
    if inputs.flagged:
        ds.attrs["flagged_regions"] = ", ".join(inputs.flagged)
    _units(ds, housing_mode=inputs.housing_mode if "housing" in mig else None)
    return ds


def _add_components(ds: xr.Dataset, inputs: PopulationInputs, mig: dict) -> None:
    """Migration by component: in-migrants as given (the part not led by housing, shared in
    proportion to the components' trend counts), out-migrants in proportion to their rates."""
    c_in = inputs.inmig[:, :, None] * mig["in_levels"][:, None, :, None, None]
    c_out = inputs.outrate[:, :, None] * mig["out_levels"][:, None, :, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        in_share = np.nan_to_num(c_in / c_in.sum(axis=0))
        out_share = np.nan_to_num(c_out / c_out.sum(axis=0))
    flows_in = ds["inmig"].to_numpy()[:, :-1]
    if "inmig_housing" in ds:
        flows_in = flows_in - ds["inmig_housing"].to_numpy()[:, :-1]
    flows_out = ds["outmig"].to_numpy()[:, :-1]
    pad = np.full(in_share.shape[:2] + (1, 2, N_AGE), np.nan)
    ds.coords["component"] = list(inputs.components)
    dims = ("component", "region", "year", "sex", "age")
    ds["inmig_component"] = (dims, np.concatenate([flows_in[None] * in_share, pad], axis=2))
    ds["outmig_component"] = (dims, np.concatenate([flows_out[None] * out_share, pad], axis=2))


def _units(ds: xr.Dataset, housing_mode: str | None) -> None:
    flow = "during the year; age = age reached on 1 January of the next year"
    attrs = {
        "pop": {"units": "persons", "long_name": "population at 1 January"},
        "pop_band": {"units": "persons", "long_name": "population at 1 January by age band"},
        "pop_end": {"units": "persons", "long_name": "population at 1 January of the end year"},
        "births": {"units": "persons per year", "long_name": f"births {flow}"},
        "deaths": {"units": "persons per year", "long_name": f"deaths {flow}"},
        "inmig": {"units": "persons per year", "long_name": f"in-migrants from outside {flow}"},
        "outmig": {"units": "persons per year", "long_name": f"out-migrants to outside {flow}"},
        "internal_in": {"units": "persons per year",
                        "long_name": f"movers from the other regions {flow}"},
        "internal_out": {"units": "persons per year",
                         "long_name": f"movers to the other regions {flow}"},
        "inmig_housing": {"units": "persons per year", "housing_mode": housing_mode or "",
                          "long_name": f"in-migrants moving into new dwellings (part of inmig) {flow}"},
        "inmig_component": {"units": "persons per year", "long_name": "inmig by migration component"
                            + (" (sums to inmig less inmig_housing)" if housing_mode else "")},
        "outmig_component": {"units": "persons per year",
                             "long_name": "outmig by migration component (sums to outmig)"},
        "tfr": {"units": "children per woman", "long_name": "TFR of the schedule (a region's "
                "TFR is this times fert_level)"},
        "e0": {"units": "years", "long_name": "life expectancy at birth"},
        "fert_level": {"units": "1", "long_name": "fertility level relative to the schedule"},
    }
    for name, a in attrs.items():
        if name in ds:
            ds[name].attrs = a
