"""report.html opened in a real browser (headless Chromium through playwright).

Each page must load with no console error, no page error and no request leaving the file
(the report works offline); every chart must have drawn marks in its SVG; and a number read
from the page must equal the one in the CSV written by the same run. A full-page screenshot
of each report is written to the test's tmp folder for people to look at (its path is
printed; `pytest -s` shows it). Without Chromium the browser tests skip, or fail when
FORECAST_REQUIRE_BROWSER=1 (as .ci/run sets it).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from forecast.api import run
from forecast.cli import app
from forecast.errors import ForecastError
from forecast.io.html_page import number
from forecast.io.html_report import render_report
from forecast.io.outputs import write_run_outputs
from forecast.scenario import load_scenario

from conftest import ROOT, synthetic_uncertainty

LDIP = ROOT / "scenarios" / "baerum-ldip.toml"
CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('figure.chart')).map(f => [
    f.dataset.chart,
    Array.from(f.querySelectorAll('.cartesianlayer .trace path'))
         .filter(p => (p.getAttribute('d') || '').length > 10).length,
    Array.from(f.querySelectorAll('svg text')).map(t => t.textContent).join(' | ')])"""
ALL_DRAWN = """() => {
    const figs = Array.from(document.querySelectorAll('figure.chart'));
    return figs.length > 0 && figs.every(f => f.querySelector('.main-svg .cartesianlayer .trace'));
}"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("FORECAST_REQUIRE_BROWSER") == "1"
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the Python package playwright is not installed (pip install -e '.[test]')"
    if missing is None and _chromium() is None:
        missing = "chromium is not installed (apt-get install -y chromium)"
    if missing:
        if required:
            pytest.fail(f"FORECAST_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), headless=True)
        yield chromium
        chromium.close()


def open_report(browser, path):
    """The report loaded from disk, with everything that went wrong while loading."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def offline(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            problems.append(f"network request: {route.request.url}")
            route.abort()

    page.route("**/*", offline)
    page.goto(path.as_uri())
    page.wait_for_function(ALL_DRAWN, timeout=60_000)
    return page, problems


def drawn_charts(page) -> dict[str, tuple[int, str]]:
    """chart name -> (paths with drawn marks, all the text of its SVG)."""
    return {name: (marks, text) for name, marks, text in page.evaluate(CHARTS_DRAWN)}


def shown_number(page, selector: str) -> float:
    """A number as the page shows it (12 345,6 with a no-break space and a real minus)."""
    text = page.inner_text(selector)
    return float(text.replace("\u00a0", "").replace(" ", "").replace("\u2212", "-")
                 .replace(",", "."))


def y_ticks(page, chart: str) -> list[str]:
    return page.eval_on_selector_all(f"figure[data-chart='{chart}'] .ytick text",
                                     "ts => ts.map(t => t.textContent)")


def fills(page, chart: str) -> int:
    """Filled areas drawn in the plot (bands, shortfall), legend symbols not counted."""
    return page.eval_on_selector_all(
        f"figure[data-chart='{chart}'] .cartesianlayer path.js-fill",
        "ps => ps.filter(p => (p.getAttribute('d') || '').length > 10).length")


def screenshot(page, tmp_path, name: str):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot of {name}: {path}")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def check_charts(page, expected: set[str], scenario: str) -> dict:
    charts = drawn_charts(page)
    assert expected <= set(charts), f"missing charts: {expected - set(charts)}"
    for name, (marks, text) in charts.items():
        assert marks > 0, f"chart {name} drew nothing"
        assert "Kilde: forecast" in text and scenario in text, f"chart {name}: {text[:200]}"
    return charts


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ldip"
    result = CliRunner().invoke(app, ["run", str(LDIP), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_the_report_into_the_manifest(run_folder):
    manifest = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    assert "report.html" in [f["name"] for f in manifest["files"]]
    text = (run_folder / "report.html").read_text(encoding="utf-8")
    # self-contained: no script, style sheet or image fetched from elsewhere
    for outside in ("<script src", "<link ", "<img "):
        assert outside not in text


def test_run_report_in_browser(run_folder, browser, tmp_path):
    page, problems = open_report(browser, run_folder / "report.html")
    assert problems == []
    check_charts(page, {"population", "need-heldogn", "need-hjemmetjenester",
                        "need-sosialhjelp", "cost", "investment", "decomposition"},
                 "Bærum LDIP")
    demand = pd.read_csv(run_folder / "demand.csv")
    need = demand.query("service == 'heldogn' and measure == 'need' and year == 2038")
    shown = shown_number(page, "td[data-service=heldogn][data-measure=need][data-year='2038']")
    assert shown == round(need["value"].item())
    population = pd.read_csv(run_folder / "population.csv")
    total = population.loc[population["year"] == 2038, "persons"].sum()
    assert shown_number(page, "td[data-band='I alt'][data-year='2038']") == round(total)
    # counts start at zero; need above capacity is shaded (one filled area), a service
    # without capacity or shortfall has nothing shaded, and the first shortfall year is said
    for chart in ("population", "need-heldogn", "need-sosialhjelp", "cost"):
        assert y_ticks(page, chart)[0] == "0", chart
    body = page.inner_text("body")
    for service, rows in demand.groupby("service"):
        table = rows.pivot(index="year", columns="measure", values="value")
        short = (table.index[table["need"] > table["capacity"] + 1e-9]
                 if "capacity" in table else [])
        assert fills(page, f"need-{service}") == (1 if len(short) else 0), service
        if len(short):
            assert f"Første år med underdekning: {short[0]}." in body
    # the scenario's own words: its description and the services' labels
    assert load_scenario(LDIP).description in body
    assert "Heldøgns omsorgsplasser" in body
    screenshot(page, tmp_path, "report")


@pytest.fixture(scope="module")
def ldip():
    return run(LDIP)


def test_report_with_draws_in_browser(ldip, browser, tmp_path):
    years = ldip.demand["year"].values
    rising = list((years - years[0]) / (years[-1] - years[0]))   # 0 in the base year, 1 last
    uncertainty = synthetic_uncertainty(ldip.population, ldip.demand, {"heldogn": rising})
    write_run_outputs(tmp_path / "out", ldip.population, ldip.demand, ldip.assumptions(),
                      {"html"}, charts={"places": "heldogn"}, uncertainty=uncertainty)
    page, problems = open_report(browser, tmp_path / "out" / "report.html")
    assert problems == []
    charts = check_charts(page, {"fan-population-80", "fan-need-heldogn", "p-shortfall"},
                          "Bærum LDIP")
    assert f"{uncertainty.attrs['draws']} trekk" in charts["fan-need-heldogn"][1]
    # three bands and the shortfall above capacity are filled areas
    assert fills(page, "fan-need-heldogn") == 4
    assert y_ticks(page, "fan-population-80")[0] == "0"
    assert y_ticks(page, "p-shortfall")[0] == "0" and y_ticks(page, "p-shortfall")[-1] == "100"
    # the probability passes 50 % in the first year after the middle of the period
    first = years[np.asarray(rising) > 0.5][0]
    assert shown_number(page, "td[data-service=heldogn][data-measure=first_year_p50]") == first
    assert shown_number(page, "td[data-service=heldogn][data-measure=p_shortfall]"
                              f"[data-year='{years[-1]}']") == 100
    screenshot(page, tmp_path, "report_draws")


def test_report_of_a_run_with_draws_in_browser(browser, tmp_path):
    out = tmp_path / "draws"
    result = CliRunner().invoke(app, ["run", str(LDIP), "--draws", "30", "--seed", "1",
                                      "--formats", "csv,html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page, problems = open_report(browser, out / "report.html")
    assert problems == []
    check_charts(page, {"fan-population-80", "fan-need-heldogn", "p-shortfall"}, "Bærum LDIP")
    assert "30 trekk (seed 1)" in page.inner_text("body")
    spread = pd.read_csv(out / "uncertainty.csv")
    p = spread.query("variable == 'p_shortfall' and item == 'heldogn' and year == 2038")
    shown = shown_number(page, "td[data-service=heldogn][data-measure=p_shortfall]"
                               "[data-year='2038']")
    assert shown == round(100 * p["value"].item())
    screenshot(page, tmp_path, "report_run_draws")


def test_compare_report_in_browser(browser, tmp_path):
    files = [str(LDIP), str(ROOT / "scenarios" / "baerum-dekningsgrad-22.toml")]
    out = tmp_path / "compare"
    result = CliRunner().invoke(app, ["compare", *files, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.stdout
    page, problems = open_report(browser, out / "report.html")
    assert problems == []
    check_charts(page, {"need-heldogn", "comparison-cost", "decomposition"}, "Bærum LDIP")
    comparison = pd.read_csv(out / "demand_scenarios.csv")   # every scenario's demand.csv
    other = sorted(set(comparison["scenario"]) - {"Bærum LDIP"})[0]
    need = comparison.query("scenario == @other and service == 'heldogn' and "
                            "measure == 'need' and year == 2038")["value"].item()
    cell = (f"td[data-scenario='{other}'][data-service=heldogn][data-measure=need]"
            "[data-year='2038']")
    assert shown_number(page, cell) == round(need)
    # the need chart draws one line per alternative
    legend = drawn_charts(page)["need-heldogn"][1]
    assert f"Behov, {other}" in legend and "Behov, Bærum LDIP" in legend
    screenshot(page, tmp_path, "report_compare")


def test_compare_report_with_draws_shows_each_alternatives_shortfall(browser, tmp_path):
    files = [str(LDIP), str(ROOT / "scenarios" / "baerum-planlagt-kapasitet.toml")]
    out = tmp_path / "compare"
    result = CliRunner().invoke(app, ["compare", *files, "--draws", "40", "--seed", "3",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    page, problems = open_report(browser, out / "report.html")
    assert problems == []
    names = list(pd.read_csv(out / "uncertainty_scenarios.csv")["scenario"].unique())
    fans = {f"comparison-fan-heldogn-{k}" for k in range(len(names))}
    charts = check_charts(page, {"comparison-p-shortfall-heldogn"} | fans, "Bærum LDIP")
    table = pd.read_csv(out / "uncertainty_scenarios.csv")
    demand = pd.read_csv(out / "demand_scenarios.csv")
    medians = set()
    for k, name in enumerate(names):   # one line and table row per alternative
        assert name in charts["comparison-p-shortfall-heldogn"][1]
        # and its own fan of need, with its own capacity line
        fan = charts[f"comparison-fan-heldogn-{k}"][1]
        assert name in fan and "Kapasitet" in fan and "10–90 %" in fan
        capacity = page.evaluate(
            f"""() => document.querySelector("figure[data-chart='comparison-fan-heldogn-{k}']"""
            f""" .js-plotly-plot").data.find(t => t.name === 'Kapasitet').y""")
        want = demand.query("scenario == @name and service == 'heldogn' and "
                            "measure == 'capacity'").sort_values("year")["value"]
        np.testing.assert_allclose(capacity, want, rtol=1e-12)
        median = page.evaluate(
            f"""() => document.querySelector("figure[data-chart='comparison-fan-heldogn-{k}']"""
            f""" .js-plotly-plot").data.find(t => t.name === 'Median').y""")
        np.testing.assert_allclose(median, table.query(
            "scenario == @name and variable == 'need' and item == 'heldogn' and "
            "quantile == 0.5").sort_values("year")["value"], rtol=1e-12)
        medians.add(tuple(median))
        p = table.query("scenario == @name and variable == 'p_shortfall' and "
                        "item == 'heldogn' and year == 2038")["value"].item()
        cell = (f"td[data-scenario='{name}'][data-service=heldogn]"
                "[data-measure=p_shortfall][data-year='2038']")
        assert shown_number(page, cell) == round(100 * p)
    assert len(medians) == len(names)   # each fan is its own alternative's need
    screenshot(page, tmp_path, "report_compare_draws")


# --- without a browser -------------------------------------------------------------------

def test_norwegian_numbers():
    assert number(1234567.891) == "1\u00a0234\u00a0568"
    assert number(-1234.56, 1) == "\u22121\u00a0234,6"
    assert number(-0.04, 1) == "0,0"
    assert number(float("nan")) == ""


def test_population_only_report(ldip):
    text = render_report(ldip.population, None, ldip.assumptions())
    assert 'data-chart="population"' in text and "Forutsetninger" in text
    assert "Tjenester" not in text


def test_report_refused_for_many_municipalities(tmp_path):
    pop = xr.Dataset({"pop": (("region", "year"), [[1.0], [2.0]])},
                     coords={"region": ["0301", "3024"], "year": [2018]})
    with pytest.raises(ForecastError, match="one municipality"):
        write_run_outputs(tmp_path, pop, None, formats={"html"})


def test_import_forecast_cli_does_not_load_plotly():
    code = ("import sys, forecast.cli, forecast.io.outputs; "
            "print('plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
