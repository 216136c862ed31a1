"""Readers of the source extracts in shared/data (SSB counts, HMD, HFD) as tidy, checked frames.

The population stage derives rates from these frames (forecast.population.calibrate,
.regional, .national) without touching disk; this module is where the files are opened.
Every problem is a one-line DataError that names the file and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..population.calibrate import HMD_AGES
from ..population.kernel import N_AGE
from ..population.rates import SEXES
from ..population.regional import REGION, check_counts
from .tables import read_csv

SOURCE_FILES = {
    "counts": "baerum/population_by_age_sex_2005_2018.csv",
    "deaths": "norway/hmd_deaths_1x1_2010_2017.csv",
    "mx": "norway/hmd_mx_1x1_2010_2017.csv",
    "pop": "norway/hmd_population_jan1_2010_2018.csv",
    "births": "norway/hmd_births_1990_2017.csv",
    "asfr": "norway/hfd_asfr_2000_2017.csv",
}
MUNICIPAL_FILES = {"counts": "norway/municipalities/population_by_age_sex_2005_2018.csv.gz",
                   "table": "norway/municipalities/municipalities_2024.csv"}
NATIONAL_FILES = {"mx": "norway/hmd_mx_1x1_1950_2017.csv",
                  "asfr": "norway/hfd_asfr_1967_2017.csv"}


# --- HMD / HFD text -------------------------------------------------------------------------

def _numbers(text: pd.Series, path, column: str, missing_ok: bool) -> np.ndarray:
    """Floats from text; "." (HMD's no-data mark) becomes NaN where `missing_ok`."""
    text = text.str.strip()
    values = pd.to_numeric(text.where(text != ".") if missing_ok else text, errors="coerce")
    bad = values.isna() & ~((text == ".") & missing_ok)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"row {row + 2}: expected a number, got {text.iloc[row]!r}",
                        file=str(path), key=column)
    return values.to_numpy(dtype=float)


def _ages(text: pd.Series, path) -> np.ndarray:
    """Single ages from HMD/HFD labels, open groups '110+', '12-', '55+' at their bound."""
    return _numbers(text.str.strip().str.rstrip("+-"), path, "age", False).astype(int)


def _hmd_long(path) -> pd.DataFrame:
    """An HMD 1x1 table (year, age, female, male, ...) as tidy year, sex, age, value."""
    df = read_csv(path, {"year": "int", "age": "str", "female": "str", "male": "str"})
    ages = _ages(df["age"], path)
    parts = [pd.DataFrame({"year": df["year"].to_numpy(), "sex": sex, "age": ages,
                           "value": _numbers(df[sex], path, sex, True)}) for sex in SEXES]
    return pd.concat(parts, ignore_index=True)


def _check_complete(df: pd.DataFrame, ages, path, what: str) -> None:
    """Every year in `df` has every sex and age in `ages` exactly once."""
    have = df[df["age"].isin(ages)]
    counts = have.groupby(["year", "sex"]).size()
    if (have.groupby("year")["sex"].nunique() < 2).any() or (counts != len(ages)).any():
        bad = counts[counts != len(ages)]
        year = bad.index[0][0] if len(bad) else have["year"].iloc[0]
        raise DataError(f"{what}: year {year} lacks a sex or has missing or duplicate ages; "
                        f"expected ages {ages[0]}..{ages[-1]} once per sex", file=str(path),
                        key="age")


# --- Bærum: population.calibrate --------------------------------------------------------------

def read_sources(shared_dir: Path) -> dict[str, pd.DataFrame]:
    """The source tables of calibrate as tidy frames, each checked for its columns and
    completeness: counts, deaths, mx, pop (HMD 2010-2017), births, asfr (HFD 2000-2017)."""
    paths = {k: Path(shared_dir) / v for k, v in SOURCE_FILES.items()}
    counts = read_csv(paths["counts"], {"year": "int", "sex": "str", "age": "int",
                                        "persons": "int"})
    if not counts["sex"].isin(SEXES).all():
        bad = counts.loc[~counts["sex"].isin(SEXES), "sex"].iloc[0]
        raise DataError(f"expected female or male, got {bad!r}", file=str(paths["counts"]),
                        key="sex")
    _check_complete(counts, np.arange(N_AGE), paths["counts"], "population counts")
    src = {"counts": counts}
    for key in ("deaths", "mx", "pop"):
        src[key] = _hmd_long(paths[key])
        _check_complete(src[key], HMD_AGES, paths[key], "HMD table")
    src["births"] = read_births(shared_dir)
    asfr = read_csv(paths["asfr"], {"year": "int", "age": "str", "asfr": "float"})
    src["asfr"] = asfr.assign(age=_ages(asfr["age"], paths["asfr"]))
    return src


def read_births(shared_dir) -> pd.DataFrame:
    """HMD births by sex a year (year, female, male)."""
    return read_csv(Path(shared_dir) / SOURCE_FILES["births"],
                    {"year": "int", "female": "float", "male": "float"})


# --- the nation: population.national -----------------------------------------------------------

def read_national(shared_dir) -> dict[str, pd.DataFrame]:
    """Tidy frames: mx (year, sex, age, value) of HMD 1950-2017 and asfr (year, age, asfr) of
    HFD 1967-2017, for population.national."""
    mx = _hmd_long(Path(shared_dir) / NATIONAL_FILES["mx"])
    path = Path(shared_dir) / NATIONAL_FILES["asfr"]
    asfr = pd.read_csv(path, dtype={"age": str})
    asfr = asfr.assign(age=_ages(asfr["age"], path))
    return {"mx": mx, "asfr": asfr[["year", "age", "asfr"]]}


# --- every municipality: population.regional ---------------------------------------------------

def read_municipal_sources(shared_dir) -> dict[str, pd.DataFrame]:
    """The municipal counts and the table of municipalities, checked (one-line DataErrors)."""
    paths = {k: Path(shared_dir) / v for k, v in MUNICIPAL_FILES.items()}
    table = read_csv(paths["table"], {REGION: "str", "name": "str", "county": "str",
                                      "county_name": "str"})
    dup = table[REGION].duplicated()
    if dup.any():
        raise DataError(f"duplicate {REGION} {table[REGION][dup].iloc[0]!r}",
                        file=str(paths["table"]), key=REGION)
    counts = read_csv(paths["counts"], {REGION: "str", "year": "int", "sex": "str",
                                        "age": "int", "persons": "int"})
    check_counts(counts, table[REGION], paths["counts"], MUNICIPAL_FILES["table"])
    return {"counts": counts, "table": table}


def read_all_sources(shared_dir) -> dict:
    """Municipal counts and table, the national m(x) and ASFR series, HMD births: the frames
    of regional.norway_tables and backtest_all."""
    births = read_births(shared_dir)
    return {**read_municipal_sources(shared_dir), "national": read_national(shared_dir),
            "births": births}
