"""report.html: one self-contained page a planner opens offline and shows a council.

Charting: plotly, with plotly.js inlined once in the page. A planner can hover a line and
read the exact value of any year, zoom into a period and save a chart as an image from its
menu, which static images do not allow; plotly is a well-kept library whose Python side
builds the figures from our arrays, and the browser draws them as SVG, so the browser test
can check that every chart drew. The cost is the size of the page (plotly.js, about 4.7 MB,
once). The figures themselves are in `report_figures`; this module lays out the page:
the scenario and its assumptions with sources, population by KOSTRA band, need against
capacity per service with the first shortfall year, cost and investment, alternatives side
by side (from `compare`), uncertainty (with draws), and the decomposition of cost growth.
Labels of services come from the scenario file; the fixed headings are Norwegian (HEADINGS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ForecastError
from ..report import AGE_GROUPS, age_group_totals, summary_years
from . import report_figures as figs
from .html_page import Page, cell, escape, number, plain_number, table, year_text

HEADINGS = {
    "title": "{name}: befolkning, tjenestebehov og kostnad",
    "meta": "Framskriving {first}–{last}, beregnet med forecast {version}.",
    "assumptions": "Forutsetninger",
    "assumptions_note": "Alle forutsetninger i scenariofilen, med kilde.",
    "same_source": "(samme kilde som over)",
    "contents": "Innhold",
    "assumption_columns": ("Del", "Nøkkel", "Verdi", "Enhet", "Kilde"),
    "population": "Befolkning etter aldersgruppe (KOSTRA)",
    "population_chart": "Befolkning etter aldersgruppe",
    "age": "Alder",
    "total": "I alt",
    "change": "Endring",
    "change_pct": "Endring %",
    "services": "Tjenester: behov, kapasitet og kostnad",
    "services_first": "Tabellene gjelder {first}; alternativene står side om side lenger "
                      "ned.",
    "need_capacity": "{label}: behov og kapasitet",
    "need_only": "{label}: behov",
    "measure": "Mål",
    "first_shortfall": "Første år med underdekning: {year}.",
    "no_shortfall": "Ingen underdekning i perioden {first}–{last}.",
    "no_capacity": "Ingen kapasitet oppgitt.",
    "cost": "Kostnad og investering",
    "cost_chart": "Driftskostnad per tjeneste",
    "investment_chart": "Investering per år",
    "money": "mill. kr, {price}-priser",
    "comparison": "Alternativer side om side",
    "comparison_note": "Δ = forskjell fra {first}.",
    "comparison_cost": "Samlet driftskostnad per alternativ",
    "scenario": "Alternativ",
    "uncertainty": "Usikkerhet",
    "uncertainty_note": "{draws} trekk (seed {seed}); varierer: {vary}. Båndene viser "
                        "5–95, 10–90 og 25–75 % av trekkene.",
    "fan_population": "Befolkning 80 år og over, usikkerhet",
    "fan_need": "{label}: behov og kapasitet, usikkerhet",
    "p_shortfall": "Sannsynlighet for underdekning",
    "p_table": "Sannsynlighet for underdekning (%) og første år den passerer 50 og 80 %",
    "first_p": ("Første år > 50 %", "Første år > 80 %"),
    "decomposition": "Hva driver kostnadsveksten, {first}–{last}",
    "decomposition_chart": "Kostnadsvekst {first}–{last} fordelt på effekter",
    "decomposition_columns": ("Tjeneste", "Effekt", "Mål", "{first}", "{last}", "Endring %",
                              "mill. kr"),
    "decomposition_missing": "Dekomponeringen kan ikke beregnes: {error}",
    "source": "Kilde: forecast {version}, scenario {name}; befolkning {population}",
}
MEASURES = {
    "need": "Behov ({unit})", "capacity": "Kapasitet ({unit})",
    "gap": "Behov − kapasitet ({unit})", "coverage": "Dekningsgrad (%)",
    "hours": "Timer (1000 per år)", "cost": "Kostnad ({money})",
    "investment": "Investering, sum fra {base} ({money})",
}
SCALE = {"coverage": 100.0, "hours": 1e-3, "cost": 1e-6, "investment": 1e-6}
DECIMALS = {"coverage": 1, "cost": 1, "investment": 1}
EFFECTS = {"demography": "Demografi", "coverage": "Dekningsgrad", "users": "Brukere",
           "intensity": "Intensitet", "unit_cost": "Enhetskostnad", "combined": "Samspill",
           "total": "Totalt"}
# decompose's English measure words, as the report shows them
DECOMPOSITION_WORDS = {"coverage held": "dekningsgrad holdt fast", "interaction": "samspill",
                       "NOK per": "kr per", "places per user": "plasser per bruker",
                       "hours per user": "timer per bruker",
                       "months per user": "måneder per bruker", "per user": "per bruker",
                       "per place": "per plass", "per hour": "per time",
                       "per month": "per måned", "NOK": "kr"}
BANDS = ("0-5", "6-15", "16-66", "67-79", "80-89", "90+")

def _scenario_name(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("scenario", "")) or "scenario"


def _population_source(assumptions: list[Mapping]) -> str:
    for row in assumptions:
        if row.get("section") == "population" and row.get("source"):
            return str(row["source"])
    return "SSB"


def _version(ds: xr.Dataset) -> str:
    from .. import __version__
    return str(ds.attrs.get("forecast_version", __version__))


def render_report(population: xr.Dataset, demand: xr.Dataset | None = None,
                  assumptions: Iterable[Mapping] = (), *,
                  descriptions: Mapping[str, str] | None = None,
                  charts: Mapping[str, str] | None = None,
                  comparison: xr.Dataset | None = None,
                  uncertainty: xr.Dataset | None = None,
                  comparison_uncertainty: Mapping[str, xr.Dataset] | None = None) -> str:
    """The report as one HTML page (str) with plotly.js and every figure's data inline.

    `population` (year, sex, age) and `demand` (service, year) are one municipality's
    run; `descriptions` maps scenario names to their descriptions; `charts` the roles of
    the scenario's [outputs] (the fan chart of need shows `places`); `comparison` the
    demand of several scenarios along a `scenario` dim (from `compare`); `uncertainty` the
    quantiles of a run with draws (RunResult.uncertainty); `comparison_uncertainty` those of
    each compared scenario by name (their probabilities of shortfall side by side).
    """
    assumptions = list(assumptions)
    descriptions = dict(descriptions or {})
    name = _scenario_name(population)
    names = ([str(s) for s in comparison["scenario"].values] if comparison is not None
             else [name])
    years = [int(y) for y in population["year"].values]
    source = HEADINGS["source"].format(version=_version(population), name=", ".join(names),
                                       population=_population_source(assumptions))
    page = Page(source, HEADINGS["contents"], prepare=figs.place_legend)
    _population_section(page, population, name)
    if demand is not None and "need" in demand:
        _services_section(page, demand, comparison, name)
        _cost_section(page, demand, name)
        if comparison is not None:
            _comparison_section(page, comparison, demand)
            if comparison_uncertainty:
                _comparison_shortfall(page, comparison_uncertainty, demand, comparison)
    if uncertainty is not None:
        _uncertainty_section(page, uncertainty, demand, charts, name)
    if demand is not None and "cost" in demand:
        _decomposition_section(page, demand, name)
    _assumptions_section(page, assumptions)
    title = HEADINGS["title"].format(name=", ".join(names))
    top = [f"<h1>{escape(title)}</h1>"]
    top += [f"<p><b>{escape(n)}</b>: {escape(descriptions[n])}</p>" for n in names
            if descriptions.get(n)]
    meta = HEADINGS["meta"].format(first=years[0], last=years[-1],
                                   version=_version(population))
    top.append(f'<p class="note">{escape(meta)}</p>')
    return page.document(title, top)


def write_report(path, *args, **kwargs) -> None:
    """Write `render_report(*args, **kwargs)` to `path` (UTF-8)."""
    Path(path).write_text(render_report(*args, **kwargs), encoding="utf-8")


# --- sections ----------------------------------------------------------------------------

def _population_section(page: Page, population: xr.Dataset, name: str) -> None:
    page.heading(HEADINGS["population"], anchor="population")
    totals = age_group_totals(population["pop"])
    years = summary_years(totals.columns)
    header = [HEADINGS["age"], *map(str, years), HEADINGS["change"], HEADINGS["change_pct"]]
    rows = []
    for group, row in totals.iterrows():
        label = HEADINGS["total"] if group == "Total" else str(group)
        base, end = float(row[years[0]]), float(row[years[-1]])
        rows.append([label, *[cell(number(row[y]), band=label, year=y) for y in years],
                     cell(number(end - base)), cell(number(100 * (end / base - 1), 1))])
    page.add(table(header, rows))
    by_age = population["pop"].sum("sex")
    by_band = {band: by_age.sel(age=slice(*AGE_GROUPS[band])).sum("age") for band in BANDS}
    page.chart("population", figs.population_bands(
        by_band, f"{HEADINGS['population_chart']} – {name}", page.source))


def _money(demand: xr.Dataset) -> str:
    return HEADINGS["money"].format(price=demand.attrs.get("price_year", ""))


def _service_text(demand: xr.Dataset | None, sid: str) -> tuple[str, str]:
    """(label, unit) of service `sid`; its id and "antall" where demand does not have it
    (no services, or an alternative's own service in compare)."""
    if demand is None or sid not in demand["service"].values:
        return sid, "antall"
    row = demand.sel(service=sid)
    label = str(row["label"].values) if "label" in row.coords else sid
    unit = str(row["unit"].values) if "unit" in row.coords else "antall"
    return label, unit


def _measure_rows(demand: xr.Dataset, sid: str, years: list[int]) -> list[tuple[str, str, list]]:
    """(measure id, Norwegian label, values in `years`) of the measures a service has."""
    row = demand.sel(service=sid)
    _, unit = _service_text(demand, sid)
    out = []
    for var, label in MEASURES.items():
        if var not in row:
            continue
        da = row[var]
        if var == "investment":  # comes in lumps: the sum since the base year
            da = da.fillna(0.0).cumsum("year")
        values = da.sel(year=years).values.astype(float) * SCALE.get(var, 1.0)
        if not np.isfinite(values).any() or (var == "investment" and not values.any()):
            continue
        text = label.format(unit=unit, money=_money(demand), base=int(demand["year"][0]))
        out.append((var, text, list(values)))
    return out


def _services_section(page, demand, comparison, name) -> None:
    page.heading(HEADINGS["services"], anchor="services")
    if comparison is not None:
        page.note(HEADINGS["services_first"].format(first=name))
    years = summary_years(demand["year"].values)
    first, last = int(demand["year"][0]), int(demand["year"][-1])
    for sid in [str(s) for s in demand["service"].values]:
        label, unit = _service_text(demand, sid)
        page.heading(label, 3)
        rows = [[text, *[cell(number(v, DECIMALS.get(var, 0)), service=sid, measure=var,
                             year=y) for v, y in zip(values, years)]]
                for var, text, values in _measure_rows(demand, sid, years)]
        page.add(table([HEADINGS["measure"], *map(str, years)], rows))
        capacity = demand["capacity"].sel(service=sid) if "capacity" in demand else None
        has_capacity = capacity is not None and bool(capacity.notnull().any())
        shortfall = (float(demand["first_shortfall_year"].sel(service=sid))
                     if "first_shortfall_year" in demand else float("nan"))
        if not has_capacity:
            page.note(HEADINGS["no_capacity"])
        elif np.isfinite(shortfall):
            page.note(HEADINGS["first_shortfall"].format(year=int(shortfall)))
        else:
            page.note(HEADINGS["no_shortfall"].format(first=first, last=last))
        title = HEADINGS["need_capacity" if has_capacity else "need_only"].format(label=label)
        if comparison is not None:
            lines = {str(s): comparison["need"].sel(scenario=s, service=sid)
                     for s in comparison["scenario"].values}
        else:
            lines = {name: demand["need"].sel(service=sid)}
            title = f"{title} – {name}"
        page.chart(f"need-{sid}", figs.need_capacity(lines, capacity if has_capacity else None,
                                                     title, unit, page.source))


def _labelled(demand: xr.Dataset, var: str, scale: float) -> dict[str, xr.DataArray]:
    return {_service_text(demand, str(s))[0]: demand[var].sel(service=s) * scale
            for s in demand["service"].values
            if bool(demand[var].sel(service=s).notnull().any())}


def _cost_section(page, demand, name) -> None:
    if "cost" not in demand:
        return
    page.heading(HEADINGS["cost"], anchor="cost")
    money = _money(demand)
    page.chart("cost", figs.lines_by_service(
        _labelled(demand, "cost", 1e-6), f"{HEADINGS['cost_chart']} – {name}",
        f"Kostnad ({money})", page.source))
    if "investment" in demand and bool((demand["investment"].fillna(0) != 0).any()):
        page.chart("investment", figs.lines_by_service(
            _labelled(demand, "investment", 1e-6), f"{HEADINGS['investment_chart']} – {name}",
            f"Investering ({money})", page.source, bars=True))


def _comparison_section(page, comparison, demand) -> None:
    names = [str(s) for s in comparison["scenario"].values]
    page.heading(HEADINGS["comparison"], anchor="comparison")
    page.note(HEADINGS["comparison_note"].format(first=names[0]))
    years = summary_years(comparison["year"].values)
    for sid in [str(s) for s in comparison["service"].values]:
        label, _ = _service_text(demand, sid)
        page.heading(label, 3)
        per = {n: {var: (text, values) for var, text, values in
                   _measure_rows(comparison.sel(scenario=n), sid, years)} for n in names}
        rows = []
        for var in ("need", "cost"):
            if var not in per[names[0]]:
                continue
            text, base = per[names[0]][var]
            for n in names:
                values = per[n].get(var, (text, [np.nan] * len(years)))[1]
                rows.append([text, n, *[cell(number(v, DECIMALS.get(var, 0)), scenario=n,
                                            service=sid, measure=var, year=y)
                                        for v, y in zip(values, years)]])
                if n != names[0]:
                    delta = np.asarray(values) - np.asarray(base)
                    rows.append(({"class": "delta"},
                                 [text, f"Δ {n}", *[cell(number(v, DECIMALS.get(var, 0)))
                                                   for v in delta]]))
        page.add(table([HEADINGS["measure"], HEADINGS["scenario"], *map(str, years)], rows,
                        num_from=2))
    if "cost" in comparison:
        totals = {n: comparison["cost"].sel(scenario=n).sum("service", min_count=1) * 1e-6
                  for n in names}
        page.chart("comparison-cost", figs.lines_by_service(
            totals, HEADINGS["comparison_cost"], f"Kostnad ({_money(demand)})", page.source))


def _comparison_shortfall(page, spreads: Mapping[str, xr.Dataset], demand,
                          comparison: xr.Dataset | None = None) -> None:
    """Each alternative's probability that need exceeds capacity, per service with
    capacity: a chart of the years, a table of the summary years and first years, and
    each alternative's fan of need against its own capacity (from `comparison`)."""
    first = next(iter(spreads.values()))
    source = f"{page.source}; {first.attrs.get('draws', '?')} trekk"
    services = []
    for u in spreads.values():
        services += [str(s) for s in u["service"].values if str(s) not in services
                     and bool(u["p_shortfall"].sel(service=s).notnull().any())]
    years = summary_years(first["year"].values)
    for sid in services:
        label, unit = _service_text(demand, sid)
        page.heading(f"{HEADINGS['p_shortfall']}: {label}", 3)
        having = {n: u for n, u in spreads.items() if sid in u["service"].values}
        page.chart(f"comparison-p-shortfall-{sid}", figs.shortfall_probability(
            {n: u["p_shortfall"].sel(service=sid) for n, u in having.items()},
            f"{HEADINGS['p_shortfall']} – {label}", source))
        rows = [_shortfall_row(n, u, sid, years, scenario=n) for n, u in having.items()]
        page.add(table([HEADINGS["scenario"], *map(str, years), *HEADINGS["first_p"]], rows))
        for k, (n, u) in enumerate(having.items()):
            capacity = None
            if (comparison is not None and "capacity" in comparison
                    and n in comparison["scenario"].values
                    and sid in comparison["service"].values):
                capacity = comparison["capacity"].sel(scenario=n, service=sid)
            page.chart(f"comparison-fan-{sid}-{k}", figs.fan(
                u["need"].sel(service=sid),
                f"{HEADINGS['fan_need'].format(label=label)} – {n}", f"Antall ({unit})",
                source, capacity))


def _shortfall_row(label: str, unc: xr.Dataset, sid: str, years, **data) -> list:
    """A table row: the probability of shortfall (%) of service `sid` in `years`, then the
    first years it passes 50 and 80 %; `data` adds data- attributes to every cell."""
    p = unc["p_shortfall"].sel(service=sid, year=years).values * 100.0
    return [label,
            *[cell(number(v), service=sid, measure="p_shortfall", year=y, **data)
              for v, y in zip(p, years)],
            *[cell(year_text(unc[v].sel(service=sid)) if v in unc else "", service=sid,
                   measure=v, **data) for v in ("first_year_p50", "first_year_p80")]]


def _uncertainty_section(page, unc, demand, charts, name) -> None:
    page.heading(HEADINGS["uncertainty"], anchor="uncertainty")
    page.note(HEADINGS["uncertainty_note"].format(draws=unc.attrs.get("draws", "?"),
                                                  seed=unc.attrs.get("seed", "?"),
                                                  vary=unc.attrs.get("vary", "")))
    source = f"{page.source}; {unc.attrs.get('draws', '?')} trekk"
    if "pop_band" in unc and "80+" in [str(b) for b in unc["band"].values]:
        page.chart("fan-population-80", figs.fan(
            unc["pop_band"].sel(band="80+"), f"{HEADINGS['fan_population']} – {name}",
            "Personer (antall, 1. januar)", source))
    if "need" not in unc:
        return
    services = [str(s) for s in unc["service"].values]
    with_capacity = [s for s in services if "p_shortfall" in unc
                     and bool(unc["p_shortfall"].sel(service=s).notnull().any())]
    places = (charts or {}).get("places")
    if places not in services:
        places = with_capacity[0] if with_capacity else services[0]
    label, unit = _service_text(demand, places)
    capacity = None  # capacity is not drawn: the deterministic run's
    if demand is not None and "capacity" in demand and places in demand["service"].values:
        capacity = demand["capacity"].sel(service=places)
    page.chart(f"fan-need-{places}", figs.fan(
        unc["need"].sel(service=places), f"{HEADINGS['fan_need'].format(label=label)} – {name}",
        f"Antall ({unit})", source, capacity))
    if not with_capacity:
        return
    labels = {s: _service_text(demand, s)[0] for s in with_capacity}
    page.chart("p-shortfall", figs.shortfall_probability(
        {labels[s]: unc["p_shortfall"].sel(service=s) for s in with_capacity},
        f"{HEADINGS['p_shortfall']} – {name}", source))
    years = summary_years(unc["year"].values)
    rows = [_shortfall_row(labels[s], unc, s, years) for s in with_capacity]
    page.heading(HEADINGS["p_table"], 3)
    page.add(table([HEADINGS["measure"], *map(str, years), *HEADINGS["first_p"]], rows))


def _decomposition_section(page, demand, name) -> None:
    from ..decomposition import decompose

    years = [int(y) for y in demand["year"].values]
    first, last = years[0], years[-1]
    page.heading(HEADINGS["decomposition"].format(first=first, last=last),
                 anchor="decomposition")
    try:
        effects_table = decompose(demand, None, first, last)
    except (ForecastError, ZeroDivisionError) as exc:
        page.note(HEADINGS["decomposition_missing"].format(error=exc))
        return
    header = [h.format(first=first, last=last) for h in HEADINGS["decomposition_columns"]]
    rows, bars = [], {}
    for sid, part in effects_table.groupby("service", sort=False):
        label, _ = _service_text(demand, str(sid))
        effects = dict(zip(part["effect"], part["nok"] * 1e-6))
        bars[label] = [effects.get(e, np.nan) for e in EFFECTS]
        for _, r in part.iterrows():
            rows.append([label, EFFECTS.get(r["effect"], r["effect"]),
                         _translate(str(r["measure"])),
                         cell(plain_number(r["from_value"])), cell(plain_number(r["to_value"])),
                         cell(number(r["change_pct"], 1)), cell(number(r["nok"] * 1e-6, 1))])
    page.add(table(header, rows, num_from=3))
    used = [i for i, _ in enumerate(EFFECTS) if any(np.isfinite(v[i]) for v in bars.values())]
    page.chart("decomposition", figs.decomposition_bars(
        [list(EFFECTS.values())[i] for i in used],
        {k: [v[i] for i in used] for k, v in bars.items()},
        f"{HEADINGS['decomposition_chart'].format(first=first, last=last)} – {name}",
        f"Endring i kostnad ({_money(demand)})", page.source))


def _translate(measure: str) -> str:
    for english, norwegian in DECOMPOSITION_WORDS.items():
        measure = measure.replace(english, norwegian)
    return measure


def _assumptions_section(page, assumptions: list[Mapping]) -> None:
    if not assumptions:
        return
    page.heading(HEADINGS["assumptions"], anchor="assumptions")
    page.note(HEADINGS["assumptions_note"])
    rows, previous = [], None
    for r in assumptions:
        source = str(r.get("source", ""))
        key = (r.get("section"), source)
        shown = HEADINGS["same_source"] if source and key == previous else source
        previous = key
        rows.append([str(r.get("section", "")), str(r.get("key", "")),
                     _value_text(r.get("value")), str(r.get("unit", "")),
                     cell(shown, num=False)])
    page.add(table(HEADINGS["assumption_columns"], rows, num_from=99))


def _value_text(value) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) and 1900 <= value <= 2200:  # a year: no thousands space
        return str(value)
    if float(value).is_integer():
        return number(value)
    return f"{value:.6g}".replace(".", ",")
