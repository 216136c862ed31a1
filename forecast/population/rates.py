"""Life tables, survival ratios, and targeting of life expectancy and TFR.

Life-table conventions (stated in the README):
- m(x) are central death rates for single ages 0..104 and the open interval 105+.
- a(0) by Andreev & Kingkade (2015), the formula the Human Mortality Database uses;
  a(x) = 0.5 for ages 1..104; the open group lives L(105+) = l(105) / m(105+).
- q(x) = m / (1 + (1 - a) m), L(x) = l(x) - (1 - a) d(x), T(x) = sum of L from x.
- Survival ratios for a cohort observed on 1 January: births -> age 0 on the next 1 January:
  L(0) / l(0); age x-1 -> x: L(x) / L(x-1); ages 104 and 105+ -> 105+: T(105) / T(104)
  (Preston, Heuveline & Guillot 2001, ch. 6).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from .kernel import N_AGE, N_SURV

SEXES = ("female", "male")


def a0_andreev_kingkade(m0: float, sex: str) -> float:
    """Average years lived in the first year by those who die in it."""
    if sex == "male":
        if m0 < 0.02300:
            return 0.14929 - 1.99545 * m0
        return 0.02832 + 3.26201 * m0 if m0 < 0.08307 else 0.29915
    if m0 < 0.01724:
        return 0.14903 - 2.05527 * m0
    return 0.04667 + 3.88089 * m0 if m0 < 0.06891 else 0.31411


def life_table(mx: np.ndarray, sex: str) -> dict[str, np.ndarray]:
    """Period life table (radix 1) from m(x), ages 0..104 and the open group 105+."""
    mx = np.asarray(mx, dtype=float)
    if mx.shape != (N_AGE,):
        raise ValueError(f"expected {N_AGE} death rates (0..105+), got shape {mx.shape}")
    if mx[-1] <= 0:
        raise ValueError("the death rate of the open age group 105+ must be positive")
    ax = np.full(N_AGE, 0.5)
    ax[0] = a0_andreev_kingkade(mx[0], sex)
    qx = np.minimum(mx / (1.0 + (1.0 - ax) * mx), 1.0)
    qx[-1] = 1.0
    lx = np.empty(N_AGE)
    lx[0] = 1.0
    lx[1:] = np.cumprod(1.0 - qx[:-1])
    dx = lx * qx
    Lx = lx - (1.0 - ax) * dx
    Lx[-1] = lx[-1] / mx[-1]
    Tx = np.cumsum(Lx[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ex = np.where(lx > 0, Tx / lx, 0.0)
    return {"mx": mx, "ax": ax, "qx": qx, "lx": lx, "dx": dx, "Lx": Lx, "Tx": Tx, "ex": ex}


def life_expectancy(mx: np.ndarray, sex: str) -> float:
    return float(life_table(mx, sex)["ex"][0])


def survival_ratios(mx: np.ndarray, sex: str) -> np.ndarray:
    """The kernel's 107 survival ratios (see kernel.py) from one schedule of m(x)."""
    lt = life_table(mx, sex)
    Lx, Tx = lt["Lx"], lt["Tx"]
    surv = np.zeros(N_SURV)
    surv[0] = Lx[0]  # radix l(0) = 1
    # where a schedule leaves nobody alive (L = 0) the ratio is 0: nobody is left to survive
    np.divide(Lx[1:N_AGE - 1], Lx[:N_AGE - 2], out=surv[1:N_AGE - 1], where=Lx[:N_AGE - 2] > 0)
    surv[N_AGE - 1] = surv[N_AGE] = Tx[-1] / Tx[-2] if Tx[-2] > 0 else 0.0
    return surv


def scale_to_e0(mx: np.ndarray, sex: str, e0: float, tol: float = 1e-10) -> np.ndarray:
    """m(x) multiplied by the single factor k that gives life expectancy at birth `e0`."""
    def gap(log_k):
        return life_expectancy(mx * np.exp(log_k), sex) - e0
    lo, hi = -8.0, 8.0
    if gap(lo) < 0 or gap(hi) > 0:
        raise ValueError(f"life expectancy {e0:.2f} cannot be reached by scaling this schedule")
    log_k = brentq(gap, lo, hi, xtol=tol, rtol=1e-14, maxiter=200)
    return mx * np.exp(log_k)


def scale_to_tfr(asfr: np.ndarray, tfr: float) -> np.ndarray:
    """The age schedule of fertility with its level set to `tfr` (births per woman)."""
    total = asfr.sum()
    if total <= 0:
        raise ValueError("the fertility schedule sums to zero and cannot be scaled")
    return asfr * (tfr / total)
