"""Backtests of the national mortality and fertility paths (forecast.population.national).

For each base year the paths use only the years before it; the projected year base + h - 1
(the h-th flow year) is compared with what HMD/HFD observed, up to 2017. The main grid is
the bases of BASES at horizons 5, 10, 15, 20; a robustness grid takes every base 1990-2016
and every horizon 1..20 (overlapping, so not independent, but less dependent on seven picks).
Observed e0, e65, e80 come from the observed m(x) closed at 95+ the same way as the
projections, so the errors are those of the path, not of the closure; log m(x) at 80-99 is
compared with HMD's own rates.

Run: python scripts/national_backtest.py [SHARED_DIR]   (prints Markdown tables)
"""

import sys
import time

import numpy as np
import pandas as pd

from forecast.inputs.sources import read_national
from forecast.population import national as nat
from forecast.population.rates import SEXES, life_table

BASES = (1990, 1995, 2000, 2005, 2008, 2010, 2013)
HORIZONS = (5, 10, 15, 20)
LAST_OBSERVED = 2017
ROBUST_BASES = (1990, 2016)   # a second look: every base, every horizon 1..20

MORTALITY = [  # label, method, window, fit years
    ("constant (5 y)", "constant", 5, None),
    ("e0_trend, fit 8 y (today)", "e0_trend", 5, 8),
    ("e0_trend, fit 20 y", "e0_trend", 5, 20),
    ("e0_trend, fit 30 y", "e0_trend", 5, 30),
    ("e0_trend_lc, fit 20 y", "e0_trend_lc", 5, 20),
    ("e0_trend_lc, fit 30 y", "e0_trend_lc", 5, 30),
    ("lee_carter, fit 20 y", "lee_carter", 5, 20),
    ("lee_carter, fit 30 y", "lee_carter", 5, 30),
    ("lee_carter, fit 40 y", "lee_carter", 5, 40),
    ("lee_carter, fit 30 y, jump-off 1 y", "lee_carter", 1, 30),
    ("li_lee, fit 30 y", "li_lee", 5, 30),
]
FERTILITY = [("constant (5 y)", "constant", 5, None), ("trend (5 y)", "trend", 5, None),
             ("trend (10 y)", "trend", 10, None)] + [
    (f"damped phi={phi}", "damped", 5, phi) for phi in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)]


def ex_at(mx: np.ndarray, ages=(0, 65, 80, 90)) -> np.ndarray:
    """(..., 2, len(ages)) life expectancy at the given ages."""
    flat = mx.reshape(-1, 2, mx.shape[-1])
    out = np.array([[life_table(row[s], sex)["ex"][list(ages)] for s, sex in enumerate(SEXES)]
                    for row in flat])
    return out.reshape(mx.shape[:-2] + (2, len(ages)))


def mortality_rows(years, hist, bases, observed_ex):
    """One row per method, base and horizon 1..20 that the data reach. A base where some
    method fails (or lacks fit years) is left out for every method, so all share one sample."""
    rows, dropped = [], {}
    for label, method, window, fit in MORTALITY:
        for base in bases:
            n = min(max(HORIZONS), LAST_OBSERVED - base + 1)
            if base - max(window, fit or 0) < years[0]:
                dropped[base] = f"{label}: too few fit years"
                continue
            try:
                mx, _ = nat.mortality_path(hist, years, base, n, method, window, fit)
            except ValueError as exc:
                dropped[base] = f"{label}: {exc}"
                continue
            proj_ex = ex_at(mx)
            for i in range(n):
                o = np.searchsorted(years, base + i)
                err = proj_ex[i] - observed_ex[o]          # (2 sexes, 4 ages)
                logm = np.log(mx[i, :, 80:100]) - np.log(hist[o, :, 80:100])
                rows.append(dict(method=label, base=base, h=i + 1, e0_f=err[0, 0],
                                 e0_m=err[1, 0], e65=np.abs(err[:, 1]).mean(),
                                 e80=np.abs(err[:, 2]).mean(), bias_e90=err[:, 3].mean(),
                                 logm_80_99=np.abs(logm).mean(),
                                 bias_80_89=logm[:, :10].mean(), bias_90_99=logm[:, 10:].mean()))
    for base, why in sorted(dropped.items()):
        print(f"- base {base} left out ({why})")
    rows = pd.DataFrame(rows)
    rows = rows[~rows.base.isin(list(dropped))]
    return rows.assign(abs_e0_f=rows.e0_f.abs(), abs_e0_m=rows.e0_m.abs())


def fertility_rows(years, hist, bases):
    tfr_obs = dict(zip(years, hist.sum(axis=1)))
    rows = []
    for label, method, window, phi in FERTILITY:
        for base in bases:
            n = min(max(HORIZONS), LAST_OBSERVED - base + 1)
            _, tfr = nat.fertility_path(hist, years, base, n, method, window,
                                        damping=phi if phi is not None else nat.DEFAULT_DAMPING)
            rows += [dict(method=label, base=base, h=i + 1, err=tfr[i] - tfr_obs[base + i])
                     for i in range(n)]
    rows = pd.DataFrame(rows)
    return rows.assign(abs_err=rows.err.abs())


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(v) for v in row) + " |"
                            for row in df.itertuples(index=False))


# table column -> row column (abs_ = absolute error; the bias columns are signed)
M_COLS = {"e0_f": "abs_e0_f", "e0_m": "abs_e0_m", "bias_e0_f": "e0_f", "bias_e0_m": "e0_m",
          "e65": "e65", "e80": "e80", "bias_e90": "bias_e90", "logm_80_99": "logm_80_99",
          "bias_80_89": "bias_80_89", "bias_90_99": "bias_90_99"}
F_COLS = {"mae": "abs_err", "bias": "err"}


def by_horizon(rows, cols):
    """Mean over the bases at the horizons of HORIZONS."""
    rows = rows[rows.h.isin(HORIZONS)]
    agg = {k: (v, "mean") for k, v in cols.items()}
    return rows.groupby(["method", "h"], sort=False).agg(bases=("base", "size"), **agg)


def overall(table, cols):
    """Each horizon weighs the same."""
    return table.groupby("method", sort=False)[list(cols)].mean()


def by_band(rows, cols):
    """Every base, horizons 1..20 in four bands of five years, then all together."""
    first = 5 * ((rows.h - 1) // 5) + 1
    rows = rows.assign(band=first.astype(str) + "-" + (first + 4).astype(str))
    col = list(cols.values())[0]
    wide = rows.pivot_table(index="method", columns="band", values=col, sort=False)
    return wide.assign(all=rows.groupby("method", sort=False)[col].mean())


def show(title, df):
    print(f"\n{title}\n")
    print(markdown(df.round(3).reset_index()))


def main(shared: str) -> None:
    start = time.time()
    src = read_national(shared)
    m_years, m_hist = nat.mx_array(src["mx"])
    f_years, f_hist = nat.asfr_array(src["asfr"])
    observed_ex = ex_at(nat._closed(m_hist))
    every = range(ROBUST_BASES[0], ROBUST_BASES[1] + 1)

    mort = mortality_rows(m_years, m_hist, BASES, observed_ex)
    table = by_horizon(mort, M_COLS)
    print("## Mortality: bases " + ", ".join(map(str, BASES)) + "; projected year base + h - 1")
    print("e0, e65, e80 in years (mean absolute error; e65, e80 averaged over the sexes; "
          "bias_e90 mean signed error of e90, + = too long), log m(x) at 80-99 against HMD "
          "(mean absolute; bias = mean signed, + = rates too high)")
    show("Mean over the four horizons (each weighs the same):", overall(table, M_COLS))
    show("By horizon:", table)
    robust = mortality_rows(m_years, m_hist, every, observed_ex)
    for what in ("e0_f", "e0_m", "e65", "e80", "bias_e90", "bias_90_99"):
        show(f"Robustness, every base {ROBUST_BASES[0]}-{ROBUST_BASES[1]}, {what} by horizon "
             "band:", by_band(robust, {what: M_COLS[what]}))

    fert = fertility_rows(f_years, f_hist, BASES)
    ftable = by_horizon(fert, F_COLS)
    print("\n## Fertility: TFR, same bases and horizons")
    show("Mean over the four horizons:", overall(ftable, F_COLS))
    show("By horizon:", ftable)
    show(f"Robustness, every base {ROBUST_BASES[0]}-{ROBUST_BASES[1]}, TFR mean absolute error "
         "by horizon band:", by_band(fertility_rows(f_years, f_hist, every), F_COLS))
    print(f"\n(runtime {time.time() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
