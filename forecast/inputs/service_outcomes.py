"""data/baerum/service_outcomes.csv: what the documents report for years after the base, read
only by the service backtest (`forecast backtest --services`), never by a projection.

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
    if (df["value"] <= 0).any():
        row = df[df["value"] <= 0].iloc[0]
        raise DataError(f"expected a positive value, got {row['value']:g} for {row['measure']} "
                        f"{row['year']}", file=file, key="value")
    if df.duplicated(["measure", "year"]).any():
        row = df[df.duplicated(["measure", "year"])].iloc[0]
        raise DataError(f"{row['measure']} {row['year']} is given twice", file=file, key="year")
    for measure, part in df[df["measure"] != "cpi"].groupby("measure"):
        if not (part["role"] == "known_2018").any():
            raise DataError(f"{measure} has no known_2018 row (the level a 2018 plan had)",
                            file=file, key="role")
    return df.sort_values(["measure", "year"]).reset_index(drop=True)
