"""Backtesting: rates from data before the base only; errors against actual counts; naive benchmark."""

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.backtest import naive_projection, run_backtest
from forecast.cli import app
from forecast.inputs.sources import read_sources

from conftest import SHARED


@pytest.fixture(scope="module")
def src():
    return read_sources(SHARED)


def test_naive_benchmark_by_hand():
    # total 100 -> 121 over a 2-year window: 10 % a year; shares of the base year frozen
    counts = np.zeros((3, 2, 106))
    counts[0, 0, 0], counts[0, 1, 0] = 50, 50
    counts[2, 0, 0], counts[2, 1, 5] = 30.25, 90.75
    naive = naive_projection(counts, window=2, horizon=2)
    assert naive[:, 0, 0] == pytest.approx([30.25, 33.275, 36.6025])
    assert naive[2].sum() == pytest.approx(121 * 1.21)


def test_errors_are_projected_minus_actual(src):
    bt = run_backtest(src, 2013, 2018, window=5)
    actual_2018 = src["counts"].query("year == 2018")["persons"].sum()
    row = bt.errors.query("method == 'model' and group == 'Total' and year == 2018").iloc[0]
    assert row["actual"] == actual_2018 == 125454
    assert row["error"] == pytest.approx(row["projected"] - actual_2018)
    assert row["error_pct"] == pytest.approx(100 * row["error"] / actual_2018)
    assert sorted(bt.errors["year"].unique()) == [2014, 2015, 2016, 2017, 2018]


def test_backtest_uses_no_data_after_the_base(src):
    before = run_backtest(src, 2013, 2016, window=5).errors
    # change every count and HMD/HFD value from the base on: the projection must not move
    altered = {k: v.copy() for k, v in src.items()}
    c = altered["counts"]
    c.loc[c["year"] > 2013, "persons"] *= 2
    for key in ("deaths", "mx"):
        t = altered[key]
        t.loc[t["year"] >= 2013, "value"] *= 1.5
    a = altered["asfr"]
    a.loc[a["year"] >= 2013, "asfr"] *= 3
    after = run_backtest(altered, 2013, 2016, window=5).errors
    assert np.allclose(before["projected"], after["projected"], rtol=1e-12)
    assert not np.allclose(before["actual"], after["actual"])


def test_cli_prints_both_tables():
    result = CliRunner().invoke(app, ["backtest", "--base", "2013", "--to", "2018",
                                      "--shared", str(SHARED)])
    assert result.exit_code == 0, result.output
    assert "forecast" in result.stdout and "naive benchmark" in result.stdout
    assert "Total" in result.stdout and "2018" in result.stdout
