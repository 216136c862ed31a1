"""Malformed service definitions: one thing broken per test; the error names file and key."""

import tomllib

import pytest

from forecast.cost import parse_costs
from forecast.demand import parse_demand
from forecast.errors import ScenarioError

FILE = "scenarios/broken.toml"

VALID = """
[cost]
price_year = 2018

[services.heldogn]
label = "Heldøgns omsorgsplasser"
unit = "plasser"
groups = "80+"
source = "test"

[services.heldogn.coverage]
kind = "base"
users = 1377

[services.heldogn.capacity]
base = 1377
openings = {2020 = 100}

[services.heldogn.cost]
basis = "need"
unit_cost = 1_150_000
price_year = 2018
investment_per_place = 4_000_000

[services.hjem]
label = "Hjemmetjenester"
unit = "brukere"
groups = ["0-66", "67-79", "80-89", "90+"]
intensity = {hours_per_user_week = 5}
coverage = {kind = "base", users = [2151, 846, 1260, 600]}
substitution = {from = "heldogn", share = 1.0}
cost = {basis = "hours", unit_cost = 1000, price_year = 2018}
"""


def parse(text):
    """Services, then their costs, as api.run parses them."""
    raw = tomllib.loads(text)
    config = parse_demand(raw, FILE, 2018, 2038)
    parse_costs(raw, FILE, 2018, 2038, config.services)
    return config


def broken(old, new, key, *words):
    text = VALID.replace(old, new, 1)
    assert text != VALID, "the replacement did not apply"
    with pytest.raises(ScenarioError) as info:
        parse(text)
    err = info.value
    assert err.file == FILE and err.key == key, str(err)
    msg = str(err)
    assert FILE in msg and key in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_valid_definition_parses():
    config = parse(VALID)
    assert list(config.services) == ["heldogn", "hjem"]
    assert [g.label for g in config.services["hjem"].groups] == ["0-66", "67-79", "80-89", "90+"]
    assert config.services["heldogn"].groups[0].hi == 105
    rows = config.assumptions()
    assert {"section", "key", "value", "unit", "source"} == set(rows[0])
    assert any(r["key"] == "coverage.users" and r["value"] == 1377 and r["source"] == "test"
               for r in rows)


def test_the_population_keys_are_ignored():
    raw = tomllib.loads('name = "x"\nbase_year = 2018\n[population]\nfile = "p.csv"\n' + VALID)
    assert set(parse_demand(raw, FILE, 2018, 2038).services) == {"heldogn", "hjem"}


def test_unknown_coverage_kind():
    broken('kind = "base"\nusers = 1377', 'kind = "constant"\nusers = 1377',
           "services.heldogn.coverage.kind", "constant", "base, target, path, trend, capacity")


def test_coverage_above_one():
    broken('kind = "base"\nusers = 1377', 'kind = "path"\nrate = {2018 = 0.2, 2030 = 1.2}',
           "services.heldogn.coverage.rate", "<= 1.0", "2030")


def test_negative_coverage_per_group():
    broken('coverage = {kind = "base", users = [2151, 846, 1260, 600]}',
           'coverage = {kind = "path", rate = [0.02, 0.07, -0.28, 0.45]}',
           "services.hjem.coverage.rate[2]", ">= 0.0")


def test_target_outside_zero_one():
    broken('kind = "base"\nusers = 1377', 'kind = "target"\nusers = 1377\ntarget = 22\n'
           'target_year = 2038', "services.heldogn.coverage.target", "<= 1.0")


def test_missing_base_users():
    broken('kind = "base"\nusers = 1377', 'kind = "base"', "services.heldogn.coverage.users",
           "missing base-year users")


def test_users_need_one_value_per_group():
    broken("users = [2151, 846, 1260, 600]", "users = 4857", "services.hjem.coverage.users",
           "one value per age group (4)")


def test_overlapping_age_groups():
    broken('groups = ["0-66", "67-79", "80-89", "90+"]', 'groups = ["0-66", "67-80", "80+"]',
           "services.hjem.groups", "67-80", "80+", "overlap")


def test_malformed_age_group():
    broken('groups = "80+"', 'groups = "80 and over"', "services.heldogn.groups", "a-b")


def test_capacity_change_outside_the_horizon():
    broken("openings = {2020 = 100}", "openings = {2040 = 100}",
           "services.heldogn.capacity.openings", "2040", "2019-2038")


def test_capacity_change_in_the_base_year():
    broken("openings = {2020 = 100}", "openings = {2018 = 100}",
           "services.heldogn.capacity.openings", "2018")


def test_unit_cost_without_price_year():
    broken("unit_cost = 1_150_000\nprice_year = 2018", "unit_cost = 1_150_000",
           "services.heldogn.cost.price_year", "year of its prices")


def test_price_year_not_convertible():
    broken("unit_cost = 1_150_000\nprice_year = 2018", "unit_cost = 1_150_000\nprice_year = 2016",
           "services.heldogn.cost.price_year", "price_index", "2016")


def test_global_price_year_missing():
    broken("[cost]\nprice_year = 2018", "[cost]\nsource = \"x\"", "cost.price_year", "missing")


def test_unknown_key_in_a_service_lists_the_allowed_keys():
    msg = broken('label = "Hjemmetjenester"', 'label = "Hjemmetjenester"\nlabels = "x"',
                 "services.hjem.labels", "unknown key", "label", "coverage", "substitution")
    assert "intensity" in msg


def test_unknown_intensity_key():
    broken("hours_per_user_week = 5", "hours_per_user_weak = 5",
           "services.hjem.intensity.hours_per_user_weak", "hours_per_user_week",
           "months_per_user")


def test_negative_hours():
    broken("hours_per_user_week = 5", "hours_per_user_week = {2018 = 5, 2030 = -1}",
           "services.hjem.intensity.hours_per_user_week", ">= 0.0", "2030")


def test_unknown_key_in_cost():
    broken("[cost]\nprice_year = 2018", "[cost]\nprice_year = 2018\ninflation = 0.02",
           "cost.inflation", "price_year, real_growth, price_index, source")


def test_unknown_key_in_capacity():
    broken("base = 1377\n", "base = 1377\nplanned = 3\n", "services.heldogn.capacity.planned",
           "base, openings, closures, source")


def test_key_of_another_coverage_kind():
    broken('kind = "base"\nusers = 1377', 'kind = "base"\nusers = 1377\ntarget = 0.22',
           "services.heldogn.coverage.target", "not used by coverage kind 'base'")


def test_missing_label():
    broken('label = "Hjemmetjenester"\n', "", "services.hjem.label", "missing")


def test_substitution_from_unknown_service():
    broken('from = "heldogn"', 'from = "sykehjem"', "services.hjem.substitution.from",
           "sykehjem", "heldogn")


def test_substitution_share_above_one():
    broken("share = 1.0", "share = 1.5", "services.hjem.substitution.share", "<= 1.0")


def test_capacity_kind_needs_a_capacity_table():
    broken('coverage = {kind = "base", users = [2151, 846, 1260, 600]}',
           'coverage = {kind = "capacity"}', "services.hjem.coverage.kind", "capacity table")


def test_hours_basis_needs_hours():
    broken("intensity = {hours_per_user_week = 5}\n", "", "services.hjem.cost.basis",
           "hours_per_user_week")


def test_unknown_cost_basis():
    broken('basis = "hours"', 'basis = "visits"', "services.hjem.cost.basis", "need, capacity")


def test_investment_needs_capacity():
    broken('unit_cost = 1000, price_year = 2018}',
           'unit_cost = 1000, price_year = 2018, investment_per_place = 1}',
           "services.hjem.cost.investment_per_place", "capacity")


def test_trend_window_outside_history():
    broken('kind = "base"\nusers = 1377',
           'kind = "trend"\nhistory = {2014 = 1000, 2018 = 1377}\nwindow = [2015, 2018]',
           "services.heldogn.coverage.window", "2015")


def test_trend_without_base_year_users():
    broken('kind = "base"\nusers = 1377', 'kind = "trend"\nhistory = {2014 = 1000, 2017 = 1300}',
           "services.heldogn.coverage.users", "2018")


def test_real_growth_given_in_percent_is_caught():
    broken("[cost]\nprice_year = 2018", "[cost]\nprice_year = 2018\nreal_growth = 1.5",
           "cost.real_growth", "<= 0.5")


def test_bad_service_id():
    broken("[services.hjem]", "[services.Hjem]", "services.Hjem", "lower-case")


def test_users_above_group_population_is_caught_at_compute():
    import numpy as np
    import xarray as xr

    from forecast.demand import compute_demand

    config = parse(VALID)
    pop = np.full((21, 2, 106), 1.0)   # 26 persons aged 80+ each year
    ds = xr.Dataset({"pop": (("year", "sex", "age"), pop)},
                    coords={"year": np.arange(2018, 2039), "sex": ["female", "male"],
                            "age": np.arange(106)})
    with pytest.raises(ScenarioError) as info:
        compute_demand(ds, config)
    assert info.value.key == "services.heldogn.coverage.users"
    assert "coverage above 1" in str(info.value)
