"""Demand and cost over leading dims (region, draw): the same numbers as one region at a time."""

import copy
import tomllib

import numpy as np
import pytest
import xarray as xr

from conftest import synthetic_population
from forecast.cost import compute_cost, parse_costs
from forecast.demand import compute_demand, parse_demand
from forecast.inputs.region_users import read_region_users
from forecast.errors import DataError, ScenarioError

FILE = "test.toml"
YEARS = [2018, 2019, 2020, 2021]
REGIONS = ("0301", "3024", "4601")

SERVICES = """
[cost]
price_year = 2018
real_growth = 0.01

[services.heldogn]
label = "Heldøgn"
unit = "plasser"
groups = "80+"
coverage = {kind = "target", target = 0.2, target_year = 2020}
cost = {basis = "need", unit_cost = 1_000_000, price_year = 2018}

[services.hjem]
label = "Hjemmetjenester"
unit = "brukere"
groups = ["0-66", "67-79", "80+"]
coverage = {kind = "base"}
intensity = {hours_per_user_week = {2018 = 4, 2021 = 5}}
substitution = {from = "heldogn", share = 0.5}
cost = {basis = "hours", unit_cost = 900, price_year = 2018}

[services.sos]
label = "Sosialhjelp"
unit = "mottakere"
groups = ["18-66", "67+"]
coverage = {kind = "path", rate = [{2018 = 0.02, 2021 = 0.03}, 0.001]}
intensity = {months_per_user = 5.5}
cost = {basis = "months", unit_cost = 11_000, price_year = 2018}
"""

# base-year users per region: heldogn (80+), hjem (0-66, 67-79, 80+)
USERS = {"heldogn": np.array([[150.0], [200.0], [100.0]]),
         "hjem": np.array([[40.0, 20.0, 300.0], [60.0, 30.0, 350.0], [10.0, 8.0, 250.0]])}


def regional_population(n_draws=0, seed=1) -> xr.Dataset:
    """pop(region, [draw,] year, sex, age): different sizes and growth in each region."""
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(len(REGIONS)):
        draws = []
        for _ in range(max(n_draws, 1)):
            by_age = {a: list(rng.uniform(100, 200) * (1 + rng.uniform(-0.05, 0.1)) ** np.arange(4))
                      for a in range(0, 106, 3)}
            draws.append(synthetic_population(YEARS, by_age))
        parts.append(xr.concat(draws, dim="draw") if n_draws else draws[0])
    return xr.concat(parts, dim="region").assign_coords(region=list(REGIONS))


def config(toml=SERVICES):
    raw = tomllib.loads(toml)
    cfg = parse_demand(raw, FILE, 2018, 2021, region_users=True)
    cfg.users_by_region = {k: v.copy() for k, v in USERS.items()}
    cfg.regions = REGIONS
    return cfg, parse_costs(raw, FILE, 2018, 2021, cfg.services)


def one_region(cfg, r: int):
    """The single-municipality config of region r: the scenario's users are its users."""
    single = copy.deepcopy(cfg)
    for sid, users in cfg.users_by_region.items():
        single.services[sid].coverage.users = tuple(users[r])
    single.users_by_region, single.regions = {}, ()
    return single


def assert_same(a: xr.Dataset, b: xr.Dataset):
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims, name
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def test_vectorised_over_regions_equals_one_region_at_a_time():
    pop = regional_population()
    cfg, _ = config()
    ds = compute_demand(pop, cfg)
    assert ds["need"].dims == ("region", "service", "year")
    assert ds["need_by_group"].dims == ("region", "service", "group", "year")
    assert ds["first_shortfall_year"].dims == ("region", "service")
    assert list(ds["region"].values) == list(REGIONS)
    for r, code in enumerate(REGIONS):
        single = compute_demand(pop.sel(region=code, drop=True), one_region(cfg, r))
        assert_same(ds.sel(region=code, drop=True), single)
    assert (ds["substitution"].sel(service="hjem", year=2021) != 0).all()


def test_two_regions_by_hand():
    # 80+: 100 and 200 persons in 2018, 150 and 180 in 2019; users 20 and 30
    pop = xr.concat([synthetic_population([2018, 2019], {85: [100, 150]}),
                     synthetic_population([2018, 2019], {85: [200, 180]})],
                    dim="region").assign_coords(region=["a", "b"])
    cfg = parse_demand(tomllib.loads('[services.s]\nlabel = "S"\nunit = "plasser"\n'
                                     'groups = "80+"\ncoverage = {kind = "base"}'),
                       FILE, 2018, 2019, region_users=True)
    cfg.users_by_region, cfg.regions = {"s": np.array([[20.0], [30.0]])}, ("a", "b")
    ds = compute_demand(pop, cfg)
    np.testing.assert_allclose(ds["coverage"].sel(service="s", year=2018), [0.20, 0.15])
    np.testing.assert_allclose(ds["need"].sel(service="s", year=2019), [30, 27])
    # the table's rows follow the codes, not the order of the population's regions
    flipped = compute_demand(pop.isel(region=[1, 0]), cfg)
    np.testing.assert_allclose(flipped["need"].sel(service="s", year=2019), [27, 30])


@pytest.mark.parametrize("order", [("region", "draw"), ("draw", "region")])
def test_region_by_draw(order):
    pop = regional_population(n_draws=2)
    pop = pop.transpose(*order, "year", "sex", "age")
    cfg, costs = config()
    ds = compute_cost(compute_demand(pop, cfg), costs)
    assert ds["need"].dims == (*order, "service", "year")
    assert ds["cost"].dims == (*order, "service", "year")
    for r, code in enumerate(REGIONS):
        single_cfg = one_region(cfg, r)
        for d in range(2):
            one = pop.sel(region=code, draw=d, drop=True)
            single = compute_cost(compute_demand(one, single_cfg), costs)
            assert_same(ds.sel(region=code, draw=d, drop=True), single)


def test_draws_of_one_municipality_use_the_scenarios_users():
    pop = regional_population(n_draws=3).isel(region=0, drop=True)   # (draw, year, sex, age)
    cfg, _ = config()
    single = one_region(cfg, 0)
    ds = compute_demand(pop, single)
    assert ds["need"].dims == ("draw", "service", "year")
    for d in range(3):
        assert_same(ds.isel(draw=d, drop=True), compute_demand(pop.isel(draw=d, drop=True),
                                                               single))


def test_cost_with_leading_dims_equals_the_loop_over_regions():
    pop = regional_population()
    cfg, costs = config()
    ds = compute_cost(compute_demand(pop, cfg), costs)
    for r, code in enumerate(REGIONS):
        dem = compute_demand(pop.sel(region=code, drop=True), one_region(cfg, r))
        assert_same(ds.sel(region=code, drop=True), compute_cost(dem, costs))
    # hand check: 80+ need × NOK 1 million × 1.01 a year after the base year
    np.testing.assert_allclose(ds["cost"].sel(service="heldogn", year=2019),
                               ds["need"].sel(service="heldogn", year=2019) * 1.01e6)
    for name in ds.data_vars:
        assert "units" in ds[name].attrs, name


def test_single_region_result_has_no_leading_dims():
    pop = regional_population().isel(region=0, drop=True)
    ds = compute_demand(pop, one_region(config()[0], 0))
    assert ds["need"].dims == ("service", "year")
    assert "region" not in ds.coords


# --- what one municipality's counts cannot do for many --------------------------------

def many_regions_error(toml, key, *words):
    pop = regional_population()
    cfg = parse_demand(tomllib.loads(toml), FILE, 2018, 2021, region_users=True)
    with pytest.raises(ScenarioError) as info:
        compute_demand(pop, cfg)
    assert info.value.key == key, str(info.value)
    for w in words:
        assert w in str(info.value)


def test_base_coverage_of_many_regions_needs_the_users_table():
    many_regions_error('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "80+"\n'
                       'coverage = {kind = "base", users = 10}',
                       "services.s.coverage.users", "per-region users table", "3 regions")


def test_trend_needs_one_region():
    many_regions_error('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "18-66"\n'
                       'coverage = {kind = "trend", history = {2016 = 10, 2018 = 12}}',
                       "services.s.coverage.kind", "single-region")


def test_capacity_table_needs_one_region():
    many_regions_error('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "80+"\n'
                       'coverage = {kind = "capacity"}\ncapacity = {base = 10}',
                       "services.s.capacity", "one municipality's places")


def test_path_coverage_applies_to_every_region_without_a_table():
    pop = regional_population()
    cfg = parse_demand(tomllib.loads('[services.s]\nlabel = "S"\nunit = "u"\ngroups = "80+"\n'
                                     'coverage = {kind = "path", rate = 0.1}'), FILE, 2018, 2021)
    ds = compute_demand(pop, cfg)
    np.testing.assert_allclose(ds["need"], 0.1 * ds["group_population"])


def test_region_users_above_the_population_name_the_region():
    pop = regional_population()
    cfg, _ = config()
    cfg.users_by_region["heldogn"][1, 0] = 1e6
    cfg.users_file = "users.csv"
    with pytest.raises(DataError) as info:
        compute_demand(pop, cfg)
    assert info.value.file == "users.csv" and info.value.key == "users"
    assert "region 3024" in str(info.value) and "coverage above 1" in str(info.value)


def test_region_without_users_in_the_table():
    pop = regional_population()
    cfg, _ = config()
    cfg.regions = REGIONS[:2]
    cfg.users_by_region = {k: v[:2] for k, v in cfg.users_by_region.items()}
    with pytest.raises(DataError, match="4601"):
        compute_demand(pop, cfg)


# --- the per-region users file ----------------------------------------------------------

VALID_CSV = """municipality,service,group,users
0301,heldogn,,150
3024,heldogn,80+,200
4601,heldogn,,100
0301,hjem,0-66,40
0301,hjem,67-79,20
0301,hjem,80+,300
3024,hjem,0-66,60
3024,hjem,67-79,30
3024,hjem,80+,350
4601,hjem,0-66,10
4601,hjem,67-79,8
4601,hjem,80+,250
"""


def read(tmp_path, text):
    path = tmp_path / "users.csv"
    path.write_text(text)
    return read_region_users(path, config()[0].services, REGIONS)


def broken(tmp_path, old, new, key, *words):
    text = VALID_CSV.replace(old, new, 1)
    assert text != VALID_CSV
    with pytest.raises(DataError) as info:
        read(tmp_path, text)
    err = info.value
    assert err.key == key and err.file.endswith("users.csv"), str(err)
    for w in words:
        assert w in str(err), str(err)


def test_read_region_users(tmp_path):
    users = read(tmp_path, VALID_CSV)
    assert set(users) == {"heldogn", "hjem"}
    for sid, expected in USERS.items():
        np.testing.assert_array_equal(users[sid], expected)


def test_users_file_without_group_column_for_a_one_group_service(tmp_path):
    users = read(tmp_path, "municipality,service,users\n0301,heldogn,150\n3024,heldogn,200\n"
                           "4601,heldogn,100\n")
    np.testing.assert_array_equal(users["heldogn"], USERS["heldogn"])


def test_users_file_unknown_service(tmp_path):
    broken(tmp_path, "0301,heldogn,,150", "0301,sykehjem,,150", "service", "sykehjem",
           "heldogn, hjem, sos")


def test_users_file_unknown_municipality(tmp_path):
    broken(tmp_path, "4601,heldogn,,100", "9999,heldogn,,100", "municipality", "9999")


def test_users_file_duplicate_row(tmp_path):
    broken(tmp_path, "3024,hjem,67-79,30", "3024,hjem,0-66,30", "municipality", "duplicate",
           "3024")


def test_users_file_negative_users(tmp_path):
    broken(tmp_path, "0301,hjem,80+,300", "0301,hjem,80+,-300", "users", "-300", ">= 0")


def test_users_file_missing_group(tmp_path):
    broken(tmp_path, "0301,hjem,67-79,20", "0301,hjem,,20", "group", "0-66, 67-79, 80+")


def test_users_file_unknown_group(tmp_path):
    broken(tmp_path, "0301,hjem,67-79,20", "0301,hjem,67-89,20", "group", "67-89")


def test_users_file_municipality_missing(tmp_path):
    broken(tmp_path, "4601,heldogn,,100\n", "", "municipality", "4601", "heldogn")


def test_users_file_needs_a_group_column_for_a_service_with_groups(tmp_path):
    with pytest.raises(DataError) as info:
        read(tmp_path, "municipality,service,users\n0301,hjem,30\n")
    assert info.value.key == "group" and "`group` column" in str(info.value)
