"""Calibration of the stochastic intervals against what happened (issue 9, item 2).

For each base 2008..2013 every rate and every stochastic component is estimated from data
before the base (forecast.backtest_intervals), every municipality except the seven with a
split history is projected to 2018 with N draws, and the table gives, per base, horizon and
measure (total, 67-79, 80-89, 90+): the share of municipalities whose actual count lies in the
50 % interval (q25..q75) and in the 80 % interval (q10..q90), and the mean interval score of
the 80 % interval relative to the actual (Gneiting & Raftery 2007). A second table scales the
local migration sd and shows the 80 % and 50 % coverage of the total, pooled over the
(base, horizon) cells with horizon 5..10 (targets 75-85 % and 45-55 %).

Caution on the evidence: backtests sharing an end year are not independent. All bases end in
2018, so every base's horizon-5..10 cells fall in the same calendar years and share the same
national and local shocks of 2013-2018 (the immigration peak and fall, the same municipalities'
booms and busts); municipalities within a year also share the national shock of that year.
The pooled coverage is therefore a few correlated observations of one period, not
350 x 6 independent trials: its sampling error is much larger than a binomial one over
municipalities suggests, and a scale tuned here is tuned to 2013-2018.

Usage: python scripts/interval_calibration.py [--draws 500] [--seed 1]
       [--scales 0.5,1,1.5,2] [--local-phi 0.9] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from forecast.backtest_intervals import Scale, run_bases
from forecast import SHARED_DIR
from forecast.inputs.sources import read_all_sources

ROOT = Path(__file__).resolve().parent.parent


def markdown(df: pd.DataFrame, floats: str = "{:.3f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = [floats.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pooled(rows: pd.DataFrame, horizons=range(5, 11)) -> pd.DataFrame:
    """Coverage and score per measure over the (base, horizon) cells of `horizons`."""
    sel = rows[rows["horizon"].isin(list(horizons))]
    g = sel.groupby("measure", sort=False)
    return pd.DataFrame({"cells": g.size(), "cover50": g["cover50"].mean(),
                         "cover80": g["cover80"].mean(), "ris80": g["ris80"].mean()}
                        ).reset_index()


def by_horizon(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 50 % / 80 % intervals per horizon and measure, over the bases that
    reach the horizon (column: bases)."""
    g = rows.groupby(["horizon", "measure"], sort=False)
    table = pd.DataFrame({"bases": g.size(), "cover50": g["cover50"].mean(),
                          "cover80": g["cover80"].mean()}).reset_index()
    wide = table.pivot(index="horizon", columns="measure", values=["cover50", "cover80"])
    wide.columns = [f"{m} {c[5:]} %" for c, m in wide.columns]
    order = [f"{m} {lvl} %" for m in rows["measure"].unique() for lvl in ("50", "80")]
    wide = wide[order]
    wide.insert(0, "bases", table.groupby("horizon")["bases"].first())
    return wide.reset_index()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scales", default="0.5,1,1.5,2")
    p.add_argument("--local-phi", type=float, default=None,
                   help="override the local migration AR(1) phi in the grid (e.g. 0.9)")
    p.add_argument("--bases", default="2008,2009,2010,2011,2012,2013")
    p.add_argument("--shared", default=str(SHARED_DIR / "data"))
    p.add_argument("--calibrated-only", action="store_true",
                   help="only the table by horizon of the calibrated components (the default "
                        "of forecast's [uncertainty])")
    args = p.parse_args(argv)
    src = read_all_sources(Path(args.shared))
    bases = [int(b) for b in args.bases.split(",")]
    comps: dict = {}
    t0 = time.perf_counter()
    if args.calibrated_only:
        from forecast.population.stochastic import (CALIBRATED_LOCAL_PHI,
                                                    CALIBRATED_LOCAL_SCALE)
        rows = run_bases(src, bases, 2018, args.draws, args.seed,
                         Scale(local=CALIBRATED_LOCAL_SCALE, local_phi=CALIBRATED_LOCAL_PHI),
                         components=comps)
        print(f"\n## Calibrated components ({args.draws} draws, {rows['n'].iloc[0]} "
              f"municipalities, bases {args.bases}): coverage by horizon, pooled over bases\n")
        print(markdown(by_horizon(rows)))
        print("\n## Pooled over horizons 5-10\n")
        print(markdown(pooled(rows)))
        print(f"\nruntime {time.perf_counter() - t0:.0f} s")
        return
    raw = run_bases(src, bases, 2018, args.draws, args.seed, Scale(), components=comps)
    t_raw = time.perf_counter() - t0
    for b in bases:
        print(f"<!-- {comps[b].describe()} -->".replace("\n", "\n     "))
    print(f"\n## Coverage with the components as estimated ({args.draws} draws, "
          f"{raw['n'].iloc[0]} municipalities, {t_raw:.0f} s)\n")
    table = raw.rename(columns={"cover50": "coverage 50 %", "cover80": "coverage 80 %",
                                "ris80": "mean rel. interval score 80 %"}).drop(columns="n")
    print(markdown(table))
    print("\n## Pooled over horizons 5-10 (bases with such horizons), as estimated\n")
    print(markdown(pooled(raw)))
    phi = "" if args.local_phi is None else f", local phi {args.local_phi:g}"
    print(f"\n## Local migration sd scaled{phi}: pooled over horizons 5-10\n")
    grid = []
    for s in [float(x) for x in args.scales.split(",")]:
        rows = (raw if s == 1.0 and args.local_phi is None else
                run_bases(src, bases, 2018, args.draws, args.seed,
                          Scale(local=s, local_phi=args.local_phi), components=comps))
        grid.append(pooled(rows).assign(scale=s))
    grid = pd.concat(grid, ignore_index=True)[["scale", "measure", "cells", "cover50",
                                               "cover80", "ris80"]]
    print(markdown(grid))
    tot = grid[grid["measure"] == "Total"].copy()
    ok = tot[(tot["cover80"] >= 0.75) & (tot["cover80"] <= 0.85)]
    best = tot.loc[(tot["cover80"] - 0.80).abs().idxmin()]
    print(f"\nTotal, horizons 5-10: scales with 80 % coverage in 75-85 %: "
          f"{', '.join(f'{v:g}' for v in ok['scale']) or 'none'}; closest to 80 %: "
          f"{best['scale']:g} ({best['cover80']:.3f}; 50 %: {best['cover50']:.3f})")
    print(f"runtime {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
