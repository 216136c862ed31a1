"""The service backtest: what a base-year scenario (the 2018-based LDIP) says about social
assistance in later years, against what the documents report for those years
(data/baerum/service_outcomes.csv), beside the naive "same as the last known value".

The documents count recipients, months and payments on other definitions than the scenario
(README, social assistance), so the forecast is scored on the documents' definitions: the
last value known at the base (role known_2018) carried forward by the scenario's own change
from the base year,

    forecast(t) = known × model(t) / model(base)        naive(t) = known

  share_18_66, share_18_67_profile   model = recipients of every service whose id starts
                                     with `prefix` ÷ residents 18–66
  months                             model = months per recipient (recipient-weighted)
  payment_per_recipient              model = cost ÷ recipients, in fixed prices; forecast and
                                     naive are put into current prices with the cpi rows,
                                     since the outcomes are published in current kroner
Errors are forecast − outcome, and in percent of the outcome.
"""

from __future__ import annotations

import pandas as pd

from .errors import ForecastError

SHARE_MEASURES = ("share_18_66", "share_18_67_profile")


def model_paths(demand, population, prefix: str = "sosialhjelp") -> pd.DataFrame:
    """The scenario's social assistance by year: recipients, share of 18–66 (percent),
    months per recipient, payment per recipient (NOK, the scenario's price year)."""
    ids = [str(s) for s in demand["service"].values if str(s).startswith(prefix)]
    if not ids:
        raise ForecastError(f"the scenario has no service whose id starts with {prefix!r}",
                            key="services")
    part = demand.sel(service=ids)
    recipients = part["need"].sum("service")
    months = (part["need"] * part["months_per_user"]).sum("service") / recipients
    cost = part["cost"].sum("service")
    persons = population["pop"].sum("sex").sel(age=slice(18, 66)).sum("age")
    persons = persons.sel(year=recipients["year"])
    return pd.DataFrame({"recipients": recipients.to_series(),
                         "share_18_66": 100.0 * (recipients / persons).to_series(),
                         "months": months.to_series(),
                         "payment_per_recipient": (cost / recipients).to_series()})


def service_backtest(demand, population, outcomes: pd.DataFrame, *,
                     prefix: str = "sosialhjelp") -> pd.DataFrame:
    """One row per measure and outcome year: outcome, forecast, naive and their errors."""
    paths = model_paths(demand, population, prefix)
    base, last = int(paths.index[0]), int(paths.index[-1])
    cpi = outcomes[outcomes["measure"] == "cpi"].set_index("year")["value"]
    rows = []
    for measure, part in outcomes[outcomes["measure"] != "cpi"].groupby("measure", sort=False):
        known = part[part["role"] == "known_2018"].iloc[-1]
        if int(known["year"]) > base:
            raise ForecastError(f"{measure}: the known value is of {int(known['year'])}, after "
                                f"the base year {base}", key="role")
        column = "share_18_66" if measure in SHARE_MEASURES else measure
        for _, out in part[part["role"] == "outcome"].iterrows():
            year = int(out["year"])
            if not base < year <= last:
                continue
            forecast = known["value"] * paths.loc[year, column] / paths.loc[base, column]
            naive = float(known["value"])
            if measure == "payment_per_recipient":
                if year not in cpi.index or base not in cpi.index:
                    raise ForecastError(f"payment_per_recipient {year} needs cpi rows for "
                                        f"{base} and {year}", key="cpi")
                prices = cpi[year] / cpi[base]
                forecast, naive = forecast * prices, naive * prices
            rows.append({"measure": measure, "year": year, "outcome": out["value"],
                         "forecast": forecast, "naive": naive,
                         "forecast_error": forecast - out["value"],
                         "naive_error": naive - out["value"],
                         "forecast_error_pct": 100.0 * (forecast / out["value"] - 1.0),
                         "naive_error_pct": 100.0 * (naive / out["value"] - 1.0),
                         "unit": out["unit"], "source": out["source"]})
    if not rows:
        raise ForecastError(f"no outcome in the scenario's years {base + 1}-{last}",
                            key="year")
    return pd.DataFrame(rows)


def mean_absolute_errors(table: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute % error of forecast and naive per measure."""
    return (table.assign(forecast=table["forecast_error_pct"].abs(),
                         naive=table["naive_error_pct"].abs())
            .groupby("measure", sort=False)[["forecast", "naive"]].mean())
