"""Life tables, survival ratios and level targeting (forecast/population/rates.py).

Expected values are derived by hand in the comments (constant hazards give closed forms) or
are identities of the life table that any correct implementation satisfies.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecast.population.kernel import N_AGE, N_SURV, project_one
from forecast.population.rates import (a0_andreev_kingkade, life_expectancy, life_table,
                                       scale_to_e0, scale_to_tfr, survival_ratios)

SEXES = ("female", "male")


def gompertz_mx(level=2.0e-5, slope=0.095, infant=0.003):
    """m(x) = 0.0002 + level * exp(slope * x); m(0) = infant. e0 about 82 (female)."""
    x = np.arange(N_AGE, dtype=float)
    mx = 0.0002 + level * np.exp(slope * x)
    mx[0] = infant
    return mx


SCHEDULES = {
    "gompertz": gompertz_mx(),
    "gompertz-high": gompertz_mx(level=6e-5, infant=0.03),  # m(104) about 1.2
    "high-infant": gompertz_mx(level=5e-5, infant=0.12),  # the flat top branch of a(0)
    "constant": np.full(N_AGE, 0.03),
}


# --------------------------------------------------------------------------------------------
# life table identities

@pytest.mark.parametrize("sex", SEXES)
@pytest.mark.parametrize("name", SCHEDULES)
def test_life_table_identities(name, sex):
    mx = SCHEDULES[name]
    lt = life_table(mx, sex)
    lx, dx, Lx, Tx, qx, ex = lt["lx"], lt["dx"], lt["Lx"], lt["Tx"], lt["qx"], lt["ex"]
    assert lx[0] == 1.0
    assert abs(dx.sum() - 1.0) < 1e-12  # everyone dies, once
    np.testing.assert_allclose(lx[:-1] - lx[1:], dx[:-1], rtol=1e-12, atol=1e-15)
    assert qx[-1] == 1.0 and ((qx >= 0) & (qx <= 1)).all()
    # person-years in [x, x+1) lie between the survivors at x+1 and at x
    assert (Lx[:-1] <= lx[:-1]).all() and (Lx[:-1] >= lx[1:]).all()
    # m is deaths per person-year at every age, the open group included (the a(x) formulas
    # q = m / (1 + (1 - a) m) and L = l - (1 - a) d are the two halves of this)
    np.testing.assert_allclose(dx / Lx, mx, rtol=1e-12)
    np.testing.assert_allclose(Tx[0], Lx.sum(), rtol=1e-13)
    np.testing.assert_allclose(Tx[:-1] - Tx[1:], Lx[:-1], rtol=1e-10, atol=1e-15)
    assert abs(Tx[0] - ex[0]) < 1e-12  # radix 1: e0 = T(0)
    np.testing.assert_allclose(ex, Tx / lx, rtol=1e-12)
    assert life_expectancy(mx, sex) == ex[0]


@pytest.mark.parametrize("sex", SEXES)
@pytest.mark.parametrize("mu", [0.005, 0.02, 0.1, 0.5])
def test_constant_mortality_gives_e0_one_over_mu(mu, sex):
    # With m(x) = mu at every age, m = d / L at each age (see the identities above) gives
    # L(x) = d(x) / mu, so e0 = T(0) = sum_x L(x) = (sum_x d(x)) / mu = 1 / mu, exactly,
    # whatever a(0) is (a(x) only moves person-years between ages here). The geometric series
    # gives the same: for x >= 1, l(x+1)/l(x) = p = (1 - mu/2) / (1 + mu/2), L(x) = l(x) / (1 +
    # mu/2), and sum_{x>=1} L(x) + l(105)/mu = l(1)/mu.
    lt = life_table(np.full(N_AGE, mu), sex)
    assert abs(lt["ex"][0] - 1.0 / mu) < 1e-12 / mu
    p = (1 - mu / 2) / (1 + mu / 2)
    np.testing.assert_allclose(lt["lx"][2:] / lt["lx"][1:-1], p, rtol=1e-12)
    # at every age the expectation of life is the same: 1 / mu (memoryless) from age 1 on
    np.testing.assert_allclose(lt["ex"][1:], 1.0 / mu, rtol=1e-11)


@pytest.mark.parametrize("sex, m0, a0, e0", [
    # female, m0 = 0.01 < 0.01724: a0 = 0.14903 - 2.05527 * 0.01 = 0.1284773
    #   q0 = 0.01 / (1 + 0.8715227 * 0.01) = 0.00991360072, L0 = 1 - 0.8715227 q0 = 0.99136007
    #   ages >= 1 at m = 0.02: T(1) = l(1) / 0.02 (as above), so
    #   e0 = L0 + (1 - q0) / 0.02 = 0.99136007 + 49.50432 = 50.49568004
    ("female", 0.01, 0.1284773, 50.49568003596718),
    # male, m0 = 0.05 in [0.023, 0.08307): a0 = 0.02832 + 3.26201 * 0.05 = 0.1914205
    #   q0 = 0.05 / (1 + 0.8085795 * 0.05) = 0.0480571007, L0 = 0.96114201
    #   e0 = 0.96114201 + (1 - 0.0480571007) / 0.02 = 48.55828698
    ("male", 0.05, 0.1914205, 48.55828697965664),
])
def test_infant_a0_by_hand(sex, m0, a0, e0):
    mx = np.full(N_AGE, 0.02)
    mx[0] = m0
    lt = life_table(mx, sex)
    assert abs(lt["ax"][0] - a0) < 1e-12
    assert abs(lt["ex"][0] - e0) < 1e-10


def test_a0_andreev_kingkade_branches():
    # HMD Methods Protocol (v6), table of a(0) by m(0); the published pieces nearly meet at the
    # breakpoints (the largest step, 1.5e-4, is the male top one), which catches a mistyped
    # coefficient
    for sex, lo, hi, top in (("female", 0.01724, 0.06891, 0.31411),
                             ("male", 0.02300, 0.08307, 0.29915)):
        for bp in (lo, hi):
            assert abs(a0_andreev_kingkade(bp - 1e-12, sex) - a0_andreev_kingkade(bp, sex)) < 2e-4
        assert a0_andreev_kingkade(0.2, sex) == top
    assert abs(a0_andreev_kingkade(0.003, "female") - (0.14903 - 2.05527 * 0.003)) < 1e-15
    assert abs(a0_andreev_kingkade(0.003, "male") - (0.14929 - 1.99545 * 0.003)) < 1e-15
    assert abs(a0_andreev_kingkade(0.04, "female") - (0.04667 + 3.88089 * 0.04)) < 1e-15


def test_life_table_rejects_bad_input():
    with pytest.raises(ValueError, match="106"):
        life_table(np.full(100, 0.01), "female")
    mx = gompertz_mx()
    mx[-1] = 0.0
    with pytest.raises(ValueError, match="105"):
        life_table(mx, "female")


# --------------------------------------------------------------------------------------------
# survival ratios

@pytest.mark.parametrize("sex", SEXES)
@pytest.mark.parametrize("name", SCHEDULES)
def test_survival_ratios_definition(name, sex):
    mx = SCHEDULES[name]
    s = survival_ratios(mx, sex)
    lt = life_table(mx, sex)
    assert s.shape == (N_SURV,)
    assert ((s > 0) & (s <= 1)).all()
    assert s[0] == lt["Lx"][0]  # births -> age 0: L(0) / l(0), l(0) = 1
    np.testing.assert_allclose(s[1:N_AGE - 1], lt["Lx"][1:N_AGE - 1] / lt["Lx"][:N_AGE - 2],
                               rtol=1e-14)
    T = lt["Tx"]
    assert s[N_AGE - 1] == s[N_AGE] == pytest.approx(T[-1] / T[-2], rel=1e-14)


@pytest.mark.parametrize("sex", SEXES)
def test_survival_ratios_constant_mortality(sex):
    # m = mu everywhere: L(x) = l(x) / (1 + mu/2) for x >= 1, so L(x)/L(x-1) = p for x >= 2,
    # and T(105)/T(104) = (l(105)/mu) / (l(104)/mu) = p as well;
    # L(0) = 1 / (1 + (1 - a0) mu) and L(1) = l(1) / (1 + mu/2), l(1) = 1 - mu L(0)
    mu = 0.04
    a0 = a0_andreev_kingkade(mu, sex)
    p = (1 - mu / 2) / (1 + mu / 2)
    L0 = 1 / (1 + (1 - a0) * mu)
    L1 = (1 - mu * L0) / (1 + mu / 2)
    s = survival_ratios(np.full(N_AGE, mu), sex)
    assert s[0] == pytest.approx(L0, rel=1e-14)
    assert s[1] == pytest.approx(L1 / L0, rel=1e-14)
    np.testing.assert_allclose(s[2:], p, rtol=1e-13)


@pytest.mark.parametrize("name", ["gompertz", "gompertz-high", "high-infant"])
def test_stationary_population_is_invariant(name):
    # The life-table population (L(x) at ages 0..104, T(105) at 105+) with one birth a year
    # of each sex and no migration reproduces itself: L(x-1) * L(x)/L(x-1) = L(x),
    # (L(104) + T(105)) * T(105)/T(104) = T(105), and 1 birth * L(0) = L(0).
    # Births: only women aged 30 are fertile, asfr = 2 / L(30), half girls.
    mx = SCHEDULES[name]
    stat = np.empty((2, N_AGE))
    surv = np.empty((2, N_SURV))
    for s, sex in enumerate(SEXES):
        mxs = mx * (1.0 if sex == "female" else 1.3)
        lt = life_table(mxs, sex)
        stat[s, :-1] = lt["Lx"][:-1]
        stat[s, -1] = lt["Tx"][-1]
        surv[s] = survival_ratios(mxs, sex)
    years = 5
    asfr = np.zeros((years, N_AGE))
    asfr[:, 30] = 2.0 / stat[0, 30]
    zero = np.zeros((years, 2, N_AGE))
    for method in ("kernel", "numpy"):
        out = project_one(stat, np.broadcast_to(surv, (years, 2, N_SURV)), asfr,
                          np.full(years, 0.5), zero, zero, method=method)
        pop, births = out["pop"], out["births"]
        assert pop.shape == (years + 1, 2, N_AGE) and births.shape == (years, 2)
        np.testing.assert_allclose(births, 1.0, rtol=1e-12)
        for t in range(years + 1):
            np.testing.assert_allclose(pop[t], stat, rtol=1e-12)


def test_survival_ratios_finite_when_everyone_dies_before_105():
    # Regression: m = 3 at every age gives q(x) = min(3 / 2.5, 1) = 1 from age 1, so l(2) = 0,
    # L(2) = 0, and L(3)/L(2) was 0/0 = NaN, which the kernel spread into every stock.
    # scale_to_e0 makes such schedules for low targets (e0 = 40 from the Gompertz schedule
    # here has m(x) up to 11). Wanted: finite ratios in [0, 1], 0 once nobody is left, or a
    # ValueError that names the problem.
    mx = np.full(N_AGE, 3.0)
    try:
        s = survival_ratios(mx, "male")
    except ValueError:
        return
    assert np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()
    lt = life_table(mx, "male")
    assert s[0] == lt["Lx"][0] and s[1] == pytest.approx(lt["Lx"][1] / lt["Lx"][0])
    np.testing.assert_array_equal(s[2:], 0.0)  # l(2) = 0, so L(x) = 0 from age 2 on
    low = scale_to_e0(gompertz_mx(), "female", 40.0)
    assert low.max() > 2 and np.isfinite(survival_ratios(low, "female")).all()


# --------------------------------------------------------------------------------------------
# targeting life expectancy and TFR

@pytest.mark.parametrize("sex", SEXES)
@pytest.mark.parametrize("target", [55.0, 70.0, 78.5, 84.0, 90.0, 95.0])
def test_scale_to_e0_hits_target(target, sex):
    base = gompertz_mx() * (1.0 if sex == "female" else 1.4)
    scaled = scale_to_e0(base, sex, target)
    assert abs(life_expectancy(scaled, sex) - target) < 1e-6
    ratio = scaled / base  # one factor at all ages
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-13)
    assert (ratio[0] < 1) == (target > life_expectancy(base, sex))


def test_scale_to_e0_already_at_target_and_unreachable():
    base = gompertz_mx()
    e0 = life_expectancy(base, "female")
    np.testing.assert_allclose(scale_to_e0(base, "female", e0), base, rtol=1e-8)
    for unreachable in (0.01, 1e5):  # beyond the factors exp(-8) .. exp(8)
        with pytest.raises(ValueError, match="cannot be reached"):
            scale_to_e0(base, "female", unreachable)


@pytest.mark.parametrize("tfr", [0.8, 1.48, 1.75, 2.1, 3.3])
def test_scale_to_tfr_sums_to_target(tfr):
    x = np.arange(N_AGE, dtype=float)
    base = np.where((x >= 15) & (x <= 49), np.exp(-0.5 * ((x - 31) / 5.0) ** 2), 0.0) * 0.07
    scaled = scale_to_tfr(base, tfr)
    assert abs(scaled.sum() - tfr) < 1e-12
    np.testing.assert_allclose(scaled * base.sum(), base * tfr, rtol=1e-14)  # same shape
    assert (scaled[base == 0] == 0).all()


def test_scale_to_tfr_rejects_empty_schedule():
    with pytest.raises(ValueError, match="sums to zero"):
        scale_to_tfr(np.zeros(N_AGE), 1.7)
