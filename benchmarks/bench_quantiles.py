"""Time the exact quantiles of forecast.quantiles against sorting the rows (not run in CI).

    python benchmarks/bench_quantiles.py            # 2,000 rows x 10,000 draws
    python benchmarks/bench_quantiles.py --rows 500 --draws 1000

Rows of draws (gamma: skewed like a population count), quantiles 5 .. 95 %; "cold": every
row read from memory once (2,000 rows, 160 MB), "warm": 20 rows again and again, in the CPU
caches (as a band row summed just before, in band_quantiles). Methods, in each round
interleaved, best of the rounds, wall and CPU time (time.process_time, every thread) per row:

    sort            copy the rows, numpy sort, pick and interpolate (how
                    forecast.uncertainty found quantiles before forecast.quantiles)
    np.quantile     np.quantile(x, q, axis=-1)
    exact N thr     forecast.quantiles.quantiles_last, numba with N threads

StreamingQuantiles: update cost per value (batches of 1,000 draws) and result() per row.
The machine is shared: compare ratios within one run, not absolute times. When another
process holds a CPU, a parallel call waits for its second thread to be scheduled (ms), which
shows most in "warm" (20 rows a call) with 2 threads; CPU time equal to wall time with 2
threads means the second CPU was busy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forecast.quantiles import StreamingQuantiles, quantiles_last  # noqa: E402

Q = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def sort_based(x, quantiles):
    rows = x.reshape(-1, x.shape[-1]).copy()
    rows.sort(axis=-1)
    d = rows.shape[1]
    out = np.empty((len(quantiles), rows.shape[0]))
    for k, p in enumerate(quantiles):
        h = (d - 1) * p
        lo = int(np.floor(h))
        hi = min(lo + 1, d - 1)
        t = h - lo
        a, b = rows[:, lo], rows[:, hi]
        out[k] = b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t
    return out


def timed(f):
    wall, cpu = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - wall, time.process_time() - cpu


def with_threads(n, f):
    def run():
        numba.set_num_threads(n)
        f()
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    max_threads = numba.config.NUMBA_NUM_THREADS
    x = np.random.default_rng(0).gamma(3.0, 100.0, size=(args.rows, args.draws))

    t0 = time.perf_counter()
    exact = quantiles_last(x[:2], Q)                     # compile or cache load, not counted
    print(f"first call (compile / cache load): {time.perf_counter() - t0:.2f} s")
    exact = quantiles_last(x, Q)
    assert np.array_equal(exact, np.quantile(x, Q, axis=-1)), "not bit for bit"
    assert np.array_equal(exact, sort_based(x, Q))

    # cold: every row read from memory once; warm: the same 20 rows (in the CPU caches)
    # again and again, as rows summed just before (band_quantiles)
    warm_rows = x[:20]
    repeats = max(1, args.rows // 20)
    for label, data, calls in (("cold", x, 1), ("warm", warm_rows, repeats)):
        def repeat(f, data=data, calls=calls):
            return lambda: [f(data) for _ in range(calls)]
        methods = {"sort": repeat(lambda a: sort_based(a, Q)),
                   "np.quantile": repeat(lambda a: np.quantile(a, Q, axis=-1))}
        for n in sorted({1, max_threads}):
            methods[f"exact {n} thr"] = with_threads(n, repeat(lambda a: quantiles_last(a, Q)))
        best = {name: (np.inf, np.inf) for name in methods}
        for _ in range(args.rounds):
            for name, f in methods.items():
                wall, cpu = timed(f)
                if wall < best[name][0]:
                    best[name] = (wall, cpu)
        numba.set_num_threads(max_threads)

        n_rows = data.shape[0] * calls
        print(f"\n{label}: {n_rows} rows x {args.draws} draws, {len(Q)} quantiles, "
              f"best of {args.rounds}")
        print(f"{'method':<14}{'us/row wall':>12}{'us/row cpu':>12}{'sort / this':>13}")
        sort_wall = best["sort"][0]
        for name, (wall, cpu) in best.items():
            print(f"{name:<14}{wall / n_rows * 1e6:>12.1f}{cpu / n_rows * 1e6:>12.1f}"
                  f"{sort_wall / wall:>13.2f}")

    batch = 1_000
    print(f"\nStreamingQuantiles, {args.rows} rows, batches of {batch} draws, best of "
          f"{args.rounds}")
    for n in sorted({1, max_threads}):
        numba.set_num_threads(n)
        update, result = (np.inf, np.inf), (np.inf, np.inf)
        for _ in range(args.rounds):
            s = StreamingQuantiles(args.rows, Q)
            s.update(x[:, :batch])                       # first batch sets the range
            u = timed(lambda: [s.update(x[:, i:i + batch])
                               for i in range(batch, args.draws, batch)])
            r = timed(s.result)
            update, result = min(update, u), min(result, r)
        values = args.rows * (args.draws - batch)
        print(f"{n} thr: update {update[0] / values * 1e9:.2f} ns/value wall "
              f"({update[1] / values * 1e9:.2f} cpu), result {result[0] / args.rows * 1e6:.2f}"
              f" us/row wall; max |error| / tolerance "
              f"{np.max(np.abs(s.result() - exact) / s.tolerance()):.3f}")
    numba.set_num_threads(max_threads)


if __name__ == "__main__":
    main()
