"""The cohort-component kernel (forecast/population/kernel.py) against numbers a person can verify.

Every expected value here is built independently of the kernel: by hand (the tiny examples), by
a Leslie matrix assembled from the same rates, by the Euler-Lotka equation solved with brentq,
or by the demographic accounting identity written out from the timing convention of the
module docstring. Layout: a batch of draws d (D) x regions r (R); compact rate arrays whose
leading dims (draw, region, year) have their full length or length 1 (shared).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from forecast.population.kernel import (N_AGE, N_SURV, empty, project_kernel, project_numpy,
                                        project_one)
from forecast.population.rates import survival_ratios

from conftest import ROOT

METHODS = ("kernel", "numpy")
TOL = 1e-9  # relative
FLOWS = ("deaths", "inmig", "outmig", "internal_in", "internal_out")
OUTPUTS = ("pop", "births") + FLOWS
MAX_MOVE = 0.25  # move rates in [0, 0.25], out-migration rates in [0, 0.75]: o + m <= 1
F, M = 0, 1


# --------------------------------------------------------------------------------------------
# helpers

def batch_sizes(args):
    """(D, R, T) of a kernel call, read off the arrays (D = the longest draw dim)."""
    pop0, surv, _, asfr, fert, fem, inmig, in_level, outrate, out_level = args[:10]
    draws = max(x.shape[0] for x in (surv, asfr, fert, fem, inmig, in_level, outrate, out_level))
    return draws, pop0.shape[0], surv.shape[2]


def run_kernel(args, want=OUTPUTS, edges=None, final=False):
    """The kernel with the outputs in `want` (others passed empty); a dict of them, plus
    group_pop when `edges` is given and final when asked."""
    D, R, T = batch_sizes(args)
    shapes = {"pop": (D, R, T + 1, 2, N_AGE), "births": (D, R, T, 2),
              **{k: (D, R, T, 2, N_AGE) for k in FLOWS}}
    out = {k: np.full(shapes[k], np.nan) if k in want else empty(len(shapes[k]))
           for k in OUTPUTS}
    groups = (np.full((D, R, T + 1, 2, len(edges) - 1), np.nan) if edges is not None
              else empty(5))
    last = np.full((D, R, 2, N_AGE), np.nan) if final else empty(4)
    project_kernel(*args, np.asarray(edges if edges is not None else [0, N_AGE], np.int64),
                   *(out[k] for k in OUTPUTS), groups, last)
    res = {k: out[k] for k in want}
    if edges is not None:
        res["group_pop"] = groups
    if final:
        res["final"] = last
    return res


def run_numpy(args):
    return project_numpy(*args)


RUNNERS = {"kernel": run_kernel, "numpy": run_numpy}


def c(x):
    return np.ascontiguousarray(x, dtype=float)


def random_batch(seed, D, R, T, exchange, edge=0.0, scale=1000.0, compact=True):
    """Random but valid kernel arguments: survival in (0, 1], o x level + m <= 1, counts >= 0.

    With `compact`, every leading dim that may be shared is length 1 or full at random (one
    draw-carrying array keeps D, the survival ratios keep T, fem_share keeps T). `edge` is the
    share of cells forced to a boundary value (survival exactly 1 or tiny, nobody leaving or
    everybody leaving, no in-migrants, an empty cohort, no movers or the most movers).
    """
    rng = np.random.default_rng(seed)
    draw_arrays = ("surv", "asfr", "fert", "fem", "inmig", "in_level", "outrate", "out_level")
    keeps_draws = draw_arrays[rng.integers(len(draw_arrays))]

    def lead(name, dims):
        out = []
        for dim, n in dims:
            shared = compact and rng.random() < 0.5
            if dim == "D" and name == keeps_draws:
                shared = False
            if dim == "T" and name in ("surv", "fem"):
                shared = False
            out.append(1 if shared else n)
        return tuple(out)

    D_, R_, T_ = ("D", D), ("R", R), ("T", T)
    pop0 = rng.uniform(0.0, scale, (R, 2, N_AGE))
    surv = 1.0 - rng.uniform(0.0, 1.0, lead("surv", (D_, R_, T_)) + (2, N_SURV))
    asfr = rng.uniform(0.0, 0.2, lead("asfr", (D_, R_, T_)) + (N_AGE,))
    asfr[..., 0] = 0.0
    fert = rng.uniform(0.5, 1.5, lead("fert", (D_, R_, T_)))
    fem = rng.uniform(0.4, 0.6, lead("fem", (D_, T_)))
    inmig = rng.uniform(0.0, 0.1 * scale, lead("inmig", (D_, R_, T_)) + (2, N_AGE))
    in_level = rng.uniform(0.0, 2.0, lead("in_level", (D_, R_, T_)))
    outrate = rng.uniform(0.0, 1.0 - MAX_MOVE, lead("outrate", (D_, R_, T_)) + (2, N_AGE))
    out_level = rng.uniform(0.0, 1.0, lead("out_level", (D_, R_, T_)))
    if exchange:
        move_rate = rng.uniform(0.0, MAX_MOVE, lead("move_rate", (R_, T_)) + (2, N_AGE))
        weights = rng.uniform(0.0, 1.0, (R,) + lead("move_share", (T_,)) + (2, N_AGE))
    else:
        move_rate = np.zeros((1, 1, 2, N_AGE))
    if edge:
        def pick(a):
            return rng.random(a.shape) < edge
        surv[pick(surv)] = 1.0
        surv[pick(surv)] = 1e-12
        outrate[pick(outrate)] = 0.0
        outrate[pick(outrate)] = 1.0 - MAX_MOVE
        out_level[pick(out_level)] = 1.0
        inmig[pick(inmig)] = 0.0
        pop0[pick(pop0)] = 0.0
        if exchange:
            move_rate[pick(move_rate)] = 0.0
            move_rate[pick(move_rate)] = MAX_MOVE
            weights[pick(weights)] = 0.0
        else:  # with no exchange everybody may leave to outside
            outrate[pick(outrate)] = 1.0
    if exchange:
        weights[:, (weights.sum(axis=0) == 0)] = 1.0
        move_share = weights / weights.sum(axis=0)
    else:
        move_share = np.zeros((1, 1, 2, N_AGE))
    return (c(pop0), c(surv), c(np.sqrt(surv)), c(asfr), c(fert), c(fem), c(inmig), c(in_level),
            c(outrate), c(out_level), c(move_rate), c(move_share), bool(exchange))


def full_rates(args):
    """Every rate broadcast to its full (D, R, T, ...) shape, levels applied."""
    (pop0, surv, half, asfr, fert, fem, inmig, in_level, outrate, out_level, move_rate,
     move_share, exchange) = args
    D, R, T = batch_sizes(args)
    lead = (D, R, T)

    def level(x):
        return np.broadcast_to(x, lead)[..., None, None]

    m = (np.broadcast_to(move_rate, (R, T, 2, N_AGE))[None] if exchange
         else np.zeros((1, R, T, 2, N_AGE)))
    share = np.broadcast_to(move_share, (R, T, 2, N_AGE))[None]
    return dict(
        surv=np.broadcast_to(surv, lead + (2, N_SURV)),
        asfr=np.broadcast_to(asfr, lead + (N_AGE,)) * np.broadcast_to(fert, lead)[..., None],
        fem=np.broadcast_to(fem, (D, T)),
        inm=np.broadcast_to(inmig, lead + (2, N_AGE)) * level(in_level),
        o=np.broadcast_to(outrate, lead + (2, N_AGE)) * level(out_level),
        m=np.broadcast_to(m, lead + (2, N_AGE)), share=np.broadcast_to(share, lead + (2, N_AGE)))


def cohort_start(res):
    """Start-of-year stock of the cohort that reaches age k on the next 1 January."""
    pop = res["pop"]
    start = np.empty(pop[:, :, 1:].shape)
    start[..., 0] = res["births"]
    start[..., 1:] = pop[:, :, :-1, :, :-1]
    start[..., -1] += pop[:, :, :-1, :, -1]  # the open group also keeps those already 105+
    return start


def assert_close(actual, expected, scale, tol=TOL, what=""):
    """|actual - expected| <= tol * (|expected| + scale): relative, with `scale` the size of
    the gross flows the value comes from (a residual like deaths can be 0 up to rounding)."""
    err = np.abs(actual - expected)
    bound = tol * (np.abs(expected) + scale)
    bad = ~(err <= bound)
    assert not bad.any(), (f"{what}: {bad.sum()} cells off, worst at {np.argwhere(bad)[0]}: "
                           f"{actual[bad][0]!r} vs {expected[bad][0]!r}")


# --------------------------------------------------------------------------------------------
# 1. accounting identity per region, on random valid inputs

def check_accounting(args, res):
    """The identity per region and the flows from the timing convention (module docstring):
    residents at mid-year are P·√S; a share o leaves to outside and m to the pool of movers
    between regions; region r receives share_r of the pool; in-migrants and arrivals live the
    second half year (√S of the region they live in)."""
    r = full_rates(args)
    pop, births = res["pop"], res["births"]
    D, R, T = batch_sizes(args)
    np.testing.assert_array_equal(pop[:, :, 0], np.broadcast_to(args[0], (D,) + args[0].shape))
    np.testing.assert_array_equal(res["inmig"], r["inm"])  # counts x level, passed through

    start = cohort_start(res)
    S, h = r["surv"][..., :N_AGE], np.sqrt(r["surv"][..., :N_AGE])
    s_stay, h_stay = r["surv"][..., N_AGE], np.sqrt(r["surv"][..., N_AGE])
    o, m, share, inm = r["o"], r["m"], r["share"], r["inm"]
    p104, p105 = pop[:, :, :-1, :, -2], pop[:, :, :-1, :, -1]

    resident = start * h
    resident[..., -1] = p104 * h[..., -1] + p105 * h_stay  # the open group in two parts
    exp_out, exp_iout = o * resident, m * resident
    pool = exp_iout.sum(axis=1, keepdims=True)               # over regions
    exp_iin = share * pool
    # deaths: stayers over the year, leavers and in-migrants / arrivals over half a year
    exp_deaths = (start * (1.0 - (o + m) * h - (1.0 - o - m) * S)
                  + (inm + exp_iin) * (1.0 - h))
    pool0 = (m[..., -1] * p104 * h[..., -1]).sum(axis=1, keepdims=True)
    pool1 = (m[..., -1] * p105 * h_stay).sum(axis=1, keepdims=True)
    om = o[..., -1] + m[..., -1]
    exp_deaths[..., -1] = (p104 * (1.0 - om * h[..., -1] - (1.0 - om) * S[..., -1])
                           + p105 * (1.0 - om * h_stay - (1.0 - om) * s_stay)
                           + inm[..., -1] * (1.0 - h_stay)
                           + share[..., -1] * (pool0 * (1.0 - h[..., -1])
                                               + pool1 * (1.0 - h_stay)))

    gross = start + inm + exp_iin  # the size of the flows of a cohort: the scale of "relative"
    end = pop[:, :, 1:]
    # the identity, per region, exactly (up to rounding)
    change = (-res["deaths"] + res["inmig"] - res["outmig"] + res["internal_in"]
              - res["internal_out"])
    assert_close(end, start + change, gross, tol=1e-12, what="accounting identity")
    # internal moves sum to zero over the regions
    assert_close(res["internal_in"].sum(axis=1), res["internal_out"].sum(axis=1),
                 gross.sum(axis=1), tol=1e-12, what="internal moves")

    assert_close(res["outmig"], exp_out, gross, what="out-migrants")
    assert_close(res["internal_out"], exp_iout, gross, what="movers out")
    assert_close(res["internal_in"], exp_iin, gross, what="movers in")
    assert_close(res["deaths"], exp_deaths, gross, what="deaths")

    # births = level x sum over mothers' age of asfr x mean of women at the start and the end
    women = 0.5 * (pop[:, :, :-1, 0, 1:] + pop[:, :, 1:, 0, 1:])
    total = (r["asfr"][..., 1:] * women).sum(axis=-1)
    fem = r["fem"][:, None]
    assert_close(births[..., 0], fem * total, total, what="girls")
    assert_close(births[..., 1], (1.0 - fem) * total, total, what="boys")

    # valid inputs: no negative deaths or stock, no more leavers than residents
    assert (res["deaths"] >= -TOL * gross).all()
    assert (pop >= 0).all()
    assert (res["outmig"] + res["internal_out"] <= start * (1 + TOL)).all()
    if not args[-1]:
        assert not res["internal_in"].any() and not res["internal_out"].any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), D=st.integers(1, 3), R=st.integers(1, 4),
       T=st.integers(1, 8), exchange=st.booleans(), edge=st.sampled_from([0.0, 0.05, 0.5]),
       scale=st.sampled_from([1.0, 1e3, 1e6]))
def test_accounting_identity_property(seed, D, R, T, exchange, edge, scale):
    args = random_batch(seed, D, R, T, exchange, edge, scale)
    for run in RUNNERS.values():
        check_accounting(args, run(args))


# --------------------------------------------------------------------------------------------
# 2. numba kernel == NumPy reference

def check_same(args):
    k, n = run_kernel(args), run_numpy(args)
    gross = cohort_start(n) + n["inmig"] + n["internal_in"]
    scale = {"pop": np.concatenate([n["pop"][:, :, :1], gross], axis=2), "births": n["births"],
             "inmig": 0.0, **{key: gross for key in ("deaths", "outmig", "internal_in",
                                                      "internal_out")}}
    for key in OUTPUTS:
        assert k[key].shape == n[key].shape, key
        assert np.isfinite(k[key]).all(), key
        assert_close(k[key], n[key], scale[key], what=key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), D=st.integers(1, 3), R=st.integers(1, 4),
       T=st.integers(1, 8), exchange=st.booleans(), edge=st.sampled_from([0.0, 0.05, 0.5]),
       scale=st.sampled_from([1.0, 1e3, 1e6]), compact=st.booleans())
def test_kernel_matches_numpy_property(seed, D, R, T, exchange, edge, scale, compact):
    check_same(random_batch(seed, D, R, T, exchange, edge, scale, compact))


@pytest.mark.parametrize("exchange", [False, True])
def test_kernel_matches_numpy_long_realistic(exchange):
    args = realistic_batch(D=2, R=3, T=40, exchange=exchange)
    assert batch_sizes(args) == (2, 3, 40)
    k, n = run_kernel(args), run_numpy(args)
    for key in OUTPUTS:
        np.testing.assert_allclose(k[key], n[key], rtol=TOL, atol=TOL * n["pop"].max(),
                                   err_msg=key)
    check_accounting(args, k)
    assert (k["internal_in"].sum() > 0) == exchange


@pytest.mark.parametrize("exchange", [False, True])
def test_compact_arrays_equal_their_broadcast_copies(exchange):
    # a shared dim of length 1 means the same as the value repeated along that dim
    args = realistic_batch(D=3, R=4, T=6, exchange=exchange)
    D, R, T = batch_sizes(args)
    shapes = {1: (D, R, T, 2, N_SURV), 2: (D, R, T, 2, N_SURV), 3: (D, R, T, N_AGE), 4: (D, R, T),
              5: (D, T), 6: (D, R, T, 2, N_AGE), 7: (D, R, T), 8: (D, R, T, 2, N_AGE),
              9: (D, R, T), 10: (R, T, 2, N_AGE), 11: (R, T, 2, N_AGE)}
    assert any(args[i].shape != s for i, s in shapes.items())  # the call is compact
    full = list(args)
    for i, shape in shapes.items():
        full[i] = c(np.broadcast_to(args[i], shape))
    compact, broadcast = run_kernel(args), run_kernel(tuple(full))
    for key in OUTPUTS:
        np.testing.assert_array_equal(compact[key], broadcast[key], err_msg=key)


@pytest.mark.parametrize("exchange", [False, True])
def test_level_factors_multiply_the_schedules(exchange):
    # per-region (and per-draw) levels of fertility, in- and out-migration are factors on the
    # schedules: folding them into the schedules gives the same projection
    args = list(realistic_batch(D=2, R=3, T=10, exchange=exchange))
    rng = np.random.default_rng(8)
    args[4] = c(rng.uniform(0.5, 1.5, (1, 3, 1)))     # fertility level per region
    args[7] = c(rng.uniform(0.0, 2.0, (2, 3, 10)))    # in-migration level per draw, region, year
    args[9] = c(rng.uniform(0.2, 1.0, (1, 3, 1)))     # out-migration level per region
    folded = list(args)
    folded[3] = c(args[3] * args[4][..., None])
    folded[6] = c(args[6] * args[7][..., None, None])
    folded[8] = c(args[8] * args[9][..., None, None])
    folded[4], folded[7], folded[9] = (np.ones((1, 1, 1)),) * 3
    a, b = run_kernel(tuple(args)), run_kernel(tuple(folded))
    for key in OUTPUTS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-9, err_msg=key)
    # and the level is what it says: twice the fertility level in region 0, twice the births
    # in the first year (the start stock is the same, the end stock of women too)
    doubled = list(args)
    doubled[4] = c(args[4] * np.array([2.0, 1.0, 1.0])[None, :, None])
    two = run_kernel(tuple(doubled))
    np.testing.assert_allclose(two["births"][:, 0, 0], 2 * a["births"][:, 0, 0], rtol=1e-12)
    if not exchange:  # the other regions do not see region 0's births
        np.testing.assert_array_equal(two["pop"][:, 1:], a["pop"][:, 1:])


# --------------------------------------------------------------------------------------------
# 3. the batch: draws and regions are independent where they should be

def test_region_by_draw_batch_equals_each_alone_and_inputs_untouched():
    args = random_batch(7, D=3, R=4, T=6, exchange=False, compact=False)
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    together = run_kernel(args)
    for a, b in zip(args, copies):
        np.testing.assert_array_equal(a, b)
    for d in range(3):
        for r in range(4):
            alone_args = (c(args[0][r:r + 1]),) + tuple(
                c(a[d:d + 1, r:r + 1]) if i != 5 else c(a[d:d + 1])
                for i, a in enumerate(args[1:10], start=1)) + args[10:]
            alone = run_kernel(alone_args)
            for key in OUTPUTS:
                np.testing.assert_array_equal(alone[key][0, 0], together[key][d, r],
                                              err_msg=f"{key} draw {d} region {r}")


def test_draws_of_an_exchange_batch_equal_each_draw_alone():
    # regions that exchange movers run together, but draws stay independent
    args = random_batch(9, D=3, R=4, T=6, exchange=True, compact=False)
    together = run_kernel(args)
    for d in range(3):
        alone = run_kernel(tuple(c(a[d:d + 1]) if 1 <= i <= 9 else a
                                 for i, a in enumerate(args)))
        for key in OUTPUTS:
            np.testing.assert_array_equal(alone[key][0], together[key][d], err_msg=key)


@pytest.mark.parametrize("exchange", [False, True])
def test_draws_with_the_same_inputs_are_identical(exchange):
    args = realistic_batch(D=1, R=3, T=8, exchange=exchange)
    one = run_kernel(args)
    # three draws: a draw dim of length 3 holding the same values three times
    three_args = list(args)
    three_args[7] = c(np.repeat(args[7], 3, axis=0))
    three = run_kernel(tuple(three_args))
    assert three["pop"].shape[0] == 3
    for key in OUTPUTS:
        for d in range(3):
            np.testing.assert_array_equal(three[key][d], one[key][0], err_msg=f"{key} {d}")


def test_zero_moves_equal_regions_run_alone():
    # an exchange with no movers changes nothing: every region as if on its own
    args = list(random_batch(3, D=2, R=3, T=8, exchange=True, compact=False))
    args[10] = np.zeros_like(args[10])
    with_pool = run_kernel(tuple(args))
    args[10] = args[11] = np.zeros((1, 1, 2, N_AGE))
    args[12] = False
    without = run_kernel(tuple(args))
    for key in ("pop", "births", "deaths", "inmig", "outmig"):
        np.testing.assert_allclose(with_pool[key], without[key], rtol=1e-12, atol=1e-9,
                                   err_msg=key)
    assert not with_pool["internal_in"].any() and not with_pool["internal_out"].any()


def test_same_rates_sum_to_one_region_whatever_the_moves():
    # with the same survival, fertility and out-migration in every region, the regions' sum
    # equals one region with the summed population and in-migration, whatever the moves:
    # sum_r [(1-o-m_r) P_r S + in_r √S + share_r √S pool] = (1-o) S sum P + √S sum in
    # because √S √S = S and the shares sum to 1
    args = list(random_batch(1, D=2, R=4, T=12, exchange=True, compact=False))
    for i in (1, 3, 4, 8, 9):  # surv, asfr, fert, outrate, out_level: one value for all regions
        args[i] = c(args[i][:, :1])
    args[2] = c(np.sqrt(args[1]))  # the random move rates and shares are kept
    regions = run_kernel(tuple(args))
    one = list(args)
    one[0] = c(args[0].sum(axis=0, keepdims=True))
    one[6] = c((args[6] * args[7][..., None, None]).sum(axis=1, keepdims=True))
    one[7] = np.ones((1, 1, 1))
    one[10], one[11], one[12] = np.zeros((1, 1, 2, N_AGE)), np.zeros((1, 1, 2, N_AGE)), False
    whole = run_kernel(tuple(one))
    assert regions["internal_in"].sum() > 0
    for key in ("pop", "births", "deaths", "inmig", "outmig"):
        np.testing.assert_allclose(regions[key].sum(axis=1), whole[key][:, 0], rtol=1e-9,
                                   atol=1e-8, err_msg=key)


# --------------------------------------------------------------------------------------------
# 4. outputs on request

BAND_EDGES = np.array([0, 6, 16, 67, 80, 90, N_AGE])  # 0-5, 6-15, 16-66, 67-79, 80-89, 90+


def test_band_edges_of_the_model():
    from forecast.population.model import BANDS, band_edges

    np.testing.assert_array_equal(band_edges(BANDS), BAND_EDGES)
    with pytest.raises(ValueError, match="contiguous"):
        band_edges({"0-5": (0, 5), "7-9": (7, 9)})


@pytest.mark.parametrize("exchange", [False, True])
def test_reduced_outputs_equal_sums_of_the_full_call(exchange):
    args = realistic_batch(D=2, R=3, T=12, exchange=exchange)
    full = run_kernel(args)
    reduced = run_kernel(args, want=(), edges=BAND_EDGES, final=True)
    assert set(reduced) == {"group_pop", "final"}
    pop = full["pop"]
    expected = np.stack([pop[..., lo:hi].sum(axis=-1)
                         for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])], axis=-1)
    np.testing.assert_allclose(reduced["group_pop"], expected, rtol=1e-12, atol=0)
    # the bands cover every age: they sum to the total
    np.testing.assert_allclose(reduced["group_pop"].sum(axis=-1), pop.sum(axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(reduced["final"], pop[:, :, -1])
    # any other subset gives the same numbers as the full call
    for want in (("pop",), ("births",), ("pop", "births"), FLOWS):
        part = run_kernel(args, want=want)
        for key in want:
            np.testing.assert_array_equal(part[key], full[key], err_msg=f"{want}: {key}")


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter: a kernel that writes or reads out of bounds may
    crash the process, which must not take the test session with it."""
    head = textwrap.dedent("""
        import numpy as np
        from forecast.population.kernel import (N_AGE, N_SURV, empty, project_kernel,
                                                project_numpy)
        R, T = 2, 4
        rng = np.random.default_rng(0)
        pop0 = rng.uniform(0, 100, (R, 2, N_AGE))
        surv = rng.uniform(0.9, 1.0, (1, 1, T, 2, N_SURV)); half = np.sqrt(surv)
        asfr = np.zeros((1, 1, 1, N_AGE)); asfr[..., 20:40] = 0.1
        one = np.ones((1, 1, 1))
        inmig = rng.uniform(0, 5, (1, R, 1, 2, N_AGE)); outrate = np.full((1, R, 1, 2, N_AGE), 0.02)
        z = np.zeros((1, 1, 2, N_AGE))
        edges = np.array([0, N_AGE])
        def outs():
            return (np.empty((1, R, T + 1, 2, N_AGE)), np.empty((1, R, T, 2)),
                    *[np.empty((1, R, T, 2, N_AGE)) for _ in range(5)])
    """)
    return subprocess.run([sys.executable, "-c", head + textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_each_flow_can_be_requested_alone():
    proc = run_isolated("""
        full = outs()
        project_kernel(pop0, surv, half, asfr, one, np.full((1, T), 0.49), inmig, one, outrate,
                       one, z, z, False, edges, *full, empty(5), empty(4))
        for i in range(2, 7):  # deaths, inflow, outflow, internal_in, internal_out
            part = [empty(5), empty(4)] + [empty(5)] * 5
            part[i] = np.full(full[i].shape, np.nan)
            project_kernel(pop0, surv, half, asfr, one, np.full((1, T), 0.49), inmig, one,
                           outrate, one, z, z, False, edges, *part, empty(5), empty(4))
            assert np.array_equal(part[i], full[i]), i
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_fem_share_shared_over_years():
    proc = run_isolated("""
        args = (pop0, surv, half, asfr, one, np.full((1, 1), 0.49), inmig, one, outrate, one,
                z, z, False)
        full = outs()
        project_kernel(*args, edges, *full, empty(5), empty(4))
        ref = project_numpy(*args)
        assert np.allclose(full[0], ref["pop"], rtol=1e-9, atol=1e-9)
        assert np.allclose(full[1], ref["births"], rtol=1e-9, atol=1e-9)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# 5. two regions by hand

def two_region_example():
    """Two regions A (0) and B (1), one year, no births, survival 1 except where set."""
    A, B = 0, 1
    pop0 = np.zeros((2, 2, N_AGE))
    surv = np.ones((1, 2, 1, 2, N_SURV))
    inmig = np.zeros((1, 2, 1, 2, N_AGE))
    outrate = np.zeros((1, 2, 1, 2, N_AGE))
    move_rate = np.zeros((2, 1, 2, N_AGE))
    move_share = np.full((2, 1, 2, N_AGE), 0.5)
    # women reaching 31: A has 100 aged 30, S = 0.81 (√S = 0.9), o = 0.1, m = 0.2;
    #                    B has 50 aged 30,  S = 0.64 (√S = 0.8), o = 0,   m = 0.1, 10 in-migrants
    #                    shares of the pool: A 0.25, B 0.75
    pop0[A, F, 30], pop0[B, F, 30] = 100, 50
    surv[0, A, 0, F, 31], surv[0, B, 0, F, 31] = 0.81, 0.64
    outrate[0, A, 0, F, 31] = 0.1
    inmig[0, B, 0, F, 31] = 10
    move_rate[A, 0, F, 31], move_rate[B, 0, F, 31] = 0.2, 0.1
    move_share[A, 0, F, 31], move_share[B, 0, F, 31] = 0.25, 0.75
    # men of the open group: A has 20 aged 104 and 40 aged 105+; entering 105+ S = 0.64
    #   (√ 0.8), staying S = 0.25 (√ 0.5); half of them move (m = 0.5), all to B (share 1),
    #   where entering 105+ S = 0.81 (√ 0.9) and staying S = 0.36 (√ 0.6)
    pop0[A, M, 104], pop0[A, M, 105] = 20, 40
    surv[0, A, 0, M, 105], surv[0, A, 0, M, 106] = 0.64, 0.25
    surv[0, B, 0, M, 105], surv[0, B, 0, M, 106] = 0.81, 0.36
    move_rate[A, 0, M, 105] = 0.5
    move_share[A, 0, M, 105], move_share[B, 0, M, 105] = 0.0, 1.0
    return (c(pop0), c(surv), c(np.sqrt(surv)), np.zeros((1, 1, 1, N_AGE)), np.ones((1, 1, 1)),
            np.full((1, 1), 0.5), c(inmig), np.ones((1, 1, 1)), c(outrate), np.ones((1, 1, 1)),
            c(move_rate), c(move_share), True)


@pytest.mark.parametrize("name", METHODS)
def test_two_regions_by_hand(name):
    res = RUNNERS[name](two_region_example())
    A, B = 0, 1
    # women, A: residents at mid-year 100 x 0.9 = 90; out = 0.1 x 90 = 9; to the pool
    #   0.2 x 90 = 18; stayers 0.7 x 100 x 0.81 = 56.7
    # women, B: residents 50 x 0.8 = 40; to the pool 0.1 x 40 = 4; stayers 0.9 x 50 x 0.64 = 28.8;
    #   in-migrants 10 x 0.8 = 8
    # pool 18 + 4 = 22: A gets 0.25 x 22 = 5.5 (x 0.9 = 4.95 at the end),
    #                   B gets 0.75 x 22 = 16.5 (x 0.8 = 13.2 at the end)
    # end A = 56.7 + 4.95 = 61.65;  deaths A = 100 - 9 + 5.5 - 18 - 61.65 = 16.85
    #   (= 70 x 0.19 stayers + 30 x 0.1 leavers + 5.5 x 0.1 arrivals = 13.3 + 3 + 0.55)
    # end B = 28.8 + 8 + 13.2 = 50;  deaths B = 50 + 10 + 16.5 - 4 - 50 = 22.5
    #   (= 45 x 0.36 + 5 x 0.2 + 10 x 0.2 + 16.5 x 0.2 = 16.2 + 1 + 2 + 3.3)
    # men 105+, A: residents 20 x 0.8 + 40 x 0.5 = 36, to the pool 0.5 x 36 = 18 (8 + 10);
    #   stayers 0.5 x (20 x 0.64 + 40 x 0.25) = 11.4; deaths 60 - 18 - 11.4 = 30.6
    # men 105+, B: arrivals 18, living the second half year with B's survival by part:
    #   8 x 0.9 + 10 x 0.6 = 13.2; deaths 18 - 13.2 = 4.8
    exp = {k: np.zeros((2, 1, 2, N_AGE)) for k in FLOWS}
    end = np.zeros((2, 2, N_AGE))
    end[A, F, 31], end[B, F, 31], end[A, M, 105], end[B, M, 105] = 61.65, 50.0, 11.4, 13.2
    for key, values in {"deaths": (16.85, 22.5, 30.6, 4.8), "inmig": (0, 10, 0, 0),
                        "outmig": (9, 0, 0, 0), "internal_in": (5.5, 16.5, 0, 18),
                        "internal_out": (18, 4, 18, 0)}.items():
        x = exp[key]
        x[A, 0, F, 31], x[B, 0, F, 31], x[A, 0, M, 105], x[B, 0, M, 105] = values
    pop0 = two_region_example()[0]
    np.testing.assert_allclose(res["pop"][0, :, 0], pop0, rtol=0, atol=0)
    np.testing.assert_allclose(res["pop"][0, :, 1], end, rtol=1e-12, atol=1e-12)
    for key in FLOWS:
        np.testing.assert_allclose(res[key][0], exp[key], rtol=1e-12, atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(res["births"], 0.0)
    # internal moves sum to zero over the regions; the two regions together: 210 - 74.75
    # deaths + 10 in - 9 out = 136.25
    assert res["internal_in"].sum() == pytest.approx(res["internal_out"].sum(), rel=1e-15)
    assert res["pop"][0, :, 1].sum() == pytest.approx(136.25, rel=1e-14)


# --------------------------------------------------------------------------------------------
# 6. null projection: survival 1, no births, no migration => cohorts only age

@pytest.mark.parametrize("name", METHODS)
def test_null_projection_cohorts_only_age(name):
    years = 12
    rng = np.random.default_rng(3)
    pop0 = rng.integers(0, 5000, (2, N_AGE)).astype(float)
    zero = np.zeros((years, 2, N_AGE))
    res = project_one(pop0, np.ones((years, 2, N_SURV)), np.zeros((years, N_AGE)),
                      np.full(years, 0.5), zero, zero.copy(), method=name)
    pop = res["pop"]
    assert pop.shape == (years + 1, 2, N_AGE)
    for t in range(years + 1):
        # the cohort aged a at 0 is aged a + t at t; the first t ages are empty (no births)
        np.testing.assert_array_equal(pop[t, :, :t], 0.0)
        np.testing.assert_array_equal(pop[t, :, t:N_AGE - 1], pop0[:, :N_AGE - 1 - t])
        # the open group holds everyone aged 105 - t and older at the start
        np.testing.assert_array_equal(pop[t, :, -1], pop0[:, N_AGE - 1 - t:].sum(axis=-1))
    np.testing.assert_array_equal(pop.sum(axis=-1), pop0.sum(axis=-1)[None].repeat(years + 1, 0))
    for key in ("births", "deaths", "inmig", "outmig"):
        np.testing.assert_array_equal(res[key], 0.0, err_msg=key)


# --------------------------------------------------------------------------------------------
# realistic rates for the Leslie and Lotka tests and the batch tests

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


def realistic_rates(n, years, seed=11):
    """n independent sets of realistic single-region rates: pop0 (n, 2, 106), surv (n, T, 2,
    107), asfr (n, T, 106), fem_share (n, T), inmig and outrate (n, T, 2, 106)."""
    rng = np.random.default_rng(seed)
    surv = np.empty((n, years, 2, N_SURV))
    for b in range(n):
        for s, (sex, level) in enumerate((("female", 2.0e-5), ("male", 3.5e-5))):
            for t in range(years):
                surv[b, t, s] = survival_ratios(gompertz_mx(level * rng.uniform(0.8, 1.2)), sex)
    asfr = np.stack([[smooth_asfr(rng.uniform(1.4, 2.2)) for _ in range(years)]
                     for _ in range(n)])
    pop0 = rng.uniform(500, 1500, (n, 2, N_AGE)) * np.exp(-np.arange(N_AGE) / 40)
    fem_share = np.full((n, years), 1 / 2.0577)
    inmig = rng.uniform(0, 40, (n, years, 2, N_AGE))
    outrate = rng.uniform(0, 0.05, (n, years, 2, N_AGE))
    return pop0, surv, asfr, fem_share, inmig, outrate


def realistic_batch(D, R, T, exchange, seed=11):
    """A compact batch as the model builds it: mortality and the fertility schedule shared by
    every region (a draw dim), fertility levels per region, migration schedules per region
    shared over years with dated levels per draw, moves through a pool."""
    rng = np.random.default_rng(seed)
    pop0, surv, asfr, _, inmig, outrate = realistic_rates(max(D, R), T, seed)
    surv = surv[:D, None]                                         # (D, 1, T, 2, 107)
    asfr = asfr[:D, None]                                         # (D, 1, T, 106)
    fert = rng.uniform(0.7, 1.3, (1, R, 1))
    fem = np.full((1, T), 1 / 2.0577)
    in_level = rng.uniform(0.5, 1.5, (D, 1, T))
    out_level = rng.uniform(0.5, 1.5, (D, 1, T))
    if exchange:
        move_rate = rng.uniform(0.0, 0.05, (R, 1, 2, N_AGE))
        w = rng.uniform(0.1, 1.0, (R, 1, 2, N_AGE))
        move_share = w / w.sum(axis=0)
    else:
        move_rate = move_share = np.zeros((1, 1, 2, N_AGE))
    return (c(pop0[:R]), c(surv), c(np.sqrt(surv)), c(asfr), c(fert), c(fem),
            c(inmig[:R, :1][None]), c(in_level), c(outrate[:R, :1][None]), c(out_level),
            c(move_rate), c(move_share), exchange)


# --------------------------------------------------------------------------------------------
# 7. no migration: the projection is repeated multiplication by a Leslie matrix

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


@pytest.mark.parametrize("name", METHODS)
def test_no_migration_equals_leslie_matrix(name):
    years, batch = 30, 2
    pop0, surv, asfr, fem_share, _, _ = realistic_rates(batch, years, seed=5)
    rng = np.random.default_rng(5)
    # life-table ratios have surv[105] == surv[106] (both T(105)/T(104)); jitter every ratio
    # so that entering 105+ and staying 105+ are told apart
    surv = surv * rng.uniform(0.97, 1.0, surv.shape)
    # a little fertility at every age 1..105, so the open-group terms of the first row count
    asfr = asfr + rng.uniform(0, 1e-3, asfr.shape)
    asfr[..., 0] = 0.0
    fem_share = rng.uniform(0.45, 0.52, (batch, years))
    zero = np.zeros((years, 2, N_AGE))
    for b in range(batch):
        pop = project_one(pop0[b], surv[b], asfr[b], fem_share[b], zero, zero.copy(),
                          method=name)["pop"]
        w = pop0[b].reshape(-1)
        for t in range(years):
            w = leslie_matrix(surv[b, t, 0], surv[b, t, 1], asfr[b, t], fem_share[b, t]) @ w
            np.testing.assert_allclose(pop[t + 1].reshape(-1), w, rtol=TOL, atol=0,
                                       err_msg=f"batch {b} year {t + 1}")


# --------------------------------------------------------------------------------------------
# 8. Lotka: constant rates, closed population -> the intrinsic growth rate

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
    F_ = f * sf[0] * (asfr / 2 + np.append(asfr[1:] * sf[1:N_AGE], 0.0) / 2)
    lj = np.concatenate([[1.0], np.cumprod(sf[1:N_AGE])])
    phi = F_ * lj
    j = np.arange(N_AGE)
    lam = brentq(lambda x: (phi * x ** -(j + 1.0)).sum() - 1.0, 0.5, 2.0, xtol=1e-15)
    r = np.log(lam)
    assert abs(r) > 1e-3  # a test of growth, not of stationarity
    assert sf[N_AGE] < lam

    years = 600
    zero = np.zeros((years, 2, N_AGE))
    res = project_one(np.full((2, N_AGE), 1000.0),
                      np.broadcast_to(np.stack([sf, sm]), (years, 2, N_SURV)),
                      np.broadcast_to(asfr, (years, N_AGE)), np.full(years, f), zero,
                      zero.copy())
    total = res["pop"].sum(axis=(-2, -1))
    assert np.isfinite(total).all() and total[-1] > 0
    growth = np.log(total[1:] / total[:-1])
    assert abs(growth[-1] - r) < 1e-6, (growth[-1], r)
    assert np.abs(growth[-10:] - r).max() < 1e-6
    # the stable female age structure: c(j) proportional to l_j lambda^-j below the open group
    # (after 600 years the shares are within a few 1e-6 of it; the growth rate, a ratio of
    # totals, within 1e-8)
    women = res["pop"][-1, 0, :N_AGE - 1]
    stable = lj[:N_AGE - 1] * lam ** -j[:N_AGE - 1]
    np.testing.assert_allclose(women / women[0], stable / stable[0], rtol=2e-5)
    # and births grow at the same rate
    b = res["births"].sum(axis=-1)
    assert abs(np.log(b[-1] / b[-2]) - r) < 1e-6


# --------------------------------------------------------------------------------------------
# 9. one region, a tiny example computed by hand (2 years, a few cohorts with round numbers)

@pytest.mark.parametrize("name", METHODS)
def test_hand_computed_two_years(name):
    pop0 = np.zeros((2, N_AGE))
    surv = np.ones((2, 2, N_SURV))
    asfr = np.zeros((2, N_AGE))
    fem_share = np.full(2, 0.5)
    inmig = np.zeros((2, 2, N_AGE))
    outrate = np.zeros((2, 2, N_AGE))

    # (a) women aged 29, 1000 of them; reaching 30: S = 0.81 (sqrt 0.9), o = 0.1, in = 100
    #     end = 0.9 * 1000 * 0.81 + 100 * 0.9 = 729 + 90 = 819
    #     out = 0.1 * 1000 * 0.9 = 90; deaths = 1000 + 100 - 90 - 819 = 191
    pop0[F, 29] = 1000
    surv[0, F, 30], outrate[0, F, 30], inmig[0, F, 30] = 0.81, 0.1, 100
    # (b) women aged 30, 2000; reaching 31: S = 0.64 (sqrt 0.8), o = 0.25, no in-migrants
    #     end = 0.75 * 2000 * 0.64 = 960; out = 0.25 * 2000 * 0.8 = 400
    #     deaths = 2000 - 400 - 960 = 640
    pop0[F, 30] = 2000
    surv[0, F, 31], outrate[0, F, 31] = 0.64, 0.25
    # births, year 1: only age 31 is fertile, asfr 0.1; no woman is 31 on 1 Jan (0), 960 are
    #     at the end: births = 0.1 * (0 + 960) / 2 = 48, half girls = 24, half boys = 24
    asfr[0, 31] = 0.1
    # (c) girls: S0 = 0.25 (sqrt 0.5), o = 0.5, 10 in-migrant babies
    #     end = 0.5 * 24 * 0.25 + 10 * 0.5 = 3 + 5 = 8; out = 0.5 * 24 * 0.5 = 6
    #     deaths = 24 + 10 - 6 - 8 = 20.   Boys: S0 = 1, no migration: 24 aged 0.
    surv[:, F, 0], outrate[:, F, 0], inmig[:, F, 0] = 0.25, 0.5, 10
    # (d) men: 100 aged 104 and 200 aged 105+; S(104->105+) = 0.64, S(105+ stay) = 0.25,
    #     o = 0.1, in = 40 (they live sqrt(S stay) = 0.5 of the second half)
    #     out = 0.1 * (100 * 0.8 + 200 * 0.5) = 18
    #     end = 0.9 * (100 * 0.64 + 200 * 0.25) + 40 * 0.5 = 102.6 + 20 = 122.6
    #     deaths = 100 + 200 + 40 - 18 - 122.6 = 199.4
    pop0[M, 104], pop0[M, 105] = 100, 200
    surv[0, M, 105], surv[0, M, 106] = 0.64, 0.25
    outrate[0, M, 105], inmig[0, M, 105] = 0.1, 40
    # year 2 (index 1), other rates are 1 and 0:
    #   819 women 30 -> 31 with S = 0.64, o = 0.25: end = 0.75*819*0.64 = 393.12,
    #       out = 0.25*819*0.8 = 163.8, deaths = 819 - 163.8 - 393.12 = 262.08
    #   960 women 31 -> 32 unchanged; 8 girls and 24 boys -> age 1 unchanged
    #   fertile age 32 only, asfr 0.2: births = 0.2 * (0 + 960) / 2 = 96 -> 48 girls, 48 boys
    #   girls: end = 0.5 * 48 * 0.25 + 10 * 0.5 = 6 + 5 = 11; out = 0.5 * 48 * 0.5 = 12;
    #       deaths = 48 + 10 - 12 - 11 = 35
    #   men 105+: 122.6 with S stay = 0.5, no migration: end 61.3, deaths 61.3
    surv[1, F, 31], outrate[1, F, 31] = 0.64, 0.25
    asfr[1, 32] = 0.2
    surv[1, M, 106] = 0.5

    res = project_one(pop0, surv, asfr, fem_share, inmig, outrate, method=name)
    exp_pop = np.zeros((3, 2, N_AGE))
    exp_pop[0] = pop0
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
    np.testing.assert_allclose(res["pop"], exp_pop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["births"], [[24, 24], [48, 48]], rtol=1e-12)
    np.testing.assert_allclose(res["deaths"], exp_deaths, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["outmig"], exp_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(res["inmig"], inmig)


def test_project_one_kernel_equals_numpy():
    pop0, surv, asfr, fem, inmig, outrate = (x[0] for x in realistic_rates(1, 25, seed=2))
    k = project_one(pop0, surv, asfr, fem, inmig, outrate, method="kernel")
    n = project_one(pop0, surv, asfr, fem, inmig, outrate, method="numpy")
    assert set(k) == set(n) == {"pop", "births", "deaths", "inmig", "outmig"}
    for key in k:
        assert k[key].shape == n[key].shape
        np.testing.assert_allclose(k[key], n[key], rtol=TOL, atol=TOL * n["pop"].max(),
                                   err_msg=key)
