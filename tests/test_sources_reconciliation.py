"""The Bærum 24-hour care, home care and cost figures against the source documents (issue 10).

Every expected number here is arithmetic on figures printed in
../shared/sources/004_baerum_handlingsprogram_2019_2022_ldip.txt (line given beside it) and on
SSB's 1.1.2018 counts in data/baerum/population.csv, so a reader can redo it by hand.
"""

import importlib.util
import math
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from forecast.api import run
from forecast.demand.capacity import capacity_series, parse_capacity
from forecast.errors import ScenarioError
from forecast.scenario import SHARED_DIR, load_scenario

SOURCES = SHARED_DIR / "sources"
LDIP_DOC = SOURCES / "004_baerum_handlingsprogram_2019_2022_ldip.txt"
GROSS_2018 = 2_430.0e6          # 004 Tabell 1, line 796: gross operating cost 2018, NOK
SHARE_INSTITUTIONS = 0.38       # 004 line 739: bo- og behandlingssentre
SHARE_AMBULATORY = 0.21         # 004 line 735: ambulerende
YEARS = np.arange(2018, 2039)


def services(name: str) -> dict:
    return load_scenario(ROOT / "scenarios" / name).raw["services"]


def script():
    if "reconcile_sources" not in sys.modules:   # dataclasses look their module up there
        spec = importlib.util.spec_from_file_location("reconcile_sources",
                                                      ROOT / "scripts/reconcile_sources.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["reconcile_sources"] = module
        spec.loader.exec_module(module)
    return sys.modules["reconcile_sources"]


@pytest.fixture(scope="module")
def pop2018() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data/baerum/population.csv").query("year == 2018")


def persons(pop, lo, hi=105) -> int:
    return int(pop[(pop.age >= lo) & (pop.age <= hi)].persons.sum())


def kompas_coverage_and_80_2038(p18: int) -> tuple[float, float]:
    """c·(P38 − P18) = 1,550 (004 line 490), 0.22·P38 − c·P18 = 1,350 (line 492)."""
    # subtracting: (c − 0.22)·P38 = 200; then P18·c² + (1,350 − 0.22·P18)·c − 0.22·1,550 = 0
    b = 1_350 - 0.22 * p18
    c = (-b + math.sqrt(b * b + 4 * p18 * 0.22 * 1_550)) / (2 * p18)
    return c, 200 / (c - 0.22)


def test_published_figures_stand_on_the_lines_cited():
    lines = LDIP_DOC.read_text(encoding="utf-8").splitlines()
    for key, fig in script().PUBLISHED.items():
        assert fig.text in lines[fig.line - 1], (key, fig.line, lines[fig.line - 1])


def test_population_figures_in_the_scenario_header_are_ssb_counts(pop2018):
    header = (ROOT / "scenarios/baerum-ldip.toml").read_text()
    for lo, hi, label in [(80, 105, "80+ 5,833"), (0, 66, "0–66 107,533"),
                          (67, 79, "67–79 12,088"), (80, 89, "80–89 4,499"),
                          (90, 105, "90+ 1,334"), (67, 105, "67+ 17,921"),
                          (18, 66, "18–66 77,776")]:
        assert label in header
        assert f"{persons(pop2018, lo, hi):,}" == label.split()[-1]


def test_24_hour_places_solved_from_the_two_published_needs(pop2018):
    p18 = persons(pop2018, 80)
    assert p18 == 5_833
    c, p38 = kompas_coverage_and_80_2038(p18)
    assert c * (p38 - p18) == pytest.approx(1_550)
    assert 0.22 * p38 - c * p18 == pytest.approx(1_350)
    assert round(c, 4) == 0.2361 and round(p38) == 12_397
    heldogn = services("baerum-ldip.toml")["heldogn"]
    assert heldogn["users"] == heldogn["capacity"]["base"] == round(c * p18) == 1_377
    # KOSTRA's residents 80+ in 24-hour care (16.1 %, 004 line 1246) are fewer than the
    # places per resident 80+, which also serve people under 80 and short stays
    assert 0.161 < heldogn["users"] / p18


def test_both_capacity_alternatives_load_and_differ_as_the_document_says(pop2018):
    c, p38 = kompas_coverage_and_80_2038(persons(pop2018, 80))
    caps = {}
    for name in ("baerum-ldip.toml", "baerum-planlagt-kapasitet.toml",
                 "baerum-planlagt-kapasitet-1150.toml"):
        table = services(name)["heldogn"]["capacity"]
        cap = parse_capacity(table, file=name, key="services.heldogn.capacity",
                             base_year=2018, end_year=2038)
        caps[name] = capacity_series(cap, YEARS, file=name, key="services.heldogn.capacity")
    np.testing.assert_array_equal(caps["baerum-ldip.toml"], caps["baerum-planlagt-kapasitet.toml"])
    planned, about_1150 = caps["baerum-planlagt-kapasitet.toml"], caps[
        "baerum-planlagt-kapasitet-1150.toml"]
    # 21.9 % of KOMPAS's 80+ in 2038 (004 line 494): 0.219 × 12,397 = 2,715 places
    assert planned[-1] == round(0.219 * p38) == 2_715
    assert planned[-1] / p38 == pytest.approx(0.219, abs=5e-5)
    # "cirka 1 150 plasser" more (line 496): 1,377 + 1,150 = 2,527 = 20.4 % of 12,397
    assert about_1150[-1] - about_1150[0] == 1_150
    assert about_1150[-1] / p38 == pytest.approx(0.204, abs=5e-4)
    assert planned[-1] - about_1150[-1] == 1_338 - 1_150
    for name in ("baerum-planlagt-kapasitet.toml", "baerum-planlagt-kapasitet-1150.toml"):
        assert services(name)["heldogn"]["coverage"]["kind"] == "capacity"


def test_donski_closure_takes_32_places_from_2019():
    table = services("baerum-ldip.toml")["heldogn"]["capacity"]
    assert table["closures"] == {"2019": 32}       # 004 line 860
    cap = parse_capacity(table, file="f", key="k", base_year=2018, end_year=2038)
    series = capacity_series(cap, YEARS, file="f", key="k")
    assert series[1] - series[0] == -32               # no opening in 2019
    assert series[2] - series[1] == 137               # the first opening, 2020


def test_closures_are_checked():
    with pytest.raises(ScenarioError, match="closures.*2018"):
        parse_capacity({"base": 10, "closures": {"2018": 3}}, file="f.toml", key="cap",
                       base_year=2018, end_year=2038)
    with pytest.raises(ScenarioError, match="closures"):
        parse_capacity({"base": 10, "closures": {"2020": -3}}, file="f.toml", key="cap",
                       base_year=2018, end_year=2038)
    cap = parse_capacity({"base": 10, "openings": {"2020": 2}, "closures": {"2021": 13}},
                         file="f.toml", key="cap", base_year=2018, end_year=2038)
    with pytest.raises(ScenarioError, match="negative number of places in 2021"):
        capacity_series(cap, YEARS, file="f.toml", key="cap")


def test_home_care_users_from_kostra_2017(pop2018):
    # 0–66 (004 line 1051–1053): net cost per inhabitant rose 212 kr = 2.8 % to 2017, per
    # recipient fell 5,355 kr = 1.3 %; recipients ÷ inhabitants = per inhabitant ÷ per recipient
    per_inhabitant_066 = 212 / 0.028 + 212                      # 7,783 kr
    per_recipient_066 = 5_355 / 0.013 - 5_355                   # 406,568 kr
    assert round(per_inhabitant_066) == 7_783 and round(per_recipient_066) == 406_568
    users_066 = round(per_inhabitant_066 / per_recipient_066 * persons(pop2018, 0, 66))
    # 67+ (line 1085–1089): −145 kr = −0.8 % per inhabitant, +9,515 kr = +7.3 % per recipient
    users_67 = round((145 / 0.008 - 145) / (9_515 / 0.073 + 9_515) * persons(pop2018, 67))
    users_80 = round(0.284 * persons(pop2018, 80))             # Tabell 4, line 1228
    assert (users_066, users_67, users_80) == (2_059, 2_304, 1_657)
    users = services("baerum-ldip.toml")["hjemmetjenester"]["users"]
    assert users[0] == users_066 and users[1] == users_67 - users_80
    assert users[2] + users[3] == users_80
    # the split of 80+ (assumed): 90+ at 45/28 times the rate of 80–89
    assert users[3] / persons(pop2018, 90) == pytest.approx(
        45 / 28 * users[2] / persons(pop2018, 80, 89), rel=2e-3)


def test_unit_costs_from_the_published_cost_structure():
    ldip = services("baerum-ldip.toml")
    place = ldip["heldogn"]["cost"]
    assert place["basis"] == "need" and place["price_year"] == 2018
    assert place["unit_cost"] == round(SHARE_INSTITUTIONS * GROSS_2018 / 1_377) == 670_588
    home = ldip["hjemmetjenester"]
    hours = sum(home["users"]) * home["intensity"]["hours_per_user_week"] * 52
    assert hours == 4_363 * 5 * 52
    assert home["cost"]["basis"] == "hours" and home["cost"]["price_year"] == 2018
    assert home["cost"]["unit_cost"] == round(SHARE_AMBULATORY * GROSS_2018 / hours, 2) == 449.85


@pytest.mark.parametrize("name", ["baerum-ldip.toml", "baerum-dekningsgrad-22.toml",
                                  "baerum-planlagt-kapasitet.toml",
                                  "baerum-planlagt-kapasitet-1150.toml",
                                  "baerum-hjemmetjenester-forst.toml"])
def test_2018_cost_is_within_the_published_sector_totals(name):
    cost = run(ROOT / "scenarios" / name).demand["cost"].sel(year=2018)
    places, home = float(cost.sel(service="heldogn")), float(cost.sel(service="hjemmetjenester"))
    # each within its share of Tabell 1 (to the rounding of the unit costs: < 1,000 kr)
    assert places <= SHARE_INSTITUTIONS * GROSS_2018 + 1_000
    assert places == pytest.approx(923.4e6, abs=1e3)
    assert home <= SHARE_AMBULATORY * GROSS_2018 + 1_000
    assert home == pytest.approx(510.3e6, abs=1e4)
    assert places + home < GROSS_2018


def test_script_derivations_are_the_scenario_values(pop2018):
    module = script()
    d = module.derived(module.population_2018())
    ldip = services("baerum-ldip.toml")
    assert d["places_2018"] == ldip["heldogn"]["users"]
    as_years = lambda table: {int(y): n for y, n in table.items()}
    assert d["openings_219"] == as_years(ldip["heldogn"]["capacity"]["openings"])
    other = services("baerum-planlagt-kapasitet-1150.toml")["heldogn"]["capacity"]["openings"]
    assert d["openings_1150"] == as_years(other)
    assert list(d["home_users"].values()) == ldip["hjemmetjenester"]["users"]
    assert round(d["unit_cost_place"]) == ldip["heldogn"]["cost"]["unit_cost"]
    assert round(d["unit_cost_hour"], 2) == ldip["hjemmetjenester"]["cost"]["unit_cost"]


def test_readme_table_is_what_the_script_writes():
    module = script()
    readme = (ROOT / "README.md").read_text()
    ours = module.table().split(module.SOCIAL_MARK)[0]
    assert ours in readme, "README table is stale: python scripts/reconcile_sources.py --write"
