"""Summary tables for the CLI and the workbook (computed here, printed by the caller)."""

from __future__ import annotations

import pandas as pd

from .population.model import BANDS

# the KOSTRA-style bands of the population stage, and the two totals planners read
AGE_GROUPS: dict[str, tuple[int, int]] = {**BANDS, "67+": (67, 105), "80+": (80, 105)}


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


def region_growth(ds, n: int = 5) -> pd.DataFrame:
    """The `n` regions with the largest and the `n` with the smallest growth of the total
    from the first to the last year: code, name, persons in both years, change %, and
    whether the region's history is flagged (not real counts)."""
    totals = ds["pop"].sum(["sex", "age"])
    years = totals["year"].values
    first, last = totals.sel(year=years[0]).to_numpy(), totals.sel(year=years[-1]).to_numpy()
    codes = [str(c) for c in ds["region"].values]
    names = ([str(x) for x in ds["region_name"].values] if "region_name" in ds.coords
             else codes)
    flagged = set(ds.attrs.get("flagged_regions", "").split(", "))
    table = pd.DataFrame({"region": codes, "name": names, int(years[0]): first,
                          int(years[-1]): last, "change %": 100.0 * (last / first - 1.0),
                          "flagged": [c in flagged for c in codes]})
    table = table.sort_values("change %", ascending=False, kind="stable")
    if len(table) > 2 * n:
        table = pd.concat([table.head(n), table.tail(n)])
    return table.reset_index(drop=True)


def population_summary(ds) -> pd.DataFrame:
    """Age groups in the summary years with the % change from the base year."""
    table = age_group_totals(ds["pop"])
    years = summary_years(table.columns)
    out = table[years].copy()
    base, end = years[0], years[-1]
    out["change"] = table[end] - table[base]
    out["change %"] = 100.0 * (table[end] / table[base] - 1.0)
    return out


SERVICE_MEASURES = {"need": ("need", 1.0), "capacity": ("capacity", 1.0), "gap": ("gap", 1.0),
                    "coverage": ("coverage %", 100.0), "hours": ("hours (1000)", 1e-3),
                    "cost": ("cost (NOK mill.)", 1e-6),
                    "investment": ("investment to date (NOK mill.)", 1e-6)}


def service_summary(demand, years=None) -> pd.DataFrame:
    """Per service and measure (rows) the values in the summary years (columns).

    Measures a service does not have (all NaN, or zero investment) are left out."""
    years = years or summary_years(demand["year"].values)
    rows, index = [], []
    for sid in demand["service"].values:
        row = demand.sel(service=sid)
        if "investment" in row:  # investment comes in lumps: show the sum since the base
            row["investment"] = row["investment"].fillna(0.0).cumsum("year")
        row = row.sel(year=years)
        label = str(row["label"].values) if "label" in row.coords else str(sid)
        unit = str(row["unit"].values) if "unit" in row.coords else ""
        for var, (name, scale) in SERVICE_MEASURES.items():
            if var not in row:
                continue
            values = row[var].values.astype(float)
            if not pd.notna(values).any() or (var == "investment" and not values.any()):
                continue
            shown = f"{name} ({unit})" if var in ("need", "capacity", "gap") and unit else name
            index.append((label, shown))
            rows.append(values * scale)
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["service", "measure"]),
                        columns=years)


SUMMED = ("need", "capacity", "gap", "group_population", "hours", "cost", "investment")


def regions_total(demand):
    """Demand summed over regions (counts, hours and NOK add up; coverage is recomputed as
    need ÷ group population of all regions)."""
    total = demand[[v for v in SUMMED if v in demand]].sum("region", min_count=1)
    total["coverage"] = total["need"] / total["group_population"]
    return total.assign_coords({c: demand[c] for c in ("label", "unit") if c in demand.coords})


def comparison_summary(demands: dict, years=None) -> pd.DataFrame:
    """Scenarios side by side: for each service and measure, a row per scenario and the rows
    "Δ name" and "Δ % name" per later scenario with its difference from the first (absolute
    and in percent of the first; Δ % is left out for measures in percent and for the gap,
    which changes sign). Index: service,
    measure, scenario."""
    names = list(demands)
    tables = {name: service_summary(ds, years) for name, ds in demands.items()}
    first = tables[names[0]]
    index = first.index
    for table in tables.values():
        index = index.union(table.index, sort=False)
    rows = []
    for service, measure in index:
        base = first.reindex([(service, measure)]).iloc[0]
        for name in names:
            value = tables[name].reindex([(service, measure)]).iloc[0]
            rows.append(((service, measure, name), value))
            if name != names[0]:
                rows.append(((service, measure, f"Δ {name}"), value - base))
                if not measure.endswith("%") and not measure.startswith("gap"):
                    pct = 100.0 * (value - base) / base.where(base != 0)
                    rows.append(((service, measure, f"Δ % {name}"), pct))
    return pd.DataFrame([r for _, r in rows],
                        index=pd.MultiIndex.from_tuples([k for k, _ in rows],
                                                        names=["service", "measure", "scenario"]))


def short_names(names: list[str]) -> list[str]:
    """Names without the prefix they all share ("baerum-ldip", "baerum-x" -> "ldip", "x")."""
    import os

    prefix = os.path.commonprefix(names)
    prefix = prefix[: prefix.rfind("-") + 1] if "-" in prefix else ""
    return [n[len(prefix):] or n for n in names] if len(names) > 1 else names
