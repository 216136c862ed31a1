"""The cohort-component step (forecast/population/kernel.py) against numbers a person can verify.

Every expected value here is built independently of the kernel: by hand (the tiny example), by
a Leslie matrix assembled from the same rates, by the Euler-Lotka equation solved with brentq,
or by the demographic accounting identity. Layout and timing convention: see kernel.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from forecast.population.kernel import N_AGE, N_SURV, allocate, project_kernel, project_numpy
from forecast.population.rates import survival_ratios

IMPLEMENTATIONS = {"kernel": project_kernel, "numpy": project_numpy}
TOL = 1e-9  # relative


# --------------------------------------------------------------------------------------------
# helpers

def run(fn, pop0, surv, asfr, fem_share, inmig, outrate):
    """Call a projection function on fresh output arrays; return a dict of the five outputs."""
    out = allocate(pop0.shape[0], surv.shape[1])
    fn(pop0, surv, asfr, fem_share, inmig, outrate, *out)
    return dict(zip(("pop", "births", "deaths", "inflow", "outflow"), out))


def random_inputs(seed, batch, years, edge=0.0, scale=1000.0):
    """Random but valid inputs: survival in (0, 1], outrate in [0, 1], inmig >= 0.

    `edge` is the share of cells forced to a boundary value (survival exactly 1 or tiny,
    outrate exactly 0 or 1, no in-migrants, an empty cohort).
    """
    rng = np.random.default_rng(seed)
    pop0 = rng.uniform(0.0, scale, (batch, 2, N_AGE))
    surv = 1.0 - rng.uniform(0.0, 1.0, (batch, years, 2, N_SURV))  # (0, 1]
    asfr = rng.uniform(0.0, 0.2, (batch, years, N_AGE))
    asfr[..., 0] = 0.0  # no mothers aged 0 (the kernel sums mothers' ages from 1)
    fem_share = rng.uniform(0.4, 0.6, (batch, years))
    inmig = rng.uniform(0.0, 0.1 * scale, (batch, years, 2, N_AGE))
    outrate = rng.uniform(0.0, 1.0, (batch, years, 2, N_AGE))
    if edge:
        def pick(a):
            return rng.random(a.shape) < edge
        surv[pick(surv)] = 1.0
        surv[pick(surv)] = 1e-12
        outrate[pick(outrate)] = 0.0
        outrate[pick(outrate)] = 1.0
        inmig[pick(inmig)] = 0.0
        pop0[pick(pop0)] = 0.0
    return pop0, surv, asfr, fem_share, inmig, outrate


def assert_close(actual, expected, scale, tol=TOL, what=""):
    """|actual - expected| <= tol * (|expected| + scale): relative, with `scale` the size of
    the gross flows the value comes from (a residual like deaths can be 0 up to rounding)."""
    err = np.abs(actual - expected)
    bound = tol * (np.abs(expected) + scale)
    bad = err > bound
    assert not bad.any(), (f"{what}: {bad.sum()} cells off, worst at {np.argwhere(bad)[0]}: "
                           f"{actual[bad][0]!r} vs {expected[bad][0]!r}")


# --------------------------------------------------------------------------------------------
# 1. accounting identity, on random valid inputs

def cohort_start(res):
    """Start-of-year stock of the cohort that reaches age k on the next 1 January."""
    pop = res["pop"]
    start = np.empty_like(res["deaths"])
    start[..., 0] = res["births"]
    start[..., 1:] = pop[:, :-1, :, :-1]
    start[..., -1] += pop[:, :-1, :, -1]  # the open group also keeps those already 105+
    return start


def check_accounting(inputs, res):
    pop0, surv, asfr, fem_share, inmig, outrate = inputs
    pop, births, deaths = res["pop"], res["births"], res["deaths"]
    inflow, outflow = res["inflow"], res["outflow"]
    np.testing.assert_array_equal(pop[:, 0], pop0)
    np.testing.assert_array_equal(inflow, inmig)  # in-migrants are counts, passed through

    start = cohort_start(res)
    gross = start + inflow  # the size of the flows of a cohort: the scale of "relative"
    end = pop[:, 1:]

    # stock(a+1, t+1) = stock(a, t) - deaths + in - out; births -> 0; 104 and 105+ -> 105+
    assert_close(end, start - deaths + inflow - outflow, gross, what="accounting identity")

    # births = sum over mothers' age of asfr * mean of women at the start and end of the year
    women = 0.5 * (pop[:, :-1, 0, 1:] + pop[:, 1:, 0, 1:])
    total = (asfr[..., 1:] * women).sum(axis=-1)
    assert_close(births[..., 0], fem_share * total, total, what="girls")
    assert_close(births[..., 1], (1.0 - fem_share) * total, total, what="boys")

    # the flows themselves, from the timing convention (not from the residual):
    # out = o * sqrt(S) * start; deaths = start*(1 - o*sqrt(S) - (1-o)*S) + in*(1 - sqrt(S))
    s = surv[..., :N_AGE]
    o = outrate
    exp_out = o * np.sqrt(s) * start
    exp_deaths = start * (1.0 - o * np.sqrt(s) - (1.0 - o) * s) + inflow * (1.0 - np.sqrt(s))
    # the open group: those entering (104 -> 105+) and those staying (105+) have their own S;
    # in-migrants to 105+ live the second half year with sqrt(S staying)
    s_in, s_stay, o = surv[..., N_AGE - 1], surv[..., N_AGE], outrate[..., -1]
    p104, p105 = pop[:, :-1, :, -2], pop[:, :-1, :, -1]
    exp_out[..., -1] = o * (p104 * np.sqrt(s_in) + p105 * np.sqrt(s_stay))
    exp_deaths[..., -1] = (p104 * (1.0 - o * np.sqrt(s_in) - (1.0 - o) * s_in)
                           + p105 * (1.0 - o * np.sqrt(s_stay) - (1.0 - o) * s_stay)
                           + inflow[..., -1] * (1.0 - np.sqrt(s_stay)))
    assert_close(outflow, exp_out, gross, what="out-migrants")
    assert_close(deaths, exp_deaths, gross, what="deaths")
    # valid inputs give no negative deaths, no negative stock, no more leavers than residents
    assert (deaths >= -TOL * gross).all()
    assert (pop >= 0).all()
    assert (outflow <= start * (1 + TOL)).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), years=st.integers(1, 10),
       edge=st.sampled_from([0.0, 0.05, 0.5]), scale=st.sampled_from([1.0, 1e3, 1e6]))
def test_accounting_identity_property(seed, batch, years, edge, scale):
    inputs = random_inputs(seed, batch, years, edge, scale)
    for fn in IMPLEMENTATIONS.values():
        check_accounting(inputs, run(fn, *inputs))


# --------------------------------------------------------------------------------------------
# 2. numba kernel == NumPy reference

def check_same(inputs):
    k = run(project_kernel, *inputs)
    n = run(project_numpy, *inputs)
    gross = cohort_start(n) + n["inflow"]
    scale = {"pop": np.concatenate([n["pop"][:, :1], gross], axis=1),
             "births": n["births"], "deaths": gross, "inflow": 0.0, "outflow": gross}
    for key in k:
        assert np.isfinite(k[key]).all()
        assert_close(k[key], n[key], scale[key], what=key)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), years=st.integers(1, 10),
       edge=st.sampled_from([0.0, 0.05, 0.5]), scale=st.sampled_from([1.0, 1e3, 1e6]))
def test_kernel_matches_numpy_property(seed, batch, years, edge, scale):
    check_same(random_inputs(seed, batch, years, edge, scale))


def test_kernel_matches_numpy_long_realistic():
    pop0, surv, asfr, fem_share, inmig, outrate = realistic_inputs(batch=3, years=40)
    k = run(project_kernel, pop0, surv, asfr, fem_share, inmig, outrate)
    n = run(project_numpy, pop0, surv, asfr, fem_share, inmig, outrate)
    for key in k:
        np.testing.assert_allclose(k[key], n[key], rtol=TOL, atol=TOL * n["pop"].max(),
                                   err_msg=key)


def test_batch_members_are_independent_and_inputs_untouched():
    inputs = random_inputs(7, 4, 6)
    copies = [a.copy() for a in inputs]
    together = run(project_kernel, *inputs)
    for a, c in zip(inputs, copies):
        np.testing.assert_array_equal(a, c)
    for b in range(4):
        alone = run(project_kernel, *(np.ascontiguousarray(a[b:b + 1]) for a in inputs))
        for key in alone:
            np.testing.assert_array_equal(alone[key][0], together[key][b], err_msg=key)


# --------------------------------------------------------------------------------------------
# 3. null projection: survival 1, no births, no migration => cohorts only age

@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_null_projection_cohorts_only_age(name):
    years, batch = 12, 2
    rng = np.random.default_rng(3)
    pop0 = rng.integers(0, 5000, (batch, 2, N_AGE)).astype(float)
    surv = np.ones((batch, years, 2, N_SURV))
    asfr = np.zeros((batch, years, N_AGE))
    fem_share = np.full((batch, years), 0.5)
    zero = np.zeros((batch, years, 2, N_AGE))
    res = run(IMPLEMENTATIONS[name], pop0, surv, asfr, fem_share, zero, zero.copy())
    pop = res["pop"]
    for t in range(years + 1):
        # the cohort aged a at 0 is aged a + t at t; the first t ages are empty (no births)
        np.testing.assert_array_equal(pop[:, t, :, :t], 0.0)
        np.testing.assert_array_equal(pop[:, t, :, t:N_AGE - 1], pop0[:, :, :N_AGE - 1 - t])
        # the open group holds everyone aged 105 - t and older at the start
        np.testing.assert_array_equal(pop[:, t, :, -1], pop0[:, :, N_AGE - 1 - t:].sum(axis=-1))
    np.testing.assert_array_equal(pop.sum(axis=-1), pop0.sum(axis=-1)[:, None].repeat(years + 1, 1))
    for key in ("births", "deaths", "inflow", "outflow"):
        np.testing.assert_array_equal(res[key], 0.0, err_msg=key)


# --------------------------------------------------------------------------------------------
# realistic rates for the Leslie and Lotka tests

def gompertz_mx(level, slope=0.095, infant=0.003):
    """m(x) = level * exp(slope * x) + a small Makeham term, with an infant rate at age 0."""
    x = np.arange(N_AGE, dtype=float)
    mx = 0.0002 + level * np.exp(slope * x)
    mx[0] = infant
    return mx


def smooth_asfr(tfr, mean_age=30.5, sd=5.5):
    """A bell-shaped fertility schedule on ages 15..49 summing to `tfr`."""
    x = np.arange(N_AGE, dtype=float)
    f = np.exp(-0.5 * ((x - mean_age) / sd) ** 2)
    f[(x < 15) | (x > 49)] = 0.0
    return f * (tfr / f.sum())


def realistic_inputs(batch, years, seed=11):
    rng = np.random.default_rng(seed)
    surv = np.empty((batch, years, 2, N_SURV))
    for b in range(batch):
        for s, (sex, level) in enumerate((("female", 2.0e-5), ("male", 3.5e-5))):
            for t in range(years):
                mx = gompertz_mx(level * rng.uniform(0.8, 1.2))
                surv[b, t, s] = survival_ratios(mx, sex)
    asfr = np.stack([[smooth_asfr(rng.uniform(1.4, 2.2)) for _ in range(years)]
                     for _ in range(batch)])
    pop0 = rng.uniform(500, 1500, (batch, 2, N_AGE)) * np.exp(-np.arange(N_AGE) / 40)
    fem_share = np.full((batch, years), 1 / 2.0577)
    inmig = rng.uniform(0, 40, (batch, years, 2, N_AGE))
    outrate = rng.uniform(0, 0.05, (batch, years, 2, N_AGE))
    return pop0, surv, asfr, fem_share, inmig, outrate


# --------------------------------------------------------------------------------------------
# 4. no migration: the projection is repeated multiplication by a Leslie matrix

def leslie_matrix(surv_f, surv_m, asfr, f):
    """Two-sex Leslie matrix (212 x 212, females 0..105 then males 0..105) for one year.

    Built from the definitions, not from the kernel's code. With no migration
        W(a, t+1) = surv[a] W(a-1, t)                          a = 1..104
        W(105, t+1) = surv[105] W(104, t) + surv[106] W(105, t)
        births = sum_a asfr(a) (W(a, t) + W(a, t+1)) / 2       a = 1..105 (women)
    so the births coming from women aged j at t are
        asfr(j)/2 + asfr(j+1) surv[j+1]/2                     j = 0..104 (asfr(0) = 0)
        asfr(105)/2 + asfr(105) surv[106]/2                    j = 105 (they stay 105+)
    and age 0 at t+1 = share x surv[0] of that sex x births.
    """
    n = N_AGE
    fert = np.zeros(n)
    fert[:n - 1] = asfr[:n - 1] / 2 + asfr[1:] * surv_f[1:n] / 2
    fert[n - 1] = asfr[n - 1] / 2 + asfr[n - 1] * surv_f[n] / 2
    A = np.zeros((2 * n, 2 * n))
    for off, sv in ((0, surv_f), (n, surv_m)):
        for k in range(1, n):
            A[off + k, off + k - 1] = sv[k]
        A[off + n - 1, off + n - 1] = sv[n]  # 105+ staying 105+
    A[0, :n] += f * surv_f[0] * fert
    A[n, :n] += (1 - f) * surv_m[0] * fert
    return A


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_no_migration_equals_leslie_matrix(name):
    years, batch = 30, 2
    pop0, surv, asfr, fem_share, _, _ = realistic_inputs(batch, years, seed=5)
    rng = np.random.default_rng(5)
    # life-table ratios have surv[105] == surv[106] (both T(105)/T(104)); jitter every ratio
    # so that entering 105+ and staying 105+ are told apart
    surv = surv * rng.uniform(0.97, 1.0, surv.shape)
    # a little fertility at every age 1..105, so the open-group terms of the first row count
    asfr = asfr + rng.uniform(0, 1e-3, asfr.shape)
    asfr[..., 0] = 0.0
    fem_share = rng.uniform(0.45, 0.52, (batch, years))
    zero = np.zeros((batch, years, 2, N_AGE))
    pop = run(IMPLEMENTATIONS[name], pop0, surv, asfr, fem_share, zero, zero.copy())["pop"]
    for b in range(batch):
        w = pop0[b].reshape(-1)
        for t in range(years):
            w = leslie_matrix(surv[b, t, 0], surv[b, t, 1], asfr[b, t], fem_share[b, t]) @ w
            np.testing.assert_allclose(pop[b, t + 1].reshape(-1), w, rtol=TOL, atol=0,
                                       err_msg=f"batch {b} year {t + 1}")


# --------------------------------------------------------------------------------------------
# 5. Lotka: constant rates, closed population -> the intrinsic growth rate

@pytest.mark.parametrize("tfr", [2.5, 1.6])
def test_closed_population_reaches_lotka_growth_rate(tfr):
    # Female Leslie matrix: first row F_j (births that survive to the next 1 January as girls,
    # per woman aged j), sub-diagonal P_k = surv[k]. A girl aged 0 on 1 January of year t0 is
    # alive and aged j on 1 January of t0 + j with probability l_j = P_1 ... P_j (l_0 = 1), and
    # then contributes F_j to the girls aged 0 of t0 + j + 1. Hence the renewal equation
    #     B(t) = sum_j F_j l_j B(t - j - 1),   B(t) = girls aged 0 on 1 January of t,
    # and B(t) = lambda^t solves it iff  1 = sum_j phi_j lambda^-(j+1),  phi_j = F_j l_j
    # (discrete Euler-Lotka). Fertility stops at 49, so the open group (its self-loop
    # surv[106] < lambda) does not enter the dominant root. r = ln(lambda).
    f = 1 / 2.0577
    sf = survival_ratios(gompertz_mx(2.0e-5), "female")
    sm = survival_ratios(gompertz_mx(3.5e-5), "male")
    asfr = smooth_asfr(tfr)
    F = f * sf[0] * (asfr / 2 + np.append(asfr[1:] * sf[1:N_AGE], 0.0) / 2)
    lj = np.concatenate([[1.0], np.cumprod(sf[1:N_AGE])])
    phi = F * lj
    j = np.arange(N_AGE)
    lam = brentq(lambda x: (phi * x ** -(j + 1.0)).sum() - 1.0, 0.5, 2.0, xtol=1e-15)
    r = np.log(lam)
    assert abs(r) > 1e-3  # a test of growth, not of stationarity
    assert sf[N_AGE] < lam

    years = 600
    pop0 = np.full((1, 2, N_AGE), 1000.0)
    surv = np.broadcast_to(np.stack([sf, sm]), (1, years, 2, N_SURV)).copy()
    asfr_t = np.broadcast_to(asfr, (1, years, N_AGE)).copy()
    zero = np.zeros((1, years, 2, N_AGE))
    res = run(project_kernel, pop0, surv, asfr_t, np.full((1, years), f), zero, zero.copy())
    total = res["pop"][0].sum(axis=(-2, -1))
    assert np.isfinite(total).all() and total[-1] > 0
    growth = np.log(total[1:] / total[:-1])
    assert abs(growth[-1] - r) < 1e-6, (growth[-1], r)
    assert np.abs(growth[-10:] - r).max() < 1e-6
    # the stable female age structure: c(j) proportional to l_j lambda^-j below the open group
    # (after 600 years the shares are within a few 1e-6 of it; the growth rate, a ratio of
    # totals, within 1e-8)
    women = res["pop"][0, -1, 0, :N_AGE - 1]
    stable = lj[:N_AGE - 1] * lam ** -j[:N_AGE - 1]
    np.testing.assert_allclose(women / women[0], stable / stable[0], rtol=2e-5)
    # and births grow at the same rate
    b = res["births"][0].sum(axis=-1)
    assert abs(np.log(b[-1] / b[-2]) - r) < 1e-6


# --------------------------------------------------------------------------------------------
# 6. a tiny example computed by hand (2 years, a few cohorts with round numbers)

@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_hand_computed_two_years(name):
    F, M = 0, 1
    pop0 = np.zeros((1, 2, N_AGE))
    surv = np.ones((1, 2, 2, N_SURV))
    asfr = np.zeros((1, 2, N_AGE))
    fem_share = np.full((1, 2), 0.5)
    inmig = np.zeros((1, 2, 2, N_AGE))
    outrate = np.zeros((1, 2, 2, N_AGE))

    # (a) women aged 29, 1000 of them; reaching 30: S = 0.81 (sqrt 0.9), o = 0.1, in = 100
    #     end = 0.9 * 1000 * 0.81 + 100 * 0.9 = 729 + 90 = 819
    #     out = 0.1 * 1000 * 0.9 = 90; deaths = 1000 + 100 - 90 - 819 = 191
    pop0[0, F, 29] = 1000
    surv[0, 0, F, 30], outrate[0, 0, F, 30], inmig[0, 0, F, 30] = 0.81, 0.1, 100
    # (b) women aged 30, 2000; reaching 31: S = 0.64 (sqrt 0.8), o = 0.25, no in-migrants
    #     end = 0.75 * 2000 * 0.64 = 960; out = 0.25 * 2000 * 0.8 = 400
    #     deaths = 2000 - 400 - 960 = 640
    pop0[0, F, 30] = 2000
    surv[0, 0, F, 31], outrate[0, 0, F, 31] = 0.64, 0.25
    # births, year 1: only age 31 is fertile, asfr 0.1; no woman is 31 on 1 Jan (0), 960 are
    #     at the end: births = 0.1 * (0 + 960) / 2 = 48, half girls = 24, half boys = 24
    asfr[0, 0, 31] = 0.1
    # (c) girls: S0 = 0.25 (sqrt 0.5), o = 0.5, 10 in-migrant babies
    #     end = 0.5 * 24 * 0.25 + 10 * 0.5 = 3 + 5 = 8; out = 0.5 * 24 * 0.5 = 6
    #     deaths = 24 + 10 - 6 - 8 = 20.   Boys: S0 = 1, no migration: 24 aged 0.
    surv[0, :, F, 0], outrate[0, :, F, 0], inmig[0, :, F, 0] = 0.25, 0.5, 10
    # (d) men: 100 aged 104 and 200 aged 105+; S(104->105+) = 0.64, S(105+ stay) = 0.25,
    #     o = 0.1, in = 40 (they live sqrt(S stay) = 0.5 of the second half)
    #     out = 0.1 * (100 * 0.8 + 200 * 0.5) = 18
    #     end = 0.9 * (100 * 0.64 + 200 * 0.25) + 40 * 0.5 = 102.6 + 20 = 122.6
    #     deaths = 100 + 200 + 40 - 18 - 122.6 = 199.4
    pop0[0, M, 104], pop0[0, M, 105] = 100, 200
    surv[0, 0, M, 105], surv[0, 0, M, 106] = 0.64, 0.25
    outrate[0, 0, M, 105], inmig[0, 0, M, 105] = 0.1, 40
    # year 2 (index 1), other rates are 1 and 0:
    #   819 women 30 -> 31 with S = 0.64, o = 0.25: end = 0.75*819*0.64 = 393.12,
    #       out = 0.25*819*0.8 = 163.8, deaths = 819 - 163.8 - 393.12 = 262.08
    #   960 women 31 -> 32 unchanged; 8 girls and 24 boys -> age 1 unchanged
    #   fertile age 32 only, asfr 0.2: births = 0.2 * (0 + 960) / 2 = 96 -> 48 girls, 48 boys
    #   girls: end = 0.5 * 48 * 0.25 + 10 * 0.5 = 6 + 5 = 11; out = 0.5 * 48 * 0.5 = 12;
    #       deaths = 48 + 10 - 12 - 11 = 35
    #   men 105+: 122.6 with S stay = 0.5, no migration: end 61.3, deaths 61.3
    surv[0, 1, F, 31], outrate[0, 1, F, 31] = 0.64, 0.25
    asfr[0, 1, 32] = 0.2
    surv[0, 1, M, 106] = 0.5

    res = run(IMPLEMENTATIONS[name], pop0, surv, asfr, fem_share, inmig, outrate)
    exp_pop = np.zeros((3, 2, N_AGE))
    exp_pop[0] = pop0[0]
    exp_pop[1, F, [0, 30, 31]] = [8, 819, 960]
    exp_pop[1, M, [0, 105]] = [24, 122.6]
    exp_pop[2, F, [0, 1, 31, 32]] = [11, 8, 393.12, 960]
    exp_pop[2, M, [0, 1, 105]] = [48, 24, 61.3]
    exp_deaths = np.zeros((2, 2, N_AGE))
    exp_deaths[0, F, [0, 30, 31]] = [20, 191, 640]
    exp_deaths[0, M, 105] = 199.4
    exp_deaths[1, F, [0, 31]] = [35, 262.08]
    exp_deaths[1, M, 105] = 61.3
    exp_out = np.zeros((2, 2, N_AGE))
    exp_out[0, F, [0, 30, 31]] = [6, 90, 400]
    exp_out[0, M, 105] = 18
    exp_out[1, F, [0, 31]] = [12, 163.8]
    np.testing.assert_allclose(res["pop"][0], exp_pop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["births"][0], [[24, 24], [48, 48]], rtol=1e-12)
    np.testing.assert_allclose(res["deaths"][0], exp_deaths, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["outflow"][0], exp_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(res["inflow"][0], inmig[0])
