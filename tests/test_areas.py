"""Sub-areas: the coupled kernel, sums to the municipality, internal moves, malformed inputs."""

import numpy as np
import pandas as pd
import pytest

from forecast.api import project
from forecast.errors import DataError, ScenarioError
from forecast.population import areas_kernel as ak
from forecast.population import kernel as k
from forecast.population.areas import municipality, project_areas, split_largest_remainder

from conftest import ROOT

S = "scenarios/baerum-delomrader.toml"
AREAS = "data/baerum/areas"


def _random_arrays(seed=1, B=2, R=3, T=12, same_rates=False, moves_scale=0.05):
    rng = np.random.default_rng(seed)
    pop0 = rng.uniform(0, 1000, (B, R, 2, 106))
    surv = rng.uniform(0.6, 1.0, (B, R, T, 2, 107))
    asfr = np.zeros((B, R, T, 106))
    asfr[..., 15:50] = rng.uniform(0, 0.1, (B, R, T, 35))
    fem = rng.uniform(0.45, 0.5, (B, R, T))
    inmig = rng.uniform(0, 50, (B, R, T, 2, 106))
    outrate = rng.uniform(0, 0.1, (B, R, T, 2, 106))
    moves = rng.uniform(0, moves_scale, (B, R, R, T, 2, 106))
    for r in range(R):
        moves[:, r, r] = 0.0
    if same_rates:
        for x in (surv, asfr, fem, outrate):
            x[:] = x[:, :1]
    return pop0, surv, asfr, fem, inmig, outrate, moves


def _run(args, fn=ak.project_areas_kernel):
    B, R, T = args[0].shape[0], args[0].shape[1], args[1].shape[2]
    out = ak.allocate(B, R, T)
    fn(*args, *out)
    return out


def test_numba_kernel_matches_numpy_reference():
    args = _random_arrays()
    for got, ref in zip(_run(args), _run(args, ak.project_areas_numpy)):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_zero_moves_equal_the_single_area_kernel_per_area():
    pop0, surv, asfr, fem, inmig, outrate, moves = _random_arrays()
    out = _run((pop0, surv, asfr, fem, inmig, outrate, np.zeros_like(moves)))
    for r in range(pop0.shape[1]):
        ref = k.allocate(pop0.shape[0], surv.shape[2])
        k.project_kernel(pop0[:, r], surv[:, r], asfr[:, r], fem[:, r], inmig[:, r],
                         outrate[:, r], *ref)
        for got, want in zip(out[:5], ref):
            np.testing.assert_allclose(got[:, r], want, rtol=1e-9, atol=1e-9)
        assert np.all(out[5][:, r] == 0) and np.all(out[6][:, r] == 0)


def test_same_rates_sum_to_the_municipal_kernel_whatever_the_moves():
    # what is exactly true: with the same survival, fertility and out-migration rates in every
    # area, the areas' sum equals kernel.py run on the summed population and in-migration
    pop0, surv, asfr, fem, inmig, outrate, moves = _random_arrays(same_rates=True)
    out = _run((pop0, surv, asfr, fem, inmig, outrate, moves))
    ref = k.allocate(pop0.shape[0], surv.shape[2])
    k.project_kernel(pop0.sum(1), surv[:, 0], asfr[:, 0], fem[:, 0], inmig.sum(1),
                     outrate[:, 0], *ref)
    for got, want in zip(out[:5], ref):
        np.testing.assert_allclose(got.sum(axis=1), want, rtol=1e-9, atol=1e-8)


def test_identity_internal_moves_and_non_negative_in_the_kernel():
    pop, births, deaths, inflow, outflow, i_in, i_out = _run(_random_arrays(moves_scale=0.3))
    assert (pop >= 0).all() and (deaths >= -1e-9).all()
    start = np.zeros_like(deaths)
    start[..., 1:] = pop[:, :, :-1, :, :-1]
    start[..., -1] += pop[:, :, :-1, :, -1]
    start[..., 0] = births
    np.testing.assert_allclose(pop[:, :, 1:], start - deaths + inflow - outflow + i_in - i_out,
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(i_in.sum(axis=1), i_out.sum(axis=1), rtol=1e-12, atol=1e-9)


def test_hand_computed_two_areas():
    # 100 women aged 30 in area A, nothing else; survival 1, no births, no migration from
    # outside; 10 % of A's residents move to B: 90 in A and 10 in B at age 31
    pop0 = np.zeros((1, 2, 2, 106))
    pop0[0, 0, 0, 30] = 100.0
    surv = np.ones((1, 2, 1, 2, 107))
    zeros = np.zeros((1, 2, 1, 2, 106))
    moves = np.zeros((1, 2, 2, 1, 2, 106))
    moves[0, 0, 1] = 0.1
    pop, births, deaths, inflow, outflow, i_in, i_out = _run(
        (pop0, surv, np.zeros((1, 2, 1, 106)), np.full((1, 2, 1), 0.5), zeros, zeros, moves))
    assert pop[0, :, 1, 0, 31].tolist() == pytest.approx([90.0, 10.0])
    assert i_out[0, 0, 0, 0, 31] == pytest.approx(10.0) and i_in[0, 1, 0, 0, 31] == 10.0
    assert np.abs(deaths).max() == 0.0 and pop[0, :, 1].sum() == pytest.approx(100.0)


def test_largest_remainder_split():
    assert split_largest_remainder(10, (1 / 3, 1 / 3, 1 / 3)).tolist() == [4, 3, 3]
    assert split_largest_remainder(7, (0.12, 0.28, 0.60)).tolist() == [1, 2, 4]
    assert split_largest_remainder(0, (0.2, 0.8)).tolist() == [0, 0]


# --- the constructed Bærum example ------------------------------------------------------------

@pytest.fixture(scope="module")
def baerum_areas():
    return project_areas(ROOT / S)


def test_example_base_splits_baerum_exactly():
    areas = pd.read_csv(ROOT / AREAS / "population.csv")
    assert areas["persons"].sum() == 125_454
    assert (areas["persons"] == areas["persons"].round()).all()
    muni = pd.read_csv(ROOT / "data/baerum/population.csv").query("year == 2018")
    both = areas.groupby(["sex", "age"])["persons"].sum().sort_index()
    np.testing.assert_array_equal(both.to_numpy(),
                                  muni.set_index(["sex", "age"])["persons"].sort_index())


def test_areas_sum_to_the_municipality(baerum_areas):
    ds = baerum_areas
    assert ds.sizes == {"area": 3, "year": 21, "sex": 2, "age": 106}
    assert float(ds["pop"].sel(year=2018).sum()) == 125_454
    muni = municipality(ds)
    for name in ("pop", "births", "deaths", "inmig", "outmig", "inmig_housing"):
        np.testing.assert_array_equal(muni[name].to_numpy(),
                                      ds[name].to_numpy().sum(axis=0))
    assert np.isnan(muni["deaths"].sel(year=2038)).all()
    # with the same rates in every area and area programmes summing to the municipal one,
    # the areas sum to the municipal housing-led projection, whatever the internal moves
    whole = project(ROOT / "scenarios/baerum-boligprogram.toml")
    for name in ("pop", "births", "deaths", "inmig", "outmig", "inmig_housing"):
        np.testing.assert_allclose(muni[name], whole[name], rtol=1e-9, atol=1e-9)


def test_internal_moves_sum_to_zero_and_identity_per_area(baerum_areas):
    ds = baerum_areas.isel(year=slice(0, -1))
    np.testing.assert_allclose(ds["internal_in"].sum("area"), ds["internal_out"].sum("area"),
                               rtol=1e-12, atol=1e-9)
    assert float(ds["internal_in"].sum()) > 0
    pop = baerum_areas["pop"].to_numpy()
    start = np.zeros_like(pop[:, :-1])
    start[..., 1:] = pop[:, :-1, :, :-1]
    start[..., -1] += pop[:, :-1, :, -1]
    start[..., 0] = ds["births"].to_numpy()
    change = sum(s * ds[v].to_numpy() for s, v in ((-1, "deaths"), (1, "inmig"), (-1, "outmig"),
                                                   (1, "internal_in"), (-1, "internal_out")))
    np.testing.assert_allclose(pop[:, 1:], start + change, rtol=1e-12, atol=1e-9)
    assert (pop >= 0).all()


def test_area_housing_programme_drives_area_inmigration(baerum_areas):
    h = baerum_areas["inmig_housing"].sel(year=2018).sum(("sex", "age"))
    assert h.sel(area="sandvika").item() == pytest.approx(180 * 2.528)
    assert h.sum().item() == pytest.approx(700 * 2.528)
    assert list(baerum_areas["area_name"].values)[0] == "Sandvika (konstruert)"


# --- malformed inputs ---------------------------------------------------------------------------

def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _drop(path, pattern):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if pattern not in line))


MALFORMED = {
    "area missing from the moves matrix": (
        lambda d: _drop(d / AREAS / "moves.csv", "kolsas,"), "moves.csv", "from_area",
        "missing from the moves matrix"),
    "a pair missing from the moves matrix": (
        lambda d: _drop(d / AREAS / "moves.csv", "resten,sandvika"), "moves.csv", "to_area",
        "'resten' to 'sandvika'"),
    "unknown area in the population file": (
        lambda d: _edit(d / AREAS / "population.csv", "\nkolsas,2018,female,7,",
                        "\nkolsaas,2018,female,7,"), "population.csv", "area", "'kolsaas'"),
    "inmig shares not summing to one": (
        lambda d: _edit(d / AREAS / "areas.csv", ",0.25", ",0.3"), "areas.csv", "inmig_share",
        "sum to 1.05"),
    "negative dwellings for an area": (
        lambda d: _edit(d / AREAS / "housing.csv", "kolsas,2020,175", "kolsas,2020,-175"),
        "housing.csv", "dwellings", ">= 0"),
    "area programmes not summing to the municipal one": (
        lambda d: _edit(d / AREAS / "housing.csv", "kolsas,2020,175", "kolsas,2020,176"),
        "housing.csv", "dwellings", "2020"),
    "moves and out-migration above one": (
        lambda d: _edit(d / AREAS / "moves.csv", "sandvika,resten,0.025", "sandvika,resten,0.98"),
        "moves.csv", "rate", "exceed 1"),
    "a move to itself": (
        lambda d: _edit(d / AREAS / "moves.csv", "sandvika,kolsas,", "sandvika,sandvika,"),
        "moves.csv", "rate", "to itself"),
    "base not the municipality": (
        lambda d: _edit(d / AREAS / "population.csv", "\nkolsas,2018,female,7,",
                        "\nkolsas,2018,female,7,1"), "population.csv", "persons",
        "add up to the municipality"),
    "missing moves_file key": (
        lambda d: _edit(d / S, 'moves_file = "../data/baerum/areas/moves.csv"', ""),
        "baerum-delomrader.toml", "areas.moves_file", "missing"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_area_input(project_copy, name):
    breaker, file_part, key_part, text = MALFORMED[name]
    breaker(project_copy)
    with pytest.raises((DataError, ScenarioError)) as info:
        project_areas(project_copy / S)
    message = str(info.value)
    assert "\n" not in message, message
    assert file_part in message and f": {key_part}: " in message and text in message, message
