"""Growth of cost between two years split into demography, coverage, intensity and unit-cost
effects and their interaction (a multiplicative decomposition, as the planning documents
decompose social assistance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .cost import BASES, INTENSITY
from .errors import ForecastError


def growth_decomposition(ratios: dict[str, float]) -> dict[str, float]:
    """Percent changes of a product of factors: each factor's own change, the combined
    (interaction) term = total − sum of the single changes, and the total.

    {"recipients": 1.041, "months": 1.157, "payment": 1.039} → recipients 4.1, months 15.7,
    payment 3.9, combined 1.4, total 25.1 (percent).
    """
    out = {name: (r - 1.0) * 100.0 for name, r in ratios.items()}
    total = (float(np.prod(list(ratios.values()))) - 1.0) * 100.0
    out["combined"] = total - sum(out.values())
    out["total"] = total
    return out


def _year_index(result, year, name) -> int:
    years = [int(y) for y in result["year"].values]
    if year not in years:
        raise ForecastError(f"expected a year in {years[0]}-{years[-1]}, got {year!r}", key=name)
    return years.index(year)


def decompose(result: xr.Dataset, service: str | None, year_from: int, year_to: int, *,
              split_users: bool | None = None) -> pd.DataFrame:
    """Growth of cost (need, where a service has no cost) from year_from to year_to.

    cost = users × (volume / user) × (cost / volume), and users = demography × coverage:
      demography  users at year_from's coverage of each age group with year_to's population,
                  ÷ users in year_from (with one group: the group population's growth)
      coverage    the rest of the change in users (coverage, substitution)
      users       demography × coverage, used instead of the two when split_users is False
                  (default for basis "months": recipients × months per recipient × payment
                  per month, as the planning documents decompose social assistance)
      intensity   volume per user (hours, months or places per user; not for basis "need")
      unit_cost   NOK per unit of the basis
      combined    the interaction term: total change − the sum of the single changes
      total       cost(year_to) ÷ cost(year_from)
    Columns: service, effect, measure, from_value, to_value, ratio, change_pct (percent), nok
    (= cost(year_from) × change of the factor alone; combined takes the rest, so the effects
    add up to the total change in NOK).
    """
    lead = [d for d in result["need"].dims if d not in ("service", "year")]
    if lead:
        raise ForecastError(f"decompose works on one municipality: select one first (e.g. "
                            f"result.sel({lead[0]}=...)); the result has the dims "
                            f"{', '.join(lead)}", key=lead[0])
    i0 = _year_index(result, year_from, "year_from")
    i1 = _year_index(result, year_to, "year_to")
    ids = [str(s) for s in result["service"].values]
    if service is not None and service not in ids:
        raise ForecastError(f"unknown service {service!r}; expected one of {', '.join(ids)}",
                            key="service")
    rows = []
    for sid in ids if service is None else [service]:
        rows.extend(_decompose_one(result.sel(service=sid), sid, i0, i1, split_users))
    columns = ["service", "effect", "measure", "from_value", "to_value", "ratio", "change_pct",
               "nok"]
    return pd.DataFrame(rows, columns=columns)


def _val(row, name, i) -> float:
    return float(row[name].values[i]) if name in row else float("nan")


def _decompose_one(row, sid, i0, i1, split_users):
    unit = str(row["unit"].values) if "unit" in row.coords else "users"
    basis = str(row["cost_basis"].values) if "cost_basis" in row.coords else ""
    need0, need1 = _val(row, "need", i0), _val(row, "need", i1)
    gp0, gp1 = _val(row, "group_population", i0), _val(row, "group_population", i1)
    cost0, cost1 = _val(row, "cost", i0), _val(row, "cost", i1)
    has_cost = np.isfinite(cost0) and np.isfinite(cost1) and basis != ""
    with np.errstate(divide="ignore", invalid="ignore"):
        demography = gp1 / gp0
        if "need_by_group" in row:
            nbg0 = row["need_by_group"].values[:, i0]
            pbg0 = row["population_by_group"].values[:, i0]
            pbg1 = row["population_by_group"].values[:, i1]
            used = np.isfinite(nbg0)
            if used.any() and nbg0[used].sum() > 0:
                rate0 = np.where(pbg0[used] > 0, nbg0[used] / pbg0[used], 0.0)
                demography = float((rate0 * pbg1[used]).sum() / nbg0[used].sum())
        users = need1 / need0
        factors = []
        if split_users is None:
            split_users = basis != "months"
        if split_users:
            # shown as users, so that to / from is the ratio in every row: users at the
            # first year's coverage of each age group with the second year's population
            at_old_coverage = need0 * demography
            factors += [("demography", f"{unit}, coverage held", need0,
                         at_old_coverage, demography),
                        ("coverage", unit, at_old_coverage, need1, users / demography)]
        else:
            factors.append(("users", unit, need0, need1, users))
        if has_cost:
            vol0, vol1 = _val(row, "volume", i0), _val(row, "volume", i1)
            if basis != "need":
                factors.append(("intensity", INTENSITY[basis], vol0 / need0, vol1 / need1,
                                (vol1 / need1) / (vol0 / need0)))
            factors.append(("unit_cost", f"NOK per {BASES[basis]}", cost0 / vol0, cost1 / vol1,
                            (cost1 / vol1) / (cost0 / vol0)))
            level0, level1, measure = cost0, cost1, "NOK"
        else:
            level0, level1, measure = need0, need1, unit
    pct = growth_decomposition({f[0]: f[4] for f in factors})
    nok_base = cost0 if has_cost else float("nan")
    rows = [{"service": sid, "effect": name, "measure": meas, "from_value": a, "to_value": b,
             "ratio": r, "change_pct": pct[name], "nok": nok_base * (r - 1.0)}
            for name, meas, a, b, r in factors]
    total_nok = cost1 - cost0 if has_cost else float("nan")
    rows.append({"service": sid, "effect": "combined", "measure": "interaction",
                 "from_value": np.nan, "to_value": np.nan, "ratio": np.nan,
                 "change_pct": pct["combined"],
                 "nok": total_nok - sum(r["nok"] for r in rows)})
    rows.append({"service": sid, "effect": "total", "measure": measure, "from_value": level0,
                 "to_value": level1, "ratio": level1 / level0 if level0 else np.nan,
                 "change_pct": pct["total"], "nok": total_nok})
    return rows
