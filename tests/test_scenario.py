"""Scenario loading: extends, dated values, validation errors that name file and key."""

import pytest

from forecast.errors import ScenarioError
from forecast.paths import check_path, evaluate
from forecast.scenario import load_scenario

from conftest import ROOT


def test_dated_values_are_linear_between_and_flat_outside():
    spec = check_path({"2018": 0.236, "2030": 0.22})
    got = evaluate(spec, [2010, 2018, 2024, 2030, 2038])
    assert got.tolist() == pytest.approx([0.236, 0.236, 0.228, 0.22, 0.22])
    assert evaluate(check_path(1.5), [2018, 2040]).tolist() == [1.5, 1.5]


def test_alternative_states_only_what_differs():
    main = load_scenario(ROOT / "scenarios" / "baerum-mmmm.toml")
    low = load_scenario(ROOT / "scenarios" / "baerum-llml.toml")
    assert low.base_year == main.base_year == 2018 and low.end_year == 2038
    assert low.section("population") == main.section("population")
    assert low.section("migration")["in_level"] == 0.5
    # a dated value in the child replaces the parent's value, other keys are inherited
    assert low.section("mortality")["e0_shift"] == {"2018": 0.0, "2038": -2.0}
    assert low.section("mortality")["e0_female"] == "trend"
    assert [p.name for p in low.sources] == ["baerum-llml.toml", "baerum-mmmm.toml"]


def test_dated_table_replaces_parent_table(project_copy):
    sc = project_copy / "scenarios"
    (sc / "child.toml").write_text('extends = "baerum-llml.toml"\n'
                                   "[mortality]\ne0_shift = { 2030 = 1.0 }\n")
    assert load_scenario(sc / "child.toml").section("mortality")["e0_shift"] == {"2030": 1.0}


def test_extends_cycle_is_an_error(project_copy):
    sc = project_copy / "scenarios"
    (sc / "a.toml").write_text('extends = "b.toml"\n')
    (sc / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(sc / "a.toml")


def test_a_table_of_another_kind_replaces_the_parents(project_copy):
    sc = project_copy / "scenarios"
    (sc / "child.toml").write_text(
        'extends = "baerum-ldip.toml"\n'
        '[services.sosialhjelp]\nusers = 1204\n'
        '[services.sosialhjelp.coverage]\nkind = "base"\n')
    parent = load_scenario(sc / "baerum-ldip.toml").raw["services"]["sosialhjelp"]["coverage"]
    assert parent["kind"] == "trend" and "history" in parent
    child = load_scenario(sc / "child.toml").raw["services"]["sosialhjelp"]
    assert child["coverage"] == {"kind": "base"}  # nothing of the trend rule is inherited
    assert child["label"] == "Økonomisk sosialhjelp, øvrige mottakere"  # the rest is
    from forecast.demand import parse_demand
    config = parse_demand(load_scenario(sc / "child.toml").raw, "child.toml", 2018, 2038)
    assert config.services["sosialhjelp"].coverage.users == (1204.0,)


def test_load_population_gives_typed_inputs_and_assumptions():
    import numpy as np

    from forecast.inputs.population import load_population
    from forecast.population.model import (Exchange, PopulationAssumptions,
                                           PopulationInputs)

    inputs, a = load_population(load_scenario(ROOT / "scenarios" / "baerum-llml.toml"))
    assert isinstance(inputs, PopulationInputs) and isinstance(a, PopulationAssumptions)
    assert inputs.layout == "single" and len(inputs.regions) == 1
    assert inputs.base_pop.shape == (1, 2, 106) and inputs.base_pop.sum() == 125_454
    assert inputs.mx.shape == (2, 106) and inputs.asfr.shape == (106,)
    assert inputs.inmig.shape == inputs.outrate.shape == (1, 1, 2, 106)
    assert inputs.exchange is None and inputs.housing_inmig is None
    assert (a.base_year, a.end_year) == (2018, 2038)
    assert list(a.flow_years) == list(range(2018, 2038))
    assert a.in_level == 0.5 and a.e0 == ("trend", "trend")

    inputs, a = load_population(load_scenario(ROOT / "scenarios" / "baerum-delomrader.toml"))
    assert inputs.layout == "areas" and inputs.regions == ("sandvika", "kolsas", "resten")
    assert isinstance(inputs.exchange, Exchange)
    assert inputs.exchange.rate.shape == inputs.exchange.share.shape == (3, 2, 106)
    np.testing.assert_allclose(inputs.exchange.share.sum(axis=0), 1.0, rtol=1e-12)
    assert inputs.base_pop.sum() == 125_454
    assert inputs.housing_inmig.shape == (3, 20, 2, 106) and inputs.housing_mode == "replace"
