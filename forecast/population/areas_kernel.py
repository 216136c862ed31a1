"""Cohort-component projection of coupled sub-areas: a numba kernel and a NumPy reference.

The same step as kernel.py, for R areas that exchange movers. Array layout (float64, leading
batch axis, then the area axis; sex 0 female, 1 male; age index = age reached on 1 January of
the next year, as in kernel.py):

    pop0      (B, R, 2, 106)         stock at 1 January of the base year
    surv      (B, R, T, 2, 107)      survival ratios (kernel.py's index convention)
    asfr      (B, R, T, 106)         births per woman-year by age of mother
    fem_share (B, R, T)              share of births that are girls
    inmig     (B, R, T, 2, 106)      in-migrants from outside the municipality (count)
    outrate   (B, R, T, 2, 106)      out-migrants to outside per mid-year resident
    moves     (B, R, R, T, 2, 106)   moves[b, i, j]: movers from area i to area j per mid-year
                                     resident of i (the diagonal must be zero)

Timing (mid-year, as kernel.py): a cohort with start stock P in area i has P·√S_i residents at
mid-year; a share o_i leaves the municipality, m_ij moves to area j and lives the second half
year there (survival √S_j), the rest stays: with M_i = P_i·√S_i,

    end_i = (1 − o_i − Σ_j m_ij)·P_i·S_i + in_i·√S_i + Σ_j m_ji·M_j·√S_i
    internal_out_i = Σ_j m_ij·M_i,  internal_in_i = Σ_j m_ji·M_j

and deaths are what the identity leaves:
    end = P − deaths + in − out + internal_in − internal_out.
The open group moves in two parts (those reaching 105 and those already 105+), each arriving
with its own second-half survival, so that with the same rates in every area the areas sum to
kernel.py's projection of the summed population whatever the moves. Births in area i come from
its own women. The callers check o_i + Σ_j m_ij ≤ 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernel import N_AGE


def allocate(batch: int, areas: int, years: int):
    """Outputs: pop, births, deaths, inmig, outmig, internal_in, internal_out."""
    flow = (batch, areas, years, 2, N_AGE)
    return (np.empty((batch, areas, years + 1, 2, N_AGE)), np.empty((batch, areas, years, 2)),
            np.empty(flow), np.empty(flow), np.empty(flow), np.empty(flow), np.empty(flow))


@njit(cache=True)
def _cell(b, t, s, k, start, full, mid, half, half_ext, inmig, outrate, moves,
          pop, deaths, inflow, outflow, internal_in, internal_out):
    """One cohort (sex s, age reached k) in every area.

    Per area r: start[r] persons at the start, full[r] of them alive at the end if nobody
    moved; the cohort has up to two parts c (the open group: those reaching 105 and those
    already 105+) with mid[c, r] residents at mid-year and half[c, r] the second-half-year
    survival of that part; half_ext[r] is the second-half survival of in-migrants.
    """
    n_area = start.shape[0]
    for j in range(n_area):
        internal_in[b, j, t, s, k] = 0.0
        arrived = 0.0
        for i in range(n_area):
            m = moves[b, i, j, t, s, k]
            internal_in[b, j, t, s, k] += m * (mid[0, i] + mid[1, i])
            arrived += m * (mid[0, i] * half[0, j] + mid[1, i] * half[1, j])
        o = outrate[b, j, t, s, k]
        im = inmig[b, j, t, s, k]
        leave = 0.0
        for i in range(n_area):
            leave += moves[b, j, i, t, s, k]
        residents = mid[0, j] + mid[1, j]
        out = o * residents
        end = (1.0 - o - leave) * full[j] + im * half_ext[j] + arrived
        internal_out[b, j, t, s, k] = leave * residents
        pop[b, j, t + 1, s, k] = end
        inflow[b, j, t, s, k] = im
        outflow[b, j, t, s, k] = out
        deaths[b, j, t, s, k] = (start[j] + im + internal_in[b, j, t, s, k] - out
                                 - internal_out[b, j, t, s, k] - end)


@njit(cache=True, parallel=True)
def project_areas_kernel(pop0, surv, asfr, fem_share, inmig, outrate, moves,
                         pop, births, deaths, inflow, outflow, internal_in, internal_out):
    n_batch, n_area, n_year = surv.shape[0], surv.shape[1], surv.shape[2]
    for b in prange(n_batch):
        start = np.empty(n_area)
        full = np.empty(n_area)
        mid = np.zeros((2, n_area))
        half = np.zeros((2, n_area))
        half_ext = np.empty(n_area)
        for r in range(n_area):
            for s in range(2):
                for a in range(N_AGE):
                    pop[b, r, 0, s, a] = pop0[b, r, s, a]
        for t in range(n_year):
            for s in range(2):
                for k in range(1, N_AGE - 1):
                    for r in range(n_area):
                        p = pop[b, r, t, s, k - 1]
                        sv = surv[b, r, t, s, k]
                        start[r] = p
                        full[r] = p * sv
                        half[0, r] = np.sqrt(sv)
                        half_ext[r] = half[0, r]
                        mid[0, r] = p * half[0, r]
                        mid[1, r] = 0.0
                    _cell(b, t, s, k, start, full, mid, half, half_ext, inmig, outrate, moves,
                          pop, deaths, inflow, outflow, internal_in, internal_out)
                k = N_AGE - 1  # the open group: 104 -> 105+ and 105+ staying
                for r in range(n_area):
                    s_in, s_stay = surv[b, r, t, s, k], surv[b, r, t, s, k + 1]
                    p104, p105 = pop[b, r, t, s, k - 1], pop[b, r, t, s, k]
                    start[r] = p104 + p105
                    full[r] = p104 * s_in + p105 * s_stay
                    half[0, r] = np.sqrt(s_in)
                    half[1, r] = np.sqrt(s_stay)
                    half_ext[r] = half[1, r]
                    mid[0, r] = p104 * half[0, r]
                    mid[1, r] = p105 * half[1, r]
                _cell(b, t, s, k, start, full, mid, half, half_ext, inmig, outrate, moves,
                      pop, deaths, inflow, outflow, internal_in, internal_out)
            for r in range(n_area):
                total = 0.0
                for a in range(1, N_AGE):
                    total += asfr[b, r, t, a] * 0.5 * (pop[b, r, t, 0, a] + pop[b, r, t + 1, 0, a])
                births[b, r, t, 0] = total * fem_share[b, r, t]
                births[b, r, t, 1] = total * (1.0 - fem_share[b, r, t])
            for s in range(2):
                for r in range(n_area):
                    p = births[b, r, t, s]
                    sv = surv[b, r, t, s, 0]
                    start[r] = p
                    full[r] = p * sv
                    half[0, r] = np.sqrt(sv)
                    half_ext[r] = half[0, r]
                    mid[0, r] = p * half[0, r]
                    mid[1, r] = 0.0
                _cell(b, t, s, 0, start, full, mid, half, half_ext, inmig, outrate, moves,
                      pop, deaths, inflow, outflow, internal_in, internal_out)


def project_areas_numpy(pop0, surv, asfr, fem_share, inmig, outrate, moves,
                        pop, births, deaths, inflow, outflow, internal_in, internal_out):
    """The same computation as `project_areas_kernel`, vectorised over batch, area, sex, age."""
    n_year = surv.shape[2]
    pop[:, :, 0] = pop0
    leave_share = moves.sum(axis=2)                          # (B, R, T, 2, A)

    def step(t, start, full, mids, halves, half_ext, ages):
        m = moves[:, :, :, t][..., ages]                     # (B, i, j, 2, a)
        i_out = leave_share[:, :, t][..., ages] * sum(mids)
        i_in = sum((m * mid[:, :, None]).sum(axis=1) for mid in mids)
        arrived = sum((m * mid[:, :, None]).sum(axis=1) * half for mid, half in zip(mids, halves))
        o, im = outrate[:, :, t][..., ages], inmig[:, :, t][..., ages]
        end = (1.0 - o - leave_share[:, :, t][..., ages]) * full + im * half_ext + arrived
        out = o * sum(mids)
        pop[:, :, t + 1][..., ages] = end
        inflow[:, :, t][..., ages] = im
        outflow[:, :, t][..., ages] = out
        internal_in[:, :, t][..., ages] = i_in
        internal_out[:, :, t][..., ages] = i_out
        deaths[:, :, t][..., ages] = start + im + i_in - out - i_out - end

    for t in range(n_year):
        sv = surv[:, :, t]                                   # (B, R, 2, 107)
        prev = pop[:, :, t, :, :-1]                          # cohorts reaching ages 1..105
        half0 = np.sqrt(sv[..., 1:N_AGE])                    # the last one: 104 -> 105+
        p105 = np.zeros_like(prev)                           # those already 105+
        p105[..., -1] = pop[:, :, t, :, -1]
        half1 = np.broadcast_to(np.sqrt(sv[..., -1:]), half0.shape)
        full = prev * sv[..., 1:N_AGE] + p105 * sv[..., -1:]
        half_ext = half0.copy()
        half_ext[..., -1] = half1[..., -1]
        step(t, prev + p105, full, (prev * half0, p105 * half1), (half0, half1), half_ext,
             slice(1, N_AGE))
        women = 0.5 * (pop[:, :, t, 0, 1:] + pop[:, :, t + 1, 0, 1:])
        total = (asfr[:, :, t, 1:] * women).sum(axis=-1)
        births[:, :, t, 0] = total * fem_share[:, :, t]
        births[:, :, t, 1] = total * (1.0 - fem_share[:, :, t])
        b0 = births[:, :, t][..., None]                      # (B, R, 2, 1)
        h0 = np.sqrt(sv[..., :1])
        step(t, b0, b0 * sv[..., :1], (b0 * h0,), (h0,), h0, slice(0, 1))
