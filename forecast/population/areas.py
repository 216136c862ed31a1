"""Sub-areas (delområder): a coupled projection of areas that sum to the municipality.

Every area has its own population and receives a share of the municipality's in-migration
from outside (`inmig_share`, plus its own housing programme when one is given); areas
exchange movers at rates per mid-year resident of the origin (`moves_file`); out-migration to
outside, fertility and mortality are the municipality's rates in every area. The kernel is
areas_kernel.py. Files of the `[areas]` section (scenario.POPULATION_SCHEMA):

    areas_file       area,name,inmig_share            shares sum to 1
    population_file  area,year,sex,age,persons       base-year rows must sum to population.file
    moves_file       from_area,to_area,rate[,sex,age] every pair of different areas
    housing_file     area,year,[type,]dwellings       optional; needs [housing]

With the same rates in every area the areas sum to the municipal projection of the summed
population exactly (up to rounding), whatever the internal moves; `municipality(ds)` gives it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, ForecastError, ScenarioError
from ..inputs import SEXES, check_range, read_csv, sex_age_array
from .areas_kernel import allocate, project_areas_kernel
from .housing import SHARE_TOLERANCE, combine, housing_component, read_dwellings
from .kernel import N_AGE

LEAVE_TOLERANCE = 1e-12


@dataclass
class AreaInputs:
    codes: tuple[str, ...]
    names: tuple[str, ...]
    inmig_share: np.ndarray           # (R,) share of the external in-migration
    base_pop: np.ndarray              # (R, 2, 106) persons at 1 January of the base year
    moves: np.ndarray                 # (R, R, 2, 106) movers i -> j per mid-year resident of i
    housing_types: tuple[str, ...] | None = None
    dwellings: np.ndarray | None = None   # (R, T, n_types) per-area housing programme
    files: dict = dataclasses.field(default_factory=dict)


# --- reading ----------------------------------------------------------------------------------

def read_areas(path) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(codes, names, inmig shares) from area,name,inmig_share."""
    df = read_csv(path, {"area": "str", "name": "str", "inmig_share": "float"})
    if (df["area"] == "").any():
        raise DataError(f"row {int(np.flatnonzero(df['area'] == '')[0]) + 2}: empty area code",
                        file=str(path), key="area")
    dup = df["area"].duplicated()
    if dup.any():
        raise DataError(f"duplicate area {df['area'][dup].iloc[0]!r}", file=str(path), key="area")
    share = df["inmig_share"].to_numpy()
    check_range(share, path, "inmig_share", lower=0, upper=1)
    if abs(share.sum() - 1.0) > SHARE_TOLERANCE:
        raise DataError(f"the shares sum to {share.sum():.6g}; expected 1", file=str(path),
                        key="inmig_share")
    return tuple(df["area"]), tuple(df["name"]), share / share.sum()


def _check_codes(df, column, codes, path, areas_file):
    unknown = sorted(set(df[column]) - set(codes))
    if unknown:
        raise DataError(f"unknown area {unknown[0]!r}; {Path(areas_file).name} has "
                        f"{', '.join(codes)}", file=str(path), key=column)


def read_area_population(path, codes, year: int, areas_file) -> np.ndarray:
    """(R, 2, 106) persons in each area at 1 January of `year`."""
    df = read_csv(path, {"area": "str", "year": "int", "sex": "str", "age": "int",
                         "persons": "float"})
    check_range(df["persons"].to_numpy(), path, "persons", lower=0)
    _check_codes(df, "area", codes, path, areas_file)
    df = df[df["year"] == year]
    out = np.empty((len(codes), 2, N_AGE))
    for r, code in enumerate(codes):
        rows = df[df["area"] == code]
        if rows.empty:
            raise DataError(f"no counts for area {code!r} in the base year {year}",
                            file=str(path), key="area")
        out[r] = sex_age_array(rows, "persons", path)
    return out


def read_moves(path, codes, areas_file) -> np.ndarray:
    """(R, R, 2, 106) moving rates from area i to j; one rate for all ages unless sex,age."""
    cols = {"from_area": "str", "to_area": "str", "rate": "float"}
    df = read_csv(path, cols, optional={"sex": "str", "age": "int"})
    extra = [c for c in ("sex", "age") if c in df.columns]
    if len(extra) == 1:
        raise DataError("give both sex and age columns, or neither (one rate for all ages)",
                        file=str(path), key=extra[0])
    check_range(df["rate"].to_numpy(), path, "rate", lower=0, upper=1)
    for column in ("from_area", "to_area"):
        _check_codes(df, column, codes, path, areas_file)
    same = (df["from_area"] == df["to_area"]) & (df["rate"] != 0)
    if same.any():
        raise DataError(f"a move from area {df['from_area'][same].iloc[0]!r} to itself must "
                        "have rate 0", file=str(path), key="rate")
    keys = ["from_area", "to_area"] + extra
    dup = df.duplicated(keys)
    if dup.any():
        row = df[dup].iloc[0]
        raise DataError(f"duplicate row for {', '.join(f'{k} {row[k]}' for k in keys)}",
                        file=str(path), key=keys[-1])
    if extra:
        bad_sex = ~df["sex"].isin(SEXES)
        if bad_sex.any():
            raise DataError(f"expected female or male, got {df['sex'][bad_sex].iloc[0]!r}",
                            file=str(path), key="sex")
        check_range(df["age"].to_numpy(), path, "age", lower=0, upper=N_AGE - 1)
    index = {c: r for r, c in enumerate(codes)}
    out = np.full((len(codes), len(codes), 2, N_AGE), np.nan)
    i, j = df["from_area"].map(index).to_numpy(), df["to_area"].map(index).to_numpy()
    if extra:
        s = df["sex"].map({x: k for k, x in enumerate(SEXES)}).to_numpy()
        out[i, j, s, df["age"].to_numpy()] = df["rate"].to_numpy()
    else:
        out[i, j] = df["rate"].to_numpy()[:, None, None]
    for r in range(len(codes)):
        out[r, r] = 0.0
    missing = np.argwhere(np.isnan(out))
    if len(missing):
        a, b, s, age = missing[0]
        lacks = [c for c in codes if c not in set(df["from_area"])]
        if lacks and len(codes) > 1:
            raise DataError(f"area {lacks[0]!r} is missing from the moves matrix (no rows "
                            "from it); every pair of different areas needs a rate (0 for none)",
                            file=str(path), key="from_area")
        at = f" for {SEXES[s]} age {age}" if extra else ""
        raise DataError(f"no rate from area {codes[a]!r} to {codes[b]!r}{at}; every pair of "
                        "different areas needs a rate (0 for none)", file=str(path),
                        key="to_area")
    return out


def load_area_inputs(scenario) -> AreaInputs:
    """Read the files of the scenario's [areas] section."""
    sec, file = scenario.section("areas"), str(scenario.file)
    for key in ("areas_file", "population_file", "moves_file"):
        if key not in sec:
            raise ScenarioError("missing; expected a file path (string)", file=file,
                                key=f"areas.{key}")
    codes, names, share = read_areas(sec["areas_file"])
    a = AreaInputs(codes=codes, names=names, inmig_share=share,
                   base_pop=read_area_population(sec["population_file"], codes,
                                                 scenario.base_year, sec["areas_file"]),
                   moves=read_moves(sec["moves_file"], codes, sec["areas_file"]), files=dict(sec))
    if "housing_file" in sec:
        if "housing" not in scenario.raw:
            raise ScenarioError("a per-area housing programme needs a [housing] section "
                                "(persons_per_dwelling, profile_file, mode)", file=file,
                                key="areas.housing_file")
        years = np.arange(scenario.base_year, scenario.end_year)
        a.housing_types, a.dwellings = read_dwellings(sec["housing_file"], years,
                                                      area_codes=codes)
    return a


# --- arrays and projection -------------------------------------------------------------------

def _check_base(areas: AreaInputs, municipal: np.ndarray, year: int) -> None:
    diff = np.abs(areas.base_pop.sum(axis=0) - municipal)
    if diff.max() > 1e-6:
        s, age = np.unravel_index(int(diff.argmax()), diff.shape)
        raise DataError(f"the areas' counts for {year} sum to {areas.base_pop.sum():,.0f} "
                        f"persons, the municipality's population file has {municipal.sum():,.0f} "
                        f"({SEXES[s]} age {age}: {areas.base_pop[:, s, age].sum():g} vs "
                        f"{municipal[s, age]:g}); the areas must add up to the municipality",
                        file=areas.files["population_file"], key="persons")


def _check_programmes(areas: AreaInputs, spec, years) -> None:
    if spec is None or spec.dwellings is None or areas.dwellings is None:
        return
    by_area, total = areas.dwellings.sum(axis=(0, 2)), spec.dwellings.sum(axis=1)
    bad = np.flatnonzero(np.abs(by_area - total) > 1e-9 * np.maximum(1.0, total))
    if len(bad):
        t = bad[0]
        raise DataError(f"the areas' programmes sum to {by_area[t]:g} dwellings in {years[t]}, "
                        f"housing.programme_file has {total[t]:g}; they must agree (or leave "
                        "the municipal programme out)", file=areas.files["housing_file"],
                        key="dwellings")


def area_arrays(r: dict, areas: AreaInputs, spec, years) -> dict[str, np.ndarray]:
    """Kernel inputs for the areas from the municipal arrays `r` of model.rate_arrays
    (computed without housing): the same rates in every area, in-migration split by share."""
    n_area = len(areas.codes)

    def spread(x):  # (1, ...) -> (1, R, ...)
        return np.ascontiguousarray(np.broadcast_to(x[:, None], (1, n_area) + x.shape[1:]))

    trend = areas.inmig_share[None, :, None, None, None] * r["inmig"][:, None]
    housing = None
    if areas.dwellings is not None:
        _check_programmes(areas, spec, years)
        housing = housing_component(spec, areas.dwellings, areas.housing_types)[None]
    elif spec is not None:
        if spec.dwellings is None:
            raise ScenarioError("no housing programme; give housing.programme_file, "
                                "housing.dwellings or areas.housing_file", file=spec.file,
                                key="housing")
        municipal = housing_component(spec, spec.dwellings, spec.types)
        housing = areas.inmig_share[None, :, None, None, None] * municipal[None, None]
    inmig = trend if housing is None else combine(spec, trend, housing)
    outrate = spread(r["outrate"])
    moves = np.ascontiguousarray(np.broadcast_to(
        areas.moves[None, :, :, None], (1, n_area, n_area, len(years), 2, N_AGE)))
    leave = outrate + moves.sum(axis=2)
    if (leave > 1 + LEAVE_TOLERANCE).any():
        _, i, t, s, age = np.argwhere(leave > 1 + LEAVE_TOLERANCE)[0]
        raise DataError(f"area {areas.codes[i]!r}, {SEXES[s]} age {age}, {years[t]}: "
                        f"out-migration rate {outrate[0, i, t, s, age]:.4g} + moves to other "
                        f"areas {moves[0, i, :, t, s, age].sum():.4g} exceed 1",
                        file=areas.files["moves_file"], key="rate")
    return {"surv": spread(r["surv"]), "asfr": spread(r["asfr"]),
            "fem_share": spread(r["fem_share"]), "inmig": np.ascontiguousarray(inmig),
            "outrate": outrate, "moves": moves, "inmig_housing": housing}


def project_areas(scenario, attrs: dict | None = None) -> xr.Dataset:
    """Project every sub-area of a scenario with an [areas] section.

    Dataset over (area, year, sex, age): pop, births (area, year, sex), deaths, inmig, outmig,
    internal_in, internal_out (+ inmig_housing with [housing]); tfr and e0 as the municipal
    projection. `municipality(ds)` sums the areas.
    """
    from ..api import provenance
    from ..inputs import load_population_inputs
    from ..scenario import Scenario, load_scenario
    from .model import PopulationAssumptions, rate_arrays

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    try:
        if "areas" not in scenario.raw:
            raise ScenarioError("no [areas] section", file=str(scenario.file), key="areas")
        inputs = load_population_inputs(scenario)
        a = PopulationAssumptions.from_scenario(scenario)
        areas = load_area_inputs(scenario)
        _check_base(areas, inputs.base_pop, scenario.base_year)
        r = rate_arrays(inputs, dataclasses.replace(a, housing=None))
        k = area_arrays(r, areas, a.housing, a.flow_years)
    except ForecastError as exc:
        if exc.file is None:
            raise type(exc)(exc.message, file=str(scenario.file), key=exc.key) from None
        raise
    n_area, n_year = len(areas.codes), len(a.flow_years)
    out = allocate(1, n_area, n_year)
    project_areas_kernel(areas.base_pop[None].astype(float), k["surv"], k["asfr"],
                         k["fem_share"], k["inmig"], k["outrate"], k["moves"], *out)
    pop, births, deaths, inflow, outflow, int_in, int_out = (x[0] for x in out)

    def flows(x):  # (R, T, ...) -> (R, T + 1, ...), NaN in the end year
        return np.concatenate([x, np.full((n_area, 1) + x.shape[2:], np.nan)], axis=1)

    dims = ("area", "year", "sex", "age")
    data = {"pop": (dims, pop), "births": (dims[:3], flows(births))}
    named = {"deaths": deaths, "inmig": inflow, "outmig": outflow, "internal_in": int_in,
             "internal_out": int_out}
    if k["inmig_housing"] is not None:
        named["inmig_housing"] = k["inmig_housing"][0]
    data.update({name: (dims, flows(x)) for name, x in named.items()})
    data["tfr"] = (("year",), np.append(r["tfr"], np.nan))
    data["e0"] = (("year", "sex"), np.concatenate([r["e0"], np.full((1, 2), np.nan)]))
    ds = xr.Dataset(data, coords={"area": list(areas.codes), "year": np.arange(
        a.base_year, a.end_year + 1), "sex": list(SEXES), "age": np.arange(N_AGE)},
        attrs=dict(attrs if attrs is not None else provenance(scenario)))
    ds = ds.assign_coords(area_name=("area", list(areas.names)))
    ds["pop"].attrs = {"units": "persons", "long_name": "population at 1 January"}
    for name in ("births", *named):
        ds[name].attrs = {"units": "persons per year", "long_name": f"{name} during the year; "
                          "age = age reached on 1 January of the next year"}
    ds["internal_in"].attrs["long_name"] = "movers from the other areas during the year"
    ds["internal_out"].attrs["long_name"] = "movers to the other areas during the year"
    return ds


def municipality(ds: xr.Dataset) -> xr.Dataset:
    """The municipality: every area variable summed over areas (NaN flows stay NaN)."""
    summed = ds.drop_vars(["tfr", "e0", "area_name"], errors="ignore").sum("area", skipna=False)
    for name in ("tfr", "e0"):
        if name in ds:
            summed[name] = ds[name]
    summed.attrs = dict(ds.attrs)
    return summed


def split_largest_remainder(count: int, shares) -> np.ndarray:
    """Integers summing to `count` in proportion to `shares`: floors of count·share, then one
    more each to the largest remainders (ties: the earlier area)."""
    quota = count * np.asarray(shares, dtype=float)
    out = np.floor(quota).astype(np.int64)
    extra = int(count - out.sum())
    order = np.argsort(-(quota - out), kind="stable")
    out[order[:extra]] += 1
    return out
