"""Cost stage: fixed prices, real growth, investment, growth decomposition (hand-checked)."""

import tomllib

import numpy as np
import pytest
import xarray as xr

from forecast.cost import compute_cost, growth_index, merge_assumptions, parse_costs
from forecast.decomposition import decompose, growth_decomposition
from conftest import synthetic_population as population
from forecast.demand import compute_demand, parse_demand
from forecast.errors import ForecastError


def run(toml, pop):
    years = pop["year"].values
    raw, base, end = tomllib.loads(toml), int(years[0]), int(years[-1])
    config = parse_demand(raw, "test.toml", base, end)
    return compute_cost(compute_demand(pop, config),
                        parse_costs(raw, "test.toml", base, end, config.services))


def test_growth_decomposition_of_social_assistance_2015_2019():
    """+4.1 % recipients, +15.7 % months per recipient, +3.9 % payment per month."""
    d = growth_decomposition({"recipients": 1.041, "months": 1.157, "payment": 1.039})
    assert round(d["total"], 1) == 25.1
    assert round(d["combined"], 1) == 1.4
    assert d["recipients"] == pytest.approx(4.1)
    assert d["recipients"] + d["months"] + d["payment"] + d["combined"] == pytest.approx(d["total"])


def test_decompose_social_assistance_recipients_months_payment():
    pop = population(range(2015, 2020), {40: [1000] * 5})
    ds = run("""
[cost]
price_year = 2015
[services.sos]
label = "Sosialhjelp"
unit = "mottakere"
groups = "18-66"
intensity = {months_per_user = {2015 = 5.0, 2019 = 5.785}}
coverage = {kind = "path", rate = {2015 = 0.1, 2019 = 0.1041}}
cost = {basis = "months", unit_cost = {2015 = 10000, 2019 = 10390}, price_year = 2015}
""", pop)
    # 100 recipients × 5 months × 10,000 = 5.0 million in 2015
    assert ds["cost"].sel(service="sos", year=2015).item() == pytest.approx(5_000_000)
    everything = decompose(ds, "sos", 2015, 2019)
    assert list(everything["effect"]) == ["users", "intensity", "unit_cost", "combined", "total",
                                          "demography", "rate"]
    # recipients = persons 18-66 (flat at 1,000) × rate (10 % → 10.41 %)
    parts = everything[everything["part_of"] == "users"].set_index("effect")
    assert parts.loc["demography", "ratio"] == pytest.approx(1.0)
    assert parts.loc["rate", "ratio"] == pytest.approx(1.041)
    df = everything[everything["part_of"] == ""].set_index("effect")
    assert df.loc["users", "change_pct"] == pytest.approx(4.1)
    assert df.loc["intensity", "change_pct"] == pytest.approx(15.7)
    assert df.loc["unit_cost", "change_pct"] == pytest.approx(3.9)
    assert round(df.loc["combined", "change_pct"], 1) == 1.4
    assert round(df.loc["total", "change_pct"], 1) == 25.1
    assert df["nok"].iloc[:-1].sum() == pytest.approx(df.loc["total", "nok"])
    assert df.loc["users", "nok"] == pytest.approx(0.041 * 5_000_000)


def test_handlingsprogram_62_6_recipients_a_year_at_120000():
    """+62.6 recipients a year → +313 in 2018-2023 → about NOK 37.6 million more a year."""
    pop = population(range(2018, 2024), {40: [10_000] * 6})
    ds = run("""
[cost]
price_year = 2018
[services.sos]
label = "Sosialhjelp"
unit = "mottakere"
groups = "18-66"
coverage = {kind = "trend", history = {2014 = 1000, 2018 = 1250.4}, window = [2014, 2018]}
cost = {basis = "need", unit_cost = 120000, price_year = 2018}
""", pop)
    need = ds["need"].sel(service="sos")
    cost = ds["cost"].sel(service="sos")
    assert (need.sel(year=2023) - need.sel(year=2018)).item() == pytest.approx(313)
    extra = (cost.sel(year=2023) - cost.sel(year=2018)).item()
    assert extra == pytest.approx(37_560_000)
    assert round(extra / 1e6, 1) == 37.6


HOME = """
[cost]
price_year = 2018
real_growth = {growth}
price_index = {{2016 = 95.0, 2018 = 100.0}}
[services.h]
label = "Home care"
unit = "brukere"
groups = "80+"
intensity = {{hours_per_user_week = 2}}
coverage = {{kind = "base", users = 10}}
cost = {{basis = "hours", unit_cost = {unit_cost}, price_year = {price_year}}}
"""


def test_fixed_prices_without_real_growth():
    pop = population([2018, 2019, 2020], {85: [100, 100, 200]})
    ds = run(HOME.format(growth=0.0, unit_cost=500, price_year=2018), pop)
    # 10 users × 2 h × 52 weeks = 1,040 hours × NOK 500 = 520,000
    np.testing.assert_allclose(ds["hours"].sel(service="h"), [1040, 1040, 2080])
    np.testing.assert_allclose(ds["cost"].sel(service="h"), [520_000, 520_000, 1_040_000])
    assert ds.attrs["price_year"] == 2018
    assert str(ds["cost_basis"].sel(service="h").item()) == "hours"


def test_real_growth_compounds_from_the_base_year():
    pop = population([2018, 2019, 2020], {85: [100, 100, 100]})
    ds = run(HOME.format(growth=0.01, unit_cost=500, price_year=2018), pop)
    np.testing.assert_allclose(ds["unit_cost"].sel(service="h"), [500, 505, 510.05])
    np.testing.assert_allclose(ds["cost"].sel(service="h"), [520_000, 525_200, 530_452])
    np.testing.assert_allclose(growth_index({2018: 0.0, 2020: 0.02}, [2018, 2019, 2020]),
                               [1.0, 1.01, 1.01 * 1.02])


def test_price_year_converted_with_the_price_index():
    pop = population([2018, 2019], {85: [100, 100]})
    ds = run(HOME.format(growth=0.0, unit_cost=475, price_year=2016), pop)
    # NOK 475 in 2016 prices = 475 × 100 / 95 = 500 in 2018 prices
    np.testing.assert_allclose(ds["unit_cost"].sel(service="h"), [500, 500])


def test_investment_only_for_places_above_previous_year():
    pop = population([2018, 2019, 2020, 2021], {85: [100] * 4})
    ds = run("""
[cost]
price_year = 2018
[services.p]
label = "Places"
unit = "plasser"
groups = "80+"
coverage = {kind = "capacity"}
capacity = {base = 10, openings = {2019 = 5, 2021 = 8}, closures = {2020 = 3}}
cost = {basis = "capacity", unit_cost = 1000, price_year = 2018, investment_per_place = 2000000}
""", pop)
    np.testing.assert_allclose(ds["capacity"].sel(service="p"), [10, 15, 12, 20])
    # new places 0, 5, 0 (closure), 8 (12 → 20, re-opened places count as new)
    np.testing.assert_allclose(ds["investment"].sel(service="p"), [0, 10e6, 0, 16e6])
    np.testing.assert_allclose(ds["cost"].sel(service="p"), [10_000, 15_000, 12_000, 20_000])


def test_service_without_cost_has_nan_cost():
    pop = population([2018, 2019], {85: [100, 100]})
    ds = run('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "80+"\n'
             'coverage = {kind = "base", users = 1}', pop)
    assert np.isnan(ds["cost"]).all() and np.isnan(ds["investment"]).all()
    assert "price_year" not in ds.attrs
    df = decompose(ds, "s", 2018, 2019).set_index("effect")
    assert df.loc["total", "change_pct"] == pytest.approx(0.0)


def test_decompose_demography_coverage_unit_cost():
    # 67-79: 100 → 100 persons at 10 %; 80+: 100 → 200 at 30 %: users 40 → 70
    pop = population([2018, 2019], {70: [100, 100], 85: [100, 200]})
    ds = run("""
[cost]
price_year = 2018
real_growth = 0.01
[services.s]
label = "S"
unit = "brukere"
groups = ["67-79", "80+"]
coverage = {kind = "path", rate = [0.1, {2018 = 0.3, 2019 = 0.36}]}
cost = {basis = "need", unit_cost = 1000, price_year = 2018}
""", pop)
    # users 2019: 10 + 72 = 82. Demography: at 2018 rates 10 + 60 = 70 → 70/40 = 1.75
    # (the groups' population grows only 1.5×: the older group has the higher coverage).
    df = decompose(ds, "s", 2018, 2019).set_index("effect")
    assert list(df.index) == ["demography", "coverage", "unit_cost", "combined", "total"]
    assert df.loc["demography", "ratio"] == pytest.approx(1.75)
    assert df.loc["coverage", "ratio"] == pytest.approx(82 / 70)
    assert df.loc["unit_cost", "ratio"] == pytest.approx(1.01)
    assert df.loc["total", "ratio"] == pytest.approx(82 * 1010 / 40_000)
    assert df.loc["total", "nok"] == pytest.approx(82 * 1010 - 40_000)
    assert df["nok"].iloc[:-1].sum() == pytest.approx(df.loc["total", "nok"])
    assert df.loc["demography", "nok"] == pytest.approx(0.75 * 40_000)
    every = decompose(ds, None, 2018, 2019)
    assert set(every["service"]) == {"s"}


def test_compute_cost_adds_to_the_demand_dataset():
    pop = population([2018, 2019], {85: [100, 100]})
    raw = tomllib.loads(HOME.format(growth=0.0, unit_cost=500, price_year=2018))
    config = parse_demand(raw, "t.toml", 2018, 2019)
    dem = compute_demand(pop, config)
    assert "cost" not in dem
    ds = compute_cost(dem, parse_costs(raw, "t.toml", 2018, 2019, config.services))
    for name in ("need", "capacity", "gap", "coverage", "group_population", "hours", "cost",
                 "investment", "first_shortfall_year", "label", "unit"):
        assert name in ds.variables
    for name in ds.data_vars:
        assert "units" in ds[name].attrs, name
    assert ds["cost"].attrs["units"] == "NOK"


def test_cost_rows_follow_each_services_rows_and_global_rows_come_last():
    raw = tomllib.loads(HOME.format(growth=0.01, unit_cost=500, price_year=2018) + """
[services.z]
label = "Z"
unit = "u"
groups = "80+"
coverage = {kind = "base", users = 1}
""")
    config = parse_demand(raw, "t.toml", 2018, 2019)
    rows = merge_assumptions(config.assumptions(),
                             parse_costs(raw, "t.toml", 2018, 2019, config.services).assumptions())
    keys = [(r["section"], r["key"]) for r in rows]
    first_z = keys.index(("services.z", "label"))
    assert keys[first_z - 1][1].startswith("cost.")       # h's cost rows before z's rows
    assert keys[-3:] == [("cost", "price_year"), ("cost", "real_growth"), ("cost", "price_index")]
    assert ("services.h", "cost.unit_cost") in keys
    unit_cost = rows[keys.index(("services.h", "cost.unit_cost"))]
    assert unit_cost["unit"] == "NOK per hour"


def test_decompose_asks_for_one_region():
    pop = population([2018, 2019], {85: [100, 150]})
    ds = run(HOME.format(growth=0.0, unit_cost=500, price_year=2018), pop)
    two = xr.concat([ds, ds], dim="region").assign_coords(region=["a", "b"])
    with pytest.raises(ForecastError, match="region"):
        decompose(two, "h", 2018, 2019)
    one = decompose(two.sel(region="b"), "h", 2018, 2019).set_index("effect")
    assert one.loc["demography", "ratio"] == pytest.approx(1.5)
