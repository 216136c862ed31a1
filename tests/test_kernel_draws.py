"""kernel.project_draws, the draws' kernel (draws last, LANES draws side by side), against
project_kernel (whose numbers tests/test_kernel.py checks by hand, with Leslie matrices and
the accounting identity) and against a null projection a person can follow: nobody dies,
moves or is born, so every cohort only ages."""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest

from forecast.population import draws_source, kernel
from forecast.population.kernel import (LANES, N_AGE, N_SURV, empty, from_lanes,
                                        project_draws, project_kernel, to_lanes)

TOL = 1e-12  # relative


def c(x):
    return np.ascontiguousarray(x, dtype=float)


def draws_case(seed, D, R, T, edges, vary_regions=True, shared_surv=False, yearly_rates=False):
    """Random arguments in the layout of the uncertainty run: survival by draw (D, 1, T, 2,
    107) (or shared), asfr shared (1, 1, T, 106), fertility factor and migration levels by
    draw and region (D, R, T) (by draw only without vary_regions), migration schedules by
    region (1, R, 1, 2, 106) (by year too with yearly_rates)."""
    rng = np.random.default_rng(seed)
    surv = 1.0 - rng.uniform(0.0, 0.3, (1 if shared_surv else D, 1, T, 2, N_SURV))
    asfr = rng.uniform(0.0, 0.15, (1, 1, T, N_AGE))
    asfr[..., :15] = 0.0
    asfr[..., 50:] = 0.0
    n_r = R if vary_regions else 1
    # a national factor by draw times a level by region, as in the uncertainty run
    fert = rng.uniform(0.5, 1.5, (D, 1, T)) * rng.uniform(0.5, 1.5, (1, n_r, 1))
    fem = rng.uniform(0.45, 0.55, (1, T))
    years = T if yearly_rates else 1
    inmig = rng.uniform(0.0, 50.0, (1, R, years, 2, N_AGE))
    in_level = rng.uniform(0.0, 2.0, (D, n_r, T))
    outrate = rng.uniform(0.0, 0.5, (1, R, years, 2, N_AGE))
    out_level = rng.uniform(0.0, 1.5, (D, n_r, T))
    pop0 = rng.uniform(0.0, 1000.0, (R, 2, N_AGE))
    args = (c(pop0), c(surv), c(np.sqrt(surv)), c(asfr), c(fert), c(fem), c(inmig), c(in_level),
            c(outrate), c(out_level))
    return args, np.asarray(edges, dtype=np.int64)


def by_project_kernel(args, edges, D):
    """project_kernel's group_pop (D, R, T+1, G), both sexes: females + males."""
    R, T = args[0].shape[0], args[1].shape[2]
    out = np.full((D, R, T + 1, 2, len(edges) - 1), np.nan)
    zeros = np.zeros((1, 1, 2, N_AGE))
    project_kernel(*args, zeros, zeros, False, edges, empty(5), empty(4), *(empty(5),) * 5,
                   out, empty(4))
    return out[:, :, :, 0] + out[:, :, :, 1]


def draws_last_args(args, D, R):
    """project_kernel's arguments (draws first) in project_draws' layout."""
    pop0, surv, half, asfr, fert, fem, inmig, in_level, outrate, out_level = args
    T = surv.shape[2]
    level = np.broadcast_to(fert[0, :, 0] / fert[0, 0, 0], (R,))   # the regions' levels
    national = fert[:, 0, :]                                         # (D, T), region 0's

    def by_draw(x):
        return to_lanes(np.broadcast_to(x[:, 0], (D,) + x.shape[2:]))

    def levels(x):
        return to_lanes(np.broadcast_to(x, (D, R, T)).transpose(1, 0, 2), axis=1)

    def by_region(x):
        return c(np.broadcast_to(x[0], (R,) + x.shape[2:]))
    return (pop0, by_draw(half), c(asfr[0, 0]), to_lanes(national), c(level),
            c(np.broadcast_to(fem, (1, T))[0]), by_region(inmig), levels(in_level),
            by_region(outrate), levels(out_level))


def by_project_draws(args, edges, D, factor=None, group_band=None):
    """project_draws' output, transposed to (D, R, T+1, G) like by_project_kernel's."""
    R, T = args[0].shape[0], args[1].shape[2]
    G = len(edges) - 1
    out = np.full((R, T + 1, G, D), np.nan)
    bands = np.full(G, -1) if group_band is None else group_band
    project_draws(*draws_last_args(args, D, R), edges, bands,
                  np.zeros((0, 0, 0, 0)) if factor is None else to_lanes(factor, axis=1), out)
    return np.moveaxis(out, -1, 0)


CASES = [  # D, R, T, edges
    (1, 1, 20, [0, 6, 16, 67, 80, 90, 106]),
    (1, 5, 3, [0, 106]),
    (LANES, 1, 5, [0, 1, 105, 106]),
    (37, 3, 20, [0, 6, 16, 67, 80, 90, 106]),
    (2 * LANES + 1, 7, 4, [0, 20, 40, 67, 68, 106]),
    (100, 2, 2, [0, 6, 16, 20, 25, 45, 55, 67, 73, 80, 85, 90, 106]),
]


@pytest.mark.parametrize("D,R,T,edges", CASES)
@pytest.mark.parametrize("vary_regions", [True, False])
def test_equals_project_kernel_group_pop(D, R, T, edges, vary_regions):
    args, e = draws_case(D * 1000 + R * 10 + T, D, R, T, edges, vary_regions)
    ref = by_project_kernel(args, e, D)
    got = by_project_draws(args, e, D)
    assert np.isfinite(got).all()
    assert np.abs(got - ref).max() <= TOL * np.abs(ref).max()
    # and cell by cell, relative to each cell
    assert np.allclose(got, ref, rtol=TOL, atol=0.0)


@pytest.mark.parametrize("shared_surv,yearly_rates", [(True, False), (False, True),
                                                      (True, True)])
def test_shared_survival_and_yearly_schedules(shared_surv, yearly_rates):
    args, e = draws_case(7, 20, 4, 6, [0, 6, 16, 67, 80, 90, 106], True, shared_surv,
                         yearly_rates)
    ref = by_project_kernel(args, e, 20)
    assert np.allclose(by_project_draws(args, e, 20), ref, rtol=TOL, atol=0.0)


def test_same_numbers_with_any_number_of_threads():
    args, e = draws_case(3, 5 * LANES + 3, 6, 20, [0, 6, 16, 67, 80, 90, 106])
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = by_project_draws(args, e, 5 * LANES + 3)
    finally:
        numba.set_num_threads(threads)
    every = by_project_draws(args, e, 5 * LANES + 3)
    assert np.array_equal(one, every)


def test_null_projection_cohorts_only_age():
    """Survival 1, no fertility, no migration: 10 persons aged 3 (women) and 7 aged 60 (4
    women, 3 men), groups 0-4, 5-59, 60+. After 2 years the 10 are 5 (group 5-59); after 57 years they are
    60 (60+); the 7 stay 60+ (the open group keeps them at 105+)."""
    T, D, R = 60, 3, 2
    pop0 = np.zeros((R, 2, N_AGE))
    pop0[:, 0, 3] = 10.0
    pop0[:, 0, 60] = 4.0
    pop0[:, 1, 60] = 3.0
    surv = np.ones((D, 1, T, 2, N_SURV))
    zeros = np.zeros((1, 1, 1, 2, N_AGE))
    args = (pop0, surv, surv.copy(), np.zeros((1, 1, T, N_AGE)), np.ones((D, 1, T)),
            np.full((1, T), 0.5), zeros, np.ones((D, R, T)), zeros.copy(), np.ones((D, 1, T)))
    edges = np.array([0, 5, 60, N_AGE], dtype=np.int64)
    got = by_project_draws(args, edges, D)                   # (D, R, T+1, G)
    assert (got[:, :, :2] == [10.0, 0.0, 7.0]).all()         # aged 3 and 4
    assert (got[:, :, 2:57] == [0.0, 10.0, 7.0]).all()       # aged 5..59
    assert (got[:, :, 57:] == [0.0, 0.0, 17.0]).all()        # 60 and over


def test_band_factors_multiply_their_groups_only():
    """A factor array on the groups of two bands (by region, year and draw) multiplies
    exactly those groups' persons; the others are as without it."""
    D, R, T = 11, 3, 5
    edges = np.array([0, 6, 16, 67, 80, 90, 106], dtype=np.int64)
    args, e = draws_case(5, D, R, T, edges)
    plain = by_project_draws(args, e, D)
    factor = np.random.default_rng(2).uniform(0.5, 1.5, (R, D, T + 1, 2))
    band = np.array([-1, -1, -1, 0, 1, 1])   # 67-79 by factor 0, 80-89 and 90+ by factor 1
    got = by_project_draws(args, e, D, c(factor), band)
    f = factor.transpose(1, 0, 2, 3)              # (D, R, T+1, 2)
    assert np.array_equal(got[..., :3], plain[..., :3])
    assert np.allclose(got[..., 3], plain[..., 3] * f[..., 0], rtol=1e-15, atol=0)
    assert np.allclose(got[..., 4:], plain[..., 4:] * f[..., 1, None], rtol=1e-15, atol=0)


def test_shapes_it_does_not_handle_are_refused():
    D, R, T = 4, 2, 3
    args, e = draws_case(1, D, R, T, [0, 106])
    good = list(draws_last_args(args, D, R))
    none, bands = np.zeros((0, 0, 0, 0)), np.array([-1])
    out = np.empty((R, T + 1, 1, D))
    project_draws(*good, e, bands, none, out)                     # as it should be
    bad = good.copy()
    bad[1] = c(good[1][..., :LANES - 1])                          # a lane short
    with pytest.raises(ValueError, match="half has shape"):
        project_draws(*bad, e, bands, none, out)
    bad = good.copy()
    bad[6] = c(np.broadcast_to(good[6][:, :1], (R, 2, 2, N_AGE)))  # 2 years of 3
    with pytest.raises(ValueError, match="inmig has"):
        project_draws(*bad, e, bands, none, out)
    with pytest.raises(ValueError, match="group_edges"):
        project_draws(*good, np.array([0, 50, 40, 106]), np.full(3, -1), none,
                      np.empty((R, T + 1, 3, D)))
    with pytest.raises(ValueError, match="group_band"):
        project_draws(*good, e, np.array([0]), none, out)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        project_draws(*good, e, bands, none, np.empty((D, T + 1, 1, R)).transpose(3, 1, 2, 0))


def test_lanes_layout_round_trip():
    """to_lanes splits the draws into blocks of LANES (the lane last), the last block filled
    up with the last draw; from_lanes gives the draws back."""
    D = LANES + 3
    x = np.arange(2 * D * 5, dtype=float).reshape(2, D, 5)
    lanes = to_lanes(x, axis=1)
    assert lanes.shape == (2, 2, 5, LANES)
    assert lanes[1, 0, 4, 2] == x[1, 2, 4]                  # draw 2: block 0, lane 2
    assert lanes[0, 1, 3, 1] == x[0, LANES + 1, 3]          # draw LANES + 1: block 1, lane 1
    assert (lanes[:, 1, :, 3:] == x[:, D - 1, :, None]).all()  # the fill: the last draw
    assert np.array_equal(from_lanes(lanes, D, axis=1), x)


def test_the_kernel_module_is_its_generators_output():
    """draws_kernel.py is written by draws_source.py; an edit to one alone fails here."""
    assert draws_source.TARGET.read_text() == draws_source.source()


def test_the_slp_setting_is_restored_after_a_call(monkeypatch):
    """The SLP vectoriser is on only while the draws kernel runs (compiles): numba's setting
    and the environment are as they were after the call, also when the variable was set."""
    from numba.core import config
    monkeypatch.setenv("NUMBA_SLP_VECTORIZE", "0")
    was = config.SLP_VECTORIZE
    args, e = draws_case(1, 3, 2, 4, [0, 106])
    by_project_draws(args, e, 3)
    assert config.SLP_VECTORIZE == was
    assert os.environ["NUMBA_SLP_VECTORIZE"] == "0"
    seen = []   # and on during the call
    monkeypatch.setattr(kernel, "project_draws_kernel",
                        lambda *a: seen.append((config.SLP_VECTORIZE,
                                                os.environ["NUMBA_SLP_VECTORIZE"])))
    by_project_draws(args, e, 3)
    assert seen == [(1, "1")] and config.SLP_VECTORIZE == was
