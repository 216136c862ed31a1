"""Stochastic projections (issue 9, first slice): estimation, draws, quantiles."""

import numba
import numpy as np
import pytest

from forecast.inputs.population import load_population
from forecast.population.model import mortality_arrays, project_population
from forecast.population.rates import SEXES, survival_ratios
from forecast.population.stochastic import (Components, centre_mx, draw_factors,
                                            estimate_components, fit_ar1, simulate,
                                            survival_draws, survival_many)
from forecast.scenario import load_scenario

from conftest import ROOT, SHARED

NORWAY = ROOT / "scenarios" / "norway-mmmm.toml"
REGIONS = ["Oslo", "Bærum", "Rindal", "Ålesund"]   # Ålesund has a split history


@pytest.fixture(scope="module")
def few():
    return load_population(load_scenario(NORWAY), REGIONS)


@pytest.fixture(scope="module")
def comps():
    """Components of about the size estimated for base 2018 (see the report)."""
    return Components(base_year=2018, tfr_phi=0.89, tfr_sigma=0.05, tfr_last=1.62,
                      b=np.full((2, 106), 0.01), k_drift=np.array([-1.9, -2.6]),
                      k_cov=np.array([[8.1, 5.0], [5.0, 6.3]]), mig_nat_phi=0.6,
                      mig_nat_sigma=0.0028, mig_local_phi=0.0, mig_local_a=0.42,
                      mig_local_b=0.0016)


def test_ar1_estimate_recovers_phi_and_sigma():
    rng = np.random.default_rng(3)
    x = np.empty(20000)
    x[0] = 0.0
    for t in range(1, len(x)):
        x[t] = 2.0 + 0.7 * x[t - 1] + 0.3 * rng.standard_normal()
    phi, sigma = fit_ar1(x)
    assert abs(phi - 0.7) < 0.02 and abs(sigma - 0.3) < 0.01


def test_same_seed_same_numbers_other_seed_other_numbers(few, comps):
    inputs, a = few
    one = simulate(inputs, a, comps, 40, seed=7)
    two = simulate(inputs, a, comps, 40, seed=7)
    other = simulate(inputs, a, comps, 40, seed=8)
    assert np.array_equal(one.pop_band.values, two.pop_band.values)
    assert not np.allclose(one.pop_band.values, other.pop_band.values)


def test_zero_draws_is_the_deterministic_run(few, comps):
    inputs, a = few
    det = project_population(inputs, a, outputs="bands")["pop_band"].sum("sex")
    ds = simulate(inputs, a, comps, 0, seed=1)
    for q in ds["quantile"].values:
        got = ds.pop_band.sel(quantile=q)
        assert np.array_equal(got.drop_sel(band="Total").values, det.values)
        assert np.array_equal(got.sel(band="Total").values, det.sum("band").values)


def test_zero_variance_every_quantile_is_deterministic(few, comps):
    inputs, a = few
    det = project_population(inputs, a, outputs="bands")["pop_band"].sum("sex").values
    ds = simulate(inputs, a, comps.zero(), 25, seed=1)
    for q in range(ds.sizes["quantile"]):
        assert np.allclose(ds.pop_band.values[q, ..., :-1], det, rtol=1e-9, atol=1e-9)


def test_survival_of_the_centre_is_the_deterministic_one(few, comps):
    inputs, a = few
    surv, _ = mortality_arrays(inputs, a)
    k_dev = np.zeros((2, len(a.flow_years), 2))
    assert np.array_equal(survival_draws(centre_mx(inputs, a), comps.b, k_dev)[:, 0],
                          np.broadcast_to(surv, (2,) + surv.shape))
    mx = inputs.mx[None] * np.exp(np.linspace(-1, 1, 5))[:, None, None]
    for s, sex in enumerate(SEXES):
        assert np.allclose(survival_many(mx[:, s], sex),
                           [survival_ratios(m, sex) for m in mx[:, s]], rtol=1e-14, atol=0)


def test_median_of_many_draws_is_the_centre_and_quantiles_are_ordered(few, comps):
    inputs, a = few
    det = project_population(inputs, a, outputs="bands")["pop_band"].sum(["sex", "band"])
    ds = simulate(inputs, a, comps, 500, seed=11)
    total = ds.pop_band.sel(band="Total")
    oslo_det = float(det.sel(region=inputs.regions[0], year=2028))
    oslo_med = float(total.sel(region=inputs.regions[0], year=2028, quantile=0.5))
    assert abs(oslo_med / oslo_det - 1) < 0.005
    assert (np.diff(ds.pop_band.values, axis=0) >= 0).all()
    # the intervals widen with the horizon
    width = total.sel(quantile=0.9) - total.sel(quantile=0.1)
    assert (width.sel(year=2038) > width.sel(year=2023)).all()


def test_national_shock_is_shared_with_the_share_of_variance_set():
    share, sd = 0.3, 0.004
    c = Components(base_year=2018, mig_nat_sigma=np.sqrt(share) * sd,
                   mig_local_b=np.sqrt(1 - share) * sd)
    f = draw_factors(c, 20000, 2, range(10), seed=5, vary=("migration",))
    x, y = f["mig_delta"][:, 0, 4], f["mig_delta"][:, 1, 4]
    # sampling sd of a correlation near 0.3 from 20,000 pairs is about 0.007
    assert abs(np.corrcoef(x, y)[0, 1] - share) < 0.03
    assert abs(np.corrcoef(f["in_level"][:, 0, 4], f["in_level"][:, 1, 4])[0, 1] - share) < 0.03
    assert np.allclose(f["in_level"] + f["out_level"], 2.0)
    # fertility and mortality were not asked for
    assert (f["fert"] == 1).all() and (f["k_dev"] == 0).all()


def test_same_numbers_with_any_number_of_threads(few, comps):
    inputs, a = few
    most = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(inputs, a, comps, 30, seed=3)
    finally:
        numba.set_num_threads(most)
    many = simulate(inputs, a, comps, 30, seed=3)
    assert np.array_equal(one.pop_band.values, many.pop_band.values)


def test_chunks_of_regions_give_the_same_quantiles(few, comps):
    inputs, a = few
    whole = simulate(inputs, a, comps, 30, seed=4)
    chunked = simulate(inputs, a, comps, 30, seed=4, chunk_bytes=1)   # one region a call
    assert np.array_equal(whole.pop_band.values, chunked.pop_band.values)


def test_bad_requests(few, comps):
    inputs, a = few
    with pytest.raises(ValueError, match="unknown stochastic component"):
        simulate(inputs, a, comps, 5, seed=1, vary=("fertilty",))
    with pytest.raises(ValueError, match=">= 0"):
        simulate(inputs, a, comps, -1, seed=1)


def test_estimates_for_base_2018_are_plausible():
    from forecast.inputs.sources import read_all_sources
    from forecast.population.regional import REGION, SPLIT_HISTORY, counts_array
    src = read_all_sources(SHARED)
    codes = tuple(src["table"][REGION])
    counts = counts_array(src["counts"], codes, np.arange(2005, 2019))
    c = estimate_components(2018, src["national"], counts, exclude=np.isin(codes, SPLIT_HISTORY))
    assert c.info["tfr_years"] == (1967, 2017) and c.info["mortality_years"] == (1988, 2017)
    assert 0.5 < c.tfr_phi < 1 and 0.01 < c.tfr_sigma < 0.2
    assert (c.k_drift < 0).all() and (np.diag(c.k_cov) > 0).all()
    assert 0 < c.mig_nat_sigma < 0.02 and c.mig_local_a > 0
    assert c.local_sigma(2000) > c.local_sigma(100000) > 0
    assert "Lee-Carter" in c.describe()


def test_calibrated_local_migration():
    from forecast.population.stochastic import (CALIBRATED_LOCAL_PHI, CALIBRATED_LOCAL_SCALE,
                                                Components, calibrated)
    raw = Components(base_year=2018, mig_local_phi=0.0, mig_local_a=0.4, mig_local_b=0.002)
    c = calibrated(raw)
    assert c.mig_local_phi == CALIBRATED_LOCAL_PHI
    # sigma = a / sqrt(P) + b scales by the factor at every size
    for p in (400.0, 10_000.0):
        assert c.local_sigma(p) == pytest.approx(CALIBRATED_LOCAL_SCALE * raw.local_sigma(p))
    assert c.info["raw_mig_local_phi"] == 0.0


def test_old_age_factors_by_hand():
    """x_t = rho x_(t-1) + sigma e_t from the region's own stream; factor 1 + x_t; 1 at the
    base; sigma = a / sqrt(P) + b per band."""
    from forecast.population.stochastic import OLD_RHO, old_age_factors, old_age_groups
    c = Components(base_year=2018, old_a=np.array([0.2, 0.3, 0.5]),
                   old_b=np.array([0.001, 0.0, 0.0]))
    pop = np.array([[400.0, 100.0, 25.0]])
    f = old_age_factors(c, 3, [12345], 4, seed=8, band_population=pop)   # (R, D, T+1, 3)
    sig = np.array([0.2 / 20 + 0.001, 0.3 / 10, 0.5 / 5])
    e = np.random.default_rng([8, 2, 12345]).standard_normal((3, 3, 4))
    x = np.zeros((3, 3))
    assert (f[0, :, 0] == 1).all()
    for t in range(4):
        x = OLD_RHO * x + sig * e[:, :, t]
        np.testing.assert_allclose(f[0, :, t + 1], 1 + x, rtol=1e-14)
    # the kernel scales only the age groups inside a care band (tests/test_kernel_draws.py)
    assert old_age_groups(np.array([0, 60, 67, 80, 90, 106])).tolist() == [-1, -1, 0, 1, 2]
    assert old_age_factors(c, 3, [1], 4, 8, pop, vary=("migration",)).size == 0


def test_old_age_sd_falls_with_band_size():
    from forecast.population.stochastic import estimate_old_age
    rng = np.random.default_rng(1)
    # 40 regions, 9 stocks: p/10 persons reach 80 each year, 10 % of every age 80..88 die
    # (binomial), national survival 0.9: the residual rate of 80-89 is pure death noise
    n_reg, n = 40, 9
    sizes = np.linspace(50, 5000, n_reg)
    counts = np.zeros((n, n_reg, 2, 106))
    counts[:, :, :, 30] = 1000.0
    for r, p in enumerate(sizes):
        counts[:, r, 0, 79:90] = (p / 10) * 0.9 ** np.clip(np.arange(79, 90) - 80, 0, None)
    surv = np.ones((2, 107))
    surv[:, 81:91] = 0.9            # national survival into ages 81..90 (1 into 80)
    for t in range(1, n):
        for r in range(n_reg):
            start = np.round(counts[t - 1, r, 0, 80:89])
            counts[t, r, 0, 81:90] = start - rng.binomial(start.astype(int), 0.1)
    est = estimate_old_age(counts, surv, min_years=4)
    # deaths at 80..88 of n_k = (p/10) 0.9^(k-80): var = 0.09 sum n_k = 0.0552 p; the band
    # holds P = 0.651 p, so the rate's sd is sqrt(0.0552 p) / P = 0.29 / sqrt(P)
    assert est["old_a"][1] == pytest.approx(0.29, rel=0.2)
    assert est["old_b"][1] == pytest.approx(0.0, abs=0.003)


def test_small_pages_while_drawing_and_restored_after():
    """The draws switch NumPy's request for 2 MB pages off (their first writes cost more
    than the draws here) and back to what it was, also after an error."""
    from forecast.population.stochastic import small_pages
    switch = np._core.multiarray._set_madvise_hugepage
    was = switch(True)
    try:
        with small_pages():
            assert switch(False) is False      # off inside
        assert switch(True) is True            # back on after
        with pytest.raises(RuntimeError), small_pages():
            raise RuntimeError("a failing run")
        assert switch(True) is True
    finally:
        switch(was)
