"""Summary tables for the CLI and the workbook (computed here, printed by the caller)."""

from __future__ import annotations

import pandas as pd

AGE_GROUPS: dict[str, tuple[int, int]] = {
    "0-5": (0, 5), "6-15": (6, 15), "16-66": (16, 66), "67-79": (67, 79),
    "80-89": (80, 89), "90+": (90, 105), "67+": (67, 105), "80+": (80, 105),
}


def summary_years(years) -> list[int]:
    """The base year, every fifth year after it, and the end year."""
    years = [int(y) for y in years]
    picked = years[::5]
    if picked[-1] != years[-1]:
        picked.append(years[-1])
    return picked


def age_group_totals(pop) -> pd.DataFrame:
    """Persons by age group (rows) and year (columns) from pop(year, sex, age)."""
    by_age = pop.sum("sex")
    rows = {name: by_age.sel(age=slice(lo, hi)).sum("age").to_series()
            for name, (lo, hi) in AGE_GROUPS.items()}
    rows["Total"] = by_age.sum("age").to_series()
    return pd.DataFrame(rows).T


def population_summary(ds) -> pd.DataFrame:
    """Age groups in the summary years with the % change from the base year."""
    table = age_group_totals(ds["pop"])
    years = summary_years(table.columns)
    out = table[years].copy()
    base, end = years[0], years[-1]
    out["change"] = table[end] - table[base]
    out["change %"] = 100.0 * (table[end] / table[base] - 1.0)
    return out
