"""Uncertainty through population, demand and cost (issue 9 items 3-6): draws reduced to
quantiles per region chunk, the probability of shortfall, outputs, the CLI and Dask."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast import api
from forecast.inputs.population import load_population
from forecast.inputs.uncertainty import UncertaintySettings, load_uncertainty
from forecast.population.stochastic import COMPONENTS
from forecast.scenario import load_scenario
from forecast.uncertainty import REPORT_BANDS, cell_edges, run_draws

from conftest import ROOT

LDIP = ROOT / "scenarios" / "baerum-ldip.toml"
NORWAY_SERVICES = ROOT / "scenarios" / "norway-tjenester.toml"
FEW = ["Oslo", "Bærum", "Rindal", "Ålesund", "Utsira", "Tromsø"]


@pytest.fixture(scope="module")
def ldip():
    return load_scenario(LDIP)


@pytest.fixture(scope="module")
def ldip_1000(ldip):
    return api.run(ldip, n_draws=400, seed=3)


def settings(draws=60, seed=5, components=None, vary=COMPONENTS):
    comps = components if components is not None else load_uncertainty(
        load_scenario(LDIP), draws=1).components
    return UncertaintySettings(draws=draws, seed=seed, vary=tuple(vary), components=comps,
                               components_file="", calibrated=True)


def test_cells_split_at_every_band_and_service_group(ldip):
    result = api.run(ldip)
    edges = list(cell_edges(result.config))
    for lo, hi in REPORT_BANDS.values():
        assert lo in edges and hi + 1 in edges
    assert 18 in edges and 67 in edges and 106 in edges   # 18-66 of social assistance


def test_zero_variance_every_quantile_is_the_deterministic_run(ldip):
    """With every variance 0 each draw is the centre: need, gap and cost quantiles equal
    the deterministic demand, and the probability of shortfall is 0 or 1 exactly where the
    deterministic need exceeds capacity."""
    det = api.run(ldip)
    comps = load_uncertainty(ldip, draws=1).components.zero()
    inputs, a = load_population(ldip)
    u = run_draws(inputs, a, settings(20, components=comps), det.config, det.costs
                  ).isel(region=0)
    for var in ("need", "cost"):
        want = det.demand[var].transpose("service", "year").to_numpy()
        for q in u["quantile"].values:
            got = u[var].sel(quantile=q).to_numpy()
            np.testing.assert_allclose(got, want, rtol=1e-9)
    gap = (det.demand["need"] - det.demand["capacity"]).sel(service="heldogn").to_numpy()
    np.testing.assert_allclose(u["gap"].sel(service="heldogn", quantile=0.5), gap, rtol=1e-9,
                               atol=1e-6)
    p = u["p_shortfall"].sel(service="heldogn").to_numpy()
    np.testing.assert_array_equal(p, (gap > 0).astype(float))
    assert np.isnan(u["p_shortfall"].sel(service="sosialhjelp")).all()  # no capacity
    total = det.population["pop"].sum(["sex", "age"]).to_numpy()
    np.testing.assert_allclose(u["pop_band"].sel(band="total", quantile=0.1), total, rtol=1e-12)


def test_bands_add_up_and_quantiles_are_ordered(ldip_1000):
    u = ldip_1000.uncertainty
    med = u["pop_band"].sel(quantile=0.5)
    # the median of a sum is not the sum of medians, but 67+ = 67-79 + 80-89 + 90+ per draw,
    # so at the zero-spread base year the bands add up exactly
    base = med.sel(year=2018)
    assert float(base.sel(band="67+")) == pytest.approx(
        float(base.sel(band=["67-79", "80-89", "90+"]).sum()))
    for var in ("pop_band", "need", "cost"):
        d = u[var].diff("quantile")
        assert bool((d.fillna(0) >= -1e-9).all()), var
    width = (u["need"].sel(quantile=0.9) - u["need"].sel(quantile=0.1)).sel(service="heldogn")
    assert float(width.sel(year=2038)) > float(width.sel(year=2025)) > 0


def test_probability_of_shortfall_and_first_years(ldip_1000):
    u = ldip_1000.uncertainty
    p = u["p_shortfall"].sel(service="heldogn").to_numpy()
    years = u["year"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    # the first year passing 50 % (80 %) is the first year whose probability is above it
    for level, var in ((0.5, "first_year_p50"), (0.8, "first_year_p80")):
        above = years[p > level]
        got = float(u[var].sel(service="heldogn"))
        assert (got == above[0]) if len(above) else np.isnan(got)
    # P(shortfall) agrees with the gap's quantiles: where the 10 % quantile of the gap is
    # positive at least 90 % of the draws fall short
    q10 = u["gap"].sel(service="heldogn", quantile=0.1).to_numpy()
    assert (p[q10 > 0] >= 0.9 - 1e-12).all()
    q90 = u["gap"].sel(service="heldogn", quantile=0.9).to_numpy()
    assert (p[q90 < 0] <= 0.1 + 1e-12).all()


def test_same_seed_same_numbers_any_chunks(ldip):
    sc = load_scenario(NORWAY_SERVICES)
    det = api.run(sc, regions=FEW)
    inputs, a = load_population(sc, FEW)
    s = settings(30, seed=9)
    whole = run_draws(inputs, a, s, det.config, det.costs)
    one_each = run_draws(inputs, a, s, det.config, det.costs, chunk_bytes=1)
    xr.testing.assert_identical(whole, one_each)
    other = run_draws(inputs, a, replace(s, seed=10), det.config, det.costs)
    assert not np.array_equal(whole["need"].values, other["need"].values)
    # a region's numbers do not depend on the regions run with it
    inputs2, _ = load_population(sc, ["Rindal"])
    alone = run_draws(inputs2, a, s, det.config, det.costs)
    np.testing.assert_array_equal(alone["need"].sel(region="5061").values,
                                  whole["need"].sel(region="5061").values)


def test_total_over_regions_is_the_quantile_of_each_draws_sum():
    sc = load_scenario(NORWAY_SERVICES)
    det = api.run(sc, regions=FEW)
    inputs, a = load_population(sc, FEW)
    comps = load_uncertainty(sc, draws=1).components
    zero = run_draws(inputs, a, settings(10, components=comps.zero()), det.config, det.costs)
    want = det.population["pop"].sum(["region", "sex", "age"]).to_numpy()
    np.testing.assert_allclose(zero["total_pop_band"].sel(band="total", quantile=0.5), want,
                               rtol=1e-12)
    u = run_draws(inputs, a, settings(200, components=comps), det.config, det.costs)
    # the spread of a sum is below the sum of the spreads (local shocks partly cancel)
    t = u["total_need"].sel(service="heldogn", year=2038)
    width_sum = float(t.sel(quantile=0.9) - t.sel(quantile=0.1))
    each = u["need"].sel(service="heldogn", year=2038)
    width_each = float((each.sel(quantile=0.9) - each.sel(quantile=0.1)).sum())
    assert 0 < width_sum < width_each
    # in batches with streamed quantiles (several regions, several chunks): the totals too
    # are within their tolerance of the exact ones
    plan_bytes = 120 * len(a.flow_years) * 2 * 107 * 8
    streamed = run_draws(inputs, a, settings(200, components=comps), det.config, det.costs,
                         chunk_bytes=1, plan_bytes=plan_bytes)
    for name in ("total_pop_band", "total_need", "need", "pop_band"):
        assert bool((abs(streamed[name] - u[name]) <= streamed[name + "_tolerance"]).all()), name


def test_scenario_keys_and_errors(tmp_path):
    sc = load_scenario(LDIP)
    assert load_uncertainty(sc) is None              # draws = 0 by default
    s = load_uncertainty(sc, draws=7, seed=2)
    assert (s.draws, s.seed, s.vary) == (7, 2, COMPONENTS)
    text = LDIP.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('extends = "baerum-mmmm.toml"',
                                f'extends = "{(ROOT / "scenarios" / "baerum-mmmm.toml").as_posix()}"')
                   + '\n[uncertainty]\ndraws = 10\nvary = ["fertilty"]\n', encoding="utf-8")
    from forecast.errors import ForecastError
    with pytest.raises(ForecastError, match="uncertainty.vary"):
        load_uncertainty(load_scenario(bad))


def test_cli_run_with_draws_writes_quantiles(tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run([sys.executable, "-m", "forecast", "run", str(LDIP), "--draws", "50",
                           "--seed", "4", "--out", str(out), "--formats", "csv,netcdf"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "P(need > capacity)" in proc.stdout and "first passes 50 %" in proc.stdout
    table = pd.read_csv(out / "uncertainty.csv")
    assert {"variable", "item", "year", "quantile", "value"} <= set(table.columns)
    nc = xr.open_dataset(out / "uncertainty.nc")
    row = table[(table.variable == "need") & (table.item == "heldogn") & (table.year == 2030)
                & (table["quantile"] == 0.9)]
    assert float(row["value"].iloc[0]) == pytest.approx(
        float(nc["need"].sel(service="heldogn", year=2030, quantile=0.9)))
    p = table[(table.variable == "p_shortfall") & (table.item == "heldogn")]
    assert p["quantile"].isna().all() and len(p) == 21
    manifest = json.loads((out / "manifest.json").read_text())
    assert "uncertainty.csv" in json.dumps(manifest)
    nc.close()


def test_cli_run_with_more_draws_than_fit_in_memory(tmp_path, monkeypatch):
    """With the plan's memory lowered so 300 draws run in batches of 150, every output is
    written, and the streamed quantiles' bounds are in the tables."""
    from typer.testing import CliRunner

    from forecast import uncertainty
    from forecast.cli import app
    monkeypatch.setattr(uncertainty, "PLAN_BYTES", 150 * 20 * 2 * 107 * 8)
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["run", str(LDIP), "--draws", "300", "--seed", "4",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    nc = xr.open_dataset(out / "uncertainty.nc")
    assert "batches of 150" in nc.attrs["quantile_method"]
    assert float(nc["need_tolerance"].sel(service="heldogn", year=2038)) > 0
    nc.close()
    table = pd.read_csv(out / "uncertainty.csv")
    assert (table.variable == "need_tolerance").any()
    assert {p.name for p in out.iterdir()} >= {"uncertainty.csv", "uncertainty.nc"}


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    from typer.testing import CliRunner

    from forecast import uncertainty
    from forecast.cli import app
    monkeypatch.setattr(uncertainty, "SCHEDULER_TIMEOUT", 1)
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["run", str(LDIP), "--draws", "20", "--scheduler",
                                      "tcp://127.0.0.1:9", "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--scheduler" in lines[0] and "cannot reach" in lines[0]
    assert "Traceback" not in result.output and not out.exists()


def test_dask_local_cluster_gives_the_same_numbers():
    distributed = pytest.importorskip("distributed")
    sc = load_scenario(NORWAY_SERVICES)
    det = api.run(sc, regions=FEW)
    inputs, a = load_population(sc, FEW)
    s = settings(20, seed=11)
    local = run_draws(inputs, a, s, det.config, det.costs, chunk_bytes=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_draws(inputs, a, s, det.config, det.costs, chunk_bytes=1,
                           scheduler=cluster.scheduler_address)
    xr.testing.assert_identical(local, remote)


def test_no_dask_distributed_import_without_the_flag():
    # (xarray itself imports dask's core to recognise dask arrays when dask is installed;
    # a default install has no dask: it is the optional extra "dask")
    code = ("import sys; from forecast import api; "
            f"api.run(r'{LDIP}', n_draws=5, seed=1); "
            "print(any(m == 'distributed' or m.startswith('distributed.') "
            "or m == 'dask.distributed' for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_compare_shows_the_probability_of_shortfall_per_alternative(tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run([sys.executable, "-m", "forecast", "compare", str(LDIP),
                           str(ROOT / "scenarios" / "baerum-planlagt-kapasitet.toml"),
                           "--draws", "30", "--seed", "2", "--out", str(out),
                           "--format", "csv"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "probability that need exceeds capacity" in proc.stdout
    # the planned places (21.9 % in 2038) exceed today's coverage need in no draw
    part = proc.stdout.split("Heldøgns omsorgsplasser: probability")[1].split("└")[0]
    row = [line for line in part.splitlines() if "planlagt-kapasitet" in line][0]
    assert "never" in row
    # and the file holds each alternative's quantiles and probabilities, the printed ones
    table = pd.read_csv(out / "uncertainty_scenarios.csv")
    assert table["scenario"].nunique() == 2
    p = table[(table.variable == "p_shortfall") & (table.item == "heldogn")]
    planned = p[p.scenario != p.scenario.iloc[0]]
    assert len(planned) == 21 and (planned["value"] <= 0.5).all()


def test_streamed_quantiles_of_batches_are_the_exact_ones_within_their_tolerance(ldip):
    """More draws than fit in memory run in batches (the same draws: the national shocks are
    drawn once, each region's generators go on from batch to batch) and their quantiles are
    streamed; each is within its stated tolerance (one histogram bin) of the exact quantile
    of the same draws, and the probabilities of shortfall, which are counted, are equal
    (coverage and unit costs vary too: each batch takes its own draws' factors)."""
    det = api.run(ldip)
    inputs, a = load_population(ldip)
    s = replace(settings(600), coverage_sd=0.02, unit_cost_sd=0.01)
    exact = run_draws(inputs, a, s, det.config, det.costs)
    # survival of 200 draws at a time: three batches
    plan_bytes = 200 * len(a.flow_years) * 2 * 107 * 8
    streamed = run_draws(inputs, a, s, det.config, det.costs, plan_bytes=plan_bytes)
    assert "batches of 200" in streamed.attrs["quantile_method"]
    assert exact.attrs["quantile_method"].startswith("exact")
    for name in ("pop_band", "need", "gap", "cost"):
        tol = streamed[name + "_tolerance"]
        diff = abs(streamed[name] - exact[name])
        ok = (diff <= tol) | (np.isnan(exact[name]) & np.isnan(streamed[name]))
        assert bool(ok.all()), name
        # the bound is tight enough to matter: under 1 % of the 10-90 % range of 80+
    width = (exact.pop_band.sel(quantile=0.9) - exact.pop_band.sel(quantile=0.1)).sel(band="80+")
    assert float((streamed.pop_band_tolerance.sel(band="80+") / width).isel(year=slice(5, None)).max()) < 0.01
    np.testing.assert_array_equal(streamed.p_shortfall, exact.p_shortfall)
    np.testing.assert_array_equal(streamed.first_year_p80, exact.first_year_p80)
    # batches run here only: with a scheduler that many draws are refused, before connecting
    from forecast.errors import ForecastError
    with pytest.raises(ForecastError, match="do not fit in memory"):
        run_draws(inputs, a, s, det.config, det.costs, scheduler="tcp://127.0.0.1:9",
                  plan_bytes=plan_bytes)
    # the tidy table carries the bounds in the units of their quantities
    from forecast.io.outputs import uncertainty_frame
    table = uncertainty_frame(streamed)
    units = table.groupby("variable")["unit"].first()
    assert units["cost_tolerance"] == "NOK" and units["pop_band_tolerance"] == "persons"
    assert units["need_tolerance"] == units["need"]


def test_coverage_and_unit_cost_draws_by_hand(ldip):
    """With the population's variances 0, every draw's need is the deterministic need times
    exp(coverage_sd W_t) and its cost also times exp(unit_cost_sd V_t), W and V random walks
    of N(0, 1) steps from 0 at the base year: so the q quantile t years ahead is the
    deterministic value times exp(sd sqrt(t) z_q) (z_q the normal quantile), and a service
    costed by capacity keeps only the unit-cost factor. Checked within 5 Monte Carlo sd of
    each quantile; P(shortfall) within 5 binomial sd of P(Z > log(capacity / need) / (sd
    sqrt(t)))."""
    from scipy.stats import norm

    from forecast.cost import compute_cost
    det = api.run(ldip)
    comps = load_uncertainty(ldip, draws=1).components.zero()
    inputs, a = load_population(ldip)
    n, cov_sd, unit_sd = 4000, 0.03, 0.02
    costs = replace(det.costs, services={**det.costs.services, "heldogn": replace(
        det.costs.services["heldogn"], basis="capacity")})
    s = replace(settings(n, components=comps), coverage_sd=cov_sd, unit_cost_sd=unit_sd)
    u = run_draws(inputs, a, s, det.config, costs).isel(region=0)
    base = det.demand
    cost_det = compute_cost(det.demand, costs)["cost"].transpose("service", "year").to_numpy()
    years = u["year"].values
    t = (years - years[0]).astype(float)
    q = u["quantile"].values
    z = norm.ppf(q)
    # the Monte Carlo sd of a sample quantile, in units of z
    mc = np.sqrt(q * (1 - q) / n) / norm.pdf(z)
    assert u.attrs["coverage_sd"] == cov_sd and u.attrs["unit_cost_sd"] == unit_sd
    for sid in ("heldogn", "hjemmetjenester", "sosialhjelp"):
        need = base["need"].sel(service=sid).to_numpy()
        got = u["need"].sel(service=sid).to_numpy()               # (Q, Y)
        np.testing.assert_array_equal(got[:, 0], np.broadcast_to(need[0], q.shape))
        implied = np.log(got[:, 1:] / need[1:]) / (cov_sd * np.sqrt(t[1:]))
        assert (np.abs(implied - z[:, None]) < 5 * mc[:, None]).all(), sid
        sd = unit_sd if sid == "heldogn" else np.hypot(cov_sd, unit_sd)
        i = list(u["service"].values).index(sid)
        cost = u["cost"].sel(service=sid).to_numpy()
        implied = np.log(cost[:, 1:] / cost_det[i, 1:]) / (sd * np.sqrt(t[1:]))
        assert (np.abs(implied - z[:, None]) < 5 * mc[:, None]).all(), sid
    need = base["need"].sel(service="heldogn").to_numpy()
    cap = base["capacity"].sel(service="heldogn").to_numpy()
    p = norm.sf(np.log(cap[1:] / need[1:]) / (cov_sd * np.sqrt(t[1:])))
    got = u["p_shortfall"].sel(service="heldogn").to_numpy()[1:]
    assert (np.abs(got - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12).all()


def test_coverage_and_unit_cost_sd_zero_changes_nothing_and_bad_sd_is_refused(ldip, tmp_path):
    det = api.run(ldip)
    inputs, a = load_population(ldip)
    plain = run_draws(inputs, a, settings(30), det.config, det.costs)
    zero = run_draws(inputs, a, replace(settings(30), coverage_sd=0.0, unit_cost_sd=0.0),
                     det.config, det.costs)
    for var in ("need", "gap", "cost", "p_shortfall"):
        np.testing.assert_array_equal(plain[var].values, zero[var].values)
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{LDIP.as_posix()}"\n[uncertainty]\nunit_cost_sd = -0.01\n',
                   encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "forecast", "run", str(bad), "--draws", "10",
                          "--quiet", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "uncertainty.unit_cost_sd" in run.stderr
    assert "0..0.5" in run.stderr
    assert not (tmp_path / "out").exists()


def test_cli_says_when_coverage_and_unit_costs_vary(tmp_path):
    scenario = tmp_path / "vary.toml"
    scenario.write_text(f'extends = "{LDIP.as_posix()}"\n[uncertainty]\ncoverage_sd = 0.02\n'
                        'unit_cost_sd = 0.01\nsource = "assumed: a test"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "forecast", "run", str(scenario), "--draws",
                          "40", "--quiet", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())       # the tables' titles wrap at the terminal width
    assert "of 40 draws, coverage sd 0.02 and unit cost sd 0.01 a year" in text
    u = xr.open_dataset(tmp_path / "out" / "uncertainty.nc")
    assert u.attrs["coverage_sd"] == 0.02 and u.attrs["unit_cost_sd"] == 0.01
    u.close()
