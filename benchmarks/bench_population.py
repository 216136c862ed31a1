"""Time the cohort-component step: numba kernel vs the NumPy reference vs a per-trajectory loop.

    python benchmarks/bench_population.py            # batches 1, 1,000, 10,000; 20 years
    python benchmarks/bench_population.py --quick    # batches 1 and 1,000; CI; <= 30 s

Methods, all on the same inputs and preallocated outputs, in this one process:
  kernel          project_kernel (numba, parallel over the batch, all threads numba has)
  kernel 1 thr    the same with numba.set_num_threads(1)
  numpy batched   project_numpy on the whole batch (vectorised over batch, sex, age)
  numpy loop      project_numpy called once per trajectory with batch 1
Throughput is in cell-updates per second: one age-sex cell advanced one year, so a run does
batch x years x 2 x 106 of them. Each figure is the best of several repeats (the least
disturbed). The numba compile (or cache load) is timed separately and never counted.

--quick exits 1 only if the kernel is slower than the batched NumPy reference at batch 1,000;
absolute times are never checked.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecast.population.kernel import N_AGE, allocate, project_kernel, project_numpy  # noqa: E402
from forecast.population.rates import survival_ratios  # noqa: E402

YEARS = 20


def make_inputs(batch: int, years: int, seed: int = 0):
    """Random but valid, realistic inputs: Gompertz mortality with a random level per
    trajectory, year and sex; a bell-shaped ASFR with TFR 1.3..2.1; in-migrants 0..30 per
    cell and year; out-migration rates 0..8 %."""
    rng = np.random.default_rng(seed)
    x = np.arange(N_AGE, dtype=float)
    base = []
    for sex, level in (("female", 2.0e-5), ("male", 3.5e-5)):
        mx = 0.0002 + level * np.exp(0.095 * x)
        mx[0] = 0.003
        base.append(survival_ratios(mx, sex))
    base = np.array(base)  # (2, 107)
    # a mortality level factor k per trajectory, year and sex: S ** k stays in (0, 1]
    k = rng.uniform(0.8, 1.2, (batch, years, 2, 1))
    surv = base[None, None] ** k
    f = np.exp(-0.5 * ((x - 31.0) / 5.5) ** 2)
    f[(x < 15) | (x > 49)] = 0.0
    f /= f.sum()
    asfr = f[None, None] * rng.uniform(1.3, 2.1, (batch, years, 1))
    fem_share = np.full((batch, years), 1 / 2.0577)
    pop0 = rng.uniform(600, 1400, (batch, 2, N_AGE)) * np.exp(-x / 45.0)
    inmig = rng.uniform(0.0, 30.0, (batch, years, 2, N_AGE))
    outrate = rng.uniform(0.0, 0.08, (batch, years, 2, N_AGE))
    return pop0, surv, asfr, fem_share, inmig, outrate


def best_time(fn, repeats: int, min_time: float) -> float:
    """Best of `repeats` measurements, each timing enough calls to last >= `min_time` s."""
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time or calls >= 1 << 16:
            break
        calls *= 2 if elapsed == 0 else max(2, int(1.2 * min_time / elapsed))
    best = elapsed / calls
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def fresh_compile_seconds() -> float | None:
    """Compile time of project_kernel from nothing: a child process with an empty numba cache."""
    code = ("import time, sys; sys.path.insert(0, sys.argv[1]);"
            "from forecast.population.kernel import allocate, project_kernel;"
            "import numpy as np; z = np.zeros; b, t = 1, 1;"
            "a = (z((b, 2, 106)), np.ones((b, t, 2, 107)), z((b, t, 106)), z((b, t)),"
            " z((b, t, 2, 106)), z((b, t, 2, 106)));"
            "t0 = time.perf_counter(); project_kernel(*a, *allocate(b, t));"
            "print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        try:
            out = subprocess.run([sys.executable, "-c", code, str(ROOT)], env=env, timeout=600,
                                 capture_output=True, text=True, check=True)
            return float(out.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError):
            return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batches 1 and 1,000; CI check")
    ap.add_argument("--years", type=int, default=YEARS)
    ap.add_argument("--repeats", type=int, default=None, help="repeats per figure (best of)")
    ap.add_argument("--loop-subset", type=int, default=None,
                    help="largest number of trajectories the per-trajectory loop really runs; "
                         "bigger batches are extrapolated from it")
    args = ap.parse_args(argv)
    years = args.years
    batches = (1, 1000) if args.quick else (1, 1000, 10000)
    repeats = args.repeats or (5 if args.quick else 7)
    min_time = 0.05 if args.quick else 0.2
    loop_subset = args.loop_subset or (200 if args.quick else 1000)
    threads = numba.get_num_threads()

    # 1. compile / cache load, excluded from every figure below
    inputs = make_inputs(1, years)
    t0 = time.perf_counter()
    project_kernel(*inputs, *allocate(1, years))
    first_call = time.perf_counter() - t0
    stats = project_kernel.stats
    source = ("loaded from numba's cache" if stats.cache_hits else
              "compiled (no usable cache)" if stats.cache_misses else "compiled")
    print(f"cohort-component step, {years} years, 2 sexes x {N_AGE} ages; "
          f"numba {numba.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"numba threads {threads}")
    print(f"first kernel call: {first_call:.3f} s ({source}; not counted below)")
    if not args.quick:
        fresh = fresh_compile_seconds()
        print("fresh compile (empty cache, child process): "
              + (f"{fresh:.2f} s" if fresh is not None else "could not be measured"))

    rows, notes, check = [], [], {}
    for batch in batches:
        inp = make_inputs(batch, years, seed=batch)
        cells = batch * years * 2 * N_AGE
        out_k, out_n, out_l = allocate(batch, years), allocate(batch, years), allocate(batch, years)

        def kernel():
            project_kernel(*inp, *out_k)

        def batched():
            project_numpy(*inp, *out_n)

        n_loop = min(batch, loop_subset)
        loop_in = [tuple(a[b:b + 1] for a in inp) for b in range(n_loop)]
        loop_out = [tuple(a[b:b + 1] for a in out_l) for b in range(n_loop)]

        def loop():
            for i, o in zip(loop_in, loop_out):
                project_numpy(*i, *o)

        times = {"kernel": best_time(kernel, repeats, min_time)}
        numba.set_num_threads(1)
        try:
            times["kernel 1 thr"] = best_time(kernel, repeats, min_time)
        finally:
            numba.set_num_threads(threads)
        times["numpy batched"] = best_time(batched, repeats, min_time)
        loop_repeats = repeats if n_loop * years < 20000 else max(2, repeats // 3)
        times["numpy loop"] = best_time(loop, loop_repeats, min_time) * batch / n_loop
        if n_loop < batch:
            notes.append(f"numpy loop at batch {batch:,}: {n_loop:,} trajectories timed, "
                         f"scaled by {batch / n_loop:g} (extrapolated)")

        # the methods must compute the same thing
        for ref in (out_n, out_l):
            m = n_loop if ref is out_l else batch
            for a, b in zip(out_k, ref):
                if not np.allclose(a[:m], b[:m], rtol=1e-9, atol=1e-9 * out_n[0].max()):
                    print("ERROR: kernel and NumPy reference disagree", file=sys.stderr)
                    return 2
        check[batch] = times
        rows.append((batch, cells, times))

    # 2. the table
    methods = ("kernel", "kernel 1 thr", "numpy batched", "numpy loop")
    print()
    print(f"{'batch':>7} {'method':<14} {'time / run':>12} {'cell-updates/s':>15}")
    for batch, cells, times in rows:
        for m in methods:
            ext = " *" if (m == "numpy loop" and min(batch, loop_subset) < batch) else ""
            print(f"{batch:>7,} {m:<14} {fmt_time(times[m]):>12} {cells / times[m]:>15.3e}{ext}")
    print()
    print("speed-up of the kernel (time of the other method / time of the kernel):")
    print(f"{'batch':>7} {'vs numpy batched':>17} {'vs numpy loop':>14} "
          f"{'1-thread kernel vs batched':>27}")
    for batch, _, t in rows:
        print(f"{batch:>7,} {t['numpy batched'] / t['kernel']:>16.1f}x "
              f"{t['numpy loop'] / t['kernel']:>13.1f}x "
              f"{t['numpy batched'] / t['kernel 1 thr']:>26.1f}x")
    for n in notes:
        print("* " + n)

    if args.quick:
        t = check[1000]
        if t["kernel"] > t["numpy batched"]:
            print(f"FAIL: the kernel ({fmt_time(t['kernel'])}) is slower than the batched NumPy "
                  f"reference ({fmt_time(t['numpy batched'])}) at batch 1,000", file=sys.stderr)
            return 1
        print("quick check passed: kernel faster than batched NumPy at batch 1,000")
    return 0


def fmt_time(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
