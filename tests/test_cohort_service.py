"""Cohort services (forecast/demand/cohort.py): users followed by entries and exits.

Small tables a person can redo by hand, the vectorised path against a loop over regions, the
derived numbers of the new Bærum sections, and the LDIP run with its five service areas."""

import copy
import tomllib

import numpy as np
import pytest
import xarray as xr

from conftest import ROOT, synthetic_population as population
from forecast.cost import compute_cost, parse_costs
from forecast.demand import compute_demand, parse_demand
from forecast.errors import ScenarioError

FILE = "test.toml"
HEAD = '[services.s]\nlabel = "S"\nunit = "boenheter"\ngroups = "18+"\n'


def demand(cohort: str, pop, base=2018, end=None, extra=""):
    raw = tomllib.loads(HEAD + f"cohort = {{{cohort}}}\n" + extra)
    end = end or int(pop["year"].values[-1])
    return compute_demand(pop, parse_demand(raw, FILE, base, end))


def need(ds):
    return ds["need"].sel(service="s").values


# --- by hand ------------------------------------------------------------------------------

def test_entries_at_22_by_birth_cohort_and_3_exits_a_year():
    # 10 users in 2018. Born 1997 (22 in 2019): 5, born 1998: 2, born 1999: 6; 3 leave a year.
    #   2019: 10 + 5 − 3 = 12   2020: 12 + 2 − 3 = 11   2021: 11 + 6 − 3 = 14
    pop = population([2018, 2019, 2020, 2021], {40: [1000] * 4})
    ds = demand("base = 10, entry_age = 22, exits_per_year = 3, "
                "entries_by_birth_year = {1997 = 5, 1998 = 2, 1999 = 6}", pop)
    np.testing.assert_allclose(need(ds), [10, 12, 11, 14])
    np.testing.assert_allclose(ds["coverage"].sel(service="s"), np.array([10, 12, 11, 14]) / 1000)
    assert np.isnan(ds["need_by_group"].sel(service="s")).all()   # a cohort has no split


def test_birth_cohorts_between_given_ones_are_interpolated():
    # {1997 = 4, 1999 = 8}: the cohort born 1998 brings 6 (half-way); 2000 the last, 8
    pop = population([2018, 2019, 2020, 2021, 2022], {40: [1000] * 5})
    ds = demand("base = 0, entry_age = 22, entries_by_birth_year = {1997 = 4, 1999 = 8}", pop)
    np.testing.assert_allclose(need(ds), [0, 4, 10, 18, 26])


def test_entries_by_calendar_year_and_an_exit_rate():
    # 100 users; 10 % of the users at 1 January leave; 20 enter in 2019, 0 in 2020
    #   2019: 100 − 10 + 20 = 110   2020: 110 − 11 + 0 = 99
    pop = population([2018, 2019, 2020], {40: [1000] * 3})
    ds = demand("base = 100, entries = {2019 = 20, 2020 = 0}, exit_rate = 0.1", pop)
    np.testing.assert_allclose(need(ds), [100, 110, 99])


def test_entry_rate_follows_the_cohort_reaching_the_entry_age():
    # 50 % of those reaching 22 during the year enter: they are 21 on 1 January
    # (40, 60, 80 persons aged 21 in 2018-2020); nobody leaves.
    #   2019: 10 + 0.5 × 60 = 40   2020: 40 + 0.5 × 80 = 80
    pop = population([2018, 2019, 2020], {21: [40, 60, 80], 22: [999, 999, 999]})
    ds = demand("base = 10, entry_age = 22, entry_rate = 0.5", pop)
    np.testing.assert_allclose(need(ds), [10, 40, 80])


def test_capacity_and_cost_per_resident():
    pop = population([2018, 2019, 2020], {40: [1000] * 3})
    extra = ('capacity = {base = 10}\n'
             'cost = {basis = "need", unit_cost = 1_400_000, price_year = 2018}\n'
             '[cost]\nprice_year = 2018\n')
    raw = tomllib.loads(HEAD + "cohort = {base = 10, entries = 5, exits_per_year = 3}\n" + extra)
    config = parse_demand(raw, FILE, 2018, 2020)
    ds = compute_cost(compute_demand(pop, config), parse_costs(raw, FILE, 2018, 2020,
                                                               config.services))
    np.testing.assert_allclose(need(ds), [10, 12, 14])
    np.testing.assert_allclose(ds["gap"].sel(service="s"), [0, 2, 4])
    np.testing.assert_allclose(ds["cost"].sel(service="s"), [14e6, 16.8e6, 19.6e6])
    assert ds["first_shortfall_year"].sel(service="s").item() == 2019


# --- over regions and draws: the same numbers as one region at a time --------------------

REGIONS = ("0301", "3024", "4601")
TOML = HEAD + """cohort = {entry_age = 22, entry_rate = {2019 = 0.01, 2021 = 0.02}, exit_rate = 0.05}
cost = {basis = "need", unit_cost = 1_000_000, price_year = 2018}
[cost]
price_year = 2018
real_growth = 0.01
"""


def regional_population(n_draws=0, seed=3) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    parts = []
    for _ in REGIONS:
        draws = [population([2018, 2019, 2020, 2021],
                            {a: list(rng.uniform(100, 300) * (1 + rng.uniform(-0.05, 0.1))
                                     ** np.arange(4)) for a in range(0, 106, 1)})
                 for _ in range(max(n_draws, 1))]
        parts.append(xr.concat(draws, dim="draw") if n_draws else draws[0])
    return xr.concat(parts, dim="region").assign_coords(region=list(REGIONS))


def regional_config():
    raw = tomllib.loads(TOML)
    cfg = parse_demand(raw, FILE, 2018, 2021, region_users=True)
    cfg.users_by_region, cfg.regions = {"s": np.array([[40.0], [75.0], [12.0]])}, REGIONS
    return cfg, parse_costs(raw, FILE, 2018, 2021, cfg.services)


def one_region(cfg, r):
    single = copy.deepcopy(cfg)
    single.services["s"].cohort.base = float(cfg.users_by_region["s"][r, 0])
    single.users_by_region, single.regions = {}, ()
    return single


@pytest.mark.parametrize("n_draws", [0, 2])
def test_vectorised_over_regions_and_draws_equals_the_loop(n_draws):
    pop = regional_population(n_draws)
    cfg, costs = regional_config()
    ds = compute_cost(compute_demand(pop, cfg), costs)
    assert ds["need"].dims[0] == "region"
    for r, code in enumerate(REGIONS):
        for d in range(max(n_draws, 1)):
            one = pop.sel(region=code, drop=True)
            if n_draws:
                one = one.isel(draw=d, drop=True)
            single = compute_cost(compute_demand(one, one_region(cfg, r)), costs)
            got = ds.sel(region=code, drop=True)
            if n_draws:
                got = got.isel(draw=d, drop=True)
            for name in single.data_vars:
                np.testing.assert_allclose(got[name].values, single[name].values, rtol=1e-12,
                                           err_msg=name)
    # by hand, region 0301 in 2019: 40 − 5 % × 40 + 1 % × persons aged 21 on 1.1.2019
    p21 = float(pop["pop"].sel(region="0301", year=2019, age=21).sum("sex").values.ravel()[0])
    first = ds["need"].sel(region="0301", service="s", year=2019).values.ravel()[0]
    assert first == pytest.approx(40 - 2 + 0.01 * p21)


def test_counted_entries_need_one_region():
    raw = tomllib.loads(HEAD + "cohort = {base = 1, entries = 2}")
    cfg = parse_demand(raw, FILE, 2018, 2021, region_users=True)
    cfg.users_by_region, cfg.regions = {"s": np.array([[1.0], [2.0], [3.0]])}, REGIONS
    with pytest.raises(ScenarioError, match="entry_rate") as err:
        compute_demand(regional_population(), cfg)
    assert err.value.key == "services.s.cohort.entry_rate"


def test_many_regions_need_users_per_region():
    cfg = parse_demand(tomllib.loads(HEAD + "cohort = {base = 1, entry_age = 22, "
                                            "entry_rate = 0.1}"), FILE, 2018, 2021)
    with pytest.raises(ScenarioError, match="per region") as err:
        compute_demand(regional_population(), cfg)
    assert err.value.key == "services.s.cohort.base"


# --- malformed input: one error naming the key --------------------------------------------

@pytest.mark.parametrize("cohort, key, words", [
    ("base = 1, entries_by_birth_year = {1997 = 2}", "entry_age", "the age at which"),
    ("base = 1, entry_age = 22", "entry_age", "entries_by_birth_year"),
    ("base = 1, entry_age = 22, entries = 2", "entry_age", "calendar years"),
    ("base = 1", "entries", "missing"),
    ("entries = 1", "base", "missing"),
    ("base = -1, entries = 1", "base", ">= 0"),
    ("base = 1, entries = 1, exits_per_year = -3", "exits_per_year", ">= 0"),
    ("base = 1, entries = 1, exit_rate = 1.5", "exit_rate", "<= 1"),
    ("base = 1, entries = 1, exit_rate = 0.1, exits_per_year = 1", "exit_rate", "not both"),
    ("base = 1, entries = 1, entry_age = 22, entry_rate = 0.1", "entry_rate", "one way"),
    ("base = 1, entries = {2030 = 1}", "entries", "outside the horizon"),
    ("base = 1, entry_age = 22, entries_by_birth_year = {1990 = 1}", "entries_by_birth_year",
     "1990 enters in 2012"),
    ("base = 1, entry_age = 0, entry_rate = 0.1", "entry_age", "age 1-105"),
    ("base = 1, entries = 1, exits = 3", "exits", "unknown key"),
])
def test_malformed_cohort(cohort, key, words):
    raw = tomllib.loads(HEAD + f"cohort = {{{cohort}}}")
    with pytest.raises(ScenarioError) as err:
        parse_demand(raw, FILE, 2018, 2021)
    assert err.value.key == f"services.s.cohort.{key}"
    assert words in err.value.message


def test_cohort_with_coverage_too():
    raw = tomllib.loads(HEAD + 'coverage = {kind = "base", users = 1}\n'
                               'cohort = {base = 1, entries = 1}')
    with pytest.raises(ScenarioError, match="no coverage") as err:
        parse_demand(raw, FILE, 2018, 2021)
    assert err.value.key == "services.s.coverage"


def test_exits_beyond_the_users():
    pop = population([2018, 2019, 2020], {40: [1000] * 3})
    with pytest.raises(ScenarioError, match="negative number of users") as err:
        demand("base = 2, entries = 0, exits_per_year = 3", pop)
    assert err.value.key == "services.s.cohort.exits_per_year" and "2019" in err.value.message


# --- the Bærum sections and the LDIP run --------------------------------------------------

LDIP = ROOT / "scenarios" / "baerum-ldip.toml"
NEW = ("bolig_utviklingshemming", "psykisk_helse_bolig", "psykisk_helse_ambulant")


def ldip_services():
    with open(LDIP, "rb") as f:
        return tomllib.load(f)["services"]


def test_new_sections_derived_numbers():
    s = ldip_services()
    idh = s["bolig_utviklingshemming"]
    # 004 line 507-509: 180 units are +57 %; footnote: 3 leave a year, entry at 22
    assert idh["cohort"]["base"] == round(180 / 0.57)
    assert idh["cohort"]["entries_by_birth_year"] == (180 + 3 * 20) / 20
    assert (idh["cohort"]["entry_age"], idh["cohort"]["exits_per_year"]) == (22, 3)
    assert idh["cost"]["unit_cost"] == 1.4e6                               # Tabell 5
    psy = s["psykisk_helse_bolig"]
    staffed = [129, 130, 133, 132, 137]                                    # Tabell 7
    external = [13, 16, 19, 19, 24]                                        # Tabell 6
    assert psy["coverage"]["history"] == {str(y): a + b for y, a, b in
                                          zip(range(2014, 2019), staffed, external)}
    assert psy["capacity"] == {**psy["capacity"], "base": 145, "openings": {"2020": 10}}
    assert psy["cost"]["unit_cost"] == round((104_280_524 + 80_626_758) / 161)
    assert 80_626_758 / 24 == pytest.approx(3_359_448, abs=1)              # Tabell 6's own
    assert 104_280_524 / 137 == pytest.approx(761_172, abs=1)              # Tabell 7's own
    amb = s["psykisk_helse_ambulant"]
    assert amb["users"] == 966
    assert amb["intensity"]["hours_per_user_year"] == round(35_307 / 966, 2)   # Tabell 8
    assert amb["cost"]["unit_cost"] == round(761_172 / 962)                   # Tabell 7


def test_every_new_table_names_its_source():
    services = ldip_services()
    for sid in NEW:
        tables = [services[sid]] + [t for t in services[sid].values() if isinstance(t, dict)]
        assert len(tables) >= 4, sid
        for table in tables:
            assert table["source"].startswith(("004_", "derived:", "assumption:")), (sid, table)


@pytest.fixture(scope="module")
def ldip_run():
    from forecast.api import run
    return run(LDIP)


def test_ldip_run_reports_the_five_service_areas(ldip_run):
    from forecast.report import service_summary

    ds = ldip_run.demand
    labels = [str(x) for x in ds["label"].values]
    for words in ("Heldøgns", "Hjemmetjenester", "sosialhjelp", "utviklingshemming",
                  "Psykisk helse og rus"):
        assert any(words.lower() in lab.lower() for lab in labels), words
    table = service_summary(ds)
    for sid in NEW:
        label = str(ds["label"].sel(service=sid).values)
        measures = " ".join(table.loc[label].index)
        assert "need (" in measures and "cost (" in measures, measures
        assert np.isfinite(ds["cost"].sel(service=sid)).all()
    for sid in ("bolig_utviklingshemming", "psykisk_helse_bolig"):
        assert np.isfinite(ds["gap"].sel(service=sid)).all()


def test_ldip_new_services_by_hand(ldip_run):
    ds = ldip_run.demand
    idh = ds["need"].sel(service="bolig_utviklingshemming")
    assert float(idh.sel(year=2038)) == pytest.approx(316 + 12 * 20 - 3 * 20)   # 496
    assert float(idh.sel(year=2038)) / 316 - 1 == pytest.approx(0.57, abs=0.005)
    assert float(ds["gap"].sel(service="bolig_utviklingshemming", year=2038)) == 180
    psy = ds["need"].sel(service="psykisk_helse_bolig")
    assert float(psy.sel(year=2022)) == pytest.approx(161 + 4 * 4.75)
    cap = ds["capacity"].sel(service="psykisk_helse_bolig")
    assert [float(cap.sel(year=y)) for y in (2019, 2020)] == [145, 155]
    hours = float(ds["hours"].sel(service="psykisk_helse_ambulant", year=2018))
    assert hours == pytest.approx(966 * 36.55)


def test_ldip_2018_costs_within_the_published_sector_totals(ldip_run):
    cost = ldip_run.demand["cost"].sel(year=2018) / 1e6      # mill. kr
    # Pleie og omsorg: gross 2 430,0 (Tabell 1, line 796), 25 % intellectual disabilities
    assert float(cost.sel(service="bolig_utviklingshemming")) == pytest.approx(316 * 1.4)
    assert float(cost.sel(service="bolig_utviklingshemming")) <= 0.25 * 2430.0
    care = ["heldogn", "hjemmetjenester", "bolig_utviklingshemming"]
    assert float(cost.sel(service=care).sum()) < 2430.0
    # Helse og sosial: gross 1 348,0 (Tabell 1 of ch. 4, line 1756)
    psych = float(cost.sel(service=["psykisk_helse_bolig", "psykisk_helse_ambulant"]).sum())
    assert psych == pytest.approx((104_280_524 + 80_626_758) / 1e6 + 35_307 * 791 / 1e6,
                                  rel=1e-5)
    assert psych <= 1348.0


@pytest.mark.parametrize("old, new, key", [
    ("entry_age = 22\n", "", "services.bolig_utviklingshemming.cohort.entry_age"),
    ("exits_per_year = 3\n", "exits_per_year = -3\n",
     "services.bolig_utviklingshemming.cohort.exits_per_year"),
])
def test_malformed_cohort_via_cli(project_copy, old, new, key):
    from typer.testing import CliRunner
    from forecast.cli import app

    path = project_copy / "scenarios" / "baerum-ldip.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "baerum-ldip.toml" in line and key in line, line
    assert not out.exists() or not any(out.iterdir())
