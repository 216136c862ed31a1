"""Residual net migration from stocks at 1 January, in the kernel's mid-year timing.

Age index k is the age a cohort reaches on 1 January of the next year (as in kernel.py):
k = 0 the birth cohort, k = 1..104 the cohort aged k-1 at the start, k = 105 the open group fed
by those aged 104 and 105+. Migrants move at mid-year, so a cohort with start stock P and
survival ratio S ends at
    end = P * S + N * sqrt(S)          =>   N = (end - P * S) / sqrt(S)
and P * sqrt(S) is the number of residents at mid-year ("resident"), the base of out-rates.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .kernel import N_AGE


def residual_net_migration(start: np.ndarray, end: np.ndarray,
                           surv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Net migrants and mid-year residents (..., 2, 106) of one year for k = 1..105; k = 0 is
    zero.

    `start`, `end`: (..., 2, 106) stocks on 1 January t and t+1 (any leading dims, e.g.
    municipalities); `surv`: (2, 107) survival ratios, or (..., 2, 107).
    """
    net, resident = np.zeros(start.shape), np.zeros(start.shape)
    k = np.arange(1, N_AGE - 1)
    half = np.sqrt(surv[..., k])
    net[..., k] = (end[..., k] - start[..., k - 1] * surv[..., k]) / half
    resident[..., k] = start[..., k - 1] * half
    s_in, s_stay = surv[..., N_AGE - 1], surv[..., N_AGE]
    p104, p105 = start[..., N_AGE - 2], start[..., N_AGE - 1]
    net[..., -1] = (end[..., -1] - p104 * s_in - p105 * s_stay) / np.sqrt(s_stay)
    resident[..., -1] = p104 * np.sqrt(s_in) + p105 * np.sqrt(s_stay)
    return net, resident


def implied_births(age0_end: np.ndarray, surv0: np.ndarray, infant_rate: np.ndarray,
                   share: float) -> np.ndarray:
    """Births (per sex) implied by the age-0 stock on 1 January of the next year.

    The birth cohort's net migration is assumed to be `share` x `infant_rate` x births, where
    `infant_rate` is the net migration rate per mid-year resident of the cohort reaching age 1
    (infants are present on average half a year, hence share = 0.5 by default):
        P0 = B * S0 + share * rate * B * sqrt(S0)   =>   B = P0 / (S0 + share * rate * sqrt(S0))
    """
    return age0_end / (surv0 + share * infant_rate * np.sqrt(surv0))


def net_migration_history(counts: np.ndarray, surv: np.ndarray,
                          share: float = 0.5) -> dict[str, np.ndarray]:
    """Unsmoothed net migrants per transition year, with the birth cohort filled in.

    `counts`: (n + 1, 2, 106) stocks on 1 January of n + 1 consecutive years; `surv`: (2, 107).
    Returns net and resident (n, 2, 106), births (n, 2) implied by the age-0 stocks, and
    infant_rate (2,), the pooled net rate of the cohort reaching age 1 used for the births.
    """
    n = counts.shape[0] - 1
    net, resident = np.zeros((n, 2, N_AGE)), np.zeros((n, 2, N_AGE))
    for t in range(n):
        net[t], resident[t] = residual_net_migration(counts[t], counts[t + 1], surv)
    infant_rate = net[:, :, 1].sum(axis=0) / resident[:, :, 1].sum(axis=0)
    s0 = surv[:, 0]
    births = implied_births(counts[1:, :, 0], s0, infant_rate, share)
    net[:, :, 0] = (counts[1:, :, 0] - births * s0) / np.sqrt(s0)
    resident[:, :, 0] = births * np.sqrt(s0)
    return {"net": net, "resident": resident, "births": births, "infant_rate": infant_rate}


def smooth_net(net: np.ndarray, resident: np.ndarray, sigma: float,
               old_from: int = 90) -> np.ndarray:
    """Smoothed net migrant counts (..., 2, 106): a Gaussian over ages 1..old_from-1, one pooled
    net rate per mid-year resident from `old_from` to the open group.

    Counts rather than rates are smoothed below `old_from`: a Gaussian with reflecting edges
    keeps their total exactly (the level that drives the projection), and Bærum's cohorts
    change slowly with age there, so smoothing rates would give nearly the same schedule. From
    `old_from` on, cohorts shrink to a handful of persons and the residual is mostly noise
    (a single death or move); one rate for the whole group, sum(net) / sum(resident), keeps the
    group's total and never asks more people to leave than live there. The birth cohort
    (k = 0, derived from the births) is left as estimated. `sigma` (years) = 0 smooths nothing.
    """
    out = np.array(net, dtype=float, copy=True)
    if sigma <= 0:
        return out
    out[..., 1:old_from] = gaussian_filter1d(out[..., 1:old_from], sigma, axis=-1,
                                             mode="reflect")
    old = slice(old_from, N_AGE)
    people = resident[..., old].sum(axis=-1)
    # a group nobody lives in (a small municipality) gets rate 0
    rate = net[..., old].sum(axis=-1) / np.where(people > 0, people, 1.0)
    out[..., old] = rate[..., None] * resident[..., old]
    return out


def split_net(net: np.ndarray, resident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's in-migrant counts and out-migration rates from net migrants.

    inmig = max(net, 0); outrate = max(-net, 0) / resident, so that in the kernel
    inmig - outrate * resident == net at the residents the schedule was estimated on.
    """
    inmig = np.maximum(net, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        outrate = np.where(resident > 0, np.maximum(-net, 0.0) / resident, 0.0)
    return inmig, outrate
