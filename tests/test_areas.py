"""Sub-areas through the API: regions of one municipality that exchange movers through a pool.

The kernel's arithmetic of the pool is tested in test_kernel.py; here: the scenario files
(scenarios/baerum-delomrader.toml and constructed scenarios written to a temporary folder)
give areas that add up to the municipality, internal moves that cancel, the identity per
area, the base year of the area file, and one-line errors for malformed area files.
"""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.api import project
from forecast.cli import app
from forecast.errors import DataError, ScenarioError
from forecast.population.areas import municipality, split_largest_remainder
from forecast.scenario import load_scenario

from conftest import ROOT

S = "scenarios/baerum-delomrader.toml"
AREAS = "data/baerum/areas"
MMMM = ROOT / "scenarios" / "baerum-mmmm.toml"
SEXES = ("female", "male")
FLOWS = ("births", "deaths", "inmig", "outmig")


# --- helpers ------------------------------------------------------------------------------------

def baerum_base() -> np.ndarray:
    """(2, 106) Bærum's persons on 1 January 2018 (data/baerum/population.csv)."""
    pop = pd.read_csv(ROOT / "data/baerum/population.csv").query("year == 2018")
    return pop.pivot(index="sex", columns="age", values="persons").loc[list(SEXES)].to_numpy(float)


def write_area_scenario(folder, n, seed=0, by_age=False):
    """A CONSTRUCTED scenario of `n` areas extending baerum-mmmm.toml (same rates in every
    area): Bærum's 2018 counts split at random (largest remainder, so they add up exactly),
    random in-migration shares, out_rate and in_share (one per area, or per sex and age).
    Returns (scenario path, base (n, 2, 106), inmig shares (n,), out_rate, in_share)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    codes = [f"omr{i:02d}" for i in range(n)]
    total = baerum_base()
    base = np.zeros((n, 2, 106))
    groups = [(0, 19), (20, 39), (40, 66), (67, 105)]
    shares = {g: rng.dirichlet(np.ones(n)) for g in groups}
    for s in range(2):
        for age in range(106):
            g = next(g for g in groups if g[0] <= age <= g[1])
            base[:, s, age] = split_largest_remainder(int(total[s, age]), shares[g])
    inmig_share = rng.dirichlet(np.ones(n))
    pd.DataFrame({"area": codes, "name": [f"Område {i} (konstruert)" for i in range(n)],
                  "inmig_share": inmig_share}).to_csv(folder / "areas.csv", index=False,
                                                      float_format="%.17g")
    rows = [(code, 2018, sex, age, base[r, s, age]) for r, code in enumerate(codes)
            for s, sex in enumerate(SEXES) for age in range(106)]
    pd.DataFrame(rows, columns=["area", "year", "sex", "age", "persons"]).to_csv(
        folder / "population.csv", index=False)
    if by_age:
        out_rate = rng.uniform(0.0, 0.1, (n, 2, 106))
        in_share = rng.dirichlet(np.ones(n), (2, 106)).transpose(2, 0, 1)
        moves = pd.DataFrame([(code, sex, age, out_rate[r, s, age], in_share[r, s, age])
                              for r, code in enumerate(codes) for s, sex in enumerate(SEXES)
                              for age in range(106)],
                             columns=["area", "sex", "age", "out_rate", "in_share"])
    else:
        out_rate = np.broadcast_to(rng.uniform(0.005, 0.05, n)[:, None, None], (n, 2, 106))
        in_share = np.broadcast_to(rng.dirichlet(np.ones(n))[:, None, None], (n, 2, 106))
        moves = pd.DataFrame({"area": codes, "out_rate": out_rate[:, 0, 0],
                              "in_share": in_share[:, 0, 0]})
    moves.to_csv(folder / "moves.csv", index=False, float_format="%.17g")
    scenario = folder / "areas.toml"
    scenario.write_text(
        f'extends = "{MMMM.as_posix()}"\n'
        f'name = "{n} constructed areas"\n'
        "[areas]\n"
        f'areas_file = "{(folder / "areas.csv").as_posix()}"\n'
        f'population_file = "{(folder / "population.csv").as_posix()}"\n'
        f'moves_file = "{(folder / "moves.csv").as_posix()}"\n')
    return scenario, base, inmig_share, out_rate, in_share


def cohort_start(ds) -> np.ndarray:
    """(area, year-1, sex, age) start-of-year stock of the cohort reaching each age."""
    pop = ds["pop"].to_numpy()
    start = np.zeros_like(pop[:, :-1])
    start[..., 1:] = pop[:, :-1, :, :-1]
    start[..., -1] += pop[:, :-1, :, -1]
    start[..., 0] = ds["births"].to_numpy()[:, :-1]
    return start


def check_areas(ds, whole, base, in_share, out_rate=None):
    """The properties every sub-area projection has (same rates in every area)."""
    n = base.shape[0]
    assert ds["pop"].dims == ("area", "year", "sex", "age")
    assert ds.sizes["area"] == n and ds.sizes["year"] == 21
    # the base year is the area file, exactly
    np.testing.assert_array_equal(ds["pop"].sel(year=2018).to_numpy(), base)
    # the areas sum to the municipality: municipality() is the sum, and with the same rates in
    # every area it is the projection of the same scenario without [areas], whatever the moves
    muni = municipality(ds)
    assert "area" not in muni.dims
    for name in ("pop",) + FLOWS + ("internal_in", "internal_out"):
        np.testing.assert_array_equal(muni[name].to_numpy(), ds[name].to_numpy().sum(axis=0),
                                      err_msg=name)
    for name in ("pop",) + FLOWS:
        np.testing.assert_allclose(muni[name], whole[name], rtol=1e-9, atol=1e-6, err_msg=name)
    assert np.isnan(muni["deaths"].sel(year=2038)).all()

    flows = ds.isel(year=slice(0, -1))
    i_in, i_out = flows["internal_in"].to_numpy(), flows["internal_out"].to_numpy()
    # internal moves sum to zero over the areas, and there are some
    np.testing.assert_allclose(i_in.sum(axis=0), i_out.sum(axis=0), rtol=1e-12, atol=1e-9)
    assert i_out.sum() > 0
    # movers go through one pool: area a receives in_share[a] of all movers of that sex and age
    np.testing.assert_allclose(i_in, in_share[:, None] * i_out.sum(axis=0)[None],
                               rtol=1e-12, atol=1e-9)
    if out_rate is not None:
        # out_rate and the out-migration rate apply to the same mid-year residents:
        # internal_out x outrate = out_rate x outmig, cell by cell
        outrate = pd.read_csv(ROOT / "data/baerum/migration.csv").pivot(
            index="sex", columns="age", values="outrate").loc[list(SEXES)].to_numpy()
        np.testing.assert_allclose(i_out * outrate, out_rate[:, None] * flows["outmig"].to_numpy(),
                                   rtol=1e-12, atol=1e-12)
    # the identity per area, with the internal flows
    pop = ds["pop"].to_numpy()
    change = sum(sign * flows[v].to_numpy() for sign, v in
                 ((-1, "deaths"), (1, "inmig"), (-1, "outmig"), (1, "internal_in"),
                  (-1, "internal_out")))
    gross = cohort_start(ds) + flows["inmig"].to_numpy() + i_in
    assert np.all(np.abs(pop[:, 1:] - (cohort_start(ds) + change)) <= 1e-12 * (gross + 1))
    assert (pop >= 0).all() and (flows["deaths"].to_numpy() >= -1e-9).all()


# --- the constructed Bærum example (scenarios/baerum-delomrader.toml) --------------------------

@pytest.fixture(scope="module")
def baerum_areas():
    return project(ROOT / S)


@pytest.fixture(scope="module")
def boligprogram():
    return project(ROOT / "scenarios/baerum-boligprogram.toml")


def test_largest_remainder_split():
    assert split_largest_remainder(10, (1 / 3, 1 / 3, 1 / 3)).tolist() == [4, 3, 3]
    assert split_largest_remainder(7, (0.12, 0.28, 0.60)).tolist() == [1, 2, 4]
    assert split_largest_remainder(0, (0.2, 0.8)).tolist() == [0, 0]


def test_example_base_splits_baerum_exactly():
    areas = pd.read_csv(ROOT / AREAS / "population.csv")
    assert areas["persons"].sum() == 125_454
    assert (areas["persons"] == areas["persons"].round()).all()
    muni = pd.read_csv(ROOT / "data/baerum/population.csv").query("year == 2018")
    both = areas.groupby(["sex", "age"])["persons"].sum().sort_index()
    np.testing.assert_array_equal(both.to_numpy(),
                                  muni.set_index(["sex", "age"])["persons"].sort_index())


def test_example_files_are_what_the_builder_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("build_area_example",
                                                  ROOT / "scripts/build_area_example.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    builder.build_example(ROOT / "data/baerum/population.csv", tmp_path)
    for name in ("areas.csv", "population.csv", "moves.csv", "housing.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name),
                                      pd.read_csv(ROOT / AREAS / name), obj=name)
    moves = pd.read_csv(ROOT / AREAS / "moves.csv")
    assert list(moves.columns) == ["area", "out_rate", "in_share"]  # the pool format
    assert moves["in_share"].sum() == pytest.approx(1.0, abs=1e-12)


def test_baerum_areas_sum_to_the_municipality(baerum_areas, boligprogram):
    ds = baerum_areas
    assert float(ds["pop"].sel(year=2018).sum()) == 125_454
    base = pd.read_csv(ROOT / AREAS / "population.csv").query("year == 2018")
    codes = list(ds["area"].values)
    assert codes == ["sandvika", "kolsas", "resten"]
    counts = np.stack([base[base["area"] == a].pivot(index="sex", columns="age",
                                                     values="persons").loc[list(SEXES)]
                       for a in codes]).astype(float)
    moves = pd.read_csv(ROOT / AREAS / "moves.csv").set_index("area").loc[codes]
    n = len(codes)
    in_share = np.broadcast_to(moves["in_share"].to_numpy()[:, None, None], (n, 2, 106))
    out_rate = np.broadcast_to(moves["out_rate"].to_numpy()[:, None, None], (n, 2, 106))
    # with the same rates in every area and area programmes summing to the municipal one,
    # the areas sum to the municipal housing-led projection, whatever the internal moves
    check_areas(ds, boligprogram, counts, in_share, out_rate)
    muni = municipality(ds)
    np.testing.assert_allclose(muni["inmig_housing"], boligprogram["inmig_housing"],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(muni["pop"], boligprogram["pop"], rtol=1e-9, atol=1e-9)
    total = muni["pop"].sum(("sex", "age"))
    assert [round(float(total.sel(year=y))) for y in (2018, 2028, 2038)] == [125_454, 143_979,
                                                                             162_291]


def test_area_housing_programme_drives_area_inmigration(baerum_areas):
    h = baerum_areas["inmig_housing"].sel(year=2018).sum(("sex", "age"))
    assert h.sel(area="sandvika").item() == pytest.approx(180 * 2.528)
    assert h.sel(area="kolsas").item() == pytest.approx(175 * 2.528)
    assert h.sum().item() == pytest.approx(700 * 2.528)
    assert list(baerum_areas["area_name"].values)[0] == "Sandvika (konstruert)"


# --- constructed scenarios in a temporary folder -------------------------------------------------

@pytest.fixture(scope="module")
def mmmm():
    return project(MMMM)


@pytest.fixture(scope="module")
def constructed(tmp_path_factory):
    """name -> (scenario path, base, inmig shares, out_rate, in_share)."""
    root = tmp_path_factory.mktemp("areas")
    return {"by_age": write_area_scenario(root / "by_age", 4, seed=1, by_age=True),
            "3": write_area_scenario(root / "three", 3, seed=2),
            "30": write_area_scenario(root / "thirty", 30, seed=3)}


def test_constructed_areas_by_sex_and_age(constructed, mmmm):
    scenario, base, inmig_share, out_rate, in_share = constructed["by_age"]
    ds = project(scenario)
    check_areas(ds, mmmm, base, in_share, out_rate)
    # in-migration from outside is shared by the areas file's inmig_share
    np.testing.assert_allclose(ds["inmig"].isel(year=slice(0, -1)),
                               inmig_share[:, None, None, None]
                               * mmmm["inmig"].isel(year=slice(0, -1)).to_numpy()[None],
                               rtol=1e-12)
    assert list(ds["area_name"].values) == [f"Område {i} (konstruert)" for i in range(4)]


@pytest.mark.parametrize("n", ["3", "30"])
def test_sub_areas_scale(constructed, mmmm, n):
    # 3 and 30 areas: both run and add up (no timing asserts)
    scenario, base, _, out_rate, in_share = constructed[n]
    ds = project(scenario)
    check_areas(ds, mmmm, base, in_share, out_rate)


def test_same_scenario_through_the_cli(constructed, tmp_path):
    scenario = constructed["3"][0]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["project", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "sum of the sub-areas" in result.stdout
    assert any(out.iterdir())


# --- malformed inputs: one line naming the file and the column, exit 2, nothing written --------

def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _drop(path, pattern):
    lines = path.read_text().splitlines(keepends=True)
    assert any(pattern in line for line in lines), f"{pattern!r} not in {path}"
    path.write_text("".join(line for line in lines if pattern not in line))


def _write(path, text):
    path.write_text(text)


def _areas_without_housing(d):
    """The constructed areas of the Bærum example given a housing_file but no [housing]."""
    path = d / "scenarios" / "no_housing.toml"
    path.write_text('extends = "baerum-mmmm.toml"\n[areas]\n'
                    'areas_file = "../data/baerum/areas/areas.csv"\n'
                    'population_file = "../data/baerum/areas/population.csv"\n'
                    'moves_file = "../data/baerum/areas/moves.csv"\n'
                    'housing_file = "../data/baerum/areas/housing.csv"\n')
    return path


MALFORMED = {  # breaker, file named, key named, text
    "unknown area in the population file": (
        lambda d: _edit(d / AREAS / "population.csv", "\nkolsas,2018,female,7,",
                        "\nkolsaas,2018,female,7,"), "population.csv", "area", "'kolsaas'"),
    "unknown area in the moves file": (
        lambda d: _edit(d / AREAS / "moves.csv", "\nkolsas,", "\nkolsaas,"), "moves.csv",
        "area", "unknown area 'kolsaas'"),
    "unknown area in the housing file": (
        lambda d: _edit(d / AREAS / "housing.csv", "\nkolsas,2020,", "\nkolsaas,2020,"),
        "housing.csv", "area", "unknown area 'kolsaas'"),
    "area missing from the moves file": (
        lambda d: _drop(d / AREAS / "moves.csv", "kolsas,"), "moves.csv", "area",
        "'kolsas' is missing"),
    "area missing from the population file": (
        lambda d: _drop(d / AREAS / "population.csv", "kolsas,2018,"), "population.csv",
        "area", "'kolsas'"),
    "in_share not summing to one": (
        lambda d: _edit(d / AREAS / "moves.csv", "resten,0.013,0.44", "resten,0.013,0.49"),
        "moves.csv", "in_share", "sum to 1.05"),
    "in_share above one": (
        lambda d: _edit(d / AREAS / "moves.csv", "resten,0.013,0.44", "resten,0.013,1.44"),
        "moves.csv", "in_share", "1.44"),
    "negative out_rate": (
        lambda d: _edit(d / AREAS / "moves.csv", "kolsas,0.028,", "kolsas,-0.028,"),
        "moves.csv", "out_rate", "-0.028"),
    "sex without age in the moves file": (
        lambda d: _write(d / AREAS / "moves.csv",
                         "area,sex,out_rate,in_share\nsandvika,female,0.03,0.3\n"
                         "kolsas,female,0.03,0.3\nresten,female,0.01,0.4\n"),
        "moves.csv", "sex", "both sex and age"),
    "duplicate area in the moves file": (
        lambda d: _edit(d / AREAS / "moves.csv", "resten,0.013,0.44",
                        "resten,0.013,0.44\nresten,0.013,0.44"), "moves.csv", "area",
        "duplicate"),
    "inmig shares not summing to one": (
        lambda d: _edit(d / AREAS / "areas.csv", ",0.25", ",0.3"), "areas.csv", "inmig_share",
        "sum to 1.05"),
    "negative dwellings for an area": (
        lambda d: _edit(d / AREAS / "housing.csv", "kolsas,2020,175", "kolsas,2020,-175"),
        "housing.csv", "dwellings", ">= 0"),
    "area programmes not summing to the municipal one": (
        lambda d: _edit(d / AREAS / "housing.csv", "kolsas,2020,175", "kolsas,2020,176"),
        "housing.csv", "dwellings", "2020"),
    "base not the municipality": (
        lambda d: _edit(d / AREAS / "population.csv", "\nkolsas,2018,female,7,",
                        "\nkolsas,2018,female,7,1"), "population.csv", "persons",
        "add up to the municipality"),
    "out_rate and out-migration above one": (
        # 0.98 to the other areas + Bærum's out-migration rates (up to 0.052) > 1
        lambda d: _edit(d / AREAS / "moves.csv", "sandvika,0.035,", "sandvika,0.98,"),
        "moves.csv", "out_rate", "exceed 1"),
    "missing moves_file key": (
        lambda d: _edit(d / S, 'moves_file = "../data/baerum/areas/moves.csv"', ""),
        "baerum-delomrader.toml", "areas.moves_file", "missing"),
    "area housing without a [housing] section": (
        _areas_without_housing, "no_housing.toml", "areas.housing_file", "[housing]"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_area_input(project_copy, name):
    breaker, file_part, key_part, text = MALFORMED[name]
    made = breaker(project_copy)
    scenario = made if made is not None else project_copy / S
    # the API: a DataError or ScenarioError, one line, naming file and key
    with pytest.raises((DataError, ScenarioError)) as info:
        project(load_scenario(scenario))
    message = str(info.value)
    assert "\n" not in message, message
    assert file_part in message and f": {key_part}: " in message and text in message, message
    # the CLI: exit 2, one line on stderr, no traceback, nothing written
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(scenario), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert file_part in lines[0] and f": {key_part}: " in lines[0] and text in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_unbroken_example_through_the_cli(project_copy):
    # the control for the cases above: the same copy, unbroken, runs and writes
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(project_copy / S), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Sub-areas" in result.stdout and any(out.iterdir())
