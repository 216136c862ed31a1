"""The workbook's fixed headings and units in Norwegian (bokmål), in one place.

Service labels and units are not here: they come from the scenario file.
"""

# Every fixed heading of the workbook (Norwegian bokmål), by what it is.
NB = {
    "summary": "Sammendrag", "population": "Befolkning", "ages": "Alder og kjønn",
    "services": "Tjenester", "capacity": "Kapasitet", "cost": "Kostnad",
    "assumptions": "Forutsetninger",
    "scenario": "Scenario", "base_year": "Basisår", "end_year": "Sluttår",
    "prices": "Prisnivå", "scenario_file": "Scenariofil", "version": "Versjon",
    "draws": "Antall trekninger", "seed": "Startverdi (seed)", "vary": "Usikre komponenter",
    "service": "Tjeneste", "unit": "Enhet", "measure": "Mål", "age_group": "Aldersgruppe",
    "sex": "Kjønn", "age": "Alder", "section": "Seksjon", "key": "Nøkkel", "value": "Verdi",
    "source": "Kilde",
    "need": "Behov", "capacity_row": "Kapasitet", "gap": "Differanse (behov − kapasitet)",
    "coverage": "Dekningsgrad", "group_population": "Målgruppe", "hours": "Timer",
    "months_per_user": "Måneder per bruker",
    "capacity_coverage": "Kapasitet per innbygger i målgruppen",
    "substitution": "Erstattet av annen tjeneste", "volume": "Kostnadsgrunnlag (volum)",
    "unit_cost": "Enhetskostnad", "cost_row": "Kostnad", "investment": "Investering",
    "p_shortfall": "Sannsynlighet for underdekning",
    "first_shortfall": "Første år med underdekning",
    "first_deterministic": "Første år med underdekning (uten usikkerhet)",
    "first_p50": "Første år sannsynligheten passerer 50 %",
    "first_p80": "Første år sannsynligheten passerer 80 %",
    "none": "ingen", "all_services": "Alle tjenester", "total": "Totalt",
    "female": "Kvinner", "male": "Menn", "both": "Begge kjønn",
    "services_title": "Tjenester", "population_title": "Befolkning 1. januar (personer)",
    "bands_title": "Befolkning 1. januar etter aldersgruppe (personer)",
    "growth_title": "Endring fra {base} (%)",
    "ages_title": "Befolkning 1. januar etter alder og kjønn (personer)",
    "services_sheet_title": "Behov per tjeneste og år",
    "capacity_sheet_title": "Behov og kapasitet per år",
    "cost_sheet_title": "Kostnad og investering (mill. kr, {prices})",
    "growth_chart": "Befolkningsvekst etter aldersgruppe (% fra {base})",
    "places_chart": "{label}: behov og kapasitet ({unit})",
    "year": "År", "percent": "%", "persons": "personer", "share": "andel", "mill_kr": "mill. kr",
    "quantile": "{what}, {q} %", "no_services": "Scenarioet har ingen tjenester.",
    "no_capacity": "Ingen tjeneste har kapasitet.",
    "fixed_prices": "faste priser", "price_year": "{year}-priser",
}
# Units as the model names them -> as the workbook shows them.
UNITS_NB = {"share": "andel", "persons": "personer", "hours/year": "timer per år",
            "months": "måneder", "NOK": "kr", "year": "år"}
