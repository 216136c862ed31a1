"""Cohort-component projection step: a numba kernel and a pure-NumPy reference.

Array layout (float64, leading batch axis = trajectories x regions, even when it is 1):

    pop0      (B, 2, 106)      stock at 1 January of the base year; sex 0 female, 1 male;
                               age 0..105, 105 = 105 and older
    surv      (B, T, 2, 107)   survival ratios by cohort: index 0 births -> age 0 on 1 January,
                               k = 1..105 age k-1 -> k, 106 the open group 105+ staying 105+
    asfr      (B, T, 106)      births per woman-year by age of mother (age 0 is ignored)
    fem_share (B, T)           share of births that are girls
    inmig     (B, T, 2, 106)   in-migrants (count) by the age reached on 1 January next year
    outrate   (B, T, 2, 106)   out-migrants per mid-year resident, same age index

Timing: migrants move at mid-year. Residents live half a year (sqrt of the survival ratio),
a share `outrate` of them leaves, in-migrants join, and all live the second half year:
    stock' = (1 - o) * stock * S + in * sqrt(S)
Deaths are what the accounting identity leaves, so stock' = stock - deaths + in - out exactly.
Births = sum over age of asfr * mean of women aged a at the start and the end of the year.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

N_AGE = 106
N_SURV = 107


def allocate(batch: int, years: int):
    """Output arrays for a projection of `years` steps: pop, births, deaths, inmig, outmig."""
    return (np.empty((batch, years + 1, 2, N_AGE)), np.empty((batch, years, 2)),
            np.empty((batch, years, 2, N_AGE)), np.empty((batch, years, 2, N_AGE)),
            np.empty((batch, years, 2, N_AGE)))


@njit(cache=True, parallel=True)
def project_kernel(pop0, surv, asfr, fem_share, inmig, outrate,
                   pop, births, deaths, inflow, outflow):
    n_batch, n_year = surv.shape[0], surv.shape[1]
    for b in prange(n_batch):
        for s in range(2):
            for a in range(N_AGE):
                pop[b, 0, s, a] = pop0[b, s, a]
        for t in range(n_year):
            for s in range(2):
                # cohorts reaching ages 1..104
                for k in range(1, N_AGE - 1):
                    start = pop[b, t, s, k - 1]
                    sv = surv[b, t, s, k]
                    half = np.sqrt(sv)
                    o = outrate[b, t, s, k]
                    im = inmig[b, t, s, k]
                    out = o * start * half
                    end = (1.0 - o) * start * sv + im * half
                    pop[b, t + 1, s, k] = end
                    inflow[b, t, s, k] = im
                    outflow[b, t, s, k] = out
                    deaths[b, t, s, k] = start + im - out - end
                # the open group: 104 -> 105+ and 105+ staying
                k = N_AGE - 1
                s_in, s_stay = surv[b, t, s, k], surv[b, t, s, k + 1]
                p104, p105 = pop[b, t, s, k - 1], pop[b, t, s, k]
                o = outrate[b, t, s, k]
                im = inmig[b, t, s, k]
                out = o * (p104 * np.sqrt(s_in) + p105 * np.sqrt(s_stay))
                end = (1.0 - o) * (p104 * s_in + p105 * s_stay) + im * np.sqrt(s_stay)
                pop[b, t + 1, s, k] = end
                inflow[b, t, s, k] = im
                outflow[b, t, s, k] = out
                deaths[b, t, s, k] = p104 + p105 + im - out - end
            total = 0.0
            for a in range(1, N_AGE):
                total += asfr[b, t, a] * 0.5 * (pop[b, t, 0, a] + pop[b, t + 1, 0, a])
            births[b, t, 0] = total * fem_share[b, t]
            births[b, t, 1] = total * (1.0 - fem_share[b, t])
            for s in range(2):
                start = births[b, t, s]
                sv = surv[b, t, s, 0]
                half = np.sqrt(sv)
                o = outrate[b, t, s, 0]
                im = inmig[b, t, s, 0]
                out = o * start * half
                end = (1.0 - o) * start * sv + im * half
                pop[b, t + 1, s, 0] = end
                inflow[b, t, s, 0] = im
                outflow[b, t, s, 0] = out
                deaths[b, t, s, 0] = start + im - out - end


def project_numpy(pop0, surv, asfr, fem_share, inmig, outrate,
                  pop, births, deaths, inflow, outflow):
    """The same computation as `project_kernel`, vectorised over batch, sex and age."""
    n_year = surv.shape[1]
    pop[:, 0] = pop0
    for t in range(n_year):
        sv, o, im = surv[:, t], outrate[:, t], inmig[:, t]
        half = np.sqrt(sv)
        # start-of-year stock of each cohort, by the age it reaches (births filled in below)
        start = np.zeros_like(pop0)
        start[:, :, 1:] = pop[:, t, :, :-1]
        start_half = start * half[:, :, :N_AGE]
        start_surv = start * sv[:, :, :N_AGE]
        # the open group also keeps those already 105+
        p105 = pop[:, t, :, -1]
        start[:, :, -1] += p105
        start_half[:, :, -1] += p105 * half[:, :, -1]
        start_surv[:, :, -1] += p105 * sv[:, :, -1]
        half_in = half[:, :, :N_AGE].copy()
        half_in[:, :, -1] = half[:, :, -1]
        end = (1.0 - o) * start_surv + im * half_in
        pop[:, t + 1, :, 1:] = end[:, :, 1:]
        total = (asfr[:, t, 1:] * 0.5 * (pop[:, t, 0, 1:] + pop[:, t + 1, 0, 1:])).sum(axis=-1)
        births[:, t, 0] = total * fem_share[:, t]
        births[:, t, 1] = total * (1.0 - fem_share[:, t])
        start[:, :, 0] = births[:, t]
        start_half[:, :, 0] = births[:, t] * half[:, :, 0]
        end[:, :, 0] = (1.0 - o[:, :, 0]) * births[:, t] * sv[:, :, 0] + im[:, :, 0] * half[:, :, 0]
        pop[:, t + 1, :, 0] = end[:, :, 0]
        out = o * start_half
        inflow[:, t] = im
        outflow[:, t] = out
        deaths[:, t] = start + im - out - end
