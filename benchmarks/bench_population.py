"""Time the population kernel: new kernel (compact rates, outputs on request) vs the previous
kernel (per-trajectory full arrays, full outputs) vs the NumPy reference.

    python benchmarks/bench_population.py            # batches 1, 1,000, 10,000, 357 x 28
    python benchmarks/bench_population.py --quick    # batches 1 and 1,000; CI; ~30 s

Inputs are one cohort-component projection of 20 years as the model builds it: a survival
schedule (and half = its square root) and a fertility schedule shared by every draw and
region, (1, 1, T, ...); level factors per draw and year (fert, in_level, out_level, (D, 1, T));
a migration schedule per region ((1, R, 1, 2, 106)). A batch is D draws of R regions.

Methods, on the same inputs, in this one process:
  kernel           forecast.population.kernel.project_kernel, compact rates, outputs reduced
                   to age bands (group_pop, edges 0,6,16,67,80,90,106) + the final stock;
                   numba, parallel over the batch, all threads numba has
  kernel full      the same kernel with full outputs: pop, births, deaths, inflow, outflow
                   (internal_in/internal_out not asked for: no exchange between regions)
  kernel 1 thr     "kernel" after numba.set_num_threads(1)
  previous kernel  benchmarks/previous_kernel.py on the equivalent per-trajectory full arrays
                   (schedules broadcast, factors multiplied in), its own full outputs; building
                   its inputs is not timed, its outputs are preallocated
  numpy reference  kernel.project_numpy on the compact inputs (allocates its own outputs)

Throughput is in cell-updates per second: one age-sex cell advanced one year, so a run does
batch x years x 2 x 106 of them. Figures are the best of several repeats, methods interleaved
in every round (the machine is shared; the least disturbed run counts), and speed is only
ever a ratio between methods in this process. The numba compile (or cache load) is timed
separately and never counted. Before anything is printed the methods must agree: population
in the last year within 1e-9 relative, and the bands equal to the full population summed.

--quick exits 1 only if the kernel is slower than the NumPy reference at batch 1,000 (2 if the
methods disagree); absolute times are never checked.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import previous_kernel  # noqa: E402
from forecast.population.kernel import N_AGE, empty, project_kernel, project_numpy  # noqa: E402
from forecast.population.rates import survival_ratios  # noqa: E402

YEARS = 20
EDGES = np.array([0, 6, 16, 67, 80, 90, 106], dtype=np.int64)
METHODS = ("kernel", "kernel full", "kernel 1 thr", "previous kernel", "numpy reference")
TARGET = 4.0  # issue 8: the kernel with reduced outputs >= 4x the previous kernel at 10,000


def cells(draws: int, regions: int, years: int) -> int:
    return draws * regions * years * 2 * N_AGE


def make_case(draws: int, regions: int, years: int, seed: int = 0) -> tuple:
    """Compact kernel inputs (the first 14 arguments of project_kernel): random but valid and
    realistic. Gompertz mortality improving over the years (S ** k, k 1 -> 0.8), a bell-shaped
    fertility schedule of TFR 1 times a level 1.3..2.1 per draw and year, in/out levels
    0.6..1.4 per draw and year, each region its own size, in-migrant counts (0..30 per cell
    for a region of size 1) and out-migration rates (0..5 %)."""
    rng = np.random.default_rng(seed)
    x = np.arange(N_AGE, dtype=float)
    base = []
    for sex, level in (("female", 2.0e-5), ("male", 3.5e-5)):
        mx = 0.0002 + level * np.exp(0.095 * x)
        mx[0] = 0.003
        base.append(survival_ratios(mx, sex))
    k = np.linspace(1.0, 0.8, years)[:, None, None]
    surv = np.ascontiguousarray((np.array(base)[None] ** k)[None, None])   # (1, 1, T, 2, 107)
    half = np.sqrt(surv)
    f = np.exp(-0.5 * ((x - 31.0) / 5.5) ** 2)
    f[(x < 15) | (x > 49)] = 0.0
    asfr = np.broadcast_to(f / f.sum(), (1, 1, years, N_AGE)).copy()
    fert = rng.uniform(1.3, 2.1, (draws, 1, 1)) * rng.uniform(0.95, 1.05, (draws, 1, years))
    fem_share = np.full((1, years), 1 / 2.0577)
    size = rng.lognormal(0.0, 1.0, regions) if regions > 1 else np.ones(1)
    pop0 = (size[:, None, None] * rng.uniform(600, 1400, (regions, 2, N_AGE))
            * np.exp(-x / 45.0))
    inmig = size[None, :, None, None, None] * rng.uniform(0.0, 30.0, (1, regions, 1, 2, N_AGE))
    in_level = rng.uniform(0.6, 1.4, (draws, 1, years))
    outrate = rng.uniform(0.0, 0.05, (1, regions, 1, 2, N_AGE))
    out_level = rng.uniform(0.6, 1.4, (draws, 1, years))
    no_moves = np.zeros((1, 1, 2, N_AGE))
    return (pop0, surv, half, asfr, fert, fem_share, inmig, in_level, outrate, out_level,
            no_moves, no_moves, False, EDGES)


def previous_inputs(case: tuple) -> tuple:
    """The same projection as per-trajectory full arrays for previous_kernel (trajectory
    b = d * R + r): schedules broadcast, level factors multiplied in."""
    pop0, surv, _, asfr, fert, fem, inmig, in_level, outrate, out_level = case[:10]
    n_draw, n_reg, years = fert.shape[0], pop0.shape[0], surv.shape[2]
    lead = (n_draw, n_reg, years)

    def full(x, tail):  # a writeable C-contiguous copy, as the previous model passed
        return np.broadcast_to(x, lead + tail).copy().reshape((n_draw * n_reg, years) + tail)
    return (np.broadcast_to(pop0, (n_draw,) + pop0.shape).copy().reshape(n_draw * n_reg, 2,
                                                                          N_AGE),
            full(surv, (2, N_AGE + 1)), full(asfr * fert[..., None], (N_AGE,)),
            full(fem[:, None, :], ()),
            full(inmig * in_level[..., None, None], (2, N_AGE)),
            full(outrate * out_level[..., None, None], (2, N_AGE)))


class Runs:
    """The methods of one batch, with their preallocated outputs."""

    def __init__(self, case: tuple, with_numpy: bool = True):
        self.case = case
        n_draw, n_reg, years = case[4].shape[0], case[0].shape[0], case[1].shape[2]
        self.shape = (n_draw, n_reg, years)
        g = len(EDGES) - 1
        self.group_pop = np.zeros((n_draw, n_reg, years + 1, 2, g))
        self.final = np.zeros((n_draw, n_reg, 2, N_AGE))
        flow = (n_draw, n_reg, years, 2, N_AGE)
        self.pop = np.zeros((n_draw, n_reg, years + 1, 2, N_AGE))
        self.births = np.zeros((n_draw, n_reg, years, 2))
        self.flows = [np.zeros(flow) for _ in range(3)]  # deaths, inflow, outflow
        self.prev_in = previous_inputs(case)
        self.prev_out = previous_kernel.allocate(n_draw * n_reg, years)
        for a in self.prev_out:
            a.fill(0.0)  # touch the pages now, not in the first timed call
        self.numpy_out = None
        self.with_numpy = with_numpy

    def kernel(self):
        project_kernel(*self.case, empty(5), empty(4), *(empty(5) for _ in range(5)),
                       self.group_pop, self.final)

    def kernel_full(self):
        project_kernel(*self.case, self.pop, self.births, *self.flows, empty(5), empty(5),
                       empty(5), empty(4))

    def previous(self):
        previous_kernel.project_kernel(*self.prev_in, *self.prev_out)

    def numpy(self):
        self.numpy_out = project_numpy(*self.case[:13])

    def methods(self) -> dict:
        """name -> (function, numba threads or None for all)."""
        out = {"kernel": (self.kernel, None), "kernel full": (self.kernel_full, None),
               "kernel 1 thr": (self.kernel, 1), "previous kernel": (self.previous, None)}
        if self.with_numpy:
            out["numpy reference"] = (self.numpy, None)
        return out

    def check(self) -> list[str]:
        """Differences beyond 1e-9 relative between the methods' last-year population."""
        n_draw, n_reg, years = self.shape
        ref = self.pop[:, :, -1]
        scale = np.abs(ref).max()
        last = {"kernel (final)": self.final,
                "previous kernel": self.prev_out[0][:, -1].reshape(ref.shape)}
        if self.numpy_out is not None:
            last["numpy reference"] = self.numpy_out["pop"][:, :, -1]
        bands = np.stack([self.pop[..., lo:hi].sum(axis=-1)
                          for lo, hi in zip(EDGES[:-1], EDGES[1:])], axis=-1)
        problems = []
        for name, x in last.items():
            err = np.abs(x - ref).max() / scale
            if not err <= 1e-9:
                problems.append(f"{name} vs kernel full: last-year pop differs by {err:.2e} "
                                "relative")
        err = np.abs(self.group_pop - bands).max() / np.abs(bands).max()
        if not err <= 1e-9:
            problems.append(f"kernel bands vs kernel full pop summed: {err:.2e} relative")
        return problems


def measure(methods: dict, repeats: int, min_time: float) -> dict:
    """Best time per call of each method: every round times each method once (interleaved),
    each measurement a number of calls that lasts >= min_time."""
    threads = numba.get_num_threads()
    calls, best = {}, {}

    def timed(name, n):
        fn, thr = methods[name]
        numba.set_num_threads(thr or threads)
        try:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            return time.perf_counter() - t0
        finally:
            numba.set_num_threads(threads)

    for name in methods:  # warm (page faults, caches), then find a number of calls
        timed(name, 1)
        n = 1
        while True:
            elapsed = timed(name, n)
            if elapsed >= min_time or n >= 1 << 16:
                break
            n *= 2 if elapsed <= 0 else max(2, int(1.2 * min_time / elapsed))
        calls[name], best[name] = n, elapsed / n
    # a method that takes seconds (NumPy at large batches) runs in every third round only
    every = {name: 1 if best[name] * calls[name] < 0.5 else 3 for name in methods}
    for i in range(1, repeats):
        for name in methods:
            if i % every[name] == 0:
                best[name] = min(best[name], timed(name, calls[name]) / calls[name])
    return best


def first_call() -> dict:
    """Seconds of the first call of each kernel (compile or load from numba's cache)."""
    case = make_case(1, 1, 2)
    runs = Runs(case, with_numpy=False)
    out = {}
    for name, fn, disp in (("kernel", runs.kernel, project_kernel),
                           ("previous kernel", runs.previous, previous_kernel.project_kernel)):
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        stats = disp.stats
        how = ("loaded from numba's cache" if stats.cache_hits else
               "compiled, no usable cache" if stats.cache_misses else "compiled")
        out[name] = (elapsed, how)
    runs.kernel_full()  # same signature: no second compile
    return out


FRESH = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import bench_population as b
case = b.make_case(1, 1, 2)
runs = b.Runs(case, with_numpy=False)
for fn in (runs.kernel, runs.previous):
    t0 = time.perf_counter(); fn(); print(time.perf_counter() - t0)
"""


def fresh_compile() -> tuple | None:
    """Compile seconds (new kernel, previous kernel) from nothing: a child process with an
    empty NUMBA_CACHE_DIR."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        try:
            out = subprocess.run([sys.executable, "-c", FRESH, str(ROOT), str(HERE)], env=env,
                                 timeout=900, capture_output=True, text=True, check=True)
            new, old = (float(v) for v in out.stdout.split()[-2:])
            return new, old
        except (subprocess.SubprocessError, ValueError):
            return None


def fmt_time(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batches 1 and 1,000; the CI check")
    ap.add_argument("--years", type=int, default=YEARS)
    ap.add_argument("--repeats", type=int, default=None, help="rounds per batch (best of)")
    ap.add_argument("--no-fresh-compile", action="store_true",
                    help="skip timing a compile from an empty cache in a child process")
    args = ap.parse_args(argv)
    years = args.years
    # (label, draws, regions)
    batches = [("1", 1, 1), ("1,000", 1000, 1)]
    if not args.quick:
        batches += [("10,000", 10000, 1), ("357 x 28", 28, 357)]
    repeats = args.repeats or (7 if args.quick else 9)
    min_time = 0.02 if args.quick else 0.05
    threads = numba.get_num_threads()

    first = first_call()
    print(f"population kernel, {years} years, 2 sexes x {N_AGE} ages; Python "
          f"{platform.python_version()}, numba {numba.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} CPUs, numba threads {threads} ({numba.threading_layer()} layer)")
    for name, (secs, how) in first.items():
        print(f"first call of the {name}: {secs:.3f} s ({how}; not counted below)")
    if not args.quick and not args.no_fresh_compile:
        fresh = fresh_compile()
        print("compile from an empty cache (child process): " + (
            f"kernel {fresh[0]:.2f} s, previous kernel {fresh[1]:.2f} s" if fresh
            else "could not be measured"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes share the CPUs)")

    rows = []
    for label, n_draw, n_reg in batches:
        case = make_case(n_draw, n_reg, years, seed=n_draw * 1000 + n_reg)
        runs = Runs(case)
        for fn, _ in runs.methods().values():
            fn()
        problems = runs.check()
        if problems:
            for p in problems:
                print(f"ERROR at batch {label}: {p}", file=sys.stderr)
            return 2
        times = measure(runs.methods(), repeats, min_time)
        rows.append((label, n_draw, n_reg, times))
        del runs, case

    print()
    print(f"{'batch':>9} {'draws x regions':>16} {'method':<16} {'time / run':>11} "
          f"{'cell-updates/s':>15} {'previous / this':>16}")
    for label, n_draw, n_reg, times in rows:
        n = cells(n_draw, n_reg, years)
        for m in METHODS:
            t = times[m]
            print(f"{label:>9} {f'{n_draw:,} x {n_reg}':>16} {m:<16} {fmt_time(t):>11} "
                  f"{n / t:>15.3e} {times['previous kernel'] / t:>15.3g}x")
    print()
    print("speed-up (time of the other method / time of the kernel with reduced outputs):")
    print(f"{'batch':>9} {'vs previous':>12} {'full vs prev':>13} {'vs numpy':>9} "
          f"{'all thr vs 1':>13}")
    for label, _, _, t in rows:
        print(f"{label:>9} {t['previous kernel'] / t['kernel']:>11.3g}x "
              f"{t['previous kernel'] / t['kernel full']:>12.3g}x "
              f"{t['numpy reference'] / t['kernel']:>8.3g}x "
              f"{t['kernel 1 thr'] / t['kernel']:>12.3g}x")
    for label, _, _, t in rows:
        if label == "10,000":
            s = t["previous kernel"] / t["kernel"]
            print(f"target (issue 8): kernel with reduced outputs >= {TARGET:g}x the previous "
                  f"kernel at batch 10,000: {s:.2f}x, " + ("met" if s >= TARGET else "NOT met"))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")

    if args.quick:
        t = dict((r[0], r[3]) for r in rows)["1,000"]
        if t["kernel"] > t["numpy reference"]:
            print(f"FAIL: the kernel ({fmt_time(t['kernel'])}) is slower than the NumPy "
                  f"reference ({fmt_time(t['numpy reference'])}) at batch 1,000",
                  file=sys.stderr)
            return 1
        print("quick check passed: the kernel is faster than the NumPy reference at batch "
              "1,000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
