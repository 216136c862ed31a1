"""data/baerum/service_outcomes.csv: what the documents report for years after the base, read
only by the service backtest (`forecast backtest --services`), never by a projection; and
observed factors for `forecast decompose --history` (read_factor_history).

Columns: measure,year,value,unit,role,source. role = known_2018 (the last value a 2018 plan
had: the level the forecast is anchored to, and the naive benchmark), outcome (a later
figure to score against) or price_index (the consumer price index, to put kroner of the
forecast's price year into the current prices the outcomes are published in).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataError
from .tables import read_csv

ROLES = ("known_2018", "outcome", "price_index")
MEASURES = ("share_18_66", "share_18_67_profile", "months", "payment_per_recipient", "cpi")


def read_service_outcomes(path: str | Path) -> pd.DataFrame:
    df = read_csv(path, {"measure": "str", "year": "int", "value": "float", "unit": "str",
                         "role": "str", "source": "str"})
    file = str(path)
    for column, allowed in (("measure", MEASURES), ("role", ROLES)):
        bad = sorted(set(df[column]) - set(allowed))
        if bad:
            raise DataError(f"unknown {column} {bad[0]!r}; expected one of "
                            f"{', '.join(allowed)}", file=file, key=column)
    _check_positive_once(df, "measure", file)
    for measure, part in df[df["measure"] != "cpi"].groupby("measure"):
        if not (part["role"] == "known_2018").any():
            raise DataError(f"{measure} has no known_2018 row (the level a 2018 plan had)",
                            file=file, key="role")
    return df.sort_values(["measure", "year"]).reset_index(drop=True)


def _check_positive_once(df, name: str, file: str) -> None:
    """Every value positive, and each (name, year) given once."""
    if (df["value"] <= 0).any():
        row = df[df["value"] <= 0].iloc[0]
        raise DataError(f"expected a positive value, got {row['value']:g} for {row[name]} "
                        f"{row['year']}", file=file, key="value")
    if df.duplicated([name, "year"]).any():
        row = df[df.duplicated([name, "year"])].iloc[0]
        raise DataError(f"{row[name]} {row['year']} is given twice", file=file, key="year")


def read_factor_history(path: str | Path, year_from: int, year_to: int
                        ) -> tuple[dict[str, dict[int, float]], dict[str, str]]:
    """CSV year,factor,value[,unit][,source]: observed factors (recipients, months per
    recipient, payment per month, …) by year → ({factor: {year: value}}, {factor: unit}).
    Every factor needs a value in both years."""
    df = read_csv(path, {"year": "int", "factor": "str", "value": "float"},
                  optional={"unit": "str", "source": "str"})
    file = str(path)
    _check_positive_once(df, "factor", file)
    factors, units = {}, {}
    for name, part in df.groupby("factor", sort=False):
        values = dict(zip(part["year"].astype(int), part["value"].astype(float)))
        for year, option in ((year_from, "--from"), (year_to, "--to")):
            if year not in values:
                raise DataError(f"factor {name!r} has no value for {option} {year} (years "
                                f"{', '.join(map(str, sorted(values)))})", file=file, key="year")
        factors[name] = values
        units[name] = str(part["unit"].iloc[0]) if "unit" in part else ""
    return factors, units
