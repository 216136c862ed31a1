"""Migration by component (e.g. domestic and international), so SSB's letters can vary each."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.api import project
from forecast.cli import app


def split_components(project_copy, share_domestic=0.6):
    """A CONSTRUCTED two-component file: the net schedule split 60/40 into domestic and
    international, so that the components sum exactly to the single-component file."""
    path = project_copy / "data" / "baerum" / "migration.csv"
    net = pd.read_csv(path)
    parts = []
    for name, share in (("domestic", share_domestic), ("international", 1 - share_domestic)):
        part = net.assign(component=name, inmig=net["inmig"] * share,
                          outrate=net["outrate"] * share)
        parts.append(part[["component", "sex", "age", "net", "inmig", "outrate"]])
    target = project_copy / "data" / "baerum" / "migration_components.csv"
    pd.concat(parts).to_csv(target, index=False)
    scenario = project_copy / "scenarios" / "baerum-mmmm.toml"
    scenario.write_text(scenario.read_text().replace("migration.csv", "migration_components.csv"))
    return scenario


def test_components_that_sum_to_the_net_give_the_same_projection(project_copy):
    single = project(project_copy / "scenarios" / "baerum-mmmm.toml")
    split = project(split_components(project_copy))
    np.testing.assert_allclose(split["pop"], single["pop"], rtol=1e-12)
    assert list(split["component"].values) == ["domestic", "international"]
    # the components add up to the totals, and keep their 60/40 shares
    np.testing.assert_allclose(split["inmig_component"].sum("component", skipna=False), split["inmig"],
                               rtol=1e-12)
    np.testing.assert_allclose(split["outmig_component"].sum("component", skipna=False), split["outmig"],
                               rtol=1e-12)
    d, i = (split["inmig_component"].sel(component=c).sum() for c in ("domestic", "international"))
    assert float(d / (d + i)) == pytest.approx(0.6)


def test_one_component_varies_alone(project_copy):
    scenario = split_components(project_copy)
    scenario.write_text(scenario.read_text() + "\n[migration.components.international]\n"
                        "in_level = 0.0\nout_level = 0.0\n")
    ds = project(scenario)
    assert float(ds["inmig_component"].sel(component="international").sum()) == 0.0
    assert float(ds["outmig_component"].sel(component="international").sum()) == 0.0
    # domestic in-migration is untouched: 60 % of the net-in counts every year
    net = pd.read_csv(project_copy / "data" / "baerum" / "migration.csv")
    yearly = ds["inmig_component"].sel(component="domestic").sum(["sex", "age"]).values[:-1]
    np.testing.assert_allclose(yearly, 0.6 * net["inmig"].sum(), rtol=1e-12)


def test_unknown_component_is_a_one_line_error(project_copy):
    scenario = split_components(project_copy)
    scenario.write_text(scenario.read_text() + "\n[migration.components.immigration]\n"
                        "in_level = 0.5\n")
    out = project_copy / "out"
    result = CliRunner().invoke(app, ["project", str(scenario), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "baerum-mmmm.toml" in line
    assert "migration.components.immigration" in line and "domestic, international" in line
    assert not out.exists()


def test_component_rates_that_sum_above_one_are_rejected(project_copy):
    scenario = split_components(project_copy)
    path = project_copy / "data" / "baerum" / "migration_components.csv"
    df = pd.read_csv(path)
    df.loc[(df["sex"] == "male") & (df["age"] == 21), "outrate"] = 0.6
    df.to_csv(path, index=False)
    result = CliRunner().invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 2
    assert "migration_components.csv: outrate" in result.stderr
