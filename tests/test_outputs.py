"""Writers for planners: CSV, NetCDF, Excel, PNG — on a tiny synthetic population and demand."""

import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.errors import ForecastError, ScenarioError
from forecast.io import charts, excel
from forecast.io.outputs import (demand_frame, population_frames, stack_scenarios,
                                 write_population_outputs, write_run_outputs)

YEARS = [2018, 2019, 2020]
N_AGE = 106
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_population(seed: int = 1) -> xr.Dataset:
    """Random flows and stocks that satisfy the accounting identity exactly by construction."""
    rng = np.random.default_rng(seed)
    n = len(YEARS)
    pop = np.zeros((n, 2, N_AGE))
    pop[0] = rng.uniform(100, 1000, (2, N_AGE))
    births = np.full((n, 2), np.nan)
    deaths, inmig, outmig = (np.full((n, 2, N_AGE), np.nan) for _ in range(3))
    for t in range(n - 1):
        births[t] = rng.uniform(500, 600, 2)
        start = np.zeros((2, N_AGE))  # by the age reached on 1 January next year
        start[:, 0] = births[t]
        start[:, 1:] = pop[t, :, :-1]
        start[:, -1] += pop[t, :, -1]  # the open group keeps those already 105+
        inmig[t] = rng.uniform(0, 50, (2, N_AGE))
        outmig[t] = start * rng.uniform(0, 0.1, (2, N_AGE))
        deaths[t] = start * rng.uniform(0, 0.05, (2, N_AGE))
        pop[t + 1] = start - deaths[t] + inmig[t] - outmig[t]
    return xr.Dataset(
        {"pop": (("year", "sex", "age"), pop), "births": (("year", "sex"), births),
         "deaths": (("year", "sex", "age"), deaths), "inmig": (("year", "sex", "age"), inmig),
         "outmig": (("year", "sex", "age"), outmig)},
        coords={"year": YEARS, "sex": ["female", "male"], "age": np.arange(N_AGE)},
        attrs={"scenario": "Test MMMM", "forecast_version": "0.1.0",
               "extra": {"nested": 1}, "missing": None, "flag": True},
    )


def make_demand(scenario: str = "Test MMMM", level: float = 1.0) -> xr.Dataset:
    services = ["heldogn", "sosialhjelp"]
    need = np.array([[100.0, 110.0, 121.0], [2000.0, 2100.0, 2200.0]]) * level
    capacity = np.array([[105.0, 105.0, 130.0], [np.nan] * 3])
    coverage = np.array([[0.2, 0.21, 0.22], [0.03, 0.031, 0.032]])
    group = need / coverage
    hours = np.array([[np.nan] * 3, [np.nan] * 3])
    cost = np.array([[1.2e8, 1.3e8, 1.45e8], [2.5e8, 2.6e8, 2.7e8]]) * level
    investment = np.array([[0.0, 0.0, 5.0e8], [0.0, 0.0, 0.0]])
    ds = xr.Dataset(
        {"need": (("service", "year"), need), "capacity": (("service", "year"), capacity),
         "gap": (("service", "year"), need - capacity),    # as demand.model: need − capacity
         "coverage": (("service", "year"), coverage),
         "group_population": (("service", "year"), group),
         "hours": (("service", "year"), hours), "cost": (("service", "year"), cost),
         "investment": (("service", "year"), investment),
         "first_shortfall_year": (("service",), [2019.0, np.nan]),
         "unit_cost": (("service", "year"), cost / need),          # an extra measure
         "total_places_planned": ((), 130.0)},                    # not (service, year)
        coords={"service": services, "year": YEARS,
                "label": ("service", ["Heldøgnsplasser", "Sosialhjelpsmottakere"]),
                "unit": ("service", ["plasser", "mottakere"])},
        attrs={"price_year": 2018, "scenario": scenario},
    )
    ds["unit_cost"].attrs["units"] = "NOK per unit"
    return ds


ASSUMPTIONS = [
    {"section": "fertility", "key": "tfr", "value": {2018: 1.6, 2030: 1.7},
     "unit": "children per woman", "source": "SSB 2018"},
    {"section": "coverage", "key": "heldogn", "value": 0.2, "unit": "share",
     "source": "Bærum LDIP 2019"},
    {"section": "migration", "key": "in_level", "value": 1.0, "unit": None, "source": None},
]
CHARTS = {"places": "heldogn", "social_assistance": "sosialhjelp"}


@pytest.fixture
def pop_ds():
    return make_population()


@pytest.fixture
def demand_ds():
    return make_demand()


# --- population CSV / NetCDF -------------------------------------------------------------

def test_population_csv_rows_and_identity(tmp_path, pop_ds):
    written = write_population_outputs(tmp_path, pop_ds, fmt="csv")
    assert [p.name for p in written] == ["population.csv", "flows.csv"]
    pop = pd.read_csv(tmp_path / "population.csv")
    flows = pd.read_csv(tmp_path / "flows.csv")
    assert list(pop.columns) == ["year", "sex", "age", "persons"]
    assert list(flows.columns) == ["year", "sex", "age", "component", "persons"]
    assert len(pop) == len(YEARS) * 2 * N_AGE
    assert sorted(flows["year"].unique()) == YEARS[:-1]      # no NaN last year
    assert not flows["persons"].isna().any()
    births = flows[flows["component"] == "births"]
    assert (births["age"] == 0).all() and len(births) == (len(YEARS) - 1) * 2
    assert len(flows) == (len(YEARS) - 1) * (2 + 3 * 2 * N_AGE)

    # the identity, from the two CSVs alone
    stock = pop.set_index(["year", "sex", "age"])["persons"]
    flow = flows.pivot_table(index=["year", "sex", "age"], columns="component",
                             values="persons", aggfunc="sum").fillna(0.0)
    for year in YEARS[:-1]:
        for sex in ("female", "male"):
            for age in range(N_AGE):
                f = flow.loc[(year, sex, age)]
                start = f["births"] if age == 0 else stock[(year, sex, age - 1)]
                if age == N_AGE - 1:
                    start += stock[(year, sex, age)]
                expected = start - f["deaths"] + f["inmig"] - f["outmig"]
                assert stock[(year + 1, sex, age)] == pytest.approx(expected, rel=1e-12)


def test_population_frames_match_dataset(pop_ds):
    pop, flows = population_frames(pop_ds)
    row = pop[(pop.year == 2019) & (pop.sex == "male") & (pop.age == 80)]
    assert row["persons"].item() == pop_ds["pop"].sel(year=2019, sex="male", age=80).item()
    d = flows[(flows.year == 2018) & (flows.component == "deaths") & (flows.sex == "female")
              & (flows.age == 105)]
    assert d["persons"].item() == pop_ds["deaths"].sel(year=2018, sex="female", age=105).item()


def test_population_netcdf_round_trip(tmp_path, pop_ds):
    written = write_population_outputs(tmp_path, pop_ds, fmt="netcdf")
    assert [p.name for p in written] == ["population.nc"]
    with xr.open_dataset(tmp_path / "population.nc") as back:
        xr.testing.assert_equal(back, pop_ds)
        assert back.attrs["scenario"] == "Test MMMM"
        assert back.attrs["extra"] == '{"nested": 1}'
        assert back.attrs["missing"] == "None"


def test_unknown_population_format(tmp_path, pop_ds):
    with pytest.raises(ForecastError, match="format"):
        write_population_outputs(tmp_path, pop_ds, fmt="parquet")
    assert os.listdir(tmp_path) == []


# --- demand table ------------------------------------------------------------------------

def test_demand_frame(demand_ds):
    df = demand_frame(demand_ds, "Test MMMM")
    assert list(df.columns) == ["scenario", "service", "year", "measure", "value", "unit"]
    row = df[(df.service == "heldogn") & (df.year == 2019) & (df.measure == "need")]
    assert row["value"].item() == 110.0 and row["unit"].item() == "plasser"
    units = df.groupby("measure")["unit"].first()
    assert units["coverage"] == "share" and units["cost"] == "NOK"
    assert units["investment"] == "NOK" and units["unit_cost"] == "NOK per unit"
    assert set(df.measure) == {"need", "capacity", "gap", "coverage", "group_population",
                               "cost", "investment", "unit_cost"}   # hours all NaN: none
    assert df[(df.service == "sosialhjelp") & (df.measure == "capacity")].empty
    assert (df.scenario == "Test MMMM").all()
    assert demand_frame(demand_ds)["scenario"].eq("Test MMMM").all()   # from attrs


def test_stacked_demand_frame(demand_ds):
    stacked = stack_scenarios([demand_ds, make_demand("Test høy", 1.2)])
    assert list(stacked["scenario"].values) == ["Test MMMM", "Test høy"]
    df = demand_frame(stacked)
    high = df[(df.scenario == "Test høy") & (df.service == "heldogn") & (df.year == 2020)
              & (df.measure == "need")]
    assert high["value"].item() == pytest.approx(121.0 * 1.2)
    with pytest.raises(ForecastError, match="differ"):
        stack_scenarios([demand_ds, demand_ds])


# --- the full run ------------------------------------------------------------------------

RUN_FILES = {"population.csv", "flows.csv", "demand.csv", "result.nc", "forecast.xlsx",
             "population_growth.png", "places.png", "social_assistance.png"}


def test_run_outputs(tmp_path, pop_ds, demand_ds):
    written = write_run_outputs(tmp_path, pop_ds, demand_ds, ASSUMPTIONS, charts=CHARTS)
    assert {p.name for p in written} == RUN_FILES
    assert set(os.listdir(tmp_path)) == RUN_FILES              # no temporary files left
    umask = os.umask(0)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == (0o666 & ~umask) for p in written)
    demand = pd.read_csv(tmp_path / "demand.csv")
    assert list(demand.columns) == ["scenario", "service", "year", "measure", "value", "unit"]
    cost = demand[(demand.service == "sosialhjelp") & (demand.year == 2020)
                  & (demand.measure == "cost")]
    assert cost["value"].item() == 2.7e8

    with xr.open_dataset(tmp_path / "result.nc") as back:
        back = back.load()
    xr.testing.assert_equal(back[list(pop_ds.data_vars)], pop_ds)
    xr.testing.assert_equal(back[list(demand_ds.data_vars)], demand_ds)  # label/unit too
    assert list(back["label"].values) == ["Heldøgnsplasser", "Sosialhjelpsmottakere"]
    assert back.attrs["price_year"] == 2018 and back.attrs["scenario"] == "Test MMMM"
    assert back.attrs["flag"] == "True"


def test_run_outputs_formats_and_no_demand(tmp_path, pop_ds):
    written = write_run_outputs(tmp_path, pop_ds, None, ASSUMPTIONS, formats={"csv", "excel"})
    assert {p.name for p in written} == {"population.csv", "flows.csv", "forecast.xlsx"}
    from openpyxl import load_workbook
    wb = load_workbook(tmp_path / "forecast.xlsx")
    assert wb.sheetnames == list(excel.SHEETS)
    assert wb["Kostnad"]["A1"].value == excel.NO_SERVICES
    with pytest.raises(ForecastError, match="pdf"):
        write_run_outputs(tmp_path / "x", pop_ds, None, formats={"pdf"})


def test_comparison_outputs(tmp_path, pop_ds, demand_ds):
    high = make_demand("Test høy", 1.2)
    written = write_run_outputs(tmp_path, pop_ds, demand_ds, ASSUMPTIONS, formats={"csv", "png"},
                                charts=CHARTS, comparison=[demand_ds, high])
    assert "comparison.csv" in {p.name for p in written}
    comp = pd.read_csv(tmp_path / "comparison.csv")
    assert set(comp.scenario) == {"Test MMMM", "Test høy"}
    figs = charts.render_charts(pop_ds, demand_ds, CHARTS, comparison={"A": demand_ds,
                                                                       "B": high})
    labels = [l.get_label() for l in figs["places"].axes[0].get_lines()]
    assert labels == ["Behov, A", "Behov, B", "Kapasitet"]


@pytest.mark.parametrize("victim", ["excel", "png"])
def test_failed_writer_leaves_nothing(tmp_path, pop_ds, demand_ds, monkeypatch, victim):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    if victim == "excel":   # fails after the CSV and NetCDF files were written
        monkeypatch.setattr(excel, "write_workbook", boom)
    else:                   # the last writer of all
        calls = []

        def save_then_fail(fig, path):
            calls.append(path)
            if len(calls) == 3:
                boom()
            fig.savefig(path, format="png")
        monkeypatch.setattr(charts, "save_png", save_then_fail)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        write_run_outputs(out, pop_ds, demand_ds, ASSUMPTIONS, charts=CHARTS)
    assert os.listdir(out) == []


# --- workbook ----------------------------------------------------------------------------

def test_workbook(tmp_path, pop_ds, demand_ds):
    from openpyxl import load_workbook

    path = tmp_path / "forecast.xlsx"
    write_run_outputs(tmp_path, pop_ds, demand_ds, ASSUMPTIONS, formats={"excel"})
    wb = load_workbook(path)
    assert wb.sheetnames == ["Sammendrag", "Befolkning", "Tjenester", "Kapasitet", "Kostnad",
                             "Forutsetninger"]

    ws = wb["Kostnad"]
    headers = [c.value for c in ws[1]]
    assert headers == ["Tjeneste", "År", "Kostnad (NOK, 2018-priser)",
                       "Investering (NOK, 2018-priser)"]
    assert ws["A1"].font.bold
    rows = {(r[0].value, r[1].value): r for r in ws.iter_rows(min_row=2)}
    assert rows[("Heldøgnsplasser", 2020)][2].value == 1.45e8
    assert rows[("Heldøgnsplasser", 2020)][3].value == 5.0e8
    assert rows[("Alle tjenester", 2019)][2].value == pytest.approx(3.9e8)
    assert "#,##0" in rows[("Heldøgnsplasser", 2020)][2].number_format

    ws = wb["Befolkning"]
    assert [c.value for c in ws[1]] == ["År", "0–5", "6–15", "16–66", "67–79", "80–89", "90+",
                                        "67+", "80+", "Totalt"]
    assert ws["A2"].value == 2018
    total = pop_ds["pop"].sel(year=2018).sum().item()
    assert ws["J2"].value == pytest.approx(total)
    assert ws["J2"].number_format == "#,##0"
    assert ws.column_dimensions["J"].width >= 8

    ws = wb["Tjenester"]
    head = [c.value for c in ws[1]]
    assert head[:4] == ["Tjeneste", "Enhet", "År", "Behov"]
    cov = ws.cell(row=2, column=head.index("Dekningsgrad") + 1)
    assert cov.value == 0.2 and cov.number_format == "0.0%"
    assert any("unit_cost" in h for h in head)

    ws = wb["Kapasitet"]
    head = [c.value for c in ws[1]]
    assert head[-1] == "Første år med underdekning"
    col = head.index("Første år med underdekning")
    firsts = {r[0].value: r[col].value for r in ws.iter_rows(min_row=2)}
    assert firsts == {"Heldøgnsplasser": 2019, "Sosialhjelpsmottakere": "ingen"}

    ws = wb["Sammendrag"]
    values = [c.value for row in ws.iter_rows() for c in row]
    assert "Test MMMM" in values and "Behov" in values and "NOK (2018-priser)" in values
    header = next(r for r in ws.iter_rows() if r[0].value == "Tjeneste")
    assert [c.value for c in header] == ["Tjeneste", "Enhet", "Mål", "2018", "2020"]
    assert header[0].font.bold

    ws = wb["Forutsetninger"]
    assert [c.value for c in ws[1]] == ["Seksjon", "Nøkkel", "Verdi", "Enhet", "Kilde"]
    body = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert body == [["fertility", "tfr", "2018: 1.6; 2030: 1.7", "children per woman",
                     "SSB 2018"],
                    ["coverage", "heldogn", 0.2, "share", "Bærum LDIP 2019"],
                    ["migration", "in_level", 1.0, None, None]]


# --- charts ------------------------------------------------------------------------------

def test_pngs_are_images(tmp_path, pop_ds, demand_ds):
    import matplotlib.image as mpimg

    written = write_run_outputs(tmp_path, pop_ds, demand_ds, ASSUMPTIONS, formats={"png"},
                                charts=CHARTS)
    assert {p.name for p in written} == {"population_growth.png", "places.png",
                                         "social_assistance.png"}
    for path in written:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        img = mpimg.imread(path)
        assert img.shape[0] >= 400 and img.shape[1] >= 800


def _check_labelled(fig):
    import re
    assert fig.axes
    for ax in fig.axes:
        assert ax.get_ylabel() and re.search(r"\(.+\)", ax.get_ylabel()), ax.get_ylabel()
    main = fig.axes[0]
    assert main.get_xlabel() and main.get_title()
    assert main.get_legend() is not None
    ticks = [t for t in main.get_xticks() if YEARS[0] <= t <= YEARS[-1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_chart_labels(pop_ds, demand_ds):
    figs = charts.render_charts(pop_ds, demand_ds, CHARTS)
    assert set(figs) == {"population_growth", "places", "social_assistance"}
    for fig in figs.values():
        _check_labelled(fig)
    assert figs["population_growth"].axes[0].get_ylabel() == "Endring fra 2018 (%)"
    assert figs["places"].axes[0].get_ylabel() == "Antall (plasser)"
    right = figs["social_assistance"].axes[1].get_ylabel()
    assert "NOK" in right and "2018-priser" in right
    growth = {l.get_label(): l.get_ydata() for l in figs["population_growth"].axes[0].get_lines()
              if not l.get_label().startswith("_")}
    assert list(growth) == ["0–5", "6–15", "16–66", "67–79", "80–89", "90+", "Totalt"]
    total = pop_ds["pop"].sum(["sex", "age"]).values
    assert growth["Totalt"][-1] == pytest.approx(100 * (total[-1] / total[0] - 1))
    _check_labelled(charts.home_care_chart(demand_ds, "sosialhjelp"))


def test_charts_without_roles(pop_ds, demand_ds):
    figs = charts.render_charts(pop_ds, demand_ds)
    assert set(figs) == {"population_growth", "service_heldogn", "service_sosialhjelp"}
    for fig in figs.values():
        _check_labelled(fig)


def test_chart_roles_are_checked(pop_ds, demand_ds):
    with pytest.raises(ScenarioError, match="charts.places"):
        charts.chart_makers(pop_ds, demand_ds, {"places": "nope"})
    with pytest.raises(ScenarioError, match="charts.pie"):
        charts.chart_makers(pop_ds, demand_ds, {"pie": "heldogn"})


def test_import_forecast_does_not_load_matplotlib():
    import subprocess
    import sys
    code = ("import sys, forecast, forecast.io.outputs, forecast.io.charts; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
