"""Housing-led in-migration: the housing component, the two modes, and malformed inputs."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.api import project
from forecast.cli import app
from forecast.errors import DataError, ScenarioError
from forecast.inputs.housing import (default_persons_per_dwelling, profile_from_migration,
                                     read_housing, write_default_profile)
from forecast.population.housing import HousingSpec, housing_component
from forecast.scenario import load_scenario

from conftest import ROOT

B = "scenarios/baerum-boligprogram.toml"
MIGRATION = ROOT / "data" / "baerum" / "migration.csv"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _child(d, body, name="child.toml"):
    """A scenario extending the housing-led one, stating only `body`."""
    path = d / "scenarios" / name
    path.write_text('extends = "baerum-boligprogram.toml"\n' + body)
    return path


def _spec(dwellings, ppd, profile, mode="replace", level=0.0):
    years = np.arange(2018, 2018 + len(dwellings))
    return HousingSpec(mode=mode, years=years, existing_level=np.full(len(years), level),
                       ppd_spec=ppd, profiles={"": profile},
                       dwellings=np.asarray(dwellings, float)[:, None])


def test_hand_computed_cell():
    # 100 dwellings x 2.0 persons x share 0.01 = 2.0 persons in that cell
    profile = np.zeros((2, 106))
    profile[0, 30] = 0.01
    profile[1, 0] = 0.99
    got = housing_component(_spec([100.0], 2.0, profile), np.array([[100.0]]), ("",))
    assert got.shape == (1, 2, 106)
    assert got[0, 0, 30] == pytest.approx(2.0, rel=1e-15)
    assert got[0, 1, 0] == pytest.approx(198.0, rel=1e-15)
    assert got.sum() == pytest.approx(200.0, rel=1e-15)


def test_dated_persons_per_dwelling_and_types():
    profile = np.full((2, 106), 1.0 / 212)
    spec = _spec([10.0, 10.0, 10.0], {"2018": 2.0, "2020": 3.0}, profile)
    got = housing_component(spec, spec.dwellings, ("",)).sum(axis=(1, 2))
    assert got == pytest.approx([20.0, 25.0, 30.0])
    # per dwelling type: 10 flats x 1.5 + 4 houses x 3.0 = 27 persons
    spec = _spec([0.0], {"flat": 1.5, "house": 3.0}, profile)
    spec.profiles = {"flat": profile, "house": profile}
    got = housing_component(spec, np.array([[10.0, 4.0]]), ("flat", "house"))
    assert got.sum() == pytest.approx(27.0)


def test_default_parameters_are_the_documented_arithmetic():
    profile = profile_from_migration(MIGRATION)
    assert profile["share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (profile["share"] >= 0).all()
    ppd = default_persons_per_dwelling(MIGRATION)
    assert ppd == pytest.approx(pd.read_csv(MIGRATION)["inmig"].sum() / 700.0)  # Σ inmig / 700
    assert round(ppd, 3) == 2.528  # the value written in baerum-boligprogram.toml


def test_bundled_profile_is_the_default_profile(tmp_path):
    # data/baerum/housing_profile.csv is what write_default_profile makes of migration.csv
    (tmp_path / "migration.csv").write_bytes(MIGRATION.read_bytes())
    written = write_default_profile(tmp_path)
    assert written == tmp_path / "housing_profile.csv"
    ours = pd.read_csv(written)
    bundled = pd.read_csv(ROOT / "data" / "baerum" / "housing_profile.csv")
    assert list(ours.columns) == ["sex", "age", "share"] and len(ours) == 212
    pd.testing.assert_frame_equal(ours[["sex", "age"]], bundled[["sex", "age"]])
    np.testing.assert_allclose(ours["share"], bundled["share"], rtol=1e-9, atol=1e-15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["housing_profile.csv", "migration.csv"]


def _total_pop(ds):
    return ds["pop"].sum(("sex", "age"))


def test_zero_dwellings_give_zero_housing_inmigration(project_copy):
    ds = project(_child(project_copy, "[housing]\ndwellings = 0\n"))
    housing = ds["inmig_housing"].isel(year=slice(0, -1))
    assert float(np.abs(housing).max()) == 0.0
    # replace mode with no turnover in the existing stock: no in-migration at all
    assert float(ds["inmig"].isel(year=slice(0, -1)).max()) == 0.0
    assert np.isnan(ds["inmig_housing"].isel(year=-1)).all()


def test_doubling_the_programme_doubles_the_component(project_copy):
    one = project(_child(project_copy, "[housing]\ndwellings = { 2018 = 500, 2037 = 900 }\n"))
    two = project(_child(project_copy, "[housing]\ndwellings = { 2018 = 1000, 2037 = 1800 }\n",
                         "two.toml"))
    h1 = one["inmig_housing"].isel(year=slice(0, -1)).to_numpy()
    h2 = two["inmig_housing"].isel(year=slice(0, -1)).to_numpy()
    assert h1.sum() > 0
    np.testing.assert_array_equal(h2, 2.0 * h1)
    assert float(_total_pop(two).isel(year=-1)) > float(_total_pop(one).isel(year=-1))


def test_identity_and_non_negative(project_copy):
    for body in ("[housing]\ndwellings = 0\n", "[housing]\ndwellings = 3000\nmode = \"add\"\n"):
        ds = project(_child(project_copy, body))
        pop = ds["pop"].to_numpy()
        assert (pop >= 0).all()
        d, i, o = (ds[v].to_numpy()[:-1] for v in ("deaths", "inmig", "outmig"))
        start = np.zeros_like(d)
        start[:, :, 1:] = pop[:-1, :, :-1]
        start[:, :, -1] += pop[:-1, :, -1]
        start[:, :, 0] = ds["births"].to_numpy()[:-1]
        np.testing.assert_allclose(pop[1:], start - d + i - o, rtol=1e-12, atol=1e-9)
        h = ds["inmig_housing"].to_numpy()[:-1]
        assert (h >= 0).all() and (i >= h - 1e-12).all()


def test_replace_with_the_historical_rate_reproduces_the_trend(project_copy):
    ppd = default_persons_per_dwelling(MIGRATION)
    housing = project(_child(project_copy, f"[housing]\ndwellings = 700\n"
                                           f"persons_per_dwelling = {ppd!r}\n"))
    trend = project(project_copy / "scenarios" / "baerum-mmmm.toml")
    np.testing.assert_allclose(housing["pop"], trend["pop"], rtol=1e-9)
    np.testing.assert_allclose(housing["inmig_housing"][:-1], trend["inmig"][:-1], rtol=1e-9)


def test_add_mode_and_existing_stock_turnover(project_copy):
    trend = project(project_copy / "scenarios" / "baerum-mmmm.toml")["inmig"][:-1]
    add = project(_child(project_copy, '[housing]\nmode = "add"\n'))
    np.testing.assert_allclose(add["inmig"][:-1], trend + add["inmig_housing"][:-1], rtol=1e-12)
    rep = project(_child(project_copy, "[housing]\nexisting_stock_inmig_level = 0.25\n", "r.toml"))
    np.testing.assert_allclose(rep["inmig"][:-1] - rep["inmig_housing"][:-1], 0.25 * trend,
                               rtol=1e-9, atol=1e-12)
    # the trend's out-migration rates are kept: same outflow per resident in both modes
    np.testing.assert_allclose(add["outmig"].sel(year=2018), rep["outmig"].sel(year=2018))


def test_bundled_scenario_reports_the_component():
    ds = project(ROOT / B)
    h = ds["inmig_housing"].sel(year=2018)
    assert float(h.sum()) == pytest.approx(700 * 2.528, rel=1e-9)
    assert ds["inmig_housing"].attrs["housing_mode"] == "replace"


# --- malformed inputs: one line naming the file and the key -------------------------------------

def _programme(d):
    return d / "data" / "baerum" / "housing_programme.csv"


def _profile(d):
    return d / "data" / "baerum" / "housing_profile.csv"


def _set_share(path, value):  # the share of girls in the birth cohort, so they sum to != 1
    df = pd.read_csv(path)
    df.loc[(df["sex"] == "female") & (df["age"] == 0), "share"] = value
    df.to_csv(path, index=False)


MALFORMED = {
    "negative dwellings in the programme": (
        lambda d: _edit(_programme(d), "2020,700", "2020,-5"), "housing_programme.csv",
        "dwellings", DataError),
    "missing year in the programme": (
        lambda d: _edit(_programme(d), "2025,700\n", ""), "housing_programme.csv", "year",
        DataError),
    "negative dwellings as a dated value": (
        lambda d: _child(d, "[housing]\ndwellings = { 2018 = 700, 2020 = -1 }\n"
                         "programme_file = \"../data/baerum/housing_programme.csv\"\n"),
        "child.toml", "housing.dwellings", ScenarioError),
    "profile does not sum to one": (
        lambda d: _set_share(_profile(d), 0.5), "housing_profile.csv",
        "share", DataError),
    "unknown mode": (lambda d: _edit(d / B, 'mode = "replace"', 'mode = "swap"'),
                     "baerum-boligprogram.toml", "housing.mode", ScenarioError),
    "negative persons per dwelling": (
        lambda d: _edit(d / B, "persons_per_dwelling = 2.528", "persons_per_dwelling = -2"),
        "baerum-boligprogram.toml", "housing.persons_per_dwelling", ScenarioError),
    "per-type persons without types": (
        lambda d: _edit(d / B, "persons_per_dwelling = 2.528",
                        "persons_per_dwelling = { flat = 2.0 }"),
        "baerum-boligprogram.toml", "housing.persons_per_dwelling", ScenarioError),
    "no profile": (lambda d: _edit(d / B, 'profile_file = "../data/baerum/housing_profile.csv"',
                                   ""), "baerum-boligprogram.toml", "housing.profile_file",
                   ScenarioError),
    "unknown key": (lambda d: _edit(d / B, "existing_stock_inmig_level = 0.0",
                                    "existing_level = 0.0"),
                    "baerum-boligprogram.toml", "housing.existing_level", ScenarioError),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_housing_input(project_copy, name):
    breaker, file_part, key_part, kind = MALFORMED[name]
    made = breaker(project_copy)
    scenario = made if made is not None else project_copy / B
    with pytest.raises(kind) as info:
        project(load_scenario(scenario))
    message = str(info.value)
    assert "\n" not in message and file_part in message and f": {key_part}: " in message, message
    if name == "profile does not sum to one":
        assert "expected 1" in message
    # the CLI: one line on stderr, exit 2, nothing written
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(scenario), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().count("\n") == 0 and file_part in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_types_must_match(project_copy):
    prog = _programme(project_copy)
    prog.write_text("year,type,dwellings\n" + "".join(
        f"{y},flat,500\n{y},house,200\n" for y in range(2018, 2039)))
    _edit(project_copy / B, "persons_per_dwelling = 2.528",
          "persons_per_dwelling = { flat = 2.0, house = { 2018 = 3.2, 2038 = 3.0 } }")
    ds = project(project_copy / B)
    assert float(ds["inmig_housing"].sel(year=2018).sum()) == pytest.approx(500 * 2 + 200 * 3.2)
    _edit(project_copy / B, "flat = 2.0, ", "")
    with pytest.raises(ScenarioError, match="no value for dwelling type 'flat'"):
        read_housing(load_scenario(project_copy / B))
