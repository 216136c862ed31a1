"""Uncertainty through the whole chain (issue 9): draws of the population by the age groups
that demand needs, then demand, capacity and cost of every draw, reduced to quantiles and
shortfall probabilities chunk by chunk of regions, so no draw's full output is kept.

    run_draws(inputs, assumptions, settings, config, costs) -> xarray.Dataset
      coords quantile, [region,] year, band, service
      pop_band(quantile, [region,] band, year)   persons, both sexes; bands 0-5 .. 90+, 67+,
                                                 80+, total
      need, gap, cost(quantile, [region,] service, year)  gap = need - capacity (positive =
                                                 shortfall), NaN without capacity; cost in NOK
      p_shortfall([region,] service, year)       share of draws with need > capacity
      first_year_p50, first_year_p80([region,] service)   first year the probability passes
                                                 50 % / 80 % (NaN if never)
      total_pop_band, total_need, total_cost  with several regions: quantiles of the sum
                                                 over the regions of each draw
      attrs draws, seed, vary, components, unit_cost_sd, coverage_sd

The kernel writes persons of both sexes (demand sums the sexes first) in the cells between
every edge of the services' age groups and of the KOSTRA bands; a "population" whose ages
are those cells (labelled by their first age) goes through the same compute_demand and
compute_cost as the deterministic run, with `draw` as the last dim (the kernel writes every
draw of a row contiguously). Quantiles are exact (forecast.quantiles: the numbers of
np.quantile over every draw of a region, found by selection, not by sorting), and a region's
numbers do not depend on the chunks or the workers (population.stochastic: each region's
local draws come from its own key), so a Dask run gives the same numbers as a local one, bit
for bit. More draws than fit in memory run in batches, their quantiles streamed (within a
stated tolerance, <name>_tolerance). With [uncertainty] coverage_sd or unit_cost_sd, each
draw's need and cost are also multiplied by its coverage and unit-cost factors
(service_factors), the same in every municipality.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import ForecastError
from .population.kernel import N_SURV
from .population.stochastic import (QUANTILES, DrawPlan, Scratch, group_draws, plan_batches,
                                   plan_draws, region_chunks, small_pages)
from .quantiles import StreamingQuantiles, band_quantiles, quantiles_last
from .report import AGE_GROUPS

REPORT_BANDS = {**AGE_GROUPS, "total": (0, 105)}
# group outputs plus demand's arrays of one chunk: regions are chunked to about this
CHUNK_BYTES = 256 * 2 ** 20
# the survival of the draws in memory at once: beyond it, batches of draws and streamed quantiles
PLAN_BYTES = 384 * 2 ** 20     # about 11,700 draws of 20 years
STREAM_BINS = 512
SCHEDULER_TIMEOUT = 10          # seconds to reach a dask.distributed scheduler
# demand's series the draws keep: need, capacity, and what compute_cost reads
DRAW_SERIES = ("need", "capacity", "hours", "months_per_user")


def cell_edges(config=None) -> np.ndarray:
    """Sorted age edges of every KOSTRA band and every service age group."""
    edges = {0, 106}
    for lo, hi in REPORT_BANDS.values():
        edges |= {lo, hi + 1}
    if config is not None:
        for s in config.services.values():
            for g in s.groups:
                edges |= {int(g.lo), int(g.hi) + 1}
    return np.array(sorted(e for e in edges if 0 <= e <= 106), dtype=np.int64)


def _cells_population(group: np.ndarray, edges: np.ndarray, codes, first_year: int
                      ) -> xr.Dataset:
    """group (R, T+1, 1, G, D) as pop(region, year, sex, age, draw) with one age per cell and
    one sex, both sexes summed."""
    n_reg, n_year, _, _, n_draw = group.shape
    return xr.Dataset({"pop": (("region", "year", "sex", "age", "draw"), group)},
                      coords={"draw": np.arange(n_draw), "region": list(codes),
                              "year": np.arange(first_year, first_year + n_year),
                              "sex": ["both"], "age": edges[:-1]})


def _first_year(prob: np.ndarray, years: np.ndarray, level: float) -> np.ndarray:
    passed = prob > level
    first = np.where(passed.any(axis=-1), years[passed.argmax(axis=-1)], np.nan)
    return first.astype(float)


def band_cells(edges: np.ndarray) -> np.ndarray:
    """(B, G) bool: which age cells (of both sexes) make up each report band."""
    lows = np.asarray(edges)[:-1]
    return np.array([[(b_lo <= lo <= b_hi) for lo in lows]
                     for b_lo, b_hi in REPORT_BANDS.values()])


def service_factors(settings, config, costs) -> dict | None:
    """The draws' factors on coverage and unit costs (settings.coverage_sd, unit_cost_sd):
    exp of a random walk from 1 at the first demand year, yearly steps N(0, sd^2), one walk
    per draw shared by every municipality (coverage: one per service too), from
    default_rng([seed, 3]) and [seed, 4]. None when both sds are 0. Draws last:
    coverage (S, Y, D), unit_cost (Y, D); needs_cost (S,) bool: the service's cost follows
    its need (cost basis need, hours or months; not capacity)."""
    cov_sd, unit_sd = settings.coverage_sd, settings.unit_cost_sd
    if config is None or (cov_sd == 0.0 and unit_sd == 0.0):
        return None
    n_draw, ids, n_years = settings.draws, list(config.services), len(config.years)

    def log_walk(key: int, shape) -> np.ndarray:   # (*shape, Y), 0 at the first year
        steps = np.random.default_rng([int(settings.seed), key]).standard_normal(
            shape + (n_years - 1,))
        return np.concatenate([np.zeros(shape + (1,)), np.cumsum(steps, axis=-1)], axis=-1)

    cov = np.exp(cov_sd * log_walk(3, (n_draw, len(ids)))) if cov_sd > 0 else None
    unit = np.exp(unit_sd * log_walk(4, (n_draw,))) if unit_sd > 0 else None
    with_need = np.array([costs is not None and sid in costs.services
                          and costs.services[sid].basis != "capacity" for sid in ids])
    return {"coverage": None if cov is None else np.ascontiguousarray(cov.transpose(1, 2, 0)),
            "unit_cost": None if unit is None else np.ascontiguousarray(unit.T),
            "needs_cost": with_need}


def _draws_of(factors: dict | None, d0: int, d1: int) -> dict | None:
    """The factors of draws d0..d1-1 (a batch)."""
    if factors is None:
        return None

    def draws(x):
        return None if x is None else np.ascontiguousarray(x[..., d0:d1])
    return {**factors, "coverage": draws(factors["coverage"]),
            "unit_cost": draws(factors["unit_cost"])}


def chunk_demand(group: np.ndarray, plan: DrawPlan, lo: int, hi: int, first_year: int, config,
                 costs, factors: dict | None = None) -> dict:
    """need, capacity and cost (Rc, S, Y, D) of every draw of regions lo..hi-1 from their
    cells group (Rc, T+1, 1, G, D), through compute_demand and compute_cost, with the draws'
    coverage and unit-cost factors (service_factors) when given: need times the coverage
    factor, cost times it where the cost follows need, and times the unit-cost factor."""
    from .cost import compute_cost
    from .demand import compute_demand

    pop = _cells_population(group, plan.edges, plan.inputs.regions[lo:hi], first_year)
    ds = compute_demand(pop, config, series=DRAW_SERIES)
    if costs is not None:
        ds = compute_cost(ds, costs)
    dims = ("region", "service", "year", "draw")
    need = ds["need"].transpose(*dims).to_numpy()
    cost = (ds["cost"].transpose(*dims).to_numpy() if "cost" in ds
            else np.full(need.shape, np.nan))
    if factors is not None:
        if factors["coverage"] is not None:
            need = need * factors["coverage"]
            cost = np.where(factors["needs_cost"][:, None, None], cost * factors["coverage"],
                            cost)
        if factors["unit_cost"] is not None:
            cost = cost * factors["unit_cost"]
    return {"need": need,
            "capacity": ds["capacity"].broadcast_like(ds["need"]).transpose(*dims).to_numpy(),
            "cost": cost, "years": ds["year"].to_numpy()}


def reduce_chunk(plan: DrawPlan, lo: int, hi: int, first_year: int, config=None, costs=None,
                 quantiles=QUANTILES, factors: dict | None = None,
                 scratch: Scratch | None = None) -> dict:
    """Draw regions lo..hi-1 and reduce them: a dict of numpy arrays (see the module doc,
    region always present); the per-draw sums over the chunk's regions, draws last, under
    keys sum_* (with `scratch`, buffers of it: valid until the next call with it)."""
    scratch = Scratch() if scratch is None else scratch
    group = group_draws(plan, lo, hi, scratch)            # (Rc, T+1, 1, G, D), draws last
    n_reg, n_time, _, _, n_draw = group.shape
    in_band = band_cells(plan.edges)
    pop_band = np.empty((len(quantiles), n_reg, len(in_band), n_time))
    total = scratch.empty("total", (len(in_band), n_time, n_draw))
    total[...] = 0.0
    band_quantiles(group, in_band, quantiles, pop_band, total)
    out = {"pop_band": pop_band, "sum_pop_band": total}
    if config is None:
        return out
    d = chunk_demand(group, plan, lo, hi, first_year, config, costs, factors)
    need, cap, cost = d["need"], d["capacity"], d["cost"]
    out["need"] = quantiles_last(need, quantiles)
    out["gap"] = quantiles_last(need - cap, quantiles)
    out["cost"] = quantiles_last(cost, quantiles)
    out["sum_need"], out["sum_cost"] = need.sum(axis=0), cost.sum(axis=0)   # (S, Y, D)
    short, has_cap = _shortfalls(need, cap)
    out.update(_probabilities(np.where(has_cap, short / need.shape[-1], np.nan), d["years"]))
    return out


def _shortfalls(need: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Rc, S, Y) the number of draws with need > capacity, and where there is a capacity."""
    return (need > cap).sum(axis=-1), np.isfinite(cap).all(axis=-1)


def _probabilities(prob: np.ndarray, years) -> dict:
    """p_shortfall (share of draws short, NaN without capacity) and its first years."""
    return {"p_shortfall": prob,
            "first_year_p50": _first_year(np.nan_to_num(prob), years, 0.5),
            "first_year_p80": _first_year(np.nan_to_num(prob), years, 0.8)}


def draws_per_batch(n_draws: int, n_year: int, plan_bytes: int) -> int:
    """Draws whose half-year survival (T x 2 x 107 float64 per draw) fit in plan_bytes:
    up to that many, every draw of a region is in memory and the quantiles are exact;
    beyond, the draws run in batches of it and the quantiles are streamed."""
    return max(StreamingQuantiles.MIN_FIRST_BATCH,
               min(n_draws, plan_bytes // (n_year * 2 * N_SURV * 8)))


@small_pages()
def run_draws(inputs, a, settings, config=None, costs=None, quantiles=QUANTILES,
              chunk_bytes: int = CHUNK_BYTES, scheduler: str | None = None,
              advance=None, plan_bytes: int | None = None) -> xr.Dataset:
    """Every draw of every region through population (and demand and cost with `config`),
    reduced per chunk of regions; `scheduler`: a dask.distributed address (the chunks run as
    tasks there); `advance(n, total=None)`: told the number of regions, then called with
    the number done (progress). More
    draws than draws_per_batch(plan_bytes) run in batches with streamed quantiles."""
    if advance is not None:   # the bar counts municipalities
        advance(0, total=len(inputs.regions))
    batch = draws_per_batch(settings.draws, len(a.flow_years), plan_bytes or PLAN_BYTES)
    if batch < settings.draws:
        if scheduler:
            raise ForecastError(f"{settings.draws:,} draws do not fit in memory at once (at "
                                f"most {batch:,}): run them without a scheduler, in batches",
                                key="--scheduler")
        return _run_streaming(inputs, a, settings, config, costs, quantiles, chunk_bytes,
                              advance, batch)
    plan = plan_draws(inputs, a, settings.components, settings.draws, settings.seed,
                      settings.vary, cell_edges(config))
    chunks = _chunks(plan, chunk_bytes, config)
    factors = service_factors(settings, config, costs)
    args = (a.base_year, config, costs, tuple(quantiles), factors)
    parts, sums = [], {}

    def take(part: dict) -> None:
        # per-draw sums over regions are added up as chunks arrive, not kept per chunk
        for k in [k for k in part if k.startswith("sum_")]:
            value = part.pop(k)
            if k in sums:
                sums[k] += value
            else:
                sums[k] = value.copy()   # value may be a scratch buffer
        parts.append(part)

    if scheduler:
        for part in _on_dask(scheduler, plan, chunks, args, advance):
            take(part)
    else:
        scratch = Scratch()
        for lo, hi in chunks:
            take(reduce_chunk(plan, lo, hi, *args, scratch=scratch))
            if advance is not None:
                advance(hi - lo)
    q = np.asarray(quantiles, dtype=float)
    merged = {"total_" + k[4:]: quantiles_last(v, q) for k, v in sums.items()}
    for k in parts[0]:
        merged[k] = np.concatenate([p[k] for p in parts],
                                   axis=1 if k in ("pop_band", "need", "gap", "cost") else 0)
    return _dataset(merged, inputs, a, settings, config, quantiles)


def _run_streaming(inputs, a, settings, config, costs, quantiles, chunk_bytes, advance,
                   batch: int) -> xr.Dataset:
    """run_draws in batches of draws: the same draws, each quantity's rows (per chunk of
    regions) reduced by a StreamingQuantiles (a histogram per row; error at most one bin,
    given as <name>_tolerance), shortfalls counted."""
    n_draws, q = settings.draws, np.asarray(quantiles, dtype=float)
    sketches, counts, years, chunks, scratch = {}, {}, None, None, Scratch()
    factors, d0 = service_factors(settings, config, costs), 0
    for plan in plan_batches(inputs, a, settings.components, n_draws, settings.seed,
                             settings.vary, cell_edges(config), batch):
        batch_factors = _draws_of(factors, d0, d0 + plan.n_draws)
        d0 += plan.n_draws
        if chunks is None:
            chunks, in_band = _chunks(plan, chunk_bytes, config), band_cells(plan.edges)
        sums = {}
        for c, (lo, hi) in enumerate(chunks):
            group = group_draws(plan, lo, hi, scratch)
            n_reg, n_time, _, n_cell, n_draw = group.shape
            cells = group.reshape(n_reg, n_time, n_cell, n_draw)
            rows = {"pop_band": np.einsum("rtcd,bc->rbtd", cells, in_band)}
            if config is not None:
                d = chunk_demand(group, plan, lo, hi, a.base_year, config, costs,
                                 batch_factors)
                rows.update(need=d["need"], gap=d["need"] - d["capacity"], cost=d["cost"])
                years = d["years"]
                short, counts[c, "cap"] = _shortfalls(d["need"], d["capacity"])
                counts[c] = short + counts.get(c, 0)
            for name, x in rows.items():
                _stream(sketches, (name, c), x, q)
                if name != "gap":
                    sums[name] = x.sum(axis=0) + sums.get(name, 0.0)
            if advance is not None:
                advance((hi - lo) * plan.n_draws / n_draws)
        for name, x in sums.items():
            _stream(sketches, ("total_" + name, None), x, q)
    merged, tolerance = {}, {}
    for name in ("pop_band", "need", "gap", "cost"):
        if (name, 0) in sketches:
            parts = [sketches[name, c] for c in range(len(chunks))]
            merged[name] = np.concatenate([_result(*p) for p in parts], axis=1)
            tolerance[name] = np.concatenate([_tolerance(*p) for p in parts])
        if ("total_" + name, None) in sketches:
            part = sketches["total_" + name, None]
            merged["total_" + name], tolerance["total_" + name] = _result(*part), _tolerance(*part)
    if config is not None:
        short = np.concatenate([counts[c] for c in range(len(chunks))])
        has_cap = np.concatenate([counts[c, "cap"] for c in range(len(chunks))])
        merged.update(_probabilities(np.where(has_cap, short / n_draws, np.nan), years))
    ds = _dataset(merged, inputs, a, settings, config, quantiles)
    for name, tol in tolerance.items():
        if name not in ds:     # totals over regions: only with several regions
            continue
        dims = ds[name].dims[1:]
        ds[name + "_tolerance"] = (dims, tol, {"long_name": f"bound on the error of {name}'s "
                                               "streamed quantiles (one histogram bin)"})
    ds.attrs["quantile_method"] = (f"streamed: {n_draws:,} draws in batches of {batch:,}, a "
                                   f"histogram of {STREAM_BINS} bins per row")
    return ds


def _chunks(plan: DrawPlan, chunk_bytes: int, config) -> list[tuple[int, int]]:
    # demand's arrays of a draw take about three times its group outputs
    return region_chunks(plan, chunk_bytes // (4 if config is not None else 1))


def _stream(sketches: dict, key, x: np.ndarray, q) -> None:
    """Add the draws x (*lead, Db) to the sketch of `key`: (StreamingQuantiles of the rows,
    lead), made at the first batch."""
    rows = x.reshape(-1, x.shape[-1])
    if key not in sketches:
        sketches[key] = (StreamingQuantiles(rows.shape[0], q, bins=STREAM_BINS), x.shape[:-1])
    sketches[key][0].update(rows)


def _result(sketch: StreamingQuantiles, lead: tuple) -> np.ndarray:
    return sketch.result().reshape((len(sketch.quantiles),) + lead)


def _tolerance(sketch: StreamingQuantiles, lead: tuple) -> np.ndarray:
    return sketch.tolerance().reshape(lead)


def _on_dask(address: str, plan, chunks, args, advance):
    try:
        from dask.distributed import Client
    except ImportError:
        raise ForecastError("running on a scheduler needs dask.distributed; install it with "
                            "pip install -e \".[dask]\"", key="--scheduler") from None

    try:
        client = Client(address, set_as_default=False, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ForecastError(f"cannot reach the scheduler at {address} within "
                            f"{SCHEDULER_TIMEOUT} s ({type(exc).__name__})",
                            key="--scheduler") from None
    with client:
        remote = client.scatter(plan, broadcast=True)
        futures = [client.submit(reduce_chunk, remote, lo, hi, *args, pure=False)
                   for lo, hi in chunks]
        # in chunk order, so the sums over regions add up as in the local run; each result
        # is released once taken
        for fut, (lo, hi) in zip(futures, chunks):
            yield fut.result()
            fut.release()
            if advance is not None:
                advance(hi - lo)


def _dataset(m: dict, inputs, a, settings, config, quantiles) -> xr.Dataset:
    years = np.arange(a.base_year, a.end_year + 1)
    coords = {"quantile": np.asarray(quantiles, dtype=float), "region": list(inputs.regions),
              "year": years, "band": list(REPORT_BANDS)}
    if inputs.names is not None:
        coords["region_name"] = ("region", list(inputs.names))
    data = {"pop_band": (("quantile", "region", "band", "year"), m["pop_band"],
                         {"units": "persons", "long_name": "population at 1 January by age "
                          "band, quantiles over draws (both sexes)"})}
    if config is not None:
        coords["service"] = list(config.services)
        coords["label"] = ("service", [s.label for s in config.services.values()])
        coords["unit"] = ("service", [s.unit for s in config.services.values()])
        qdims = ("quantile", "region", "service", "year")
        data["need"] = (qdims, m["need"], {"units": "see coord unit"})
        data["gap"] = (qdims, m["gap"], {"units": "see coord unit",
                                          "long_name": "need - capacity (positive: shortfall)"})
        data["cost"] = (qdims, m["cost"], {"units": "NOK"})
        data["p_shortfall"] = (("region", "service", "year"), m["p_shortfall"],
                               {"units": "share", "long_name": "share of draws with need > "
                                "capacity"})
        for level in ("50", "80"):
            data[f"first_year_p{level}"] = (("region", "service"), m[f"first_year_p{level}"],
                                            {"units": "year", "long_name": "first year the "
                                             f"probability of shortfall passes {level} %"})
    if len(inputs.regions) > 1:   # quantiles of the sum over regions of each draw
        data["total_pop_band"] = (("quantile", "band", "year"), m["total_pop_band"],
                                  {"units": "persons", "long_name": "sum of the regions"})
        if config is not None:
            for name, unit in (("need", "see coord unit"), ("cost", "NOK")):
                data[f"total_{name}"] = (("quantile", "service", "year"), m[f"total_{name}"],
                                         {"units": unit, "long_name": "sum of the regions"})
    ds = xr.Dataset({k: xr.DataArray(v, dims=d, attrs=at) for k, (d, v, at) in data.items()},
                    coords=coords)
    ds.attrs.update(draws=settings.draws, seed=settings.seed, vary=", ".join(settings.vary),
                    quantile_method="exact (every draw of a region in memory)",
                    calibrated=int(settings.calibrated),
                    components=settings.components.describe(),
                    unit_cost_sd=float(settings.unit_cost_sd),
                    coverage_sd=float(settings.coverage_sd))
    return ds
