"""Rates for every municipality (forecast.population.regional): shrinkage by hand, Bærum alone
reproduces calibrate, calibrate --all on the real data, malformed inputs."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli import app
from forecast.errors import DataError
from forecast.inputs import sources
from forecast.inputs.calibration import csv_writer
from forecast.population import calibrate as cb
from forecast.population import regional as rg
from forecast.population.kernel import N_AGE
from forecast.population.rates import SEXES, survival_ratios

from conftest import SHARED


# --- shrinkage, by hand ---------------------------------------------------------------------

def test_shrinkage_keeps_a_large_municipality_and_pulls_a_tiny_one_to_the_pool():
    # one pool: a large municipality at +2 % (1,000,000 person-years) and a tiny one at -10 %
    net = np.array([20_000.0, -10.0])
    py = np.array([1_000_000.0, 100.0])
    shrunk, pool_rate = rg.shrink_rates(net, py, np.array([0, 0]), k=1000.0)
    pool = 19_990 / 1_000_100                          # 0.0199880...
    assert pool_rate == pytest.approx([pool, pool])
    # weights py / (py + K): 1e6 / 1.001e6 and 100 / 1100
    assert shrunk[0] == pytest.approx(0.999000999 * 0.02 + 0.000999001 * pool)
    assert shrunk[0] == pytest.approx(0.02, abs=1e-5)
    assert shrunk[1] == pytest.approx(100 / 1100 * -0.1 + 1000 / 1100 * pool)   # +0.00908
    assert shrunk[1] == pytest.approx(0.009081, abs=1e-6)


def test_each_pool_is_its_own():
    net, py = np.array([10.0, 30.0, -5.0]), np.array([100.0, 100.0, 100.0])
    shrunk, pool_rate = rg.shrink_rates(net, py, np.array([0, 0, 1]), k=100.0)
    assert pool_rate == pytest.approx([0.2, 0.2, -0.05])
    assert shrunk == pytest.approx([0.15, 0.25, -0.05])     # w = 1/2; the third is its pool


def test_fertility_level_is_a_poisson_gamma_posterior_mean():
    # pool: 1,000 + 10 observed over 900 + 10 expected = 1.1099; alpha = 100 expected births
    obs, expected = np.array([1000.0, 10.0]), np.array([900.0, 10.0])
    level, f_pool = rg.shrink_level(obs, expected, np.array([0, 0]), prior=100.0)
    assert f_pool == pytest.approx([1010 / 910] * 2)
    assert level[0] == pytest.approx((1000 + 100 * 1010 / 910) / 1000)   # 1.1110: own 1.111
    assert level[1] == pytest.approx((10 + 100 * 1010 / 910) / 110)      # 1.0999: near pool


def test_the_level_is_restored_along_the_profile():
    # two municipalities, one sex-age cell per level age; K_LEVEL = 0 keeps their own totals
    r, ages = 2, np.arange(N_AGE)
    py = np.zeros((r, 2, N_AGE))
    py[:, :, rg.LEVEL_AGES] = 10.0
    own_net = np.zeros((r, 2, N_AGE))
    own_net[0, 0, 20] = 50.0                                  # +50 in municipality 0
    rates = np.zeros((r, 2, N_AGE))                           # shape shrunk to zero
    profile = np.zeros((2, N_AGE))
    profile[:, 20:30] = 1.0
    out = rg.restore_level(rates, own_net, py, np.zeros_like(rates), profile, np.array([0, 0]),
                           k_level=0.0)
    assert (out * py)[0].sum() == pytest.approx(50.0)
    assert (out * py)[1].sum() == pytest.approx(0.0)
    assert np.count_nonzero(out[0]) == 20 and out[0, 0, 25] == pytest.approx(50 / 200)
    assert (out[0, :, ages >= 30] == 0).all()
    # K_LEVEL = total person-years: halfway to the pool's level (0 here)
    py_tot = py[0, :, rg.LEVEL_AGES].sum()
    half = rg.restore_level(rates, own_net, py, np.zeros_like(rates), profile,
                            np.array([0, 0]), k_level=py_tot)
    assert (half * py)[0].sum() == pytest.approx(25.0)


def test_pools_by_county_size_or_nation():
    totals = np.array([1500, 2500, 30000, 1999])
    assert list(rg.size_class(totals)) == ["<2k", "2-5k", ">20k", "<2k"]
    size = rg.pool_index("size", ["a", "a", "b", "b"], totals)
    assert size[0] == size[3] and len({size[0], size[1], size[2]}) == 3
    assert list(rg.pool_index("county", ["03", "11", "03", "11"], totals)) == [0, 1, 0, 1]
    assert list(rg.pool_index("national", ["03", "11", "03", "11"], totals)) == [0, 0, 0, 0]


# --- real data ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def src():
    return sources.read_all_sources(SHARED)


def test_one_municipality_alone_reproduces_calibrate_unsmoothed(src):
    """Bærum as its own pool: no shrinkage, so the rates are calibrate's residuals."""
    years = np.arange(2013, 2019)
    counts = rg.counts_array(src["counts"], ["3201"], years)
    old = sources.read_sources(SHARED)
    mx, _ = cb.window_mortality(old, 2018, 5)
    asfr = cb.national_asfr(old["asfr"], 2018, 5)
    rates = rg.regional_rates(counts, mx, asfr, np.array([0]), rg.Params(smooth_sigma=0.0))
    surv = np.stack([survival_ratios(mx[s], sex) for s, sex in enumerate(SEXES)])
    mig = cb.net_migration_history(counts[:, 0], surv)
    assert rates.net[0] == pytest.approx(mig["net"].mean(axis=0), rel=1e-9, abs=1e-9)
    assert rates.births[0] == pytest.approx(mig["births"].sum(axis=1).mean(), rel=1e-12)
    cal = cb.calibrate(old, 2018, 5)
    assert rates.fert_own[0] == pytest.approx(cal.fertility_factor, rel=1e-12)


def test_no_migration_gives_no_residual():
    """A population that only ages and dies (national mortality) has zero net migration."""
    mx = np.full((2, N_AGE), 0.01)
    surv = np.stack([survival_ratios(mx[s], sex) for s, sex in enumerate(SEXES)])
    start = np.full((2, N_AGE), 100.0)
    end = np.empty_like(start)
    end[:, 1:-1] = start[:, :-2] * surv[:, 1:-2]
    end[:, -1] = start[:, -2] * surv[:, -2] + start[:, -1] * surv[:, -1]
    end[:, 0] = 100.0
    counts = np.stack([start, end])[:, None]
    rates = rg.regional_rates(counts, mx, np.full(44, 0.05), np.array([0]),
                              rg.Params(smooth_sigma=0.0))
    assert np.abs(rates.net[0, :, 1:]).max() < 1e-9


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("norway")
    result = CliRunner().invoke(app, ["calibrate", "--all", "--shared", str(SHARED),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_calibrate_all_writes_every_file(written):
    assert {p.name for p in written.iterdir()} == {
        "population.csv.gz", "municipalities.csv", "mortality.csv", "e0_history.csv",
        "birth_sex_ratio.csv", "fertility.csv", "fertility_level.csv", "migration.csv.gz",
        "stochastic.csv", "manifest.json"}


def test_base_population_equals_the_source_exactly(written, src):
    pop = pd.read_csv(written / "population.csv.gz", dtype={"municipality": str})
    assert list(pop.columns) == ["municipality", "year", "sex", "age", "persons"]
    assert pop["persons"].dtype == np.int64
    key = ["municipality", "year", "sex", "age"]
    mine = pop[pop["year"] == 2018].set_index(key)["persons"].sort_index()
    source = src["counts"].query("year == 2018").set_index(key)["persons"].sort_index()
    assert mine.index.equals(source.index) and (mine == source).all()
    assert mine.groupby("municipality").size().eq(2 * N_AGE).all()
    assert mine.sum() == src["counts"].query("year == 2018")["persons"].sum()


def test_municipalities_table_flags_the_split_ones(written, src):
    table = pd.read_csv(written / "municipalities.csv", dtype={"municipality": str,
                                                               "county": str})
    assert list(table.columns) == ["municipality", "name", "county", "county_name",
                                   "persons_2018", "split_history"]
    assert sorted(table.loc[table["split_history"], "municipality"]) == sorted(rg.SPLIT_HISTORY)
    source = pd.read_csv(SHARED / sources.MUNICIPAL_FILES["table"], dtype={"municipality": str})
    assert (table["persons_2018"].to_numpy() == source["persons_2018"].to_numpy()).all()


def test_rate_files_cover_every_municipality(written):
    mig = pd.read_csv(written / "migration.csv.gz", dtype={"municipality": str})
    assert list(mig.columns) == ["municipality", "sex", "age", "net", "inmig", "outrate"]
    assert len(mig) == 357 * 2 * N_AGE and mig["municipality"].nunique() == 357
    assert (mig["inmig"] >= 0).all() and mig["outrate"].between(0, 1).all()
    assert np.allclose(mig["inmig"], mig["net"].clip(lower=0), atol=1e-6)
    level = pd.read_csv(written / "fertility_level.csv", dtype={"municipality": str})
    assert len(level) == 357 and level["factor"].between(0.5, 2).all()
    tfr = pd.read_csv(written / "fertility.csv")["asfr"].sum()
    assert np.allclose(level["tfr"], level["factor"] * tfr, rtol=1e-8)


# --- malformed input ------------------------------------------------------------------------------

def tiny_sources(tmp_path, edit=None):
    """A shared/ folder with two municipalities, 2016-2018, every sex and age; `edit` changes
    the counts frame before it is written."""
    folder = tmp_path / "norway" / "municipalities"
    folder.mkdir(parents=True)
    pd.DataFrame({"municipality": ["0001", "0002"], "name": ["A", "B"], "county": ["01", "01"],
                  "county_name": ["X", "X"], "persons_2018": [1, 1]}).to_csv(
        folder / "municipalities_2024.csv", index=False)
    idx = pd.MultiIndex.from_product([["0001", "0002"], [2016, 2017, 2018], SEXES,
                                      range(N_AGE)], names=["municipality", "year", "sex", "age"])
    counts = pd.DataFrame({"persons": 10}, index=idx).reset_index()
    if edit is not None:
        counts = edit(counts)
    counts.to_csv(folder / "population_by_age_sex_2005_2018.csv.gz", index=False)
    return tmp_path


BAD = {
    "unknown code": (lambda c: c.replace({"municipality": {"0002": "9999"}}), "municipality"),
    "missing ages": (lambda c: c[~((c["municipality"] == "0002") & (c["age"] == 50))], "age"),
    "missing year": (lambda c: c[~((c["municipality"] == "0001") & (c["year"] == 2017))], "year"),
    "duplicate rows": (lambda c: pd.concat([c, c.iloc[[5]]]), "age"),
    "unknown sex": (lambda c: c.replace({"sex": {"male": "m"}}), "sex"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_counts_name_the_file_and_column(tmp_path, case):
    edit, column = BAD[case]
    shared = tiny_sources(tmp_path, edit)
    with pytest.raises(DataError) as err:
        sources.read_municipal_sources(shared)
    assert err.value.key == column
    assert err.value.file.endswith("population_by_age_sex_2005_2018.csv.gz")
    assert "\n" not in str(err.value)


def test_well_formed_tiny_sources_pass(tmp_path):
    src = sources.read_municipal_sources(tiny_sources(tmp_path))
    counts = rg.counts_array(src["counts"], ["0001", "0002"], [2016, 2017, 2018])
    assert counts.shape == (3, 2, 2, N_AGE) and (counts == 10).all()


def test_a_municipality_missing_from_the_counts_is_named(tmp_path):
    shared = tiny_sources(tmp_path, lambda c: c[c["municipality"] == "0001"])
    with pytest.raises(DataError, match="0002") as err:
        sources.read_municipal_sources(shared)
    assert err.value.key == "municipality"


def test_gzip_files_have_reproducible_bytes(tmp_path):
    frame = pd.DataFrame({"municipality": ["0001"], "net": [1.23456789]})
    for name in ("a.tmp", "b.tmp"):
        csv_writer(frame, "x.csv.gz")(tmp_path / name)
    assert (tmp_path / "a.tmp").read_bytes() == (tmp_path / "b.tmp").read_bytes()
    back = pd.read_csv(tmp_path / "a.tmp", compression="gzip", dtype={"municipality": str})
    assert back["municipality"][0] == "0001" and back["net"][0] == 1.23457
