"""CSV tables of data/ as arrays, with schema checks that name the file and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..bounds import MAX_TFR
from ..errors import DataError
from ..population.kernel import N_AGE
from ..population.rates import SEXES, life_expectancy

AGES = np.arange(N_AGE)
REGION = "municipality"   # the region column of multi-region data files


def read_csv(path, columns: dict[str, str], optional: dict[str, str] | None = None,
             codes: dict | None = None) -> pd.DataFrame:
    """Read a CSV (or .csv.gz) and check it has `columns` ({name: "int" | "float" | "str"}),
    no gaps. `optional` columns are read and checked the same way when the file has them.
    `codes`, a dict, receives an integer code per row of each "str" column (equal codes,
    equal stripped values)."""
    path = Path(path)
    try:
        head = pd.read_csv(path, nrows=0)
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"not a readable CSV ({str(exc).splitlines()[0]})", file=str(path)) from None
    names = {c.strip(): c for c in head.columns}
    columns = {**columns, **{k: v for k, v in (optional or {}).items() if k in names}}
    missing = [c for c in columns if c not in names]
    if missing:  # no key: the file has none of these columns, it is not one the user wrote
        raise DataError(f"missing column(s) {', '.join(missing)}; expected columns "
                        f"{','.join(columns)}, the file has {','.join(names)}", file=str(path))
    try:  # fast path: typed parsing; any problem falls back to the checks below
        df = pd.read_csv(path, usecols=[names[c] for c in columns], keep_default_na=False,
                         dtype={names[c]: (str if k == "str" else float) for c, k in columns.items()})
        df.columns = [c.strip() for c in df.columns]
        if not df.empty and all(np.isfinite(df[c].to_numpy()).all() for c, k in columns.items()
                                if k != "str"):
            out = {}
            for name, kind in columns.items():
                values = df[name]
                if kind == "str":  # strip each distinct value once (files repeat codes)
                    raw, uniques = pd.factorize(values)
                    stripped = np.asarray([u.strip() for u in uniques], dtype=object)
                    out[name] = pd.Series(stripped[raw], dtype=object)
                    if codes is not None:   # " a" and "a" are one value
                        codes[name] = pd.factorize(stripped)[0][raw]
                elif kind == "int":
                    if (values != values.round()).any():
                        raise ValueError
                    out[name] = values.astype(np.int64)
                else:
                    out[name] = values
            return pd.DataFrame(out)
    except (ValueError, TypeError, pd.errors.ParserError, UnicodeDecodeError):
        pass
    df = _read_csv_checked(path, columns)
    if codes is not None:
        codes.update({name: pd.factorize(df[name])[0] for name, kind in columns.items()
                      if kind == "str"})
    return df


def _read_csv_checked(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """The slow path: every cell as text, the first bad one named by row and column."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"not a readable CSV ({str(exc).splitlines()[0]})", file=str(path)) from None
    df.columns = [c.strip() for c in df.columns]
    if df.empty:
        raise DataError("no data rows", file=str(path))
    out = {}
    for name, kind in columns.items():
        text = df[name].str.strip()
        if kind == "str":
            out[name] = text
            continue
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"row {row + 2}: expected a number, got {text.iloc[row]!r}",
                            file=str(path), key=name)
        if kind == "int":
            if (values != values.round()).any():
                row = int(np.flatnonzero((values != values.round()).to_numpy())[0])
                raise DataError(f"row {row + 2}: expected an integer, got {text.iloc[row]!r}",
                                file=str(path), key=name)
            values = values.astype(np.int64)
        out[name] = values.astype(float) if kind == "float" else values
    return pd.DataFrame(out)


def region_sex_age_array(df: pd.DataFrame, value: str, path, regions, column: str
                         ) -> np.ndarray:
    """(R, 2, 106) from rows region,sex,age,value: every region, sex and age exactly once."""
    bad_sex = ~df["sex"].isin(SEXES)
    if bad_sex.any():
        raise DataError(f"expected female or male, got {df['sex'][bad_sex].iloc[0]!r}",
                        file=str(path), key="sex")
    check_range(df["age"].to_numpy(), path, "age", lower=0, upper=N_AGE - 1)
    index = {code: i for i, code in enumerate(regions)}
    rows = df[df[column].isin(index)]
    present = set(rows[column])
    missing = [code for code in regions if code not in present]
    if missing:
        raise DataError(f"no rows for {column} {missing[0]!r}", file=str(path), key=column)
    dup = rows.duplicated([column, "sex", "age"])
    if dup.any():
        r = rows[dup].iloc[0]
        raise DataError(f"duplicate row for {column} {r[column]}, {r['sex']}, age {r['age']}",
                        file=str(path), key="age")
    out = np.full((len(regions), 2, N_AGE), np.nan)
    out[rows[column].map(index).to_numpy(), (rows["sex"] == SEXES[1]).to_numpy().astype(int),
        rows["age"].to_numpy()] = rows[value].to_numpy(float)
    if np.isnan(out).any():
        r, s, a = np.argwhere(np.isnan(out))[0]
        raise DataError(f"missing age {a} for {SEXES[s]}s of {column} {regions[r]!r}; expected "
                        f"every age 0..{N_AGE - 1}", file=str(path), key="age")
    return out


def sex_age_array(df: pd.DataFrame, value: str, path, *, ages=AGES) -> np.ndarray:
    """A (2, len(ages)) array from rows sex,age,value; every sex and age exactly once."""
    bad_sex = ~df["sex"].isin(SEXES)
    if bad_sex.any():
        raise DataError(f"expected female or male, got {df['sex'][bad_sex].iloc[0]!r}",
                        file=str(path), key="sex")
    dup = df.duplicated(["sex", "age"])
    if dup.any():
        r = df[dup].iloc[0]
        raise DataError(f"duplicate row for sex {r['sex']}, age {r['age']}", file=str(path),
                        key="age")
    table = df.pivot(index="sex", columns="age", values=value)
    for sex in SEXES:
        if sex not in table.index:
            raise DataError(f"no rows for sex {sex}", file=str(path), key="sex")
        have = set(table.columns[table.loc[sex].notna()])
        lacking = [int(a) for a in ages if a not in have]
        if lacking:
            raise DataError(f"missing ages for {sex}: {_ranges(lacking)}; expected every age "
                            f"{ages[0]}..{ages[-1]}", file=str(path), key="age")
    extra = sorted(set(table.columns) - set(int(a) for a in ages))
    if extra:
        raise DataError(f"unexpected ages {_ranges(extra)}; expected {ages[0]}..{ages[-1]}",
                        file=str(path), key="age")
    return table.loc[list(SEXES), list(ages)].to_numpy(dtype=float)


def _ranges(values) -> str:
    values = sorted(int(v) for v in values)
    parts, start = [], values[0]
    for prev, cur in zip(values, values[1:] + [None]):
        if cur != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(parts)


def check_range(values: np.ndarray, path, column: str, lower=None, upper=None,
                strict_lower=False) -> None:
    values = np.asarray(values)
    if lower is not None:
        bad = values <= lower if strict_lower else values < lower
        if bad.any():
            sign = ">" if strict_lower else ">="
            raise DataError(f"expected values {sign} {lower}, got {values[bad].flat[0]:g}",
                            file=str(path), key=column)
    if upper is not None and (values > upper).any():
        raise DataError(f"expected values <= {upper}, got {values[values > upper].flat[0]:g}",
                        file=str(path), key=column)


def read_population_history(path) -> pd.DataFrame:
    """[municipality,]year,sex,age,persons as a tidy frame (counts at 1 January)."""
    codes: dict = {}
    df = read_csv(path, {"year": "int", "sex": "str", "age": "int", "persons": "float"},
                  optional={REGION: "str"}, codes=codes)
    check_range(df["persons"].to_numpy(), path, "persons", lower=0)
    keys = ([REGION] if REGION in df.columns else []) + ["year", "sex", "age"]
    dup = _repeated_rows([codes[k] if k in codes else df[k].to_numpy() for k in keys])
    if dup.any():
        r = df[dup].iloc[0]
        raise DataError(f"duplicate row for {', '.join(str(r[k]) for k in keys[:-1])}, age "
                        f"{r['age']}", file=str(path), key="age")
    return df


def _repeated_rows(keys: list[np.ndarray]) -> np.ndarray:
    """(N,) bool: the row's integer keys repeat an earlier row's (DataFrame.duplicated on
    integer columns, by counting cells when their number is small)."""
    lows = [k.min() for k in keys]
    dims = [int(k.max() - lo) + 1 for k, lo in zip(keys, lows)]
    if np.prod(np.asarray(dims, dtype=float)) > 5e7:
        return pd.DataFrame(dict(enumerate(keys))).duplicated().to_numpy()
    cell = np.ravel_multi_index([k - lo for k, lo in zip(keys, lows)], dims)
    if np.bincount(cell, minlength=int(np.prod(dims))).max() <= 1:
        return np.zeros(len(cell), dtype=bool)
    return pd.Series(cell).duplicated().to_numpy()


def regional_population(history: pd.DataFrame, regions, year: int, path) -> np.ndarray:
    """(R, 2, 106) persons of each region on 1 January `year`."""
    rows = history[history["year"] == year]
    if rows.empty:
        have = sorted(history["year"].unique())
        raise DataError(f"no counts for the base year {year}; the file has {_ranges(have)}",
                        file=str(path), key="year")
    return region_sex_age_array(rows, "persons", path, regions, REGION)


def population_in_year(history: pd.DataFrame, year: int, path) -> np.ndarray:
    rows = history[history["year"] == year]
    if rows.empty:
        have = sorted(history["year"].unique())
        raise DataError(f"no counts for the base year {year}; the file has {_ranges(have)}",
                        file=str(path), key="year")
    return sex_age_array(rows, "persons", path)


def read_mortality(path) -> np.ndarray:
    df = read_csv(path, {"sex": "str", "age": "int", "mx": "float"})
    mx = sex_age_array(df, "mx", path)
    check_range(mx, path, "mx", lower=0)
    check_range(mx[:, -1], path, "mx", lower=0, strict_lower=True)
    check_mortality_unit(mx, path)
    return mx


MIN_E0 = 15.0   # years; the lower bound of a life-expectancy assumption (scenario.py)


def check_mortality_unit(mx: np.ndarray, path) -> None:
    """Refuse death rates given per 1,000 (or per 100,000) persons instead of per person-year.

    The test is the life expectancy at birth the schedule implies, one number per sex that
    every rate counts towards: Norway's rates per person-year give about 80 years, the same
    rates per 1,000 give under one year (m(0) = 2 instead of 0.002: hardly anyone lives a
    year). Any real population has had more than 15 years; a schedule below that is in the
    wrong unit. (A test of single rates above 1 would miss a file per 1,000 that has only
    low rates at young ages, and would refuse the real m(x) > 1 of the oldest ages.)
    """
    for s, sex in enumerate(SEXES):
        e0 = life_expectancy(mx[s], sex)
        if e0 < MIN_E0:
            raise DataError(f"the {sex} rates give a life expectancy at birth of {e0:.2g} "
                            f"years; expected deaths per person-year (about 0.0001 to 0.001 "
                            f"at ages 1-40), not per 1,000 persons", file=str(path), key="mx")


def read_fertility(path) -> np.ndarray:
    """ASFR by age of mother as a 106-vector (zero outside the ages given)."""
    df = read_csv(path, {"age": "int", "asfr": "float"})
    if df["age"].duplicated().any():
        raise DataError(f"duplicate age {df['age'][df['age'].duplicated()].iloc[0]}",
                        file=str(path), key="age")
    check_range(df["age"].to_numpy(), path, "age", lower=10, upper=60)
    check_range(df["asfr"].to_numpy(), path, "asfr", lower=0, upper=1)
    asfr = np.zeros(N_AGE)
    asfr[df["age"].to_numpy()] = df["asfr"].to_numpy()
    if asfr.sum() <= 0:
        raise DataError("the fertility rates sum to zero", file=str(path), key="asfr")
    if asfr.sum() > MAX_TFR:
        raise DataError(f"the fertility rates sum to a TFR of {asfr.sum():.3g}; expected at "
                        f"most {MAX_TFR:g} children per woman (births per woman-year, not per "
                        "1,000 women)", file=str(path), key="asfr")
    return asfr


def read_sex_ratio(path) -> float:
    df = read_csv(path, {"male_per_female": "float"})
    if len(df) != 1:
        raise DataError(f"expected exactly one row, got {len(df)}", file=str(path))
    ratio = float(df["male_per_female"].iloc[0])
    check_range(np.array([ratio]), path, "male_per_female", lower=0.8, upper=1.3)
    return ratio


def read_migration(path, regions=None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """In-migrant counts and out-migration rates by component, sex and the age reached.

    Returns (inmig, outrate) of shape (components, 2, 106) and the component names. A file
    without a `component` column holds one component, "net" (net migration split into
    in-migrant counts at net-in ages and out-rates at net-out ages); with it, each component
    (e.g. domestic, international; gross or net) has its own rows for every sex and age.
    """
    df = read_csv(path, {"sex": "str", "age": "int", "inmig": "float", "outrate": "float"},
                  optional={"component": "str", REGION: "str"})
    if "component" not in df.columns:
        df = df.assign(component="net")
    components = tuple(dict.fromkeys(df["component"]))
    if regions is None:  # one region: (C, 2, 106)
        if REGION in df.columns:
            raise DataError(f"a file with a {REGION} column needs a multi-region scenario",
                            file=str(path), key=REGION)
        inmig = np.stack([sex_age_array(df[df["component"] == c], "inmig", path)
                          for c in components])
        outrate = np.stack([sex_age_array(df[df["component"] == c], "outrate", path)
                            for c in components])
    else:  # (C, R, 2, 106)
        if REGION not in df.columns:
            raise DataError(f"missing column {REGION}; every region needs its own schedule",
                            file=str(path), key=REGION)
        parts = [df[df["component"] == c] for c in components]
        inmig = np.stack([region_sex_age_array(p, "inmig", path, regions, REGION) for p in parts])
        outrate = np.stack([region_sex_age_array(p, "outrate", path, regions, REGION)
                            for p in parts])
    check_range(inmig, path, "inmig", lower=0)
    check_range(outrate, path, "outrate", lower=0, upper=1)
    check_range(outrate.sum(axis=0), path, "outrate", upper=1)
    return inmig, outrate, components


def read_e0_history(path) -> pd.DataFrame:
    df = read_csv(path, {"year": "int", "sex": "str", "e0": "float"})
    check_range(df["e0"].to_numpy(), path, "e0", lower=15, upper=110)
    return df
