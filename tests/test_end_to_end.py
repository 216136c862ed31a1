"""End to end through the CLI on the embedded Bærum data: outputs, identity, determinism."""

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.api import project
from forecast.cli import app

from conftest import ROOT


@pytest.fixture(scope="module")
def mmmm():
    return project(ROOT / "scenarios" / "baerum-mmmm.toml")


def test_base_year_equals_the_data_exactly(mmmm):
    ds = mmmm
    assert ds["pop"].dims == ("year", "sex", "age")  # one municipality: no region dim
    base = ds["pop"].sel(year=2018)
    assert base.sum() == 125454
    assert base.sel(sex="male").sum() == 62176 and base.sel(sex="female").sum() == 63278
    assert int(ds["year"][-1]) == 2038


@pytest.mark.parametrize("name, totals", [
    ("baerum-mmmm.toml", (125_454, 143_983, 162_298)),
    ("baerum-boligprogram.toml", (125_454, 143_979, 162_291)),
])
def test_baerum_projection_is_unchanged(name, totals, mmmm):
    # the totals of 1 January 2018, 2028 and 2038 as published with the model, rounded
    ds = mmmm if name == "baerum-mmmm.toml" else project(ROOT / "scenarios" / name)
    total = ds["pop"].sum(("sex", "age"))
    assert [round(float(total.sel(year=y))) for y in (2018, 2028, 2038)] == list(totals)


def test_bands_output_equals_the_full_projection(mmmm):
    from forecast.population.model import BANDS

    bands = project(ROOT / "scenarios" / "baerum-mmmm.toml", outputs="bands")
    assert list(bands["band"].values) == list(BANDS)
    for band, (lo, hi) in BANDS.items():
        np.testing.assert_allclose(bands["pop_band"].sel(band=band),
                                   mmmm["pop"].sel(age=slice(lo, hi)).sum("age"), rtol=1e-12)
    np.testing.assert_array_equal(bands["pop_end"], mmmm["pop"].sel(year=2038))
    assert "pop" not in bands and "deaths" not in bands


def test_identity_from_the_two_csv_files(tmp_path):
    result = CliRunner().invoke(app, ["project", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    pop = pd.read_csv(tmp_path / "population.csv").set_index(["year", "sex", "age"])["persons"]
    flows = pd.read_csv(tmp_path / "flows.csv").pivot_table(
        index=["year", "sex", "age"], columns="component", values="persons", fill_value=0.0)
    worst = 0.0
    for (year, sex, age), f in flows.iterrows():
        start = f["births"] if age == 0 else pop[(year, sex, age - 1)]
        if age == 105:
            start += pop[(year, sex, 105)]
        expected = start - f["deaths"] + f["inmig"] - f["outmig"]
        worst = max(worst, abs(pop[(year + 1, sex, age)] - expected))
    assert worst < 1e-6


def test_same_inputs_same_output_every_run(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        assert runner.invoke(app, ["project", "--out", str(tmp_path / name)]).exit_code == 0
    for file in ("population.csv", "flows.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_run_writes_every_output(tmp_path):
    result = CliRunner().invoke(app, ["run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"population.csv", "flows.csv", "demand.csv", "result.nc", "forecast.xlsx",
            "population_growth.png", "places.png", "home_care.png",
            "social_assistance.png"} <= names
    demand = pd.read_csv(tmp_path / "demand.csv")
    assert list(demand.columns) == ["scenario", "service", "year", "measure", "value", "unit"]
    need = demand.query("service == 'heldogn' and measure == 'need' and year == 2018")["value"]
    assert need.iloc[0] == 1377  # the base-year places stated in baerum-ldip.toml
    book = openpyxl.load_workbook(tmp_path / "forecast.xlsx")
    assert book.sheetnames == ["Sammendrag", "Befolkning", "Alder og kjønn", "Tjenester",
                               "Kapasitet", "Kostnad", "Forutsetninger"]
    ws = book["Kostnad"]    # mill. kr, years as columns: the kroner of demand.csv / 1e6
    years = [c.value for c in ws[2]]
    row = next(r for r in ws.iter_rows(min_row=3) if r[0].value == "Heldøgns omsorgsplasser"
               and r[1].value == "Kostnad (mill. kr, 2018-priser)")
    kroner = demand.query("service == 'heldogn' and measure == 'cost' and year == 2038")
    cost = row[years.index(2038)].value
    assert cost == pytest.approx(kroner["value"].item() / 1e6, rel=1e-12)  # CSV's 17 digits
    texts = [c.value for sheet in book for r in sheet.iter_rows() for c in r
             if isinstance(c.value, str)]
    assert not [t for t in texts if str(ROOT) in t]       # no machine paths
    assert "baerum-ldip.toml" in texts
    for png in ("places.png", "home_care.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_with_draws_workbook_and_fan_charts(tmp_path):
    result = CliRunner().invoke(app, ["run", "--draws", "50", "--seed", "4", "--out",
                                      str(tmp_path), "--formats", "csv,excel,png"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "population_80_fan.png").exists()
    assert (tmp_path / "places_fan.png").exists()
    table = pd.read_csv(tmp_path / "uncertainty.csv")
    ws = openpyxl.load_workbook(tmp_path / "forecast.xlsx")["Kapasitet"]
    years = [c.value for c in ws[2]]
    rows = {r[2].value: r for r in ws.iter_rows(min_row=3)
            if r[0].value == "Heldøgns omsorgsplasser"}
    need = table.query("variable == 'need' and item == 'heldogn' and year == 2030 "
                       "and quantile == 0.9")["value"].item()
    assert rows["Behov, 90 %"][years.index(2030)].value == pytest.approx(need, rel=1e-12)
    p = table.query("variable == 'p_shortfall' and item == 'heldogn' and year == 2030")
    assert rows["Sannsynlighet for underdekning"][years.index(2030)].value == \
        pytest.approx(p["value"].item())


def test_compare_prints_side_by_side():
    files = [str(ROOT / "scenarios" / f) for f in
             ("baerum-ldip.toml", "baerum-dekningsgrad-22.toml", "baerum-planlagt-kapasitet.toml")]
    result = CliRunner().invoke(app, ["compare", *files])
    assert result.exit_code == 0, result.output
    assert "Δ dekningsgrad-22" in result.stdout and "planlagt-kapasit" in result.stdout
    assert "Heldøgns" in result.stdout


def test_decompose_prints_effects():
    result = CliRunner().invoke(app, ["decompose", "--from", "2018", "--to", "2023"])
    assert result.exit_code == 0, result.output
    for word in ("demography", "coverage", "unit_cost", "combined", "total"):
        assert word in result.stdout


@pytest.mark.parametrize("old,new,key", [
    ('kind = "base"', 'kind = "basis"', "services.heldogn.coverage.kind"),
    ("users = 1377", "users = -5", "services.heldogn.users"),
    ("price_year = 2018\n# assumption: NOK 4", "# price_year removed\n# assumption: NOK 4",
     "services.heldogn.cost"),
])
def test_invalid_service_definition_via_cli(project_copy, old, new, key):
    path = project_copy / "scenarios" / "baerum-ldip.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "baerum-ldip.toml" in line and key in line, line
    assert not out.exists() or not any(out.iterdir())


def test_scenario_targets_reach_the_projection(project_copy):
    path = project_copy / "scenarios" / "baerum-mmmm.toml"
    text = path.read_text().replace('e0_female = "trend"', "e0_female = { 2018 = 85.0, 2038 = 89.0 }")
    text = text.replace("[fertility]\n", "[fertility]\ntfr = { 2018 = 1.8, 2028 = 1.5 }\n", 1)
    path.write_text(text)
    ds = project(path)
    e0 = ds["e0"].sel(sex="female")
    # linear between the given years: 2028 is half way
    assert float(e0.sel(year=2028)) == pytest.approx(87.0, abs=1e-6)
    assert float(e0.sel(year=2018)) == pytest.approx(85.0, abs=1e-6)
    assert float(ds["tfr"].sel(year=2023)) == pytest.approx(1.65, abs=1e-12)
    assert float(ds["tfr"].sel(year=2035)) == pytest.approx(1.5, abs=1e-12)  # flat after
    # births of a year = sum over ages of the scaled ASFR x mean of women at start and end
    asfr = pd.read_csv(project_copy / "data" / "baerum" / "fertility.csv").set_index("age")["asfr"]
    women = ds["pop"].sel(sex="female")
    y = 2030
    exposure = 0.5 * (women.sel(year=y) + women.sel(year=y + 1)).sel(age=asfr.index.values)
    expected = float((asfr.values * 1.5 / asfr.sum() * exposure.values).sum())
    assert float(ds["births"].sel(year=y).sum()) == pytest.approx(expected, rel=1e-12)
