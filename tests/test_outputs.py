"""Writers for planners: CSV, NetCDF, Excel, PNG — on a tiny synthetic population and demand."""

import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import synthetic_uncertainty
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
        attrs={"price_year": 2018, "scenario": scenario, "forecast_version": "0.1.0"},
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
             "population_growth.png", "places.png", "social_assistance.png", "report.html"}


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
    # B's need (× 1.2) is above the places too, but the capacity drawn is the run's own
    shaded = [c.get_label() for c in figs["places"].axes[0].collections]
    assert shaded == ["Underdekning, Test MMMM"]


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

def _rows(ws, first_row: int = 3, labels: int = 3) -> dict:
    """(labels...) -> {year: value} for a sheet whose years run as columns from row 2."""
    years = [c.value for c in ws[2]][labels:]
    out = {}
    for r in ws.iter_rows(min_row=first_row):
        key = tuple(c.value for c in r[:labels])
        if key[0] is None:
            break
        out[key] = {y: c for y, c in zip(years, r[labels:])}
    return out


@pytest.fixture
def workbook(tmp_path, pop_ds, demand_ds):
    from openpyxl import load_workbook

    pop_ds.attrs["scenario_file"] = str(tmp_path / "scenarios" / "test-mmmm.toml")
    assumptions = ASSUMPTIONS + [{"section": "population", "key": "file",
                                  "value": str(tmp_path / "data" / "population.csv"),
                                  "unit": None, "source": str(tmp_path / "notes.txt")}]
    write_run_outputs(tmp_path, pop_ds, demand_ds, assumptions, formats={"csv", "excel"},
                      charts=CHARTS)
    return load_workbook(tmp_path / "forecast.xlsx"), pd.read_csv(tmp_path / "demand.csv")


def test_workbook_amounts_in_mill_kr(workbook):
    wb, demand = workbook
    ws = wb["Kostnad"]
    assert ws["A1"].value == "Kostnad og investering (mill. kr, 2018-priser)"
    assert [c.value for c in ws[2]] == ["Tjeneste", "Mål", 2018, 2019, 2020]
    rows = _rows(ws, labels=2)
    cost = rows[("Heldøgnsplasser", "Kostnad (mill. kr, 2018-priser)")][2020]
    kroner = demand.query("service == 'heldogn' and year == 2020 and measure == 'cost'")
    assert cost.value == kroner["value"].item() / 1e6 == 145.0
    assert cost.number_format == "#,##0.0"
    assert rows[("Heldøgnsplasser", "Investering (mill. kr, 2018-priser)")][2020].value == 500.0
    assert rows[("Alle tjenester", "Kostnad (mill. kr, 2018-priser)")][2019].value == \
        pytest.approx(390.0)   # 130 + 260
    ws = wb["Sammendrag"]
    cost_rows = [r for r in ws.iter_rows(values_only=True) if r[2] == "Kostnad"]
    assert cost_rows[0][:3] == ("Heldøgnsplasser", "mill. kr, 2018-priser", "Kostnad")
    assert cost_rows[0][3:5] == (120.0, 145.0)               # 2018 and the end year 2020


def test_workbook_years_as_columns_norwegian_headers(workbook, pop_ds):
    wb, _ = workbook
    assert wb.sheetnames == ["Sammendrag", "Befolkning", "Alder og kjønn", "Tjenester",
                             "Kapasitet", "Kostnad", "Forutsetninger"]
    assert [c.value for c in wb["Befolkning"][2]] == ["Aldersgruppe", 2018, 2019, 2020]
    for name in ("Tjenester", "Kapasitet"):
        assert [c.value for c in wb[name][2]] == ["Tjeneste", "Enhet", "Mål", 2018, 2019, 2020]
    assert [c.value for c in wb["Alder og kjønn"][2]] == ["Kjønn", "Alder", 2018, 2019, 2020]
    header = next(r for r in wb["Sammendrag"].iter_rows() if r[0].value == "Tjeneste")
    assert [c.value for c in header] == ["Tjeneste", "Enhet", "Mål", 2018, 2020]

    bands = _rows(wb["Befolkning"], labels=1)
    assert list(bands)[:3] == [("0–5",), ("6–15",), ("16–66",)]
    total = pop_ds["pop"].sum(["sex", "age"])
    assert bands[("Totalt",)][2020].value == pytest.approx(total.sel(year=2020).item())
    ages = _rows(wb["Alder og kjønn"], labels=2)
    assert len(ages) == 3 * 106                         # women, men, both; ages 0..105+
    assert ages[("Menn", 80)][2019].value == pop_ds["pop"].sel(sex="male", age=80,
                                                               year=2019).item()
    assert ages[("Begge kjønn", "105+")][2018].value == pytest.approx(
        pop_ds["pop"].sel(age=105, year=2018).sum().item())

    services = _rows(wb["Tjenester"])
    coverage = services[("Heldøgnsplasser", None, "Dekningsgrad")][2018]
    assert coverage.value == 0.2 and coverage.number_format == "0.0%"
    assert ("Sosialhjelpsmottakere", "mottakere", "Behov") in services
    assert not any(key[2] in ("hours", "Timer") for key in services)   # hours all NaN

    capacity = _rows(wb["Kapasitet"])
    assert list(capacity) == [("Heldøgnsplasser", "plasser", m) for m in
                              ("Behov", "Kapasitet", "Differanse (behov − kapasitet)")]
    gap = capacity[("Heldøgnsplasser", "plasser", "Differanse (behov − kapasitet)")]
    assert [gap[y].value for y in YEARS] == [-5, 5, -9]   # need 100/110/121, places 105/105/130
    first = next(r for r in wb["Kapasitet"].iter_rows(values_only=True)
                 if r[0] == "Heldøgnsplasser" and isinstance(r[1], int))
    assert first[:2] == ("Heldøgnsplasser", 2019)

    english = {"need", "capacity", "gap", "cost", "year", "service", "Total", "NOK"}
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                if c.font.bold and isinstance(c.value, str):
                    assert not english & set(c.value.replace("(", " ").split()), c.value
    assert [c.value for c in wb["Forutsetninger"][1]] == ["Seksjon", "Nøkkel", "Verdi",
                                                          "Enhet", "Kilde"]


def test_workbook_charts_print_setup_and_no_paths(workbook, tmp_path):
    wb, _ = workbook
    assert len(wb["Befolkning"]._charts) == 1
    assert len(wb["Kapasitet"]._charts) == 1
    titles = {"Sammendrag": "$1:$1", "Forutsetninger": "$1:$1"}
    for ws in wb:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.print_title_rows == titles.get(ws.title, "$1:$2"), ws.title
    assert wb["Tjenester"].print_title_cols == "$A:$C"

    texts = [c.value for ws in wb for row in ws.iter_rows() for c in row
             if isinstance(c.value, str)]
    assert not [t for t in texts if str(tmp_path) in t]
    info = {r[0]: r[1] for r in wb["Sammendrag"].iter_rows(max_row=10, values_only=True)}
    assert info["Scenariofil"] == "test-mmmm.toml"
    body = [[c.value for c in r] for r in wb["Forutsetninger"].iter_rows(min_row=2)]
    assert body == [["fertility", "tfr", "2018: 1.6; 2030: 1.7", "children per woman",
                     "SSB 2018"],
                    ["coverage", "heldogn", 0.2, "andel", "Bærum LDIP 2019"],
                    ["migration", "in_level", 1.0, None, None],
                    ["population", "file", "population.csv", None, "notes.txt"]]


@pytest.fixture
def uncertainty(pop_ds, demand_ds):
    return synthetic_uncertainty(pop_ds, demand_ds, {"heldogn": [0.3, 0.6, 0.85]})


def test_workbook_uncertainty(tmp_path, pop_ds, demand_ds, uncertainty):
    from openpyxl import load_workbook

    excel.write_workbook(tmp_path / "w.xlsx", pop_ds, demand_ds, ASSUMPTIONS, charts=CHARTS,
                         uncertainty=uncertainty)
    wb = load_workbook(tmp_path / "w.xlsx")
    rows = _rows(wb["Kapasitet"])
    heldogn = {key[2]: [row[y].value for y in YEARS] for key, row in rows.items()}
    # need × 0.85 / 1 / 1.15 at 10/50/90 % (the fixture), need 100, 110, 121
    assert heldogn["Behov, 10 %"] == pytest.approx([85.0, 93.5, 102.85])
    assert heldogn["Behov, 90 %"] == pytest.approx([115.0, 126.5, 139.15])
    # need − capacity at 90 % = the 90 % need − the places 105, 105, 130
    assert heldogn["Differanse (behov − kapasitet), 90 %"] == pytest.approx([10.0, 21.5, 9.15])
    assert heldogn["Differanse (behov − kapasitet), 10 %"] == pytest.approx([-20.0, -11.5,
                                                                             -27.15])
    assert heldogn["Sannsynlighet for underdekning"] == [0.3, 0.6, 0.85]
    table = [r for r in wb["Kapasitet"].iter_rows(values_only=True) if r[0] == "Tjeneste"]
    assert table[-1][:4] == ("Tjeneste", "Første år med underdekning (uten usikkerhet)",
                             "Første år sannsynligheten passerer 50 %",
                             "Første år sannsynligheten passerer 80 %")
    first = [r for r in wb["Kapasitet"].iter_rows(values_only=True)
             if r[0] == "Heldøgnsplasser" and isinstance(r[1], int)]
    assert first[0][:4] == ("Heldøgnsplasser", 2019, 2019, 2020)
    assert len(wb["Kapasitet"]._charts) == 1
    services = _rows(wb["Tjenester"])
    assert services[("Sosialhjelpsmottakere", "mottakere", "Behov, 50 %")][2020].value == 2200
    info = {r[0]: r[1] for r in wb["Sammendrag"].iter_rows(max_row=12, values_only=True)}
    assert info["Antall trekninger"] == 1000 and info["Startverdi (seed)"] == 42


# --- charts ------------------------------------------------------------------------------

def test_pngs_are_images(tmp_path, pop_ds, demand_ds, uncertainty):
    import matplotlib.image as mpimg

    written = write_run_outputs(tmp_path, pop_ds, demand_ds, ASSUMPTIONS, formats={"png"},
                                charts=CHARTS, uncertainty=uncertainty)
    assert {p.name for p in written} == {"population_growth.png", "places.png",
                                         "social_assistance.png", "population_80_fan.png",
                                         "places_fan.png"}
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
    assert fig.axes[-1].get_xlabel() and main.get_title()
    assert main.get_legend() is not None
    ticks = [t for t in fig.axes[-1].get_xticks() if YEARS[0] <= t <= YEARS[-1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    sources = [t.get_text() for t in fig.texts if t.get_text().startswith("Kilde: ")]
    assert len(sources) == 1 and "forecast 0.1.0" in sources[0], sources
    # readable on a report page: the figure shown 16 cm wide keeps every text ≥ 7 pt
    scale = (16 / 2.54) / fig.get_figwidth()
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
             if hasattr(t, "get_text") and t.get_text()]
    assert min(sizes) * scale >= 7, min(sizes)


def _shortfall_patches(ax):
    return [c for c in ax.collections if c.get_label() == charts.SHORTFALL]


def test_chart_labels(pop_ds, demand_ds):
    figs = charts.render_charts(pop_ds, demand_ds, CHARTS)
    assert set(figs) == {"population_growth", "places", "social_assistance"}
    for fig in figs.values():
        _check_labelled(fig)
    assert figs["population_growth"].axes[0].get_ylabel() == "Endring fra 2018 (%)"
    assert figs["places"].axes[0].get_ylabel() == "Antall (plasser)"
    sources = [t.get_text() for t in figs["places"].texts]
    assert sources == ["Kilde: forecast 0.1.0, scenario Test MMMM"]
    growth = {l.get_label(): l.get_ydata() for l in figs["population_growth"].axes[0].get_lines()
              if not l.get_label().startswith("_")}
    assert list(growth) == ["0–5", "6–15", "16–66", "67–79", "80–89", "90+", "Totalt"]
    total = pop_ds["pop"].sum(["sex", "age"]).values
    assert growth["Totalt"][-1] == pytest.approx(100 * (total[-1] / total[0] - 1))
    _check_labelled(charts.home_care_chart(demand_ds, "sosialhjelp"))


def test_counts_start_at_zero_and_cost_has_its_own_panel(pop_ds, demand_ds):
    figs = charts.render_charts(pop_ds, demand_ds, {**CHARTS, "home_care": "heldogn"})
    for name in ("places", "home_care", "social_assistance"):
        for ax in figs[name].axes:
            assert ax.get_ylim()[0] == 0, name
    people, money = figs["social_assistance"].axes
    assert people.get_ylabel() == "Antall (mottakere)"
    assert money.get_ylabel() == "Kostnad (mill. kr, 2018-priser)"
    assert [l.get_label() for l in people.get_lines()] == ["Mottakere, Test MMMM"]
    cost = [l for l in money.get_lines() if l.get_label() == "Kostnad, Test MMMM"]
    assert list(cost[0].get_ydata()) == [250.0, 260.0, 270.0]     # mill. kr
    assert people.get_ylim()[1] > 2200 and money.get_ylim()[1] < 300


def test_shortfall_is_shaded(pop_ds, demand_ds):
    fig = charts.places_chart(demand_ds, "heldogn")
    patches = _shortfall_patches(fig.axes[0])
    assert len(patches) == 1
    # need 100 → 110 → 121 against 105 places until 130 from 2020: short from 2018.5
    # (need crosses 105) to just before 2020, where need nears 121 (drawn every 0.05 year)
    ys = np.concatenate([p.vertices[:, 1] for p in patches[0].get_paths()])
    xs = np.concatenate([p.vertices[:, 0] for p in patches[0].get_paths()])
    assert ys.min() == pytest.approx(105.0) and 120.4 <= ys.max() < 121.0
    assert xs.min() == pytest.approx(2018.5, abs=0.05) and 2019.9 <= xs.max() < 2020.0
    enough = demand_ds.copy()
    enough["capacity"] = enough["capacity"] + 50
    assert _shortfall_patches(charts.places_chart(enough, "heldogn").axes[0]) == []


def test_fan_charts(pop_ds, demand_ds, uncertainty):
    figs = charts.render_charts(pop_ds, demand_ds, CHARTS, uncertainty=uncertainty)
    for name in ("population_80_fan", "places_fan"):
        _check_labelled(figs[name])
        assert figs[name].axes[0].get_ylim()[0] == 0
    ax = figs["population_80_fan"].axes[0]
    assert len(ax.collections) == 3                     # the 5–95, 10–90 and 25–75 % bands
    lines = {l.get_label(): l.get_ydata() for l in ax.get_lines()}
    persons_80 = pop_ds["pop"].sel(age=slice(80, 105)).sum(["sex", "age"]).values
    assert lines["Median"] == pytest.approx(persons_80)          # factor 1 at 50 % (fixture)
    assert lines["Uten usikkerhet"] == pytest.approx(persons_80)
    assert "1\u00a0000 trekninger" in figs["population_80_fan"].texts[0].get_text()

    need_ax, p_ax = figs["places_fan"].axes
    assert need_ax.get_ylabel() == "Antall (plasser)"
    assert [b.get_height() for b in p_ax.patches] == pytest.approx([30.0, 60.0, 85.0])
    assert p_ax.get_ylim() == (0, 100) and p_ax.get_ylabel() == "Sannsynlighet (%)"
    assert p_ax.get_title() == ("Sannsynlighet for underdekning: over 50 % fra 2019, "
                                "over 80 % fra 2020")


def test_charts_without_roles(pop_ds, demand_ds, uncertainty):
    figs = charts.render_charts(pop_ds, demand_ds, uncertainty=uncertainty)
    assert set(figs) == {"population_growth", "service_heldogn", "service_sosialhjelp",
                         "population_80_fan", "service_heldogn_fan"}   # only heldogn has places
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
