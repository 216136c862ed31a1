"""Reading the [areas] section: sub-areas (delområder) as regions that exchange movers.

Files (scenario.POPULATION_SCHEMA, layout in data/baerum/areas/README.md):

    areas_file       area,name,inmig_share            shares sum to 1
    population_file  area,year,sex,age,persons       base-year rows must sum to population.file
    moves_file       area,out_rate,in_share[,sex,age] movers to the other areas per mid-year
                                                      resident, and each area's share of all
                                                      movers between areas (sums to 1)
    housing_file     area,year,[type,]dwellings       optional; needs [housing]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, ScenarioError
from ..population.housing import SHARE_TOLERANCE
from ..population.kernel import N_AGE
from ..population.model import Exchange
from .housing import read_dwellings
from .tables import SEXES, check_range, read_csv, sex_age_array


@dataclass
class AreaFiles:
    codes: tuple[str, ...]
    names: tuple[str, ...]
    inmig_share: np.ndarray           # (R,) share of the external in-migration
    base_pop: np.ndarray              # (R, 2, 106) persons at 1 January of the base year
    exchange: Exchange
    housing_types: tuple[str, ...] | None = None
    dwellings: np.ndarray | None = None   # (R, T, n_types) per-area housing programme
    files: dict | None = None


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


def read_moves(path, codes, areas_file) -> Exchange:
    """Movers between areas through one pool: out_rate (R, 2, 106) per mid-year resident and
    in_share (R, 2, 106) summing to 1 over the areas; one value for all ages unless sex,age."""
    df = read_csv(path, {"area": "str", "out_rate": "float", "in_share": "float"},
                  optional={"sex": "str", "age": "int"})
    extra = [c for c in ("sex", "age") if c in df.columns]
    if len(extra) == 1:
        raise DataError("give both sex and age columns, or neither (one rate for all ages)",
                        file=str(path), key=extra[0])
    check_range(df["out_rate"].to_numpy(), path, "out_rate", lower=0, upper=1)
    check_range(df["in_share"].to_numpy(), path, "in_share", lower=0, upper=1)
    _check_codes(df, "area", codes, path, areas_file)
    dup = df.duplicated(["area"] + extra)
    if dup.any():
        raise DataError(f"duplicate row for area {df['area'][dup].iloc[0]!r}", file=str(path),
                        key=(["area"] + extra)[-1])
    rate = np.full((len(codes), 2, N_AGE), np.nan)
    share = np.full((len(codes), 2, N_AGE), np.nan)
    for r, code in enumerate(codes):
        rows = df[df["area"] == code]
        if rows.empty:
            raise DataError(f"area {code!r} is missing; every area needs a row (0 for none)",
                            file=str(path), key="area")
        if extra:
            rate[r] = sex_age_array(rows, "out_rate", path)
            share[r] = sex_age_array(rows, "in_share", path)
        else:
            rate[r], share[r] = rows["out_rate"].iloc[0], rows["in_share"].iloc[0]
    total = share.sum(axis=0)
    if np.abs(total - 1.0).max() > SHARE_TOLERANCE:
        s, a = np.unravel_index(int(np.abs(total - 1.0).argmax()), total.shape)
        raise DataError(f"the in_share of the areas sum to {total[s, a]:.6g} ({SEXES[s]} age "
                        f"{a}); expected 1", file=str(path), key="in_share")
    return Exchange(rate=rate, share=share / total, source=str(path))


def read_area_files(section: dict, file: str, base_year: int, end_year: int,
                    has_housing: bool) -> AreaFiles:
    """Read the files of the scenario's [areas] section."""
    for key in ("areas_file", "population_file", "moves_file"):
        if key not in section:
            raise ScenarioError("missing; expected a file path (string)", file=file,
                                key=f"areas.{key}")
    codes, names, share = read_areas(section["areas_file"])
    out = AreaFiles(codes=codes, names=names, inmig_share=share,
                    base_pop=read_area_population(section["population_file"], codes, base_year,
                                                  section["areas_file"]),
                    exchange=read_moves(section["moves_file"], codes, section["areas_file"]),
                    files=dict(section))
    if "housing_file" in section:
        if not has_housing:
            raise ScenarioError("a per-area housing programme needs a [housing] section "
                                "(persons_per_dwelling, profile_file, mode)", file=file,
                                key="areas.housing_file")
        years = np.arange(base_year, end_year)
        out.housing_types, out.dwellings = read_dwellings(section["housing_file"], years,
                                                          area_codes=codes)
    return out


def check_area_base(areas: AreaFiles, municipal: np.ndarray, year: int) -> None:
    """The areas' base-year counts must add up to the municipality's in every sex and age."""
    diff = np.abs(areas.base_pop.sum(axis=0) - municipal)
    if diff.max() > 1e-6:
        s, age = np.unravel_index(int(diff.argmax()), diff.shape)
        raise DataError(f"the areas' counts for {year} sum to {areas.base_pop.sum():,.0f} "
                        f"persons, the municipality's population file has {municipal.sum():,.0f} "
                        f"({SEXES[s]} age {age}: {areas.base_pop[:, s, age].sum():g} vs "
                        f"{municipal[s, age]:g}); the areas must add up to the municipality",
                        file=areas.files["population_file"], key="persons")


def check_programmes(areas: AreaFiles, spec, years) -> None:
    """Per-area programmes must sum to the municipal one where both are given."""
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
