"""Housing-led in-migration: new dwellings x persons per dwelling x the movers' age-sex profile.

KOMPAS-style planning lets in-migration follow the housing programme instead of the trend
(boligbasert framskriving). The housing component of year t is a count array

    inmig_housing[t, s, a] = sum over dwelling types k of
                             dwellings[t, k] * persons_per_dwelling[t, k] * profile[k, s, a]

with `profile` the age-sex distribution (shares summing to 1) of the people who move into new
dwellings, by the age reached on 1 January of the next year (as in migration.csv). They arrive
at mid-year like every in-migrant and then age in place in the projection (KOMPAS's
"flyttegenerasjoner"). The component is computed before the kernel, so the kernel is the same:

    mode = "replace": in-migration = housing component + existing_stock_inmig_level x trend
    mode = "add":     in-migration = trend + housing component

and in both modes the trend's out-migration rates are kept. `trend` is the in-migrant count of
migration.csv times `migration.in_level`.

Reading the programme and the profile lives here, beside the arithmetic, like inputs.py: the
scenario keys are `[housing] programme_file | dwellings, persons_per_dwelling, profile_file,
mode, existing_stock_inmig_level` (scenario.POPULATION_SCHEMA). The default profile for Bærum
is built by `write_default_profile` (see the bottom of this file).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, ScenarioError
from ..inputs import SEXES, check_range, read_csv, read_migration, sex_age_array
from ..paths import evaluate, is_dated
from .kernel import N_AGE

MODES = ("replace", "add")
ALL_TYPES = ""          # the one dwelling type of a programme without a `type` column
SHARE_TOLERANCE = 1e-6  # shares must sum to 1 within this (profiles here, areas in areas.py)


@dataclass
class HousingSpec:
    """The [housing] section of a scenario, evaluated for the flow years of the projection."""
    mode: str
    years: np.ndarray                     # flow years base .. end-1
    existing_level: np.ndarray            # (T,) share of the trend in-migration kept ("replace")
    ppd_spec: object                      # persons per dwelling: number, dated, or per type
    profiles: dict[str, np.ndarray]       # type (ALL_TYPES = every type) -> (2, 106) shares
    types: tuple[str, ...] = (ALL_TYPES,) # dwelling types of the municipal programme
    dwellings: np.ndarray | None = None   # (T, n_types) municipal programme, None = not given
    file: str | None = None               # the scenario file, for error messages
    profile_file: str | None = None
    programme_file: str | None = None

    def persons_per_dwelling(self, types) -> np.ndarray:
        """(T, n_types) persons per new dwelling in each flow year and type."""
        spec, key = self.ppd_spec, "housing.persons_per_dwelling"
        per_type = isinstance(spec, dict) and not is_dated(spec)
        out = np.empty((len(self.years), len(types)))
        for k, name in enumerate(types):
            if not per_type:
                out[:, k] = evaluate(spec, self.years)
            elif name == ALL_TYPES:
                raise ScenarioError("given per dwelling type, but the programme has no `type` "
                                    "column; give one number or {year = value}",
                                    file=self.file, key=key)
            elif name not in spec:
                raise ScenarioError(f"no value for dwelling type {name!r}; the programme has "
                                    f"types {', '.join(types)}", file=self.file, key=key)
            else:
                out[:, k] = evaluate(spec[name], self.years)
        return out

    def profile(self, types) -> np.ndarray:
        """(n_types, 2, 106) movers' profile of each dwelling type."""
        out = np.empty((len(types), 2, N_AGE))
        for k, name in enumerate(types):
            if ALL_TYPES in self.profiles:
                out[k] = self.profiles[ALL_TYPES]
            elif name in self.profiles:
                out[k] = self.profiles[name]
            else:
                have = ", ".join(sorted(self.profiles))
                what = "no type column" if name == ALL_TYPES else f"no rows for type {name!r}"
                raise DataError(f"{what}; the profile has types {have}",
                                file=self.profile_file, key="type")
        return out


# --- the arithmetic ----------------------------------------------------------------------------

def housing_component(spec: HousingSpec, dwellings: np.ndarray, types) -> np.ndarray:
    """(..., T, 2, 106) persons moving into new dwellings, from dwellings (..., T, n_types)."""
    ppd = spec.persons_per_dwelling(types)                     # (T, K)
    profile = spec.profile(types)                              # (K, 2, A)
    persons = np.asarray(dwellings, dtype=float) * ppd         # (..., T, K)
    return np.einsum("...tk,ksa->...tsa", persons, profile)


def combine(spec: HousingSpec, trend: np.ndarray, housing: np.ndarray) -> np.ndarray:
    """In-migration of the mode: trend (..., T, 2, 106) and housing component, same shape."""
    if spec.mode == "add":
        return trend + housing
    return housing + spec.existing_level[:, None, None] * trend


def apply_housing(spec: HousingSpec, trend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in-migration, housing component) for the municipal programme; trend is (1, T, 2, 106)."""
    if spec.dwellings is None:
        raise ScenarioError("no housing programme; give programme_file or dwellings",
                            file=spec.file, key="housing")
    housing = housing_component(spec, spec.dwellings, spec.types)[None]
    return combine(spec, trend, housing), housing


# --- reading ----------------------------------------------------------------------------------

def read_dwellings(path, years, *, area_codes=None) -> tuple[tuple[str, ...], np.ndarray]:
    """Dwellings per flow year (and type, and area) from `[area,]year,[type,]dwellings`.

    Returns (types, array): array is (T, n_types), or (R, T, n_types) with `area_codes`.
    Every flow year must be given (write 0 for none); rows outside the horizon are ignored;
    a type missing in a year counts 0.
    """
    cols = {"year": "int", "dwellings": "float"}
    if area_codes is not None:
        cols = {"area": "str", **cols}
    df = read_csv(path, cols, optional={"type": "str"})
    has_type = "type" in df.columns
    check_range(df["dwellings"].to_numpy(), path, "dwellings", lower=0)
    keys = (["area"] if area_codes is not None else []) + ["year"] + (["type"] if has_type else [])
    dup = df.duplicated(keys)
    if dup.any():
        row = df[dup].iloc[0]
        raise DataError(f"duplicate row for {', '.join(f'{k} {row[k]}' for k in keys)}",
                        file=str(path), key=keys[-1])
    if not has_type:
        df["type"] = ALL_TYPES
    types = tuple(sorted(df["type"].unique()))
    years = np.asarray(years)
    groups = [None] if area_codes is None else list(area_codes)
    if area_codes is not None:
        unknown = sorted(set(df["area"]) - set(area_codes))
        if unknown:
            raise DataError(f"unknown area {unknown[0]!r}; the areas file has "
                            f"{', '.join(area_codes)}", file=str(path), key="area")
    out = np.zeros((len(groups), len(years), len(types)))
    for g, code in enumerate(groups):
        rows = df if code is None else df[df["area"] == code]
        missing = sorted(set(int(y) for y in years) - set(rows["year"]))
        if missing:
            where = "" if code is None else f" for area {code!r}"
            raise DataError(f"no dwellings given{where} in {missing[0]}; the programme must "
                            f"cover every year {years[0]}-{years[-1]} (write 0 for none)",
                            file=str(path), key="year")
        rows = rows[rows["year"].isin(years)]
        ti = rows["type"].map({t: k for k, t in enumerate(types)}).to_numpy()
        yi = rows["year"].to_numpy() - int(years[0])
        out[g, yi, ti] = rows["dwellings"].to_numpy()
    return types, (out[0] if area_codes is None else out)


def read_profile(path) -> dict[str, np.ndarray]:
    """sex,age,share (optionally type): the movers' profile, shares summing to 1 per type."""
    df = read_csv(path, {"sex": "str", "age": "int", "share": "float"},
                  optional={"type": "str"})
    has_type = "type" in df.columns
    check_range(df["share"].to_numpy(), path, "share", lower=0, upper=1)
    out = {}
    for name, rows in (df.groupby("type", sort=True) if has_type else [(ALL_TYPES, df)]):
        table = sex_age_array(rows.drop(columns="type", errors="ignore"), "share", path)
        total = table.sum()
        if abs(total - 1.0) > SHARE_TOLERANCE:
            what = f" for type {name!r}" if has_type else ""
            raise DataError(f"the shares{what} sum to {total:.6g}; expected 1",
                            file=str(path), key="share")
        out[name] = table / total
    return out


def read_housing(scenario, *, need_programme: bool = True) -> HousingSpec:
    """The [housing] section of `scenario`, with its files read and dated values evaluated."""
    h = scenario.section("housing")
    file = str(scenario.file)
    years = np.arange(scenario.base_year, scenario.end_year)
    mode = h.get("mode", "replace")
    if mode not in MODES:
        raise ScenarioError(f'expected "replace" or "add", got {mode!r}', file=file,
                            key="housing.mode")
    for key in ("persons_per_dwelling", "profile_file"):
        if key not in h:
            raise ScenarioError("missing; the housing-led mode needs it", file=file,
                                key=f"housing.{key}")
    spec = HousingSpec(mode=mode, years=years,
                       existing_level=evaluate(h.get("existing_stock_inmig_level", 0.0), years),
                       ppd_spec=h["persons_per_dwelling"], profiles=read_profile(h["profile_file"]),
                       file=file, profile_file=h["profile_file"],
                       programme_file=h.get("programme_file"))
    if "dwellings" in h:  # overrides programme_file, so an alternative can state it inline
        spec.dwellings = evaluate(h["dwellings"], years)[:, None]
        spec.programme_file = None
    elif "programme_file" in h:
        spec.types, spec.dwellings = read_dwellings(h["programme_file"], years)
    elif need_programme:
        raise ScenarioError("missing; give programme_file (CSV year,dwellings) or dwellings "
                            "(a number or {year = value})", file=file, key="housing.programme_file")
    if spec.dwellings is not None:
        spec.persons_per_dwelling(spec.types)  # an unknown type fails here, before projecting
        spec.profile(spec.types)
    return spec


# --- the default profile for Bærum -------------------------------------------------------------

def profile_from_migration(migration_file) -> pd.DataFrame:
    """sex,age,share: the trend in-migrant counts of migration.csv (Bærum: the positive residual
    net migration), normalised to sum to 1 over both sexes. An ASSUMPTION standing in for a
    survey of who moves into new dwellings, which the shared data do not hold."""
    inmig = read_migration(migration_file)[0].sum(axis=0)
    total = inmig.sum()
    if total <= 0:
        raise DataError("the in-migrant counts sum to zero; no profile can be derived",
                        file=str(migration_file), key="inmig")
    share = inmig / total
    rows = [(sex, a, share[s, a]) for s, sex in enumerate(SEXES) for a in range(N_AGE)]
    return pd.DataFrame(rows, columns=["sex", "age", "share"])


def default_persons_per_dwelling(migration_file, dwellings_per_year: float = 700.0) -> float:
    """Persons per new dwelling such that the historical building rate reproduces the trend's
    total in-migration: sum(inmig) / dwellings_per_year (Bærum: 1,769.9 / 700 = 2.528)."""
    inmig = read_migration(migration_file)[0].sum(axis=0)
    return float(inmig.sum() / dwellings_per_year)


def write_default_profile(data_dir) -> Path:
    """Write data_dir/housing_profile.csv from data_dir/migration.csv (atomic)."""
    from ..io.atomic import atomic_path

    data_dir = Path(data_dir)
    target = data_dir / "housing_profile.csv"
    frame = profile_from_migration(data_dir / "migration.csv")
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.12g")
    return target


if __name__ == "__main__":  # python -m forecast.population.housing data/baerum
    folder = sys.argv[1] if len(sys.argv) > 1 else "data/baerum"
    print(f"wrote {write_default_profile(folder)}; persons per dwelling at 700 dwellings a "
          f"year = {default_persons_per_dwelling(Path(folder) / 'migration.csv'):.4f}")
