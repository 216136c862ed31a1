"""Time the population stage for many regions and for sub-areas, as ratios in one process.

    python benchmarks/bench_regions.py            # (a) stage, kernel and whole chain; (b)
    python benchmarks/bench_regions.py --quick    # (a) kernel only, (b) fewer repeats; ~20 s

(a) All 357 municipalities (2024 borders), 2018-2038: `project_population` on inputs built
    from shared/data/norway/municipalities/population_by_age_sex_2005_2018.csv.gz (counts at
    1 January 2018) with Bærum's schedules as TIMING STAND-INS, not a forecast: mortality,
    fertility and sex ratio of data/baerum shared by every municipality, fert_level 1, and
    Bærum's migration (data/baerum/migration.csv) with its in-migrant counts scaled to each
    municipality's population. Timed against a single-municipality projection of Bærum
    (3201) on the same inputs. If `forecast.api.run` takes `regions` and
    scenarios/norway-tjenester.toml exists, also the whole chain population -> demand -> cost
    for every municipality (`api.run(..., regions="all")`, warm) against the single Bærum
    `api.run()`; the issue's target is under 2 s.
(b) Sub-areas: R = 3, 30, 300 areas of Bærum (each a random share of its population and of
    its in-migrants, Bærum's out-migration rates) that exchange movers through the pool
    (`Exchange`: a move rate by age, the pool shared out by population share). The kernel
    (with the exact arguments project_population passes it) with full outputs and with
    bands; time per area and t(300) / t(3) / 100 (1 = linear in the number of areas).

Every figure is the best of several repeats, interleaved (the machine is shared).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import forecast.population.model as model  # noqa: E402
from forecast import SHARED_DIR  # noqa: E402
from bench_population import fmt_time, measure  # noqa: E402
from forecast.inputs.tables import (read_fertility, read_migration, read_mortality,  # noqa: E402
                                    read_population_history, read_sex_ratio,
                                    regional_population, sex_age_array)
from forecast.population.model import (Exchange, PopulationAssumptions,  # noqa: E402
                                       PopulationInputs, project_population)

POP_FILE = SHARED_DIR / "data/norway/municipalities/population_by_age_sex_2005_2018.csv.gz"
BAERUM_DATA = ROOT / "data/baerum"
BAERUM = "3201"
BASE, END = 2018, 2038
SCENARIO_ALL = ROOT / "scenarios/norway-tjenester.toml"
TARGET_CHAIN = 2.0  # seconds, issue 8


def schedules() -> dict:
    """Bærum's rate schedules (shared by every region here)."""
    inmig, outrate, components = read_migration(BAERUM_DATA / "migration.csv")
    return dict(mx=read_mortality(BAERUM_DATA / "mortality.csv"),
                asfr=read_fertility(BAERUM_DATA / "fertility.csv"),
                sex_ratio=read_sex_ratio(BAERUM_DATA / "birth_sex_ratio.csv"),
                inmig=inmig, outrate=outrate, components=components)


def municipality_inputs(base: np.ndarray, codes: tuple, s: dict, baerum_total: float
                        ) -> PopulationInputs:
    """Regions with Bærum's schedules, in-migrant counts scaled to each region's size."""
    size = base.sum(axis=(1, 2)) / baerum_total
    n = len(codes)
    return PopulationInputs(
        regions=codes, base_pop=base, mx=s["mx"], asfr=s["asfr"], fert_level=np.ones(n),
        sex_ratio=s["sex_ratio"], inmig=s["inmig"][:, None] * size[None, :, None, None],
        outrate=np.repeat(s["outrate"][:, None], n, axis=1), components=s["components"])


def area_inputs(n_area: int, baerum: np.ndarray, s: dict, seed: int = 0) -> PopulationInputs:
    """Bærum split into n_area sub-areas that exchange movers."""
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(n_area, 4.0))
    age = np.arange(baerum.shape[-1], dtype=float)
    # movers to other areas per mid-year resident: ~2 %, peaking at ~9 % around age 25
    profile = 0.02 + 0.07 * np.exp(-0.5 * ((age - 25.0) / 6.0) ** 2)
    rate = profile[None, None] * rng.uniform(0.8, 1.2, (n_area, 1, 1)) * np.ones((1, 2, 1))
    pool_share = np.broadcast_to(share[:, None, None], rate.shape).copy()
    return PopulationInputs(
        regions=tuple(f"A{i:03d}" for i in range(n_area)),
        base_pop=baerum[None] * share[:, None, None], mx=s["mx"], asfr=s["asfr"],
        fert_level=np.ones(n_area), sex_ratio=s["sex_ratio"],
        inmig=s["inmig"][:, None] * share[None, :, None, None],
        outrate=np.repeat(s["outrate"][:, None], n_area, axis=1), components=s["components"],
        exchange=Exchange(rate=rate, share=pool_share), layout="areas")


def kernel_args(inputs: PopulationInputs, a: PopulationAssumptions, outputs: str) -> tuple:
    """The arguments project_population passes to project_kernel (it runs once)."""
    real, seen = model.project_kernel, {}

    def spy(*args):
        seen["args"] = args
        return real(*args)
    model.project_kernel = spy
    try:
        project_population(inputs, a, outputs=outputs)
    finally:
        model.project_kernel = real
    return seen["args"]


def best_of(fns: dict, repeats: int, min_time: float) -> dict:
    """Best seconds per call of each function, rounds interleaved (bench_population.measure);
    a key (..., 1) runs with one numba thread."""
    return measure({name: (fn, 1 if name[-1] == 1 else None) for name, fn in fns.items()},
                   repeats, min_time)


fmt = fmt_time


def bench_municipalities(quick: bool, repeats: int, min_time: float) -> None:
    a = PopulationAssumptions(base_year=BASE, end_year=END)
    s = schedules()
    t0 = time.perf_counter()
    history = read_population_history(POP_FILE)
    codes = tuple(dict.fromkeys(history["municipality"]))
    base = regional_population(history, codes, BASE, POP_FILE)
    t_read = time.perf_counter() - t0
    i = codes.index(BAERUM)
    total = base[i].sum()
    every = municipality_inputs(base, codes, s, total)
    one = municipality_inputs(base[i:i + 1], (BAERUM,), s, total)
    print(f"(a) {len(codes)} municipalities, {BASE}-{END}: {base.sum():,.0f} persons at 1.1.{BASE} "
          f"(reading the population file: {t_read:.2f} s, not counted); rates: Bærum's "
          "schedules, in-migrants scaled to size - timing stand-ins, not a forecast")
    fns = {}
    for outputs in ("bands", "full"):
        for label, inp in (("all", every), ("Bærum", one)):
            args = kernel_args(inp, a, outputs)
            for threads in ("all", 1):
                fns[("kernel", outputs, label, threads)] = (
                    lambda args=args: model.project_kernel(*args))
            if not quick:
                fns[("project_population", outputs, label, "all")] = (
                    lambda inp=inp, o=outputs: project_population(inp, a, outputs=o))
    t = best_of(fns, repeats, min_time)
    print(f"    {'what':<20} {'outputs':<7} {'threads':>7} {'357 regions':>12} {'Bærum':>10} "
          f"{'ratio':>8} {'ratio / 357':>12}")
    for what in ("kernel", "project_population"):
        for outputs in ("bands", "full"):
            for threads in ("all", 1):
                if (what, outputs, "all", threads) not in t:
                    continue
                t_all = t[(what, outputs, "all", threads)]
                t_one = t[(what, outputs, "Bærum", threads)]
                print(f"    {what:<20} {outputs:<7} {str(threads):>7} {fmt(t_all):>12} "
                      f"{fmt(t_one):>10} {t_all / t_one:>7.1f}x "
                      f"{t_all / t_one / len(codes):>12.3f}")
    if quick:
        return
    from forecast import api
    if "regions" not in inspect.signature(api.run).parameters or not SCENARIO_ALL.exists():
        print("    whole chain: skipped (api.run has no `regions` or "
              f"{SCENARIO_ALL.relative_to(ROOT)} is missing)")
        return
    chain = {("all",): lambda: api.run(SCENARIO_ALL, regions="all"),
             ("Bærum",): lambda: api.run()}
    first = {}
    for k, fn in chain.items():
        t0 = time.perf_counter()
        fn()
        first[k] = time.perf_counter() - t0
    t = best_of(chain, max(3, repeats // 2), 0.0)
    t_all, t_one = t[("all",)], t[("Bærum",)]
    verdict = "met" if t_all < TARGET_CHAIN else "NOT met"
    print(f"    whole chain population -> demand -> cost (forecast.api.run, warm, best of "
          f"{max(3, repeats // 2)}):")
    print(f"      {SCENARIO_ALL.name}, regions='all' (its own rates, data/norway): "
          f"{fmt(t_all)} (first call {fmt(first[('all',)])})")
    print(f"      single Bærum api.run() ({api.DEFAULT_RUN_SCENARIO.name}): {fmt(t_one)} "
          f"(first call {fmt(first[('Bærum',)])})")
    print(f"      ratio {t_all / t_one:.1f}x; target < {TARGET_CHAIN:g} s: {verdict}")


def bench_areas(repeats: int, min_time: float) -> None:
    a = PopulationAssumptions(base_year=BASE, end_year=END)
    s = schedules()
    baerum = read_population_history(BAERUM_DATA / "population.csv")
    baerum = baerum[baerum["year"] == BASE]
    pop = sex_age_array(baerum, "persons", BAERUM_DATA / "population.csv")
    sizes = (3, 30, 300)
    fns = {}
    for n in sizes:
        inp = area_inputs(n, pop, s, seed=n)
        for outputs in ("full", "bands"):
            args = kernel_args(inp, a, outputs)
            for threads in ("all", 1):
                fns[(n, outputs, threads)] = lambda args=args: model.project_kernel(*args)
    t = best_of(fns, repeats, min_time)
    print(f"(b) sub-areas of Bærum exchanging movers, {BASE}-{END}, the kernel with the arguments "
          "project_population passes (one draw = one block: the areas run on one thread)")
    print(f"    {'areas':>6} {'outputs':<7} {'threads':>7} {'time / run':>11} {'per area':>10}")
    for n in sizes:
        for outputs in ("full", "bands"):
            for threads in ("all", 1):
                x = t[(n, outputs, threads)]
                print(f"    {n:>6} {outputs:<7} {str(threads):>7} {fmt(x):>11} {fmt(x / n):>10}")
    for outputs in ("full", "bands"):
        for threads in ("all", 1):
            lin = t[(300, outputs, threads)] / t[(3, outputs, threads)] / 100
            lin30 = t[(300, outputs, threads)] / t[(30, outputs, threads)] / 10
            print(f"    {outputs:<5} threads {str(threads):<3}: t(300) / t(3) / 100 = {lin:.2f}, "
                  f"t(300) / t(30) / 10 = {lin30:.2f} (1 = linear in the number of areas)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="(a) kernel only, (b) fewer repeats; about 20 s")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    repeats = args.repeats or (9 if args.quick else 15)
    min_time = 0.01 if args.quick else 0.02
    print(f"numba {numba.__version__} with {numba.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    bench_municipalities(args.quick, repeats, min_time)
    bench_areas(repeats, min_time)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
