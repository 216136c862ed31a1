"""Every municipality in one run: the base year equals the data, the identity holds per
region, Norway is the sum, and malformed multi-region input is a one-line error."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.api import project, run
from forecast.cli import app

from conftest import ROOT

NORWAY = ROOT / "scenarios" / "norway-mmmm.toml"
SERVICES = ROOT / "scenarios" / "norway-tjenester.toml"


@pytest.fixture(scope="module")
def norway():
    return project(NORWAY, regions="all")


def test_base_year_equals_the_data_cell_by_cell(norway):
    counts = pd.read_csv(ROOT / "data/norway/population.csv.gz", dtype={"municipality": str})
    base = counts[counts["year"] == 2018].pivot_table(
        index=["municipality", "sex", "age"], values="persons").squeeze()
    got = norway["pop"].sel(year=2018).to_series()
    got.index = got.index.set_names(["municipality", "sex", "age"])
    assert len(got) == 357 * 2 * 106
    assert (got.sort_index() == base.sort_index().astype(float)).all()
    assert got.sum() == 5_295_595


def test_identity_holds_exactly_in_every_region(norway):
    pop = norway["pop"].to_numpy()
    start = np.zeros_like(pop[:, :-1])
    start[..., 1:] = pop[:, :-1, :, :-1]
    start[..., -1] += pop[:, :-1, :, -1]
    start[..., 0] = norway["births"].to_numpy()[:, :-1]
    flows = {k: norway[k].to_numpy()[:, :-1] for k in ("deaths", "inmig", "outmig")}
    end = start - flows["deaths"] + flows["inmig"] - flows["outmig"]
    assert np.abs(end - pop[:, 1:]).max() < 1e-8 * pop.max()
    assert flows["deaths"].min() >= 0


def test_norway_is_the_sum_and_regions_run_alone_agree(norway):
    oslo = project(NORWAY, regions=["Oslo"])
    assert list(oslo["region"].values) == ["0301"]
    np.testing.assert_allclose(oslo["pop"].isel(region=0), norway["pop"].sel(region="0301"),
                               rtol=1e-12)
    printed = CliRunner().invoke(app, ["project", "--all"])
    assert printed.exit_code == 0, printed.output
    total_2038 = norway["pop"].sel(year=2038).sum().item()
    assert f"{total_2038:,.0f}" in printed.output
    assert "* history before a later split" in printed.output
    assert sorted(norway.attrs["flagged_regions"].split(", ")) == [
        "1508", "1580", "1806", "1875", "5055", "5056", "5059"]


def test_run_all_services_per_region():
    result = run(SERVICES, regions=["0301", "Bergen"])
    need = result.demand["need"].sel(service="heldogn")
    pop80 = result.population["pop"].sel(age=slice(80, 105)).sum(["sex", "age"])
    np.testing.assert_allclose(need, 0.25 * pop80, rtol=1e-12)  # kind "path", 25 % of 80+
    assert list(result.demand["region"].values) == ["0301", "4601"]


def _rewrite(path, change):
    frame = pd.read_csv(path, dtype={"municipality": str})
    change(frame).to_csv(path, index=False)


def _drop_oslo_age(frame):
    return frame[~((frame["municipality"] == "0301") & (frame["year"] == 2018)
                   & (frame["sex"] == "male") & (frame["age"] == 40))]


def _duplicate_first(frame):
    return pd.concat([frame, frame.iloc[:1]])


def _users_table(d):
    path = d / "users.csv"
    path.write_text("municipality,service,group,users\n0301,sykehjem,80+,10\n")
    text = (d / "scenarios/norway-tjenester.toml").read_text()
    text = text.replace('extends = "norway-mmmm.toml"',
                        f'extends = "norway-mmmm.toml"\nservice_users_file = "{path.as_posix()}"')
    (d / "scenarios/norway-tjenester.toml").write_text(text)


CASES = {
    # the option as typed, not the scenario key it overrides
    "unknown municipality": (None, ["-m", "9999"], "norway-mmmm.toml",
                             "--municipality: unknown municipality '9999'"),
    "municipality missing an age": (
        lambda d: _rewrite(d / "data/norway/population.csv.gz", _drop_oslo_age), ["--all"],
        "population.csv.gz", "age"),
    "municipality missing the base year": (
        lambda d: _rewrite(d / "data/norway/population.csv.gz",
                           lambda f: f[~((f["municipality"] == "5614") & (f["year"] == 2018))]),
        ["--all"], "population.csv.gz", "municipality"),
    "duplicate migration row": (
        lambda d: _rewrite(d / "data/norway/migration.csv.gz", _duplicate_first), ["--all"],
        "migration.csv.gz", "age"),
    "municipality missing from the fertility levels": (
        lambda d: _rewrite(d / "data/norway/fertility_level.csv",
                           lambda f: f[f["municipality"] != "0301"]), ["--all"],
        "fertility_level.csv", "municipality"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_multi_region_input(project_copy, name):
    breaker, args, file_part, key_part = CASES[name]
    if breaker is not None:
        breaker(project_copy)
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(project_copy / "scenarios/norway-mmmm.toml"),
                                      *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert file_part in lines[0] and key_part in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_users_table_naming_an_unknown_service(project_copy):
    _users_table(project_copy)
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["run", str(project_copy / "scenarios/norway-tjenester.toml"),
                                      "--all", "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "users.csv" in line and "service" in line and "sykehjem" in line
    assert not out.exists()


def test_run_on_sub_areas_writes_the_areas(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(ROOT / "scenarios/baerum-delomrader.toml"),
                                      "--out", str(out), "--formats", "csv,excel"])
    assert result.exit_code == 0, result.output
    population = pd.read_csv(out / "population.csv")
    assert list(population.columns[:2]) == ["area", "year"]
    assert population[population["year"] == 2018]["persons"].sum() == 125_454
    assert (out / "forecast.xlsx").exists()
