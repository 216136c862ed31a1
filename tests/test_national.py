"""National mortality and fertility paths (forecast.population.national), checkable by hand."""

from pathlib import Path

import numpy as np
import pytest

from forecast.inputs.sources import read_national, read_sources
from forecast.population import national as nat
from forecast.population.calibrate import (fit_kannisto, kannisto_hazard, open_interval_rate,
                                           window_mortality)
from forecast.population.rates import life_expectancy
from forecast.scenario import SHARED_DIR

SHARED = SHARED_DIR / "data"


@pytest.fixture(scope="module")
def src():
    return read_national(SHARED)


def synthetic_history(years, a_young, b_young, k):
    """(Y, 2, 100) m(x): exp(a + b k(t)) at 0..79 and one fixed Kannisto curve at 80..99, so
    the Kannisto closure reproduces the old ages exactly and b = 0 there."""
    old = kannisto_hazard(np.arange(80, 100) + 0.5, 0.06, 0.1)
    m = np.empty((len(years), 2, 100))
    m[..., :80] = np.exp(a_young + np.outer(k, b_young))[:, None]
    m[..., 80:] = old
    return m


# --- Lee-Carter ----------------------------------------------------------------------------

def test_lee_carter_recovers_exact_parameters():
    ages = 30
    a = np.linspace(-9.0, -2.0, ages)
    b = np.linspace(1.0, 3.0, ages)
    b /= b.sum()                                       # sum b = 1
    k = np.array([5.0, 4.0, 3.5, 2.0, 1.0, 0.5, -0.5, -1.0, -2.5, -3.0, -4.0, -5.0])
    assert k.sum() == 0                                # sum k = 0 over the fit period
    log_m = a + np.outer(k, b)
    for weights in (None, np.linspace(1.0, 50.0, ages)):
        a_hat, b_hat, k_hat = nat.lee_carter(log_m, weights)
        np.testing.assert_allclose(a_hat, a, atol=1e-12)
        np.testing.assert_allclose(b_hat, b, atol=1e-12)
        np.testing.assert_allclose(k_hat, k, atol=1e-10)
    assert nat.drift(k) == pytest.approx((-5.0 - 5.0) / 11)


def test_drift_is_mean_yearly_change():
    assert nat.drift(np.array([3.0, 1.0, 0.0, -4.0])) == pytest.approx(-7.0 / 3.0)


def test_lee_carter_path_continues_a_linear_k_exactly():
    years = np.arange(1980, 2000)
    a = np.log(5e-4) + 0.08 * (np.arange(80) - 40)
    b = np.full(80, 1 / 80)
    k = -2.0 * (years - 1990)
    hist = synthetic_history(years, a, b, k)
    mx, e0 = nat.mortality_path(hist, years, 2000, 6, "lee_carter", window=1, fit_years=20)
    for t in range(6):   # year 2000 + t is 1 + t years after the jump-off year 1999
        expect = np.exp(a + b * (-2.0 * (2000 + t - 1990)))
        np.testing.assert_allclose(mx[t, :, :80], np.broadcast_to(expect, (2, 80)), rtol=1e-8)
    old = kannisto_hazard(np.arange(95, 105) + 0.5, 0.06, 0.1)
    np.testing.assert_allclose(mx[:, :, 95:105], np.broadcast_to(old, (6, 2, 10)), rtol=1e-8)
    np.testing.assert_allclose(mx[:, :, 105], open_interval_rate(0.06, 0.1), rtol=1e-8)
    assert e0[0, 0] == pytest.approx(life_expectancy(mx[0, 0], "female"))


# --- closure and pooling ---------------------------------------------------------------------

def test_fisher_scoring_matches_calibrate_kannisto(src):
    years, hist = nat.mx_array(src["mx"])
    for m in (hist[0, 1], hist[30, 0], hist[-1, 1]):
        expo = nat.stationary_exposure(m)[nat.FIT_AGES]
        deaths = m[nat.FIT_AGES] * expo
        a1, b1 = fit_kannisto(deaths, expo)
        a2, b2 = nat.fit_kannisto_scoring(deaths, expo)
        assert a2 == pytest.approx(a1, rel=1e-6) and b2 == pytest.approx(b1, rel=1e-6)


def test_pseudo_exposures_close_to_real_ones_2013_2017(src):
    """The stationary pseudo-counts give the schedule calibrate builds from HMD deaths and
    exposures, 2013-2017: e0 within 0.02 years, 95+ within 1 %."""
    real, _ = window_mortality(read_sources(SHARED), 2018, 5)
    mx, _ = nat.mortality_path(src["mx"], None, 2018, 1, "constant", window=5)
    for s, sex in enumerate(("female", "male")):
        assert life_expectancy(mx[0, s], sex) == pytest.approx(
            life_expectancy(real[s], sex), abs=0.02)
        np.testing.assert_allclose(mx[0, s, 95:], real[s, 95:], rtol=0.01)


def test_constant_returns_the_jump_off_schedule_every_year(src):
    years, hist = nat.mx_array(src["mx"])
    mx, e0 = nat.mortality_path(hist, years, 2005, 7, "constant", window=1)
    jump = np.stack([nat.close_schedule(hist[years == 2004][0, s]) for s in range(2)])
    np.testing.assert_allclose(mx[0], jump, rtol=1e-12)  # one year pooled: itself
    for t in range(7):
        np.testing.assert_array_equal(mx[t], mx[0])
        np.testing.assert_array_equal(e0[t], e0[0])
    same = np.repeat(hist[:1], 5, axis=0)              # five equal years pool to that year
    np.testing.assert_allclose(nat.pooled_rates(same), hist[0], rtol=1e-12)


# --- e0 trend ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["e0_trend", "e0_trend_lc"])
def test_e0_trend_hits_the_trend_line(src, method):
    years, hist = nat.mx_array(src["mx"])
    fit = 15
    mx, e0 = nat.mortality_path(hist, years, 2000, 10, method, window=5, fit_years=fit)
    fit_years = np.arange(2000 - fit, 2000)
    for s, sex in enumerate(("female", "male")):
        past = [life_expectancy(nat.close_schedule(hist[years == y][0, s]), sex)
                for y in fit_years]
        slope, icpt = np.polyfit(fit_years.astype(float), past, 1)
        line = icpt + slope * np.arange(2000, 2010)
        np.testing.assert_allclose(e0[:, s], line, atol=1e-8)
        np.testing.assert_allclose([life_expectancy(x, sex) for x in mx[:, s]], line, atol=1e-8)


# --- fertility ---------------------------------------------------------------------------------

def synthetic_asfr(years, tfr):
    shape = np.exp(-0.5 * ((nat.FERT_AGES - 30.0) / 5.0) ** 2)
    return np.outer(tfr, shape / shape.sum())


def test_damped_fertility_approaches_target_geometrically():
    years = np.arange(1990, 2010)
    tfr_hist = np.linspace(2.0, 1.6, len(years))        # last observed level 1.6 (2009)
    hist = synthetic_asfr(years, tfr_hist)
    phi, target = 0.8, 1.9
    asfr, tfr = nat.fertility_path(hist, years, 2010, 15, "damped", window=5,
                                   long_run_tfr=target, damping=phi)
    assert tfr[0] == pytest.approx(1.6)                   # year 0 keeps the last level
    np.testing.assert_allclose((tfr[1:] - target) / (tfr[:-1] - target), phi)
    np.testing.assert_allclose(asfr.sum(axis=1), tfr)
    shape = hist[-5:].mean(axis=0)
    np.testing.assert_allclose(asfr[:, nat.FERT_AGES] / tfr[:, None],
                               np.broadcast_to(shape / shape.sum(), (15, len(shape))))
    assert not asfr[:, :12].any() and not asfr[:, 56:].any()
    # the default target is the mean TFR of the 30 years before the base (here all 20)
    _, tfr = nat.fertility_path(hist, years, 2010, 3, "damped", damping=0.0)
    np.testing.assert_allclose(tfr, [1.6, tfr_hist.mean(), tfr_hist.mean()])


def test_trend_and_constant_fertility():
    years = np.arange(2000, 2010)
    hist = synthetic_asfr(years, 1.5 + 0.02 * (years - 2000))
    _, tfr = nat.fertility_path(hist, years, 2010, 5, "trend", window=5)
    np.testing.assert_allclose(tfr, 1.5 + 0.02 * (np.arange(2010, 2015) - 2000))
    _, tfr = nat.fertility_path(hist, years, 2010, 5, "constant", window=5)
    np.testing.assert_allclose(tfr, hist[-5:].sum(axis=1).mean())


# --- no look-ahead, and everything together ----------------------------------------------------

def test_no_method_reads_the_base_year_or_later(src):
    base = 2005
    changed = {k: v.copy() for k, v in src.items()}
    later = changed["mx"]["year"] >= base
    changed["mx"].loc[later, "value"] *= 3.0
    later = changed["asfr"]["year"] >= base
    changed["asfr"].loc[later, "asfr"] *= 0.5
    for mortality in nat.MORTALITY_METHODS:
        fertility = nat.FERTILITY_METHODS[len(mortality) % 3]
        kw = dict(mortality=mortality, fertility=fertility)
        a = nat.national_paths(src, base, base + 4, **kw)
        b = nat.national_paths(changed, base, base + 4, **kw)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{mortality} {key}")
    for fertility in nat.FERTILITY_METHODS:
        a = nat.fertility_path(src["asfr"], None, base, 4, fertility)
        b = nat.fertility_path(changed["asfr"], None, base, 4, fertility)
        np.testing.assert_array_equal(a[1], b[1])
    # not vacuous: the year before the base does count
    changed["mx"].loc[changed["mx"]["year"] == base - 1, "value"] *= 3.0
    a = nat.national_paths(src, base, base + 4)["mx"]
    assert not np.allclose(a, nat.national_paths(changed, base, base + 4)["mx"])


def test_national_paths_shapes(src):
    out = nat.national_paths(src, 2018, 2021)
    assert out["mx"].shape == (3, 2, 106) and out["surv"].shape == (3, 2, 107)
    assert out["asfr"].shape == (3, 106) and out["tfr"].shape == (3,)
    assert out["e0"].shape == (3, 2)
    np.testing.assert_allclose(out["asfr"].sum(axis=1), out["tfr"])
    assert out["tfr"][0] == pytest.approx(src["asfr"].query("year == 2017")["asfr"].sum())
    assert (out["e0"][1:] > out["e0"][:-1]).all()      # the e0 trend rises
