"""Growth of cost between two years split into demography, coverage, intensity and unit-cost
effects.

Two splits of the same growth, side by side:
  * multiplicative, as the planning documents decompose social assistance: each factor's own
    change (ratio − 1) and a combined (interaction) term = total change − their sum;
  * log-based (LMDI-I, Ang 2004): factor i gets L(C0, C1) × ln(ratio_i), with the
    logarithmic mean L(a, b) = (b − a) / ln(b / a). Because ln(C1/C0) = Σ ln(ratio_i), these
    parts add up to C1 − C0 exactly, with no interaction left over.
For 000's social assistance 2015–2019 (+4.1 % recipients, +15.7 % months, +3.9 % payment per
month): 1.041 × 1.157 × 1.039 = 1.2514, combined 25.14 − 23.7 = 1.44 points; LMDI gives
4.50 + 16.35 + 4.29 = 25.14 % of the first year's cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .cost import BASES, INTENSITY
from .errors import ForecastError
from .paths import evaluate


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


def log_mean(a: float, b: float) -> float:
    """The logarithmic mean (b − a) / ln(b / a); a where a == b."""
    if a == b:
        return a
    return (b - a) / np.log(b / a)


def lmdi(level0: float, level1: float, ratios: dict[str, float]) -> dict[str, float]:
    """LMDI-I: the change level1 − level0 of a product of factors shared out by ln(ratio):
    the parts add up to level1 − level0 exactly. Needs positive levels and ratios."""
    weight = log_mean(level0, level1)
    return {name: weight * float(np.log(r)) for name, r in ratios.items()}


def decompose_paths(factors: dict[str, object], year_from: int, year_to: int,
                    measures: dict[str, str] | None = None) -> pd.DataFrame:
    """The decomposition of a product of dated values (a number or {year = value} each),
    e.g. observed recipients × months per recipient × payment per month on history:

        decompose_paths({"recipients": {2015: 100, 2019: 104.1},
                         "months": {2015: 100, 2019: 115.7},
                         "payment": {2015: 100, 2019: 103.9}}, 2015, 2019)

    Columns as `decompose` (service empty); `nok` is in the unit of the product."""
    if year_to <= year_from:
        raise ForecastError(f"expected a later year than {year_from}, got {year_to}",
                            key="--to")
    measures = measures or {}
    rows = []
    for name, spec in factors.items():
        a, b = (float(v) for v in evaluate(spec, [year_from, year_to]))
        if not (a > 0 and b > 0):
            raise ForecastError(f"expected positive values in {year_from} and {year_to}, got "
                                f"{a:g} and {b:g}", key=name)
        rows.append((name, measures.get(name, ""), a, b, b / a))
    level0 = float(np.prod([r[2] for r in rows]))
    level1 = float(np.prod([r[3] for r in rows]))
    return pd.DataFrame(_rows("", rows, level0, level1, "product", level0), columns=COLUMNS)


COLUMNS = ["service", "effect", "measure", "from_value", "to_value", "ratio", "change_pct",
           "nok", "lmdi_pct", "lmdi_nok", "part_of"]


def _rows(sid, factors, level0, level1, measure, nok_base, parts=()) -> list[dict]:
    """Rows of one decomposition: each factor, the combined term, the total, then `parts`
    (a split of one factor, part_of naming it; not counted in the sums)."""
    pct = growth_decomposition({f[0]: f[4] for f in factors})
    ok = all(np.isfinite(f[4]) and f[4] > 0 for f in factors) and level0 > 0 and level1 > 0
    shares = lmdi(level0, level1, {f[0]: f[4] for f in factors}) if ok else {}
    rows = [{"service": sid, "effect": name, "measure": meas, "from_value": a, "to_value": b,
             "ratio": r, "change_pct": pct[name], "nok": nok_base * (r - 1.0),
             "lmdi_pct": 100.0 * shares[name] / level0 if ok else np.nan,
             "lmdi_nok": shares[name] / level0 * nok_base if ok else np.nan, "part_of": ""}
            for name, meas, a, b, r in factors]
    total_nok = nok_base * (level1 / level0 - 1.0) if level0 else np.nan
    rows.append({"service": sid, "effect": "combined", "measure": "interaction",
                 "from_value": np.nan, "to_value": np.nan, "ratio": np.nan,
                 "change_pct": pct["combined"],
                 "nok": total_nok - sum(r["nok"] for r in rows), "lmdi_pct": 0.0 if ok else np.nan,
                 "lmdi_nok": 0.0 if ok else np.nan, "part_of": ""})
    rows.append({"service": sid, "effect": "total", "measure": measure, "from_value": level0,
                 "to_value": level1, "ratio": level1 / level0 if level0 else np.nan,
                 "change_pct": pct["total"], "nok": total_nok,
                 "lmdi_pct": pct["total"] if ok else np.nan,
                 "lmdi_nok": total_nok if ok else np.nan, "part_of": ""})
    for part_of, name, meas, a, b, r in parts:
        whole = next(row for row in rows if row["effect"] == part_of)
        share = np.log(r) / np.log(whole["ratio"]) if whole["ratio"] != 1 else np.nan
        rows.append({"service": sid, "effect": name, "measure": meas, "from_value": a,
                     "to_value": b, "ratio": r, "change_pct": (r - 1.0) * 100.0,
                     "nok": nok_base * (r - 1.0), "lmdi_pct": whole["lmdi_pct"] * share,
                     "lmdi_nok": whole["lmdi_nok"] * share, "part_of": part_of})
    return rows


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
    add up to the total change in NOK), lmdi_pct and lmdi_nok (the log-based split: the
    factors add up to the total exactly, combined is 0), part_of (empty; for basis "months"
    two more rows split `users` into demography — the group population, or for coverage kind
    "settlement" the persons settled in the years counted — and the rate, with
    part_of = "users"; they are not counted in the sums).
    A service with no users in year_from has no ratios: an error naming it when it is asked
    for, left out (listed in `attrs["skipped"]`) when every service is.
    """
    lead = [d for d in result["need"].dims if d not in ("service", "year")]
    if lead:
        raise ForecastError(f"decompose works on one municipality: select one first (e.g. "
                            f"result.sel({lead[0]}=...)); the result has the dims "
                            f"{', '.join(lead)}", key=lead[0])
    # keys name the options of `forecast decompose`, as the user typed them
    i0 = _year_index(result, year_from, "--from")
    i1 = _year_index(result, year_to, "--to")
    if year_to <= year_from:
        raise ForecastError(f"expected a year after --from {year_from}, got {year_to}",
                            key="--to")
    ids = [str(s) for s in result["service"].values]
    if service is not None and service not in ids:
        raise ForecastError(f"unknown service {service!r}; expected one of {', '.join(ids)}",
                            key="--service")
    rows, skipped = [], []
    for sid in ids if service is None else [service]:
        row = result.sel(service=sid)
        need0 = _val(row, "need", i0)
        if service is None and not need0 > 0:   # all services: leave it out, say which
            skipped.append(sid)
            continue
        if not need0 > 0:
            raise ForecastError(f"service {sid!r} has no users in {year_from} (need "
                                f"{need0:g}): growth from zero has no ratio to split; choose a "
                                f"year with users as --from", file=result.attrs.get(
                                    "scenario_file"), key=f"services.{sid}")
        rows.extend(_decompose_one(row, sid, i0, i1, split_users))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["skipped"] = skipped
    return table


def _val(row, name, i) -> float:
    return float(row[name].values[i]) if name in row else float("nan")


def _decompose_one(row, sid, i0, i1, split_users):
    unit = str(row["unit"].values) if "unit" in row.coords else "users"
    basis = str(row["cost_basis"].values) if "cost_basis" in row.coords else ""
    need0, need1 = _val(row, "need", i0), _val(row, "need", i1)
    gp0, gp1 = _val(row, "group_population", i0), _val(row, "group_population", i1)
    cost0, cost1 = _val(row, "cost", i0), _val(row, "cost", i1)
    has_cost = np.isfinite(cost0) and np.isfinite(cost1) and basis != "" and cost0 > 0
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
        parts = []
        if not split_users:   # social assistance: recipients = group population × rate
            drawn_from = "persons in the groups"
            s0, s1 = _val(row, "settled_recent", i0), _val(row, "settled_recent", i1)
            if np.isfinite(s0) and np.isfinite(s1) and s0 > 0:   # drawn from the settled
                gp0, gp1, demography = s0, s1, s1 / s0
                drawn_from = "persons settled in the years counted"
            parts = [("users", "demography", drawn_from, gp0, gp1, demography),
                     ("users", "rate", f"{unit} per person", need0 / gp0, need1 / gp1,
                      users / demography)]
    nok_base = cost0 if has_cost else float("nan")
    return _rows(sid, factors, level0, level1, measure, nok_base, parts)
