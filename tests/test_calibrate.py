"""Default rates derived from the shared source data: numbers a person can check."""

import csv
import shutil

import numpy as np
import pandas as pd
import pytest

from forecast.errors import DataError
from forecast.inputs.calibration import rebuild_data
from forecast.inputs.sources import SOURCE_FILES, read_sources
from forecast.population.calibrate import (calibrate, calibration_tables, open_interval_rate,
                                           window_years)
from forecast.population.kernel import project_one
from forecast.population.migration_residual import smooth_net, split_net
from forecast.population.rates import SEXES, survival_ratios

from conftest import SHARED


@pytest.fixture(scope="module")
def sources():
    return read_sources(SHARED)


@pytest.fixture(scope="module")
def cal(sources):
    return calibrate(sources, 2018, 5)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    rebuild_data(SHARED, out)
    return out


def test_rebuild_writes_every_file(written):
    names = {p.name for p in written.iterdir()}
    assert names == {"population.csv", "mortality.csv", "fertility.csv", "birth_sex_ratio.csv",
                     "migration.csv", "e0_history.csv"}


def test_population_2018_matches_published_totals(written):
    pop = pd.read_csv(written / "population.csv")
    assert list(pop.columns) == ["year", "sex", "age", "persons"]
    y = pop[pop["year"] == 2018]
    assert y["persons"].sum() == 125_454
    assert y.loc[y["sex"] == "male", "persons"].sum() == 62_176
    assert y.loc[y["sex"] == "female", "persons"].sum() == 63_278
    assert pop["year"].min() == 2005 and pop["year"].max() == 2018


def test_pooled_death_rate_is_sum_deaths_over_sum_exposure(cal):
    """Female age 50, 2013-2017, from the HMD files by hand: exposure = deaths / m(x)."""
    def rows(name):
        with open(SHARED / SOURCE_FILES[name]) as f:
            return {int(r["year"]): float(r["female"]) for r in csv.DictReader(f)
                    if r["age"] == "50" and 2013 <= int(r["year"]) <= 2017}
    deaths, mx = rows("deaths"), rows("mx")
    expected = sum(deaths.values()) / sum(deaths[y] / mx[y] for y in deaths)
    assert cal.mx[0, 50] == pytest.approx(expected, rel=1e-12)


def test_open_interval_rate_of_a_flat_hazard():
    # a huge `a` makes the Kannisto hazard 1 at every old age: m(105+) = 1
    assert open_interval_rate(1e12, 0.1) == pytest.approx(1.0, rel=1e-6)


def test_life_expectancy_2017_matches_hmd(cal):
    e0 = cal.e0.set_index(["year", "sex"])["e0"]
    assert e0[(2017, "female")] == pytest.approx(84.28, abs=0.05)
    assert e0[(2017, "male")] == pytest.approx(80.91, abs=0.05)
    assert cal.e0["year"].max() == 2017


def test_one_window_year_is_reproduced_by_the_projection(cal, sources):
    """The unsmoothed residual net migration of 2016, split for the kernel, with fertility set
    to the implied births, turns the counts of 1.1.2016 into those of 1.1.2017 exactly."""
    t = 3  # window 2013..2017
    counts = {y: sources["counts"].query("year == @y").pivot(index="sex", columns="age",
                                                               values="persons")
              .loc[list(SEXES)].to_numpy(float) for y in (2016, 2017)}
    surv = np.stack([survival_ratios(cal.mx[s], sex) for s, sex in enumerate(SEXES)])
    net, resident = cal.migration["net"][t], cal.migration["resident"][t]
    inmig, outrate = split_net(net, resident)
    births = cal.migration["births"][t]
    women = 0.5 * (counts[2016][0] + counts[2017][0])
    asfr = np.zeros(106)
    asfr[12:56] = cal.asfr
    asfr *= births.sum() / (asfr * women).sum()
    for method in ("numpy", "kernel"):
        out = project_one(counts[2016], surv[None], asfr[None],
                          np.array([births[0] / births.sum()]), inmig[None], outrate[None],
                          method=method)
        np.testing.assert_allclose(out["pop"][1], counts[2017], rtol=1e-12, atol=1e-9,
                                   err_msg=method)
        np.testing.assert_allclose(out["births"][0], births, rtol=1e-12, err_msg=method)


def test_split_recovers_the_net(cal):
    resident = cal.migration["resident"].mean(axis=0)
    np.testing.assert_allclose(cal.inmig - cal.outrate * resident, cal.net, atol=1e-9)
    assert (cal.inmig >= 0).all() and (cal.outrate >= 0).all() and (cal.outrate <= 1).all()


def test_smoothing_keeps_totals_and_the_birth_cohort(cal):
    raw = cal.migration["net"].mean(axis=0)
    resident = cal.migration["resident"].mean(axis=0)
    np.testing.assert_allclose(cal.net[:, 1:90].sum(1), raw[:, 1:90].sum(1), rtol=1e-12)
    np.testing.assert_allclose(cal.net[:, 90:].sum(1), raw[:, 90:].sum(1), rtol=1e-12)
    np.testing.assert_array_equal(cal.net[:, 0], raw[:, 0])
    # one net rate per resident for ages 90..105+
    rate = cal.net[:, 90] / resident[:, 90]
    np.testing.assert_allclose(cal.net[:, 90:], rate[:, None] * resident[:, 90:], rtol=1e-12)
    np.testing.assert_array_equal(smooth_net(raw, resident, 0), raw)


def test_net_migration_is_plausible(cal):
    per_year = cal.migration["net"].sum(axis=(1, 2))
    assert ((per_year > 300) & (per_year < 2000)).all()


def test_asfr_sums_to_tfr_and_level_is_the_factor(cal, sources, written):
    fert = pd.read_csv(written / "fertility.csv")
    assert list(fert["age"]) == list(range(12, 56))
    assert fert["asfr"].sum() == pytest.approx(cal.tfr, rel=1e-9)
    hfd = sources["asfr"]
    national = hfd[hfd["year"].between(2013, 2017)].groupby("year")["asfr"].sum().mean()
    assert cal.tfr == pytest.approx(cal.fertility_factor * national, rel=1e-12)


def test_sex_ratio_from_hmd_births(written):
    srb = pd.read_csv(written / "birth_sex_ratio.csv")
    births = pd.read_csv(SHARED / SOURCE_FILES["births"]).query("2013 <= year <= 2017")
    assert srb.loc[0, "first_year"] == 2013 and srb.loc[0, "last_year"] == 2017
    assert srb.loc[0, "male_per_female"] == pytest.approx(
        births["male"].sum() / births["female"].sum(), rel=1e-9)


def test_base_year_excludes_later_data(sources):
    base = 2013
    truncated = {
        "counts": sources["counts"].query("year <= @base"),
        "deaths": sources["deaths"].query("year < @base"),
        "mx": sources["mx"].query("year < @base"),
        "pop": sources["pop"].query("year <= @base"),
        "births": sources["births"].query("year < @base"),
        "asfr": sources["asfr"].query("year < @base"),
    }
    full = calibration_tables(calibrate(sources, base, 5))
    cut = calibration_tables(calibrate(truncated, base, 5))
    for name in full:
        pd.testing.assert_frame_equal(full[name].reset_index(drop=True),
                                      cut[name].reset_index(drop=True), obj=name)
    assert full["population.csv"]["year"].max() == base
    assert full["e0_history.csv"]["year"].max() == base - 1
    assert list(window_years(base, 5)) == [2008, 2009, 2010, 2011, 2012]


def _shared_copy(tmp_path):
    shutil.copytree(SHARED / "baerum", tmp_path / "baerum")
    shutil.copytree(SHARED / "norway", tmp_path / "norway")
    return tmp_path


def test_missing_source_file_names_it(tmp_path):
    shared = _shared_copy(tmp_path / "shared")
    (shared / SOURCE_FILES["mx"]).unlink()
    with pytest.raises(DataError, match="hmd_mx_1x1_2010_2017.csv"):
        rebuild_data(shared, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_malformed_value_names_file_and_column(tmp_path):
    shared = _shared_copy(tmp_path / "shared")
    path = shared / SOURCE_FILES["deaths"]
    path.chmod(0o644)
    path.write_text(path.read_text().replace("\n2015,50,", "\n2015,50,many", 1))
    with pytest.raises(DataError) as err:
        rebuild_data(shared, tmp_path / "out")
    assert err.value.file.endswith("hmd_deaths_1x1_2010_2017.csv") and err.value.key == "female"
    assert "many" in str(err.value)


def test_missing_column_names_it(tmp_path):
    shared = _shared_copy(tmp_path / "shared")
    path = shared / SOURCE_FILES["asfr"]
    path.chmod(0o644)
    path.write_text(path.read_text().replace("year,age,asfr", "year,age,rate", 1))
    with pytest.raises(DataError) as err:
        rebuild_data(shared, tmp_path / "out")
    assert err.value.file.endswith("hfd_asfr_2000_2017.csv")
    # the column is named as missing, not as the key the user wrote (the file has `rate`)
    assert "missing column(s) asfr" in err.value.message and "has year,age,rate" in str(err.value)
    assert err.value.key is None


def test_missing_age_is_reported(tmp_path):
    shared = _shared_copy(tmp_path / "shared")
    path = shared / SOURCE_FILES["counts"]
    path.chmod(0o644)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(l for l in lines if not l.startswith("2010,3201,male,40,")))
    with pytest.raises(DataError) as err:
        rebuild_data(shared, tmp_path / "out")
    assert err.value.key == "age" and "2010" in str(err.value)
