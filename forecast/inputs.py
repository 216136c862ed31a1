"""Reading data/ files into arrays, with schema checks that name the file and column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .population.kernel import N_AGE
from .population.rates import SEXES
AGES = np.arange(N_AGE)


def read_csv(path, columns: dict[str, str], optional: dict[str, str] | None = None
             ) -> pd.DataFrame:
    """Read a CSV and check it has `columns` ({name: "int" | "float" | "str"}), no gaps.

    `optional` columns are read and checked the same way when the file has them."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"not a readable CSV ({str(exc).splitlines()[0]})", file=str(path)) from None
    df.columns = [c.strip() for c in df.columns]
    columns = {**columns, **{k: v for k, v in (optional or {}).items() if k in df.columns}}
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; expected columns "
                        f"{','.join(columns)}", file=str(path), key=missing[0])
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
    """year,sex,age,persons as a tidy frame (counts at 1 January)."""
    df = read_csv(path, {"year": "int", "sex": "str", "age": "int", "persons": "float"})
    check_range(df["persons"].to_numpy(), path, "persons", lower=0)
    dup = df.duplicated(["year", "sex", "age"])
    if dup.any():
        r = df[dup].iloc[0]
        raise DataError(f"duplicate row for {r['year']}, {r['sex']}, age {r['age']}",
                        file=str(path), key="age")
    return df


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
    return mx


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
    return asfr


def read_sex_ratio(path) -> float:
    df = read_csv(path, {"male_per_female": "float"})
    if len(df) != 1:
        raise DataError(f"expected exactly one row, got {len(df)}", file=str(path))
    ratio = float(df["male_per_female"].iloc[0])
    check_range(np.array([ratio]), path, "male_per_female", lower=0.8, upper=1.3)
    return ratio


def read_migration(path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """In-migrant counts and out-migration rates by component, sex and the age reached.

    Returns (inmig, outrate) of shape (components, 2, 106) and the component names. A file
    without a `component` column holds one component, "net" (net migration split into
    in-migrant counts at net-in ages and out-rates at net-out ages); with it, each component
    (e.g. domestic, international; gross or net) has its own rows for every sex and age.
    """
    df = read_csv(path, {"sex": "str", "age": "int", "inmig": "float", "outrate": "float"},
                  optional={"component": "str"})
    if "component" not in df.columns:
        df = df.assign(component="net")
    components = tuple(dict.fromkeys(df["component"]))
    inmig = np.stack([sex_age_array(df[df["component"] == c], "inmig", path) for c in components])
    outrate = np.stack([sex_age_array(df[df["component"] == c], "outrate", path)
                        for c in components])
    check_range(inmig, path, "inmig", lower=0)
    check_range(outrate, path, "outrate", lower=0, upper=1)
    check_range(outrate.sum(axis=0), path, "outrate", upper=1)
    return inmig, outrate, components


def read_e0_history(path) -> pd.DataFrame:
    df = read_csv(path, {"year": "int", "sex": "str", "e0": "float"})
    check_range(df["e0"].to_numpy(), path, "e0", lower=15, upper=110)
    return df


@dataclass
class PopulationInputs:
    """Everything the population stage reads from disk, as arrays (sex order female, male)."""
    base_pop: np.ndarray        # (2, 106) persons at 1 January of the base year
    mx: np.ndarray              # (2, 106) central death rates, 105 = open group
    asfr: np.ndarray            # (106,) births per woman-year by age of mother
    sex_ratio: float            # male births per female birth
    inmig: np.ndarray           # (components, 2, 106) in-migrants per year by age reached
    outrate: np.ndarray         # (components, 2, 106) out-migrants per mid-year resident
    e0_history: pd.DataFrame | None = None
    components: tuple[str, ...] = ("net",)


def load_population_inputs(scenario) -> PopulationInputs:
    s = scenario.raw
    pop_file = s["population"]["file"]
    history = read_population_history(pop_file)
    e0_file = s["mortality"].get("e0_history_file")
    inmig, outrate, components = read_migration(s["migration"]["file"])
    return PopulationInputs(
        base_pop=population_in_year(history, scenario.base_year, pop_file),
        mx=read_mortality(s["mortality"]["file"]),
        asfr=read_fertility(s["fertility"]["file"]),
        sex_ratio=read_sex_ratio(s["fertility"]["sex_ratio_file"]),
        inmig=inmig, outrate=outrate, components=components,
        e0_history=read_e0_history(e0_file) if e0_file else None,
    )
