"""Social assistance beyond demography (issue 10, items 4-7): the refugee split by settlement,
the decomposition on history and on the projection, services under population alternatives,
and the service backtest. Every expected number is hand arithmetic or a published figure."""

import tomllib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from conftest import synthetic_population as population
from forecast.api import run, with_services
from forecast.backtest_services import service_backtest
from forecast.cli import app
from forecast.cost import compute_cost, parse_costs
from forecast.decomposition import decompose, decompose_paths
from forecast.demand import compute_demand, parse_demand
from forecast.errors import DataError, ForecastError, ScenarioError
from forecast.inputs.service_outcomes import read_service_outcomes
from forecast.scenario import load_scenario

REFUGEES = """
[cost]
price_year = 2018
[services.ref]
label = "Sosialhjelp, flyktninger"
unit = "mottakere"
groups = "18-66"
intensity = {{months_per_user = 7.0}}
cost = {{basis = "months", unit_cost = 10000, price_year = 2018}}
[services.ref.coverage]
kind = "settlement"
years_counted = {n}
rate = {rate}
settled = {settled}
"""


def demand_of(toml, pop):
    years = pop["year"].values
    raw, base, end = tomllib.loads(toml), int(years[0]), int(years[-1])
    config = parse_demand(raw, "test.toml", base, end)
    return compute_cost(compute_demand(pop, config),
                        parse_costs(raw, "test.toml", base, end, config.services))


def test_refugee_recipients_by_hand():
    # settled: 100 a year in 2013-2017, 50 in 2018, 20 from 2019; counted for 5 years
    pop = population(range(2018, 2022), {40: [1000] * 4})
    ds = demand_of(REFUGEES.format(n=5, rate=0.4, settled="{2013 = 100, 2017 = 100, "
                                                          "2018 = 50, 2019 = 20}"), pop)
    need = ds["need"].sel(service="ref").values
    # 2018: 0.4 × (5 × 100) = 200; 2019: 0.4 × (4 × 100 + 50) = 180;
    # 2020: 0.4 × (3 × 100 + 50 + 20) = 148; 2021: 0.4 × (2 × 100 + 50 + 2 × 20) = 116
    np.testing.assert_allclose(need, [200, 180, 148, 116])
    np.testing.assert_allclose(ds["settled_recent"].sel(service="ref"), [500, 450, 370, 290])
    # growth 2018-2021 split: the settled fall 500 → 290, the rate holds at 0.4
    parts = decompose(ds, "ref", 2018, 2021).query("part_of == 'users'").set_index("effect")
    assert parts.loc["demography", "ratio"] == pytest.approx(290 / 500)
    assert parts.loc["rate", "ratio"] == pytest.approx(1.0)
    # 200 recipients × 7 months × NOK 10,000
    assert ds["cost"].sel(service="ref", year=2018).item() == pytest.approx(14_000_000)
    assert ds["coverage"].sel(service="ref", year=2018).item() == pytest.approx(0.2)


def test_ldip_split_adds_up_to_the_published_base():
    """1,204 recipients and NOK 120,000 each (004 l.1468-1470): 170.4 refugees with
    integration grant (NOK 20.45 million / 120,000) and 1,033.6 others."""
    result = run(ROOT / "scenarios" / "baerum-ldip.toml")
    d = result.demand.sel(year=2018)
    refugees = d["need"].sel(service="sosialhjelp_flyktninger").item()
    others = d["need"].sel(service="sosialhjelp").item()
    assert refugees == pytest.approx(12 / 1.42 * 2.42 * 1e6 / 120_000, abs=0.1)
    assert refugees + others == pytest.approx(1204)
    cost = d["cost"].sel(service=["sosialhjelp", "sosialhjelp_flyktninger"]).sum().item()
    assert cost == pytest.approx(1204 * 120_000, rel=1e-4)   # 16,901 × 7.1 = 119,997
    # 0.40 × 426 settled 2013-2017, then half the average from 2019: 0.4 × 5 × 42.6
    need = result.demand["need"].sel(service="sosialhjelp_flyktninger")
    assert need.sel(year=2024).item() == pytest.approx(0.4 * 5 * 42.6)


@pytest.mark.parametrize("settled,n,rate,key,words", [
    ("{2013 = 100, 2040 = 10}", 5, 0.4, "settled", "outside the horizon"),
    ("{2015 = 100, 2019 = 10}", 5, 0.4, "settled", "from 2013"),
    ("{2013 = -1, 2019 = 10}", 5, 0.4, "settled", ">= 0"),
    ("{2013 = 100}", 0, 0.4, "years_counted", "1-30"),
    ("{2013 = 100}", 5, 1.5, "rate", "<= 1"),
    ("100", 5, 0.4, "settled", "table"),
])
def test_bad_settlement_input_names_the_key(settled, n, rate, key, words):
    pop = population(range(2018, 2022), {40: [1000] * 4})
    with pytest.raises(ScenarioError) as err:
        demand_of(REFUGEES.format(n=n, rate=rate, settled=settled), pop)
    assert f"services.ref.coverage.{key}" in str(err.value) and words in str(err.value)


def test_settlement_path_outside_the_horizon_via_cli(project_copy):
    path = project_copy / "scenarios" / "baerum-ldip.toml"
    text = path.read_text()
    old = "settled = { 2013 = 85.2,"
    assert old in text
    path.write_text(text.replace(old, "settled = { 2050 = 10, 2013 = 85.2,", 1))
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "baerum-ldip.toml" in line
    assert "services.sosialhjelp_flyktninger.coverage.settled" in line, line
    assert not out.exists() or not any(out.iterdir())


def test_history_decomposition_2015_2019_of_the_nav_review():
    """000: +25 % = +4.1 % recipients, +15.7 % months, +3.9 % payment, +1.4 % combined;
    1.041 × 1.157 × 1.039 = 1.25143."""
    df = decompose_paths({"recipients": {2015: 100, 2019: 104.1},
                          "months": {2015: 100, 2019: 115.7},
                          "payment": {2015: 100, 2019: 103.9}}, 2015, 2019).set_index("effect")
    assert df.loc["total", "ratio"] == pytest.approx(1.041 * 1.157 * 1.039)
    assert round(df.loc["total", "change_pct"]) == 25
    assert round(df.loc["combined", "change_pct"], 1) == 1.4
    assert df.loc["months", "change_pct"] == pytest.approx(15.7)
    # log-based split: ln(1.157) / ln(1.25143) of the 25.14 % growth goes to months
    lmdi = df["lmdi_pct"].drop(["combined", "total"])
    assert lmdi.sum() == pytest.approx(df.loc["total", "change_pct"])
    assert df.loc["months", "lmdi_pct"] == pytest.approx(
        25.143 * np.log(1.157) / np.log(1.25143), abs=0.01)
    assert df.loc["combined", "lmdi_pct"] == 0.0
    # dated paths: a year in between is interpolated, the growth is the same
    mid = decompose_paths({"recipients": {2015: 100, 2019: 104.1}}, 2015, 2017)
    assert mid.set_index("effect").loc["total", "ratio"] == pytest.approx(1.0205)
    with pytest.raises(ForecastError, match="--to"):
        decompose_paths({"recipients": 1.0}, 2019, 2015)


def test_projection_decomposition_lmdi_adds_up_and_splits_demography_from_rate():
    result = run(ROOT / "scenarios" / "baerum-ldip.toml")
    table = decompose(result.demand, "sosialhjelp", 2018, 2038)
    main = table[table["part_of"] == ""].set_index("effect")
    factors = main.drop(["combined", "total"])
    assert factors["lmdi_nok"].sum() == pytest.approx(main.loc["total", "nok"])
    assert factors["nok"].sum() + main.loc["combined", "nok"] == pytest.approx(
        main.loc["total", "nok"])
    parts = table[table["part_of"] == "users"].set_index("effect")
    pop = result.population["pop"].sum("sex").sel(age=slice(18, 66)).sum("age")
    assert parts.loc["demography", "ratio"] == pytest.approx(
        (pop.sel(year=2038) / pop.sel(year=2018)).item())
    assert parts.loc["demography", "ratio"] * parts.loc["rate", "ratio"] == pytest.approx(
        main.loc["users", "ratio"])


def test_decompose_a_service_without_base_year_users(project_copy):
    path = project_copy / "scenarios" / "baerum-ldip.toml"
    text = path.read_text()
    assert "rate = 0.40\n" in text
    path.write_text(text.replace("rate = 0.40\n", "rate = 0.0\n", 1))
    result = CliRunner().invoke(app, ["decompose", str(path), "--from", "2018", "--to", "2030",
                                      "--service", "sosialhjelp_flyktninger"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "no users in 2018" in line and "baerum-ldip.toml" in line
    every = CliRunner().invoke(app, ["decompose", str(path), "--from", "2018", "--to", "2030"])
    assert every.exit_code == 0, every.output
    assert "sosialhjelp_flyktninger has no users in 2018" in every.stdout


def test_compare_llml_and_mmmm_same_services_different_populations():
    files = [str(ROOT / "scenarios" / f) for f in ("baerum-mmmm.toml", "baerum-llml.toml")]
    result = CliRunner().invoke(app, ["compare", *files])
    assert result.exit_code == 0, result.output
    assert "services of baerum-ldip.toml" in result.stdout and "Δ % llml" in result.stdout
    mmmm, llml = (run(with_services(load_scenario(f))) for f in files)
    assert list(mmmm.config.services) == list(llml.config.services)
    # today's coverage held: users per person of each age group are the same in both
    np.testing.assert_allclose(mmmm.demand["coverage"].sel(service="heldogn"),
                               llml.demand["coverage"].sel(service="heldogn"), rtol=1e-12)
    rates = [(r.demand["need_by_group"] / r.demand["population_by_group"]).sel(
        service="hjemmetjenester").dropna("group", how="all") for r in (mmmm, llml)]
    np.testing.assert_allclose(rates[0], rates[1], rtol=1e-12)
    p80 = [r.demand["group_population"].sel(service="heldogn", year=2038).item()
           for r in (mmmm, llml)]
    need = [r.demand["need"].sel(service="heldogn", year=2038).item() for r in (mmmm, llml)]
    assert p80[1] < p80[0]
    assert need[1] / need[0] == pytest.approx(p80[1] / p80[0])
    # the shipped file is the same as the services applied to baerum-llml.toml
    shipped = run(ROOT / "scenarios" / "baerum-ldip-llml.toml")
    np.testing.assert_allclose(shipped.demand["need"], llml.demand["need"])


def test_with_services_refuses_other_years(tmp_path):
    sc = load_scenario(ROOT / "scenarios" / "baerum-llml.toml")
    child = tmp_path / "short.toml"
    child.write_text(f'extends = "{ROOT / "scenarios" / "baerum-ldip.toml"}"\nend_year = 2030\n')
    with pytest.raises(ScenarioError, match="same years"):
        with_services(sc, child)


def test_service_backtest_errors_against_the_data_file():
    outcomes = read_service_outcomes(ROOT / "data" / "baerum" / "service_outcomes.csv")
    result = run(ROOT / "scenarios" / "baerum-ldip.toml")
    table = service_backtest(result.demand, result.population, outcomes).set_index(
        ["measure", "year"])
    # months: 7.1 held (2018) against 7.9 in 2024 (002 l.272): 7.1 / 7.9 - 1 = -10.1 %
    assert table.loc[("months", 2024), "forecast_error_pct"] == pytest.approx(
        100 * (7.1 / 7.9 - 1))
    # stønad per mottaker: NOK 59,844 (2017, 2018-kroner) held in real terms, in 2024 prices
    # 59,844 × 133.6 / 108.4 = 73,756 against 70,784 (002 l.140)
    assert table.loc[("payment_per_recipient", 2024), "naive"] == pytest.approx(
        59_844 * 133.6 / 108.4)
    # share: naive 2.6 against 3.3 in 2024 (002 l.231) = -21.2 %
    assert table.loc[("share_18_66", 2024), "naive_error_pct"] == pytest.approx(
        100 * (2.6 / 3.3 - 1))
    d = result.demand.sel(service=["sosialhjelp", "sosialhjelp_flyktninger"])
    pop = result.population["pop"].sum("sex").sel(age=slice(18, 66)).sum("age")
    share = d["need"].sum("service") / pop
    expected = 2.6 * (share.sel(year=2023) / share.sel(year=2018)).item()
    assert table.loc[("share_18_66", 2023), "forecast"] == pytest.approx(expected)
    assert table.loc[("share_18_66", 2023), "outcome"] == 3.0
    assert (table["outcome"] > 0).all() and len(table) == 15


def test_backtest_services_cli_and_a_bad_outcomes_file(tmp_path):
    ok = CliRunner().invoke(app, ["backtest", "--services", "--out", str(tmp_path / "e.csv")])
    assert ok.exit_code == 0, ok.output
    written = pd.read_csv(tmp_path / "e.csv")
    assert set(written["measure"]) == {"share_18_66", "share_18_67_profile", "months",
                                       "payment_per_recipient"}
    bad = tmp_path / "outcomes.csv"
    text = (ROOT / "data" / "baerum" / "service_outcomes.csv").read_text()
    bad.write_text(text.replace("months,2021,7.3,months,outcome", "months,2021,7.3,months,later"))
    result = CliRunner().invoke(app, ["backtest", "--services", "--outcomes", str(bad)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "outcomes.csv" in line and "role" in line
    with pytest.raises(DataError, match="known_2018"):
        bad.write_text(text.replace("months,2018,7.1,months,known_2018",
                                    "months,2018,7.1,months,outcome"))
        read_service_outcomes(bad)


@pytest.mark.parametrize("args,key", [
    (["--from", "2038", "--to", "2018"], "--to"),
    (["--from", "2018", "--to", "2050"], "--to"),
    (["--from", "2018", "--to", "2030", "--service", "nope"], "--service"),
])
def test_decompose_bad_options_name_the_option(args, key):
    result = CliRunner().invoke(app, ["decompose", *args])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and key in line, line


def test_decompose_history_cli_reproduces_the_nav_review(tmp_path):
    """000: +4.1 % recipients, +15.7 % months, +3.9 % payment per month, +1.4 % combined."""
    file = ROOT / "data" / "baerum" / "social_assistance_growth_2015_2019.csv"
    result = CliRunner().invoke(app, ["decompose", "--history", str(file), "--from", "2015",
                                      "--to", "2019"])
    assert result.exit_code == 0, result.output
    for text in ("+4.1", "+15.7", "+3.9", "+1.4", "+25.1", "+16.3"):
        assert text in result.stdout, text
    bad = tmp_path / "h.csv"
    bad.write_text(file.read_text().replace("2019,months,115.7", "2018,months,115.7"))
    result = CliRunner().invoke(app, ["decompose", "--history", str(bad), "--from", "2015",
                                      "--to", "2019"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "h.csv" in line and "months" in line and "--to 2019" in line


def test_compare_services_file_without_services_is_one_line():
    files = [str(ROOT / "scenarios" / f) for f in ("baerum-mmmm.toml", "baerum-llml.toml")]
    result = CliRunner().invoke(app, ["compare", *files, "--services",
                                      str(ROOT / "scenarios" / "baerum-hhmh.toml")])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "baerum-hhmh.toml" in line and "services" in line
