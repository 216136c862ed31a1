"""Backtest of every municipality: naive benchmarks and scores by hand, one kernel call for all
municipalities, no look-ahead, the CLI."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.backtest import project_regions
from forecast.backtest_all import (BANDS, extrapolate_totals, frozen_shares, hamilton_perry,
                                   model_projection, prepare, scores)
from forecast.cli import app
from forecast.inputs.sources import read_all_sources
from forecast.population import regional as rg
from forecast.population.kernel import N_AGE, project_one
from forecast.population.rates import SEXES, survival_ratios

from conftest import SHARED


# --- naive benchmarks by hand -----------------------------------------------------------------

def series(totals):
    """(len(totals), 1, 2, 106): one municipality, everybody a woman aged 30."""
    h = np.zeros((len(totals), 1, 2, N_AGE))
    h[:, 0, 0, 30] = totals
    return h


def test_constant_linear_exponential_of_a_three_year_series():
    h = series([100.0, 110.0, 121.0])                 # +10.5 a year on average, 10 % a year
    assert extrapolate_totals(h, 2, "constant")[0] == pytest.approx([121, 121, 121])
    assert extrapolate_totals(h, 2, "linear")[0] == pytest.approx([121, 131.5, 142])
    assert extrapolate_totals(h, 2, "exponential")[0] == pytest.approx([121, 133.1, 146.41])


def test_a_late_start_uses_the_years_there_are_and_linear_stops_at_zero():
    h = series([np.nan, 50.0, 20.0])                  # counts only from the second year
    assert extrapolate_totals(h, 2, "linear")[0] == pytest.approx([20, 0, 0])
    assert extrapolate_totals(h, 1, "exponential")[0] == pytest.approx([20, 8])


def test_frozen_shares_spread_the_total_by_the_base_structure():
    base = np.zeros((1, 2, N_AGE))
    base[0, 0, 3], base[0, 1, 70] = 30.0, 10.0
    out = frozen_shares(base, np.array([[40.0, 80.0]]))
    assert out[0, 1, 0, 3] == pytest.approx(60.0) and out[0, 1, 1, 70] == pytest.approx(20.0)


def test_hamilton_perry_on_two_cohorts():
    # women aged 20 and 21 in year 0 (100 and 50) reach 21 and 22 in year 1 (90 and 55):
    # the block of ages 20-24 has a cohort-change ratio of 145 / 150; nobody is aged 0, so the
    # child-woman ratio is 0; men: none, their ratios 1
    h = np.zeros((2, 1, 2, N_AGE))
    h[0, 0, 0, 20], h[0, 0, 0, 21] = 100.0, 50.0
    h[1, 0, 0, 21], h[1, 0, 0, 22] = 90.0, 55.0
    out = hamilton_perry(h, 2)
    ccr = 145.0 / 150.0
    assert out[0, 0] == pytest.approx(h[1, 0])
    assert out[0, 1, 0, 22] == pytest.approx(90 * ccr)
    assert out[0, 1, 0, 23] == pytest.approx(55 * ccr)
    assert out[0, 2, 0, 23] == pytest.approx(90 * ccr ** 2)
    assert out[0, 2, 0, 24] == pytest.approx(55 * ccr ** 2)
    assert out[0, :, 0, 0] == pytest.approx([0, 0, 0]) and out[0, :, 1].sum() == 0


def test_hamilton_perry_child_woman_ratio():
    # 200 women aged 30 each year; 10 girls and 12 boys aged 0 in year 1: CWR 0.05 and 0.06
    h = np.zeros((2, 1, 2, N_AGE))
    h[:, 0, 0, 30] = 200.0
    h[1, 0, 0, 0], h[1, 0, 1, 0] = 10.0, 12.0
    h[0, 0, 0, 29] = 200.0          # so the women's block keeps 200 / 200 = 1
    out = hamilton_perry(h, 1)
    women = out[0, 1, 0, 15:50].sum()
    assert out[0, 1, 0, 0] == pytest.approx(0.05 * women)
    assert out[0, 1, 1, 0] == pytest.approx(0.06 * women)


# --- scores by hand -------------------------------------------------------------------------------

def tiny_errors():
    """Three municipalities (and one flagged) in 2018: the total and one band."""
    rows = [  # municipality, size, split, band, projected, actual
        ("A", "<2k", False, "Total", 110.0, 100.0), ("A", "<2k", False, "0-5", 10.0, 12.0),
        ("B", "2-5k", False, "Total", 1900.0, 2000.0), ("B", "2-5k", False, "0-5", 20.0, 15.0),
        ("C", "2-5k", False, "Total", 3000.0, 3000.0), ("C", "2-5k", False, "0-5", 30.0, 30.0),
        ("S", ">20k", True, "Total", 9e9, 1.0), ("S", ">20k", True, "0-5", 9e9, 1.0),
    ]
    df = pd.DataFrame(rows, columns=["municipality", "size_class", "split_history", "band",
                                     "projected", "actual"]).assign(method="model", year=2018)
    df["error"] = df["projected"] - df["actual"]
    df["error_pct"] = 100 * df["error"] / df["actual"]
    return df


def test_scores_by_hand():
    s = scores(tiny_errors()).iloc[0]
    # APE of the total: A 10 %, B 5 %, C 0 % (S has a split history: left out)
    assert s["n"] == 3
    assert s["MAPE"] == pytest.approx(5.0)
    assert s["MedAPE"] == pytest.approx(5.0)
    assert s["mean signed"] == pytest.approx((10 - 5 + 0) / 3)
    assert s["MAPE <2k"] == pytest.approx(10.0) and s["MAPE 2-5k"] == pytest.approx(2.5)
    assert s["MedAPE 2-5k"] == pytest.approx(2.5) and s["signed 2-5k"] == pytest.approx(-2.5)
    assert np.isnan(s["MAPE >20k"])
    # band 0-5: (|10 - 12| + |20 - 15| + 0) / (12 + 15 + 30)
    assert s["0-5 w%"] == pytest.approx(100 * 7 / 57)


# --- one kernel call for all municipalities ------------------------------------------------------

def test_project_regions_equals_one_region_at_a_time():
    rng = np.random.default_rng(1)
    n_reg, n_year = 3, 4
    base = rng.uniform(0, 100, (n_reg, 2, N_AGE))
    mx = np.full(N_AGE, 0.02)
    surv = np.stack([survival_ratios(mx, sex) for sex in SEXES])
    surv_t = np.broadcast_to(surv, (n_year, 2, N_AGE + 1)).copy()
    asfr = np.zeros((n_year, N_AGE))
    asfr[:, 20:40] = 0.08
    fert = np.array([1.0, 1.3, 0.7])
    inmig = rng.uniform(0, 5, (n_reg, 2, N_AGE))
    outrate = rng.uniform(0, 0.05, (n_reg, 2, N_AGE))
    pop = project_regions(base, surv_t, asfr, fert, 0.49, inmig, outrate)
    assert pop.shape == (n_reg, n_year + 1, 2, N_AGE)
    for r in range(n_reg):
        one = project_one(base[r], surv_t, asfr * fert[r], np.full(n_year, 0.49),
                          np.broadcast_to(inmig[r], (n_year, 2, N_AGE)),
                          np.broadcast_to(outrate[r], (n_year, 2, N_AGE)))
        assert pop[r] == pytest.approx(one["pop"], rel=1e-12)
    # per-municipality survival (R, T, 2, 107) gives the same when all are equal
    per = project_regions(base, np.broadcast_to(surv_t, (n_reg,) + surv_t.shape), asfr, fert,
                          0.49, inmig, outrate)
    assert per == pytest.approx(pop, rel=1e-12)


# --- real data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def src():
    return read_all_sources(SHARED)


def test_backtest_uses_no_data_after_the_base(src):
    before, _ = model_projection(prepare(src, 2012, 2014, 4))
    altered = dict(src)
    counts = src["counts"].copy()
    counts.loc[counts["year"] > 2012, "persons"] *= 2
    nat = {k: v.copy() for k, v in src["national"].items()}
    nat["mx"].loc[nat["mx"]["year"] >= 2012, "value"] *= 1.5
    nat["asfr"].loc[nat["asfr"]["year"] >= 2012, "asfr"] *= 3
    births = src["births"].copy()
    births.loc[births["year"] >= 2012, "male"] *= 2
    altered.update(counts=counts, national=nat, births=births)
    setup = prepare(altered, 2012, 2014, 4)
    after, _ = model_projection(setup)
    assert np.allclose(before, after, rtol=1e-12)
    assert not np.allclose(setup.actual, prepare(src, 2012, 2014, 4).actual)


def test_the_projection_starts_from_the_actual_base_population(src):
    setup = prepare(src, 2013, 2015, 5)
    pop, rates = model_projection(setup)
    assert pop[:, 0] == pytest.approx(setup.actual[:, 0], abs=0)
    assert rates.inmig.shape == (357, 2, N_AGE)


def test_cli_backtest_all(tmp_path):
    out = tmp_path / "errors.csv"
    result = CliRunner().invoke(app, ["backtest", "--all", "--base", "2013", "--to", "2015",
                                      "--window", "5", "--shared", str(SHARED),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("MAPE", "hamilton_perry", "exponential", "90+", "350 municipalities"):
        assert word in result.stdout
    table = pd.read_csv(out, dtype={"municipality": str})
    assert set(table["method"]) == {"model", "constant", "linear", "exponential",
                                    "hamilton_perry"}
    assert set(table["band"]) == set(BANDS) and set(table["year"]) == {2014, 2015}
    assert len(table) == 5 * 357 * 2 * len(BANDS)
    flagged = table.loc[table["split_history"], "municipality"].unique()
    assert sorted(flagged) == sorted(rg.SPLIT_HISTORY)
    constant = table[(table["method"] == "constant") & (table["band"] == "Total")]
    assert np.allclose(constant["error"], constant["projected"] - constant["actual"])


def test_cli_backtest_all_rejects_a_window_before_the_counts():
    result = CliRunner().invoke(app, ["backtest", "--all", "--base", "2010", "--window", "8",
                                      "--shared", str(SHARED)])
    assert result.exit_code == 2
    assert "--base" in result.output and "2002" in result.output
