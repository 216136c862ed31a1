"""Cohort-component projection: one numba kernel for one municipality, many, sub-areas and
draws, and a pure-NumPy reference of the same step.

The batch has two leading dims, draw d (D) and region r (R). Rates are compact: each leading
dim of a rate array (draw, region, year) has its full length or length 1, meaning shared by
all, so a schedule common to every region or draw is stored once and a level that differs
by region or draw is a small array of factors. Arrays are C-contiguous float64. Sex 0 female, 1 male; age index k = the age a cohort reaches
on 1 January of the next year (0 = the birth cohort, 105 = 105 and older).

    shape of each rate below: a dim of length 1 is shared (e.g. surv (1, 1, T, 2, 107))
    pop0        (R, 2, 106)         stock at 1 January of the base year
    surv        (D, R, T, 2, 107)   survival ratios: 0 births -> age 0, k = 1..105 age k-1 -> k,
                                    106 the open group 105+ staying 105+
    half        (D, R, T, 2, 107)   sqrt(surv): survival over half a year (computed once on the
                                    compact schedule by the caller)
    asfr        (D, R, T, 106)      births per woman-year by age of mother (a schedule) ...
    fert        (D, R, T)           ... times this level factor
    fem_share   (D, T)              share of births that are girls
    inmig       (D, R, T, 2, 106)   in-migrants from outside (count) ...
    in_level    (D, R, T)           ... times this level
    outrate     (D, R, T, 2, 106)   out-migrants to outside per mid-year resident ...
    out_level   (D, R, T)           ... times this level
    move_rate   (R, T, 2, 106)      movers to the other regions per mid-year resident
    move_share  (R, T, 2, 106)      share of all movers between regions that go to region r
                                    (sums to 1 over r)
    exchange    bool                False: regions exchange nobody (pass zeros of shape
                                    (1, 1, 2, 106)) and each region runs on its own

Movers between regions all join one pool, which is shared out by `move_share`; a mover may
draw its own region (with probability move_share of that region) and then counts in both its
internal_out and internal_in.

Timing: migrants move at mid-year. A cohort with start stock P and survival ratio S has P·√S
residents at mid-year; a share o leaves to outside, a share m moves to the pool of movers
between regions, in-migrants join, and everyone lives the second half year where they are:

    end_r = (1 − o − m)·P·S + in·√S + share_r·√S_r·Σ_i m_i·P_i·√S_i

Deaths are what the accounting identity leaves, so per region
    end = start − deaths + in − out + internal_in − internal_out
holds exactly and internal moves sum to zero over the regions. Movers go through one pool, so
the cost grows with the number of regions, not its square. The open group moves in two parts
(those reaching 105 and those already 105+), each with its own half-year survival. Births =
fert · Σ asfr · the mean of women at the start and the end of the year.

Outputs, each written only when the caller passes it with a non-empty first dim (pass
`empty()` otherwise): pop (D, R, T+1, 2, 106); births (D, R, T, 2); deaths, inflow, outflow,
internal_in, internal_out (D, R, T, 2, 106); group_pop (D, R, T+1, 2, G) persons in the age
groups [edges[g], edges[g+1]) of `group_edges` (G+1,) int64; final (D, R, 2, 106) the stock
at the end.

project_draws computes only the persons by age group, both sexes summed, of regions that
exchange nobody, with the same arithmetic, for the Monte Carlo draws: draws last in its
output (every draw of a row side by side, ready for quantiles), old-age factors applied as
the groups are written. Its kernel (draws_kernel.py, written by draws_source.py) keeps
LANES draws of a region in SIMD lanes, so its per-draw inputs come in lanes (to_lanes).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
from numba import njit, prange

from .draws_kernel import LANES, project_draws_kernel

N_AGE = 106
N_SURV = 107
# reassociation lets LLVM vectorise the sums over ages; no assumption that values are finite
FAST = {"reassoc", "contract", "nsz", "arcp"}


def empty(ndim: int) -> np.ndarray:
    """A zero-size output: the kernel skips it."""
    return np.zeros((0,) * ndim)


@njit(cache=True, inline="always")
def _ix(n, i):
    """Index i along a dim of length n, or 0 where the dim is shared (length 1)."""
    return i if n > 1 else 0


@njit(cache=True, inline="always")
def _at(x, d, r, t):
    """The leading indices of x[d, r, t] in a compact array (plain integers: indexing with
    them makes no array views, whose reference counting would cost more than the work)."""
    return _ix(x.shape[0], d), _ix(x.shape[1], r), _ix(x.shape[2], t)


@njit(cache=True, inline="always")
def _cohort_rates(surv, half, inmig, in_level, outrate, out_level, d, r, t):
    """Indices of region r's survival, half-year survival, in-migrants and out-rates in year t
    of draw d, and its in- and out-migration levels."""
    s0, s1, s2 = _at(surv, d, r, t)
    h0, h1, h2 = _at(half, d, r, t)
    i0, i1, i2 = _at(inmig, d, r, t)
    o0, o1, o2 = _at(outrate, d, r, t)
    return (s0, s1, s2, h0, h1, h2, i0, i1, i2, o0, o1, o2,
            in_level[_at(in_level, d, r, t)], out_level[_at(out_level, d, r, t)])


@njit(cache=True, parallel=True, fastmath=FAST)
def project_kernel(pop0, surv, half, asfr, fert, fem_share, inmig, in_level, outrate, out_level,
                   move_rate, move_share, exchange, group_edges,
                   pop, births, deaths, inflow, outflow, internal_in, internal_out, group_pop,
                   final):
    n_draw = max(surv.shape[0], asfr.shape[0], fert.shape[0], fem_share.shape[0],
                 inmig.shape[0], in_level.shape[0], outrate.shape[0], out_level.shape[0])
    n_reg, n_year, top = pop0.shape[0], surv.shape[2], N_AGE - 1
    want_pop, want_births, want_groups = pop.shape[0] > 0, births.shape[0] > 0, group_pop.shape[0] > 0
    want_d, want_i, want_o = deaths.shape[0] > 0, inflow.shape[0] > 0, outflow.shape[0] > 0
    want_ii, want_io = internal_in.shape[0] > 0, internal_out.shape[0] > 0
    want_flows = want_d or want_i or want_o or want_ii or want_io
    n_band = group_edges.shape[0] - 1
    width = n_reg if exchange else 1
    n_block = n_draw if exchange else n_draw * n_reg
    # blocks in a few contiguous chunks, so scratch arrays are allocated once per chunk; without
    # exchange every (region, draw) is a block, draws of a region next to each other so the
    # region's schedules stay in cache
    n_chunk = min(n_block, 256)
    for c in prange(n_chunk):
        cur = np.empty((width, 2, N_AGE))
        nxt = np.empty((width, 2, N_AGE))
        mid0 = np.zeros((width, 2, N_AGE))   # movers to the pool at mid-year (exchange only)
        mid1 = np.zeros((width, 2, N_AGE))   # ... of those already 105+
        born = np.zeros((width, 2))
        pool0 = np.zeros((2, N_AGE))
        pool1 = np.zeros((2, N_AGE))
        for blk in range(c * n_block // n_chunk, (c + 1) * n_block // n_chunk):
            d = blk % n_draw
            r0 = 0 if exchange else blk // n_draw
            for i in range(width):
                for s in range(2):
                    for a in range(N_AGE):
                        cur[i, s, a] = pop0[r0 + i, s, a]
            for t in range(n_year + 1):
                for i in range(width):
                    r = r0 + i
                    if want_pop:
                        for s in range(2):
                            for a in range(N_AGE):
                                pop[d, r, t, s, a] = cur[i, s, a]
                    if want_groups:
                        for s in range(2):
                            for g in range(n_band):
                                total = 0.0
                                # unsigned bounds: no negative-index handling, so LLVM
                                # vectorises the sum with plain loads
                                for a in range(np.uint64(group_edges[g]),
                                               np.uint64(group_edges[g + 1])):
                                    total += cur[i, s, a]
                                group_pop[d, r, t, s, g] = total
                if t == n_year:
                    break
                # ages 1..105 of every region
                for i in range(width):
                    r = r0 + i
                    (s0, s1, s2, h0, h1, h2, i0, i1, i2, o0, o1, o2, li, lo
                     ) = _cohort_rates(surv, half, inmig, in_level, outrate, out_level, d, r, t)
                    m0, m1 = _ix(move_rate.shape[0], r), _ix(move_rate.shape[1], t)
                    for s in range(2):
                        if exchange:
                            for k in range(1, top):
                                m = move_rate[m0, m1, s, k]
                                nxt[i, s, k] = ((1.0 - outrate[o0, o1, o2, s, k] * lo - m)
                                                * cur[i, s, k - 1] * surv[s0, s1, s2, s, k]
                                                + inmig[i0, i1, i2, s, k] * li * half[h0, h1, h2, s, k])
                                mid0[i, s, k] = m * cur[i, s, k - 1] * half[h0, h1, h2, s, k]
                        else:
                            for k in range(1, top):
                                nxt[i, s, k] = ((1.0 - outrate[o0, o1, o2, s, k] * lo)
                                                * cur[i, s, k - 1] * surv[s0, s1, s2, s, k]
                                                + inmig[i0, i1, i2, s, k] * li * half[h0, h1, h2, s, k])
                        # the open group: those reaching 105 and those already 105+
                        m = move_rate[m0, m1, s, top] if exchange else 0.0
                        nxt[i, s, top] = ((1.0 - outrate[o0, o1, o2, s, top] * lo - m)
                                          * (cur[i, s, top - 1] * surv[s0, s1, s2, s, top]
                                             + cur[i, s, top] * surv[s0, s1, s2, s, top + 1])
                                          + inmig[i0, i1, i2, s, top] * li * half[h0, h1, h2, s, top + 1])
                        if exchange:
                            mid0[i, s, top] = m * cur[i, s, top - 1] * half[h0, h1, h2, s, top]
                            mid1[i, s, top] = m * cur[i, s, top] * half[h0, h1, h2, s, top + 1]
                if exchange:
                    _arrive(nxt, mid0, mid1, pool0, pool1, half, move_share, d, r0, t, 1, N_AGE)
                # births from the women at the start and the end of the year, then age 0
                for i in range(width):
                    r = r0 + i
                    a0, a1, a2 = _at(asfr, d, r, t)
                    total = 0.0
                    for a in range(1, N_AGE):
                        total += asfr[a0, a1, a2, a] * (cur[i, 0, a] + nxt[i, 0, a])
                    total *= 0.5 * fert[_at(fert, d, r, t)]
                    fem = fem_share[_ix(fem_share.shape[0], d), _ix(fem_share.shape[1], t)]
                    born[i, 0] = total * fem
                    born[i, 1] = total * (1.0 - fem)
                    (s0, s1, s2, h0, h1, h2, i0, i1, i2, o0, o1, o2, li, lo
                     ) = _cohort_rates(surv, half, inmig, in_level, outrate, out_level, d, r, t)
                    m0, m1 = _ix(move_rate.shape[0], r), _ix(move_rate.shape[1], t)
                    for s in range(2):
                        m = move_rate[m0, m1, s, 0] if exchange else 0.0
                        nxt[i, s, 0] = ((1.0 - outrate[o0, o1, o2, s, 0] * lo - m) * born[i, s]
                                        * surv[s0, s1, s2, s, 0]
                                        + inmig[i0, i1, i2, s, 0] * li * half[h0, h1, h2, s, 0])
                        if exchange:
                            mid0[i, s, 0] = m * born[i, s] * half[h0, h1, h2, s, 0]
                if exchange:
                    _arrive(nxt, mid0, mid1, pool0, pool1, half, move_share, d, r0, t, 0, 1)
                for i in range(width):
                    r = r0 + i
                    if want_births:
                        births[d, r, t, 0] = born[i, 0]
                        births[d, r, t, 1] = born[i, 1]
                    if not want_flows:
                        continue
                    (_, _, _, h0, h1, h2, i0, i1, i2, o0, o1, o2, li, lo
                     ) = _cohort_rates(surv, half, inmig, in_level, outrate, out_level, d, r, t)
                    q0, q1 = _ix(move_share.shape[0], r), _ix(move_share.shape[1], t)
                    for s in range(2):
                        for k in range(N_AGE):
                            if k == 0:
                                start = born[i, s]
                                resident = born[i, s] * half[h0, h1, h2, s, 0]
                            elif k < top:
                                start = cur[i, s, k - 1]
                                resident = cur[i, s, k - 1] * half[h0, h1, h2, s, k]
                            else:
                                start = cur[i, s, k - 1] + cur[i, s, k]
                                resident = (cur[i, s, k - 1] * half[h0, h1, h2, s, k]
                                            + cur[i, s, k] * half[h0, h1, h2, s, k + 1])
                            im = inmig[i0, i1, i2, s, k] * li
                            out = outrate[o0, o1, o2, s, k] * lo * resident
                            i_in, i_out = 0.0, 0.0
                            if exchange:
                                i_out = mid0[i, s, k] + mid1[i, s, k]
                                i_in = move_share[q0, q1, s, k] * (pool0[s, k] + pool1[s, k])
                            if want_d:  # deaths close the identity
                                deaths[d, r, t, s, k] = start + im - out + i_in - i_out - nxt[i, s, k]
                            if want_i:
                                inflow[d, r, t, s, k] = im
                            if want_o:
                                outflow[d, r, t, s, k] = out
                            if want_ii:
                                internal_in[d, r, t, s, k] = i_in
                            if want_io:
                                internal_out[d, r, t, s, k] = i_out
                cur, nxt = nxt, cur
            if final.shape[0] > 0:
                for i in range(width):
                    for s in range(2):
                        for a in range(N_AGE):
                            final[d, r0 + i, s, a] = cur[i, s, a]


@njit(cache=True, fastmath=FAST)
def _arrive(nxt, mid0, mid1, pool0, pool1, half, move_share, d, r0, t, k_lo, k_hi):
    """Share the pool of movers between regions out to their destinations (ages k_lo..k_hi-1);
    movers live the second half year in the destination."""
    width, top = nxt.shape[0], N_AGE - 1
    for s in range(2):
        for k in range(k_lo, k_hi):
            pool0[s, k] = 0.0
            pool1[s, k] = 0.0
        for i in range(width):
            for k in range(k_lo, k_hi):
                pool0[s, k] += mid0[i, s, k]
                pool1[s, k] += mid1[i, s, k]
        for j in range(width):
            h0, h1, h2 = _at(half, d, r0 + j, t)
            q0, q1 = _ix(move_share.shape[0], r0 + j), _ix(move_share.shape[1], t)
            for k in range(k_lo, k_hi):
                share = move_share[q0, q1, s, k]
                if k == top:
                    nxt[j, s, k] += share * (pool0[s, k] * half[h0, h1, h2, s, k]
                                             + pool1[s, k] * half[h0, h1, h2, s, k + 1])
                else:
                    nxt[j, s, k] += share * pool0[s, k] * half[h0, h1, h2, s, k]


# --- the draws' kernel: persons by age group only, draws last, no exchange -------------------

def to_lanes(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """x with D draws on `axis` in the draws kernel's layout: that axis split into
    ceil(D / LANES) blocks, each block's LANES draws moved to the end, e.g. half (D, T, 2,
    107) -> (NB, T, 2, 107, LANES). The last block is filled up with copies of the last draw
    (their results are not written; stochastic._fill_lanes does the same in place)."""
    x = np.asarray(x, dtype=float)
    axis = axis % x.ndim
    n_draw = x.shape[axis]
    n_block = -(-n_draw // LANES)
    if n_block * LANES != n_draw:
        idx = np.minimum(np.arange(n_block * LANES), n_draw - 1)
        x = np.take(x, idx, axis=axis)
    x = x.reshape(x.shape[:axis] + (n_block, LANES) + x.shape[axis + 1:])
    return np.ascontiguousarray(np.moveaxis(x, axis + 1, -1))


def from_lanes(x: np.ndarray, n_draw: int, axis: int = 0) -> np.ndarray:
    """to_lanes undone: the blocks on `axis` and the lanes (last) back to n_draw draws."""
    x = np.moveaxis(np.asarray(x), -1, axis + 1)
    x = x.reshape(x.shape[:axis] + (-1,) + x.shape[axis + 2:])
    return np.take(x, np.arange(n_draw), axis=axis)


@contextmanager
def _slp_vectoriser():
    """LLVM's SLP vectoriser on while the draws kernel compiles (on its first call). numba
    leaves it off (NUMBA_SLP_VECTORIZE=0), and without it the kernel's lanes stay scalar
    (1.5 times slower). The compiler re-reads numba's settings from the environment, so the
    variable is set too; both are restored after."""
    from numba.core import config
    was, env = config.SLP_VECTORIZE, os.environ.get("NUMBA_SLP_VECTORIZE")
    config.SLP_VECTORIZE = 1
    os.environ["NUMBA_SLP_VECTORIZE"] = "1"
    try:
        yield
    finally:
        config.SLP_VECTORIZE = was
        if env is None:
            os.environ.pop("NUMBA_SLP_VECTORIZE", None)
        else:
            os.environ["NUMBA_SLP_VECTORIZE"] = env


def project_draws(pop0, half, asfr, fert, fert_level, fem_share, inmig, in_level, outrate,
                  out_level, group_edges, group_band, band_factor, group_pop):
    """project_kernel's persons by age group, both sexes summed (female + male), for many
    draws of regions that exchange nobody, with the same arithmetic, written draws last: each
    output row (one region, year and group) holds every draw contiguously, ready for
    quantiles, and the old-age factors are applied as the groups are written. Inputs that
    differ by draw come in lanes (to_lanes: NB = ceil(D / LANES) blocks, lane last). The
    survival ratio is taken as half ** 2 (equal to the ratio within rounding, ~1e-16): one
    array streamed instead of two.

        pop0        (R, 2, 106)
        half        (NB, T, 2, 107, LANES)  half-year survival by draw (sqrt of the ratios)
        asfr        (T|1, 106)        shared by draws and regions ...
        fert        (NB, T, LANES)    ... times this factor by draw ...
        fert_level  (R,)              ... times this one by region
        fem_share   (T,)
        inmig, outrate (R, T|1, 2, 106)
        in_level, out_level (R, NB, T, LANES)
        group_edges (G+1,) int64      groups [edges[g], edges[g+1])
        group_band  (G,) int64        which factor of band_factor multiplies group g (-1: none)
        band_factor (R, NB, T+1, F, LANES) factors on the groups' persons in each stock year
                                      (the old-age deviations), or of size 0: none
        group_pop   (R, T+1, G, D) written: persons of both sexes
    """
    n_reg, n_draw, n_year = pop0.shape[0], group_pop.shape[-1], half.shape[1]
    n_block = -(-n_draw // LANES)
    n_group = len(group_edges) - 1
    expect = {"half": (half, (n_block, n_year, 2, N_SURV, LANES)),
              "asfr": (asfr, (None, N_AGE)), "fert": (fert, (n_block, n_year, LANES)),
              "fert_level": (fert_level, (n_reg,)), "fem_share": (fem_share, (n_year,)),
              "inmig": (inmig, (n_reg, None, 2, N_AGE)),
              "outrate": (outrate, (n_reg, None, 2, N_AGE)),
              "in_level": (in_level, (n_reg, n_block, n_year, LANES)),
              "out_level": (out_level, (n_reg, n_block, n_year, LANES)),
              "group_band": (group_band, (n_group,)),
              "group_pop": (group_pop, (n_reg, n_year + 1, n_group, n_draw))}
    if band_factor.size:
        expect["band_factor"] = (band_factor, (n_reg, n_block, n_year + 1, None, LANES))
    for name, (x, shape) in expect.items():
        if x.ndim != len(shape) or any(n is not None and m != n for m, n in zip(x.shape, shape)):
            raise ValueError(f"{name} has shape {x.shape}, expected {shape} (None: any)")
    for name, x in (("asfr", asfr), ("inmig", inmig), ("outrate", outrate)):
        if x.shape[-3 if x.ndim == 4 else 0] not in (1, n_year):
            raise ValueError(f"{name} has {x.shape} years, expected 1 or {n_year}")
    edges = np.asarray(group_edges, dtype=np.int64)
    if edges[0] < 0 or edges[-1] > N_AGE or np.any(np.diff(edges) < 0):
        raise ValueError(f"group_edges {edges.tolist()}: expected non-decreasing ages in 0..{N_AGE}")
    bands = np.asarray(group_band, dtype=np.int64)
    n_factor = band_factor.shape[3] if band_factor.size else 0
    if np.any(bands >= n_factor):
        raise ValueError(f"group_band {bands.tolist()} names a factor band past {n_factor}")
    if group_pop.dtype != np.float64 or not group_pop.flags.c_contiguous:
        raise ValueError("group_pop must be a C-contiguous float64 array (written in place)")

    def rows(x, lead):   # C-contiguous float64 rows: one compiled signature
        return np.ascontiguousarray(x, dtype=float).reshape(x.shape[:lead] + (-1,))
    factor = rows(band_factor, 2) if band_factor.size else np.zeros((0, 0, 0))
    with _slp_vectoriser():
        project_draws_kernel(rows(pop0, 1), rows(half, 1),
                             np.ascontiguousarray(asfr, dtype=float), rows(fert, 1),
                             np.ascontiguousarray(fert_level, dtype=float),
                             np.ascontiguousarray(fem_share, dtype=float), rows(inmig, 1),
                             rows(in_level, 2), rows(outrate, 1), rows(out_level, 2), edges,
                             bands, factor, n_factor,
                             group_pop.reshape(n_reg, (n_year + 1) * n_group, n_draw))


def project_one(pop0, surv, asfr, fem_share, inmig, outrate, method: str = "kernel") -> dict:
    """One region and draw with full outputs, for tests and checks: pop0 (2, 106), surv
    (T, 2, 107), asfr (T, 106), fem_share (T,), inmig and outrate (T, 2, 106). Returns pop
    (T+1, 2, 106), births (T, 2), deaths, inmig, outmig (T, 2, 106). method = "kernel" or
    "numpy" (the reference)."""
    n_year = surv.shape[0]
    c = np.ascontiguousarray
    surv5 = c(np.asarray(surv, dtype=float)[None, None])
    args = (c(np.asarray(pop0, dtype=float)[None]), surv5, np.sqrt(surv5),
            c(np.asarray(asfr, dtype=float)[None, None]), np.ones((1, 1, 1)),
            c(np.broadcast_to(np.asarray(fem_share, dtype=float), (n_year,))[None]),
            c(np.asarray(inmig, dtype=float)[None, None]), np.ones((1, 1, 1)),
            c(np.asarray(outrate, dtype=float)[None, None]), np.ones((1, 1, 1)),
            np.zeros((1, 1, 2, N_AGE)), np.zeros((1, 1, 2, N_AGE)), False)
    if method == "numpy":
        out = project_numpy(*args)
        return {k: out[k][0, 0] for k in ("pop", "births", "deaths", "inmig", "outmig")}
    flow = (1, 1, n_year, 2, N_AGE)
    pop, births = np.empty((1, 1, n_year + 1, 2, N_AGE)), np.empty((1, 1, n_year, 2))
    flows = [np.empty(flow) for _ in range(5)]
    project_kernel(*args, np.array([0, N_AGE], dtype=np.int64), pop, births, *flows, empty(5),
                   empty(4))
    return {"pop": pop[0, 0], "births": births[0, 0], "deaths": flows[0][0, 0],
            "inmig": flows[1][0, 0], "outmig": flows[2][0, 0]}


# --- the NumPy reference ------------------------------------------------------------------

def n_draws(*rates) -> int:
    return max(x.shape[0] for x in rates)


def project_numpy(pop0, surv, half, asfr, fert, fem_share, inmig, in_level, outrate, out_level,
                  move_rate, move_share, exchange):
    """The kernel's computation vectorised over draw, region, sex and age, full outputs:
    a dict of pop, births, deaths, inmig, outmig, internal_in, internal_out."""
    n_draw = n_draws(surv, asfr, fert, fem_share, inmig, in_level, outrate, out_level)
    n_reg, n_year = pop0.shape[0], surv.shape[2]
    lead = (n_draw, n_reg, n_year)
    surv, half = (np.broadcast_to(x, lead + (2, N_SURV)) for x in (surv, half))
    inmig, outrate = (np.broadcast_to(x, lead + (2, N_AGE)) for x in (inmig, outrate))
    asfr = np.broadcast_to(asfr, lead + (N_AGE,))
    fert, in_level, out_level = (np.broadcast_to(x, lead) for x in (fert, in_level, out_level))
    fem_share = np.broadcast_to(fem_share, (n_draw, n_year))
    move_rate, move_share = (np.broadcast_to(x, (n_reg, n_year, 2, N_AGE))
                             for x in (move_rate, move_share))
    shape = (n_draw, n_reg, n_year, 2, N_AGE)
    pop = np.empty((n_draw, n_reg, n_year + 1, 2, N_AGE))
    out = {k: np.zeros(shape) for k in ("deaths", "inmig", "outmig", "internal_in",
                                        "internal_out")}
    births = np.empty((n_draw, n_reg, n_year, 2))
    pop[:, :, 0] = pop0[None]
    for t in range(n_year):
        sv, hf = surv[:, :, t], half[:, :, t]                    # (D, R, 2, 107)
        o = outrate[:, :, t] * out_level[:, :, t, None, None]
        im = inmig[:, :, t] * in_level[:, :, t, None, None]
        m = move_rate[None, :, t] if exchange else np.zeros_like(o)
        cur = pop[:, :, t]
        # parts of each cohort by the age it reaches: those aged k-1, and for 105+ also 105+
        p0 = np.zeros_like(cur)
        p0[..., 1:] = cur[..., :-1]
        p1 = np.zeros_like(cur)
        p1[..., -1] = cur[..., -1]
        s0, h0 = sv[..., :N_AGE].copy(), hf[..., :N_AGE].copy()
        s1 = np.broadcast_to(sv[..., -1:], s0.shape)
        h1 = np.broadcast_to(hf[..., -1:], h0.shape)
        h_in = h0.copy()
        h_in[..., -1] = hf[..., -1]

        def advance(ages, born=None):
            a0 = p0[..., ages] if born is None else born
            a1 = p1[..., ages] if born is None else np.zeros_like(born)
            full = a0 * s0[..., ages] + a1 * s1[..., ages]
            mid0, mid1 = a0 * h0[..., ages], a1 * h1[..., ages]
            resident = mid0 + mid1
            mm = m[..., ages]
            end = (1.0 - o[..., ages] - mm) * full + im[..., ages] * h_in[..., ages]
            i_in = np.zeros_like(end)
            if exchange:
                pool0 = (mm * mid0).sum(axis=1, keepdims=True)
                pool1 = (mm * mid1).sum(axis=1, keepdims=True)
                share = move_share[None, :, t][..., ages]
                end = end + share * (pool0 * h0[..., ages] + pool1 * h1[..., ages])
                i_in = share * (pool0 + pool1)
            i_out = mm * resident
            flows = {"inmig": im[..., ages], "outmig": o[..., ages] * resident,
                     "internal_in": i_in, "internal_out": i_out}
            for name, value in flows.items():
                out[name][:, :, t][..., ages] = value
            out["deaths"][:, :, t][..., ages] = (a0 + a1 + im[..., ages] - flows["outmig"]
                                                 + i_in - i_out - end)
            pop[:, :, t + 1][..., ages] = end

        advance(slice(1, N_AGE))
        women = 0.5 * (cur[:, :, 0, 1:] + pop[:, :, t + 1, 0, 1:])
        total = (asfr[:, :, t, 1:] * women).sum(axis=-1) * fert[:, :, t]
        births[:, :, t, 0] = total * fem_share[:, t, None]
        births[:, :, t, 1] = total * (1.0 - fem_share[:, t, None])
        advance(slice(0, 1), born=births[:, :, t][..., None])
    return {"pop": pop, "births": births, **out}
