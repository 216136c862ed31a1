"""The backtest grid in the README: bases 2010-2015 to 2018, windows 3/5/8, e0 trend or constant.

Run: python scripts/backtest_grid.py [SHARED_DIR]  (prints a Markdown table)
"""

import sys

from forecast.backtest import run_backtest, summary
from forecast.inputs.sources import read_sources

src = read_sources(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
print("| base | window | e0 | model total % | model groups % | naive total % | naive groups % |")
print("|---|---|---|---|---|---|---|")
for base in range(2010, 2016):
    for window in (3, 5, 8):
        if base - window < 2005:  # the counts start in 2005
            continue
        trend = run_backtest(src, base, 2018, window, e0="trend")
        no_history = any(n.startswith("e0") for n in trend.notes)
        runs = [("constant*", trend)] if no_history else [
            ("trend", trend), ("constant", run_backtest(src, base, 2018, window, e0="constant"))]
        for label, run in runs:
            s = summary([run]).iloc[0]
            if any(n.startswith("mortality") for n in run.notes):
                label += " †"
            print(f"| {base} | {window} | {label} | {s['model total %']:+.2f} | "
                  f"{s['model groups MAPE %']:.2f} | {s['naive total %']:+.2f} | "
                  f"{s['naive groups MAPE %']:.2f} |")
