"""Backtests of every municipality, bases 2008-2013 to 2018: the evidence for the defaults of
forecast/population/regional.py (window, pool, K, K_LEVEL, alpha, old-age treatment).

Run: python scripts/backtest_all_grid.py [SHARED_DIR] [--search]
Prints Markdown: the model (defaults) beside the naive benchmarks at 2018 and 5 years after
each base; with --search also the tuning tables (each parameter varied with the others at
their defaults). Every base uses the longest window up to the default the counts allow
(they start in 2005). Scores leave out the seven municipalities with a split history.
"""

import sys
from dataclasses import replace

import numpy as np

from forecast.backtest_all import (METHODS, error_table, model_projection, naive_projections,
                                   prepare, scores)
from forecast.inputs.sources import read_all_sources
from forecast.population import regional as rg

BASES = range(2008, 2014)
TO = 2018
FIRST = 2005
SIZE = [f"MAPE {c}" for c in rg.SIZE_CLASSES]
BANDS = ["0-5 w%", "6-15 w%", "16-66 w%", "67-79 w%", "80-89 w%", "90+ w%"]
COLUMNS = ["MAPE", "MedAPE", "mean signed"] + SIZE + BANDS


def window_for(base, window=rg.WINDOW):
    return min(window, base - FIRST)


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v)
                                     for v in row) + " |")
    return "\n".join(out)


def model_scores(setup, params):
    pop, _ = model_projection(setup, params)
    return scores(error_table(setup, {"model": pop})).set_index("year")


def mean_over(setups, params, year_of):
    """Mean over the bases of the model's scores in the year year_of(base)."""
    rows = [model_scores(s, params).loc[year_of(s.base), COLUMNS] for s in setups]
    return np.mean(np.array(rows, dtype=float), axis=0)


def search(src, setups):
    base = rg.Params()
    at_2018, at_h5 = (lambda b: TO), (lambda b: b + 5)
    head = ["MAPE 2018", "MAPE <2k 2018", "MAPE >20k 2018", "mean band w% 2018", "MAPE h5"]

    def summary(params):
        a, b = mean_over(setups, params, at_2018), mean_over(setups, params, at_h5)
        return [a[0], a[3], a[6], a[7:].mean(), b[0]]

    print("\n### Window (municipal counts pooled), defaults otherwise\n")
    rows = []
    for b in BASES:
        for w in range(3, b - FIRST + 1):
            s = prepare(src, b, TO, w)
            sc = model_scores(s, base)
            a, h = sc.loc[TO, COLUMNS], sc.loc[b + 5]
            rows.append([b, w, a["MAPE"], a["mean signed"], float(np.mean(a[BANDS])), h["MAPE"]])
    print(table(rows, ["base", "window", "MAPE 2018", "mean signed 2018", "mean band w% 2018",
                       "MAPE h5"]))
    print("\n### Migration pool, K and K_LEVEL\n")
    rows = [[pool, k, kl, *summary(replace(base, pool=pool, k_migration=k, k_level=kl))]
            for pool in ("county", "size", "national") for k in (0.0, 100.0, 250.0, 1000.0, 4000.0)
            for kl in (0.0, 5000.0, 20000.0, 80000.0)]
    print(table(rows, ["pool", "K", "K_LEVEL"] + head))
    print("\n### Fertility: alpha (expected births)\n")
    rows = []
    for alpha in (0.0, 25.0, 100.0, 400.0, 1600.0, 1e9):
        p = replace(base, alpha=alpha)
        a, b = mean_over(setups, p, at_2018), mean_over(setups, p, at_h5)
        rows.append([alpha, a[7], a[8], b[7], a[0]])
    print(table(rows, ["alpha", "0-5 w% 2018", "6-15 w% 2018", "0-5 w% h5", "MAPE 2018"]))
    print("\n### Old ages: residual as migration or as a mortality level at 67+\n")
    rows = []
    for old, beta in [("migration", 0.0)] + [("mortality", b) for b in (50.0, 200.0, 1000.0,
                                                                        1e9)]:
        p = replace(base, old_age=old, beta=beta)
        a, b = mean_over(setups, p, at_2018), mean_over(setups, p, at_h5)
        rows.append([old, beta, a[10], a[11], a[12], b[10], b[11], b[12], a[0]])
    print(table(rows, ["old ages", "beta", "67-79 2018", "80-89 2018", "90+ 2018", "67-79 h5",
                       "80-89 h5", "90+ h5", "MAPE 2018"]))


def comparison(setups):
    print("\n### Model (defaults) and naive benchmarks, all municipalities but the split ones\n")
    rows = []
    for s in setups:
        pop, _ = model_projection(s)
        sc = scores(error_table(s, {"model": pop, **naive_projections(s)}))
        for year in sorted({s.base + 5, TO}):
            part = sc[sc["year"] == year].set_index("method")
            for method in METHODS:
                rows.append([s.base, s.window, year - s.base, method,
                             *part.loc[method, COLUMNS].astype(float)])
    print(table(rows, ["base", "window", "h", "method"] + COLUMNS))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    src = read_all_sources(args[0] if args else "../shared/data")
    setups = [prepare(src, b, TO, window_for(b)) for b in BASES]
    print(f"Defaults: window {rg.WINDOW}, pool {rg.POOL}, K {rg.K_MIGRATION:g}, "
          f"K_LEVEL {rg.K_LEVEL:g}, alpha {rg.ALPHA_FERTILITY:g}, old ages {rg.OLD_AGE}")
    comparison(setups)
    if "--search" in argv:
        search(src, setups)


if __name__ == "__main__":
    main(sys.argv[1:])
