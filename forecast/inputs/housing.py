"""Reading the [housing] section: the programme, the movers' profile, and the default profile
for Bærum (pure arithmetic in forecast.population.housing)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..bounds import MAX_DWELLINGS
from ..errors import DataError, ScenarioError
from ..paths import evaluate
from ..population.housing import ALL_TYPES, MODES, SHARE_TOLERANCE, HousingSpec
from ..population.kernel import N_AGE
from .tables import SEXES, check_range, read_csv, read_migration, sex_age_array


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
    check_range(df["dwellings"].to_numpy(), path, "dwellings", lower=0, upper=MAX_DWELLINGS)
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


if __name__ == "__main__":  # python -m forecast.inputs.housing data/baerum
    folder = sys.argv[1] if len(sys.argv) > 1 else "data/baerum"
    print(f"wrote {write_default_profile(folder)}; persons per dwelling at 700 dwellings a "
          f"year = {default_persons_per_dwelling(Path(folder) / 'migration.csv'):.4f}")
