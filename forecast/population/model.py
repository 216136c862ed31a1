"""Population stage: assumptions -> per-year arrays -> kernel -> labelled Dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import ScenarioError
from ..paths import check_path, evaluate
from ..scenario import check_keys
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
    components: dict = field(default_factory=dict)  # name -> {"in_level": .., "out_level": ..}
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
                   in_level=g.get("in_level", 1.0), out_level=g.get("out_level", 1.0),
                   components=_component_levels(g.get("components", {}), scenario))

    @property
    def flow_years(self) -> np.ndarray:
        return np.arange(self.base_year, self.end_year)


COMPONENT_KEYS = ("in_level", "out_level")


def _component_levels(table: dict, scenario) -> dict:
    """[migration.components.<name>] tables: dated multipliers of one component's flows."""
    file = str(scenario.file)
    years = (scenario.base_year, scenario.end_year)
    out = {}
    for name, levels in table.items():
        key = f"migration.components.{name}"
        check_keys(levels, COMPONENT_KEYS, file, key)
        for k, v in levels.items():
            check_path(v, file=file, key=f"{key}.{k}", lower=0.0, years=years)
        out[name] = levels
    return out


def migration_arrays(inputs, a: PopulationAssumptions) -> tuple[np.ndarray, np.ndarray]:
    """(components, years, 2, 106) in-migrant counts and out-rates with every level applied."""
    years = a.flow_years
    unknown = sorted(set(a.components) - set(inputs.components))
    if unknown:
        raise ScenarioError(f"the migration file has no component {unknown[0]!r}; it has "
                            f"{', '.join(inputs.components)}", key=f"migration.components.{unknown[0]}")
    in_level = np.stack([evaluate(a.in_level, years) * evaluate(
        a.components.get(c, {}).get("in_level", 1.0), years) for c in inputs.components])
    out_level = np.stack([evaluate(a.out_level, years) * evaluate(
        a.components.get(c, {}).get("out_level", 1.0), years) for c in inputs.components])
    inmig = inputs.inmig[:, None] * in_level[:, :, None, None]
    outrate = inputs.outrate[:, None] * out_level[:, :, None, None]
    if (outrate.sum(axis=0) > 1).any():
        raise ScenarioError("the migration levels make an out-migration rate exceed 1",
                            key="migration.out_level")
    return inmig, outrate


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
    bad = (out < 15) | (out > 110)
    if bad.any():
        t, s = np.argwhere(bad)[0]
        raise ScenarioError(f"life expectancy of {SEXES[s]}s in {years[t]} comes to "
                            f"{out[t, s]:.1f} years; expected 15..110", key="mortality.e0_shift")
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
                try:
                    mx = inputs.mx[s] if key is None else scale_to_e0(inputs.mx[s], sex, key)
                except ValueError as exc:  # the schedule cannot be scaled to that level
                    raise ScenarioError(f"{exc} ({sex}s, {years[t]})",
                                        key=f"mortality.e0_{sex}") from None
                cache[key] = (survival_ratios(mx, sex), life_expectancy(mx, sex))
            surv[0, t, s], e0_used[t, s] = cache[key]
    base_tfr = inputs.asfr.sum()
    tfr = (np.full(n, base_tfr) if a.tfr is None else evaluate(a.tfr, years))
    tfr = tfr + evaluate(a.tfr_shift, years)
    if (tfr < 0).any():
        raise ScenarioError(f"the TFR falls below zero ({tfr.min():.3f})", key="fertility.tfr_shift")
    asfr = np.stack([scale_to_tfr(inputs.asfr, v) for v in tfr])[None]
    fem_share = np.full((1, n), 1.0 / (1.0 + inputs.sex_ratio))
    inmig_c, outrate_c = migration_arrays(inputs, a)
    inmig, outrate = inmig_c.sum(axis=0)[None], outrate_c.sum(axis=0)[None]
    return {"surv": surv, "asfr": asfr, "fem_share": fem_share, "inmig": inmig,
            "outrate": outrate, "tfr": tfr, "e0": e0_used, "inmig_c": inmig_c,
            "outrate_c": outrate_c, **_housing(a, inmig)}


def _housing(a: PopulationAssumptions, trend: np.ndarray) -> dict[str, np.ndarray]:
    """In-migration led by the housing programme, if any: {"inmig", "inmig_housing"}."""
    if a.housing is None:
        return {}
    from .housing import apply_housing
    inmig, housing = apply_housing(a.housing, trend)
    return {"inmig": inmig, "inmig_housing": housing}


def _add_components(ds, r, inflow, outflow, components, flows) -> None:
    """Migration by component: in-migrants as given (the part not led by housing, shared in
    proportion to the components' trend counts), out-migrants in proportion to their rates."""
    with np.errstate(divide="ignore", invalid="ignore"):
        in_share = np.nan_to_num(r["inmig_c"] / r["inmig_c"].sum(axis=0))
        out_share = np.nan_to_num(r["outrate_c"] / r["outrate_c"].sum(axis=0))
    trend_in = inflow - r.get("inmig_housing", np.zeros((1,) + inflow.shape))[0]
    dims = ("component", "year", "sex", "age")
    ds.coords["component"] = list(components)
    ds["inmig_component"] = (dims, np.stack([flows((trend_in * s)[None]) for s in in_share]))
    ds["outmig_component"] = (dims, np.stack([flows((outflow * s)[None]) for s in out_share]))
    for name in ("inmig_component", "outmig_component"):
        ds[name].attrs = {"units": "persons per year", "long_name": (
            f"{name.split('_')[0]} by migration component (sums to {name.split('_')[0]}"
            + (" less inmig_housing" if name.startswith("in") and "inmig_housing" in r else "")
            + ")")}


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
    if len(inputs.components) > 1:
        _add_components(ds, r, inflow[0], outflow[0], inputs.components, flows)
    ds["pop"].attrs = {"units": "persons", "long_name": "population at 1 January"}
    for name in ("births", "deaths", "inmig", "outmig"):
        ds[name].attrs = {"units": "persons per year",
                          "long_name": f"{name} during the year; age = age reached on "
                                       "1 January of the next year"}
    ds["tfr"].attrs = {"units": "children per woman"}
    ds["e0"].attrs = {"units": "years", "long_name": "life expectancy at birth"}
    return ds
