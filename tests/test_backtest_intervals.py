"""Interval calibration (issue 9, item 2): coverage and interval score by hand, one base."""

import numpy as np
import pytest

from forecast.backtest_intervals import (Scale, coverage, interval_score,
                                         relative_interval_score, run_base, scaled, score_base)
from forecast.population.stochastic import Components

from conftest import SHARED


def test_coverage_counts_actuals_inside_the_interval():
    lower = [90, 90, 90, 90]
    upper = [110, 110, 110, 110]
    actual = [100, 110, 120, 80]        # inside, on the edge (counts), above, below
    assert coverage(lower, upper, actual) == 0.5


def test_interval_score_by_hand():
    # alpha = 0.2: width 20, plus 2 / 0.2 = 10 times the miss
    s = interval_score([90] * 4, [110] * 4, [100, 110, 120, 80], alpha=0.2)
    assert np.allclose(s, [20, 20, 20 + 10 * 10, 20 + 10 * 10])
    # relative to the actual, averaged: (20/100 + 20/110 + 120/120 + 120/80) / 4
    r = relative_interval_score([90] * 4, [110] * 4, [100, 110, 120, 80], alpha=0.2)
    assert r == pytest.approx((0.2 + 20 / 110 + 1.0 + 1.5) / 4)


def test_score_base_on_a_constructed_example():
    # 4 municipalities, horizons 0..1, one measure per column (4 measures, all alike)
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    per = np.array([80, 95, 100, 105, 120], float)          # the same quantiles everywhere
    q = np.broadcast_to(per[:, None, None, None], (5, 4, 2, 4)).copy()
    actual = np.empty((4, 2, 4))
    actual[:, 1] = np.array([100, 104, 110, 130])[:, None]  # 50 %: 2 of 4; 80 %: 3 of 4
    rows = score_base(q, actual, 2010, qs)
    assert len(rows) == 4 and (rows["horizon"] == 1).all()
    assert (rows["cover50"] == 0.5).all() and (rows["cover80"] == 0.75).all()
    # 80 % interval 80..120, alpha 0.2: 40, 40, 40, 40 + 10 * 10
    assert rows["ris80"].iloc[0] == pytest.approx((0.4 + 40 / 104 + 40 / 110 + 140 / 130) / 4)
    kept = score_base(q, actual, 2010, qs, keep=[True, True, False, False])
    assert (kept["cover50"] == 1.0).all() and (kept["n"] == 2).all()


def test_scale_multiplies_the_standard_deviations():
    c = Components(base_year=2010, tfr_sigma=0.05, k_cov=np.array([[4.0, 1.0], [1.0, 4.0]]),
                   mig_nat_sigma=0.003, mig_local_a=0.4, mig_local_b=0.001)
    s = scaled(c, Scale(local=2, national=0.5, fertility=3, mortality=2))
    assert s.mig_local_a == pytest.approx(0.8) and s.mig_local_b == pytest.approx(0.002)
    assert s.mig_nat_sigma == pytest.approx(0.0015) and s.tfr_sigma == pytest.approx(0.15)
    assert np.allclose(s.k_cov, 4 * c.k_cov)
    assert scaled(c, Scale()).mig_local_a == c.mig_local_a
    with pytest.raises(ValueError, match=">= 0"):
        scaled(c, Scale(local=-1))


@pytest.fixture(scope="module")
def src():
    from forecast.inputs.sources import read_all_sources
    return read_all_sources(SHARED)


def test_one_base_on_a_few_municipalities(src):
    # Oslo, Bærum, Rindal and Ålesund (split history: projected, not scored)
    rows, info = run_base(src, 2013, 2018, n_draws=40, seed=2,
                          regions=["0301", "3201", "5061", "1508"])
    assert set(rows["horizon"]) == {1, 2, 3, 4, 5}
    assert (rows["n"] == 3).all()
    assert rows[["cover50", "cover80"]].stack().between(0, 1).all()
    assert (rows["cover80"] >= rows["cover50"]).all()
    assert (rows["ris80"] > 0).all()
    q = info["quantiles"]
    assert (np.diff(q, axis=0) >= 0).all()                  # quantiles in order
    assert np.allclose(q[:, :, 0], info["actual"][None, :, 0])   # the base is the actual
    assert info["components"].info["mortality_years"][1] == 2012  # data before the base
