"""Demand stage on tiny synthetic populations: every number can be checked by hand."""

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import synthetic_population as population
from forecast.cost import compute_cost, parse_costs
from forecast.demand import compute_demand, parse_demand
from forecast.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
FILE = "test.toml"


def run_demand(pop, raw, file, base, end):
    """Demand, then cost, as api.run composes them."""
    config = parse_demand(raw, file, base, end)
    costs = parse_costs(raw, file, base, end, config.services)
    return compute_cost(compute_demand(pop, config), costs)


def demand(toml: str, pop: xr.Dataset, base=None, end=None, *, cost=False):
    years = pop["year"].values
    raw, base, end = tomllib.loads(toml), int(base or years[0]), int(end or years[-1])
    if cost:
        return run_demand(pop, raw, FILE, base, end)
    return compute_demand(pop, parse_demand(raw, FILE, base, end))


def need(ds, sid="s"):
    return ds["need"].sel(service=sid).values


# --- coverage kinds ---------------------------------------------------------------------

def test_base_coverage_held_constant():
    pop = population([2018, 2019, 2020], {85: [100, 150, 200], 40: [1000, 1000, 1000]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = "80+"\n'
                'coverage = {kind = "base", users = 20}', pop)
    np.testing.assert_allclose(need(ds), [20, 30, 40])           # 20 % of 100, 150, 200
    np.testing.assert_allclose(ds["coverage"].sel(service="s"), [0.2, 0.2, 0.2])
    np.testing.assert_allclose(ds["group_population"].sel(service="s"), [100, 150, 200])
    assert str(ds["label"].sel(service="s").item()) == "S"
    assert str(ds["unit"].sel(service="s").item()) == "plasser"
    assert np.isnan(ds["capacity"].sel(service="s")).all()
    assert np.isnan(ds["first_shortfall_year"].sel(service="s").item())


def test_base_coverage_by_kostra_age_group():
    # 0-66: 1000 persons, 67-79: 200, 80-89: 100, 90+: 20 in 2018; 90+ doubles by 2019.
    pop = population([2018, 2019], {30: [1000, 1000], 70: [200, 200], 85: [100, 100],
                                    95: [20, 40]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "brukere"\n'
                'groups = ["0-66", "67-79", "80-89", "90+"]\n'
                'coverage = {kind = "base", users = [10, 20, 30, 10]}', pop)
    # rates 1 %, 10 %, 30 %, 50 %; 2019: 10 + 20 + 30 + 0.5 * 40 = 80
    np.testing.assert_allclose(need(ds), [70, 80])
    nbg = ds["need_by_group"].sel(service="s", year=2019)
    np.testing.assert_allclose(nbg.sel(group=["0-66", "67-79", "80-89", "90+"]), [10, 20, 30, 20])
    np.testing.assert_allclose(ds["coverage"].sel(service="s", year=2019), 80 / 1340)


def test_target_coverage_linear_to_target_year_then_flat():
    pop = population([2018, 2019, 2020, 2021], {85: [100, 150, 200, 250]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = "80+"\n'
                'coverage = {kind = "target", users = 20, target = 0.3, target_year = 2020}', pop)
    # coverage 0.20, 0.25, 0.30, 0.30
    np.testing.assert_allclose(ds["coverage"].sel(service="s"), [0.2, 0.25, 0.3, 0.3])
    np.testing.assert_allclose(need(ds), [20, 37.5, 60, 75])


def test_target_coverage_per_group():
    pop = population([2018, 2019, 2020], {85: [100, 100, 100], 95: [50, 50, 100]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = ["80-89", "90+"]\n'
                'coverage = {kind = "target", users = [10, 10], target = [0.2, 0.4], '
                'target_year = 2019}', pop)
    # rates 0.1 → 0.2 and 0.2 → 0.4 by 2019: 20 + 20, then 20 + 40
    np.testing.assert_allclose(need(ds), [20, 40, 60])


def test_path_coverage_per_group():
    pop = population([2018, 2019, 2020, 2021], {70: [100] * 4, 85: [100] * 4})
    ds = demand('[services.s]\nlabel = "S"\nunit = "brukere"\ngroups = ["67-79", "80+"]\n'
                'coverage = {kind = "path", rate = [0.05, {2018 = 0.1, 2020 = 0.3}]}', pop)
    # 5 + 10, 5 + 20, 5 + 30, 5 + 30
    np.testing.assert_allclose(need(ds), [15, 25, 35, 35])


def test_trend_absolute_handlingsprogram_arithmetic():
    """62.6 more recipients a year (2014-2018) gives +313 over 2018-2023."""
    pop = population(range(2018, 2024), {40: [10_000] * 6})
    ds = demand('[services.s]\nlabel = "S"\nunit = "mottakere"\ngroups = "18-66"\n'
                '[services.s.coverage]\nkind = "trend"\nmethod = "absolute"\n'
                'window = [2014, 2018]\nhistory = {2014 = 1000, 2016 = 1100, 2018 = 1250.4}', pop)
    n = need(ds)
    np.testing.assert_allclose(np.diff(n), 62.6)
    assert n[-1] - n[0] == pytest.approx(313.0)
    np.testing.assert_allclose(ds["coverage"].sel(service="s", year=2018), 0.12504)


def test_trend_relative_and_until():
    pop = population([2018, 2019, 2020, 2021], {40: [1000, 1000, 1000, 2000]})
    rel = demand('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "18-66"\n'
                 'coverage = {kind = "trend", method = "relative", '
                 'history = {2016 = 100, 2018 = 121}}', pop)
    np.testing.assert_allclose(need(rel), [121, 133.1, 146.41, 161.051])  # +10 % a year
    held = demand('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "18-66"\n'
                  'coverage = {kind = "trend", history = {2016 = 80, 2018 = 100}, until = 2020}',
                  pop)
    # +10 a year to 2020 (rate 120/1000), then 12 % of 2000
    np.testing.assert_allclose(need(held), [100, 110, 120, 240])


def test_capacity_kind_coverage_implied_by_places():
    pop = population([2018, 2019, 2020, 2021], {85: [100, 100, 100, 200]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = "80+"\n'
                'coverage = {kind = "capacity"}\n'
                'capacity = {base = 10, openings = {2020 = 5}, closures = {2021 = 3}}', pop)
    np.testing.assert_allclose(need(ds), [10, 10, 15, 12])
    np.testing.assert_allclose(ds["coverage"].sel(service="s"), [0.1, 0.1, 0.15, 0.06])
    np.testing.assert_allclose(ds["gap"].sel(service="s"), 0)
    assert np.isnan(ds["first_shortfall_year"].sel(service="s").item())


# --- capacity pipeline ------------------------------------------------------------------

def test_capacity_gap_and_first_year_of_shortfall():
    pop = population([2018, 2019, 2020, 2021], {85: [100, 150, 200, 250]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = "80+"\n'
                'coverage = {kind = "base", users = 20}\n'
                'capacity = {base = 25, openings = {2020 = 10}}', pop)
    np.testing.assert_allclose(need(ds), [20, 30, 40, 50])
    np.testing.assert_allclose(ds["capacity"].sel(service="s"), [25, 25, 35, 35])
    np.testing.assert_allclose(ds["gap"].sel(service="s"), [-5, 5, 5, 15])
    assert ds["first_shortfall_year"].sel(service="s").item() == 2019
    np.testing.assert_allclose(ds["capacity_coverage"].sel(service="s"),
                               [0.25, 25 / 150, 0.175, 0.14])


def test_no_shortfall_when_capacity_keeps_up():
    pop = population([2018, 2019], {85: [100, 150]})
    ds = demand('[services.s]\nlabel = "S"\nunit = "plasser"\ngroups = "80+"\n'
                'coverage = {kind = "base", users = 20}\ncapacity = {base = 20, '
                'openings = {2019 = 10}}', pop)
    np.testing.assert_allclose(ds["gap"].sel(service="s"), [0, 0])
    assert math.isnan(ds["first_shortfall_year"].sel(service="s").item())


# --- substitution -----------------------------------------------------------------------

SUBST = """
[services.heldogn]
label = "H"
unit = "plasser"
groups = "80+"
{heldogn}

[services.hjem]
label = "Home"
unit = "brukere"
groups = "80+"
intensity = {{hours_per_user_week = 4}}
coverage = {{kind = "base", users = 60}}
substitution = {{from = "heldogn", share = {share}}}
"""


def test_substitution_more_24_hour_places_fewer_home_care_users():
    pop = population([2018, 2019], {85: [100, 200]})
    toml = SUBST.format(heldogn='coverage = {kind = "path", rate = {2018 = 0.2, 2019 = 0.25}}',
                        share=0.5)
    ds = demand(toml, pop)
    # 24-hour care serves 50 in 2019; its base coverage (20 %) would give 40: 10 beyond.
    # Home care at base coverage: 60 % of 200 = 120, less half of 10 = 115.
    np.testing.assert_allclose(need(ds, "heldogn"), [20, 50])
    np.testing.assert_allclose(need(ds, "hjem"), [60, 115])
    np.testing.assert_allclose(ds["substitution"].sel(service="hjem"), [0, 5])
    np.testing.assert_allclose(ds["hours"].sel(service="hjem"), [60 * 4 * 52, 115 * 4 * 52])
    assert np.isnan(ds["substitution"].sel(service="heldogn")).all()


def test_substitution_too_few_places_more_home_care_users():
    pop = population([2018, 2019], {85: [100, 200]})
    toml = SUBST.format(heldogn='coverage = {kind = "base", users = 20}\n'
                                'capacity = {base = 20, openings = {2019 = 10}}', share=1.0)
    ds = demand(toml, pop)
    # need 40 places in 2019, 30 exist: served 30, base coverage gives 40 → 10 more at home.
    assert ds["first_shortfall_year"].sel(service="heldogn").item() == 2019
    np.testing.assert_allclose(need(ds, "hjem"), [60, 130])


def test_substitution_waits_for_its_source_service_whatever_the_order():
    pop = population([2018, 2019], {85: [100, 200]})
    toml = """
[services.hjem]
label = "Home"
unit = "brukere"
groups = "80+"
coverage = {kind = "base", users = 60}
substitution = {from = "heldogn"}
[services.heldogn]
label = "H"
unit = "plasser"
groups = "80+"
coverage = {kind = "path", rate = {2018 = 0.2, 2019 = 0.25}}
"""
    ds = demand(toml, pop)
    assert list(ds["service"].values) == ["hjem", "heldogn"]
    np.testing.assert_allclose(need(ds, "hjem"), [60, 110])


# --- the Bærum scenario files -----------------------------------------------------------

BAERUM = ["baerum-ldip.toml", "baerum-dekningsgrad-22.toml", "baerum-planlagt-kapasitet.toml",
          "baerum-planlagt-kapasitet-1150.toml", "baerum-hjemmetjenester-forst.toml"]


def load_merged(name: str) -> dict:
    return load_scenario(ROOT / "scenarios" / name).raw


@pytest.mark.parametrize("name", BAERUM)
def test_baerum_files_parse_and_run_on_a_synthetic_population(name):
    raw = load_merged(name)
    assert (raw["base_year"], raw["end_year"]) == (2018, 2038)
    config = parse_demand(raw, name, 2018, 2038)
    assert {"heldogn", "hjemmetjenester", "sosialhjelp"} <= set(config.services)
    costs = parse_costs(raw, name, 2018, 2038, config.services)
    for row in config.assumptions() + costs.assumptions():
        assert row["source"], f"{row['section']}.{row['key']} has no source"
    ages = {a: [1500.0 * (1 + 0.02 * i) for i in range(21)] for a in range(0, 106)}
    ds = run_demand(population(range(2018, 2039), ages), raw, name, 2018, 2038)
    assert np.isfinite(ds["need"]).all()
    assert np.isfinite(ds["cost"]).all()
    assert ds.attrs["price_year"] == 2018


def test_baerum_alternatives_state_only_what_differs():
    base = parse_demand(load_merged("baerum-ldip.toml"), "ldip", 2018, 2038)
    d22 = parse_demand(load_merged("baerum-dekningsgrad-22.toml"), "d22", 2018, 2038)
    plan = parse_demand(load_merged("baerum-planlagt-kapasitet.toml"), "plan", 2018, 2038)
    home = parse_demand(load_merged("baerum-hjemmetjenester-forst.toml"), "home", 2018, 2038)
    assert base.services["heldogn"].coverage.kind == "base"
    assert d22.services["heldogn"].coverage.kind == "target"
    assert d22.services["heldogn"].coverage.target == (0.22,)
    assert plan.services["heldogn"].coverage.kind == "capacity"
    assert home.services["heldogn"].coverage.target[0] < 0.22
    for alt in (d22, plan, home):
        assert alt.services["sosialhjelp"].coverage == base.services["sosialhjelp"].coverage
        assert alt.services["heldogn"].capacity == base.services["heldogn"].capacity
