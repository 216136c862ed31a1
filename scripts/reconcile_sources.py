"""Our Bærum figures beside those published in the LDIP chapter (issue 10): the README table.

    python scripts/reconcile_sources.py            # print the table (Markdown)
    python scripts/reconcile_sources.py --write    # and put it into README.md

Every published figure is kept with the line of
../shared/sources/004_baerum_handlingsprogram_2019_2022_ldip.txt it stands on and the words
it stands in (tests/test_sources_reconciliation.py checks them against the file), so a reader
can find each one. `derived()` redoes the arithmetic behind the values in
scenarios/baerum-ldip.toml and the capacity alternatives; the table runs the scenarios and
says for every row whether it is an independent check or agrees by construction.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from forecast import SHARED_DIR

ROOT = Path(__file__).resolve().parent.parent
SOURCES = SHARED_DIR / "sources"
LDIP = "004_baerum_handlingsprogram_2019_2022_ldip.txt"
README = ROOT / "README.md"
BEGIN = "<!-- reconcile_sources: begin (python scripts/reconcile_sources.py --write) -->"
END = "<!-- reconcile_sources: end -->"
SOCIAL_MARK = ("<!-- social-assistance rows (issue 10, the social helper's part): "
               "add them here -->")


@dataclass(frozen=True)
class Figure:
    value: float
    line: int          # line of 004 (1-based)
    text: str          # the words on that line the value stands in


PUBLISHED = {
    # Fig. 1–2: population (KOMPAS 2018)
    "pop_growth_pct": Figure(33, 436, "øke med 33 prosent"),
    "pop_growth": Figure(41_500, 438, "ca. 41 500 personer"),
    "pop67_growth_pct": Figure(80, 438, "økning på 80 prosent"),
    "pop67_growth": Figure(14_500, 440, "ca. 14 500 personer"),
    "pop8089_strong_from": Figure(2022, 458, "stiger kraftig fra 2022"),
    "pop90_doubled_by": Figure(2034, 462, "Rundt 2034 vil kommunen ha dobbelt så mange"),
    # Fig. 3: 24-hour places (dekningsgrad = places per resident 80+, line 485–487)
    "places_today": Figure(1_550, 490, "cirka 1 550 flere plasser"),
    "places_22": Figure(1_350, 492, "cirka 1 350 plasser"),
    "coverage_22": Figure(0.22, 492, "dekningsgrad på 22 prosent"),
    "coverage_planned": Figure(0.219, 494, "dekningsgrad på 21,9 prosent i 2038"),
    "places_planned": Figure(1_150, 496, "cirka 1 150 plasser"),
    "closure_donski": Figure(32, 860, "nedleggelse av 32 plasser ved Dønski"),
    # Fig. 4: housing for people with intellectual disabilities
    "housing_id_pct": Figure(57, 509, "57 prosent flere boliger"),
    "housing_id_units": Figure(180, 509, "ca. 180 boenheter"),
    # Fig. 5: home care
    "home_flat_until": Figure(2022, 534, "mot 2022"),
    "home_growth_pct": Figure(72, 534, "øker med 72 prosent frem mot 2038"),
    # Tabell 1 and Fig. 6: the care sector's cost structure, 2018 accounts
    "gross_2018": Figure(2_430.0e6, 796, "Brutto driftsutgifter 2 250,3 2 274,5 2 285,7 2 430,0"),
    "share_institutions": Figure(0.38, 739, "Bo- og behandlingssentre utgjør 38 prosent"),
    "share_ambulatory": Figure(0.21, 735, "Ambulerende utgjør 21 prosent"),
    # Tabell 3: full-time equivalents (årsverk) 2018, and the private providers' share
    "fte_ambulatory_2018": Figure(500, 894, "Ambulerende 544 540 531 519 500"),
    "private_share_2018": Figure(0.30, 1178, "ca. 30 prosent"),
    # Tabell 4–5: KOSTRA 2017
    "home80_2017": Figure(0.284, 1228, "31,3 % 31,5 % 28,4 %"),
    "inst80_2017": Figure(0.161, 1246, "18,6 % 18,1 % 17,6 % 16,1 %"),
    "none80_2017": Figure(0.555, 1248, "53,0 % 50,6 % 50,9 % 55,5 %"),
    # Fig. 9–10 text: KOSTRA net cost of home care 2015–2017
    "home066_per_inhabitant_rise": Figure(212, 1051, "212 kroner per innbygger 0-66 år"),
    "home066_per_inhabitant_pct": Figure(0.028, 1051, "økning på 2,8 prosent"),
    "home066_per_recipient_fall": Figure(5_355, 1053, "5 355 kroner per mottaker"),
    "home066_per_recipient_pct": Figure(0.013, 1053, "tilsvarer 1,3 pro"),
    "home67_per_inhabitant_fall": Figure(145, 1085, "145 kroner per innbygger"),
    "home67_per_inhabitant_pct": Figure(0.008, 1085, "reduksjon på 0,8 prosent"),
    "home67_per_recipient_rise": Figure(9_515, 1087, "9 515 kroner per mottaker"),
    "home67_per_recipient_pct": Figure(0.073, 1089, "økning på 7,3 prosent"),
}

# Persons at 1.1.2018 (SSB 07459, data/baerum/population.csv) by the groups the services use.
GROUPS = {"80+": (80, 105), "0-66": (0, 66), "67-79": (67, 79), "80-89": (80, 89),
          "90+": (90, 105), "67+": (67, 105)}
HOURS_PER_USER_WEEK = 5.0     # assumption of baerum-ldip.toml (no published figure)
WEEKS_PER_YEAR = 52.0         # forecast.demand.model.WEEKS_PER_YEAR
NATIONAL_RATIO_90_TO_80 = 45 / 28   # assumption: split of 80+ home care, national 45 % : 28 %
OPENING_YEARS = list(range(2020, 2039, 2))   # assumption: every second year 2020–2038


def value(key: str) -> float:
    return PUBLISHED[key].value


def population_2018(path: Path = ROOT / "data" / "baerum" / "population.csv") -> dict:
    import pandas as pd

    pop = pd.read_csv(path).query("year == 2018")
    return {g: int(pop[(pop.age >= lo) & (pop.age <= hi)].persons.sum())
            for g, (lo, hi) in GROUPS.items()}


def spread(total: int, years: list[int]) -> dict[int, int]:
    """Whole places over the years, as even as possible, the remainder to the last years."""
    base, rest = divmod(total, len(years))
    return {y: base + (i >= len(years) - rest) for i, y in enumerate(years)}


def derived(pop: dict) -> dict:
    """Every derived value of the Bærum 24-hour care, home care and cost sections."""
    out = {}
    # 24-hour coverage c and KOMPAS's 80+ in 2038 from c·(P38 − P18) = 1,550 and
    # 0.22·P38 − c·P18 = 1,350: (c − 0.22)·P38 = 200 and P18·c² + b·c − 0.22·1,550 = 0.
    p18, d_today, d_22 = pop["80+"], value("places_today"), value("places_22")
    r22 = value("coverage_22")
    b = d_today - (d_today - d_22) - r22 * p18
    c = (-b + math.sqrt(b * b + 4 * p18 * r22 * d_today)) / (2 * p18)
    out["coverage_2018"] = c
    out["kompas_80_2038"] = (d_today - d_22) / (c - r22)
    out["places_2018"] = round(c * p18)
    # capacity: 21.9 % of KOMPAS's 80+ in 2038, or about 1,150 more places; both with the
    # 32 places closed at Dønski from 1.1.2019
    closed = int(value("closure_donski"))
    out["places_2038_219"] = round(value("coverage_planned") * out["kompas_80_2038"])
    out["net_new_219"] = out["places_2038_219"] - out["places_2018"]
    out["openings_219"] = spread(out["net_new_219"] + closed, OPENING_YEARS)
    out["net_new_1150"] = int(value("places_planned"))
    out["openings_1150"] = spread(out["net_new_1150"] + closed, OPENING_YEARS)
    out["coverage_1150_kompas"] = (out["places_2018"] + out["net_new_1150"]) / out["kompas_80_2038"]
    # home care users at 1.1.2018 from KOSTRA 2017: coverage = cost per inhabitant ÷ cost
    # per recipient (same net cost, over inhabitants and over recipients)
    inh066 = value("home066_per_inhabitant_rise") * (1 / value("home066_per_inhabitant_pct") + 1)
    rec066 = value("home066_per_recipient_fall") * (1 / value("home066_per_recipient_pct") - 1)
    inh67 = value("home67_per_inhabitant_fall") * (1 / value("home67_per_inhabitant_pct") - 1)
    rec67 = value("home67_per_recipient_rise") * (1 / value("home67_per_recipient_pct") + 1)
    out["home_cost_per_inhabitant"] = {"0-66": inh066, "67+": inh67}
    out["home_cost_per_recipient"] = {"0-66": rec066, "67+": rec67}
    users066 = round(inh066 / rec066 * pop["0-66"])
    users67 = round(inh67 / rec67 * pop["67+"])
    users80 = round(value("home80_2017") * pop["80+"])
    rate8089 = users80 / (pop["80-89"] + NATIONAL_RATIO_90_TO_80 * pop["90+"])
    users8089 = round(rate8089 * pop["80-89"])
    out["home_users"] = {"0-66": users066, "67-79": users67 - users80, "80-89": users8089,
                         "90+": users80 - users8089}
    out["home_users_67"] = users67
    out["home_users_80"] = users80
    # unit costs from Tabell 1: the sector's share ÷ its volume in 2018
    gross = value("gross_2018")
    out["cost_institutions"] = value("share_institutions") * gross
    out["cost_ambulatory"] = value("share_ambulatory") * gross
    out["unit_cost_place"] = out["cost_institutions"] / out["places_2018"]
    hours = sum(out["home_users"].values()) * HOURS_PER_USER_WEEK * WEEKS_PER_YEAR
    out["home_hours_2018"] = hours
    out["unit_cost_hour"] = out["cost_ambulatory"] / hours
    return out


# ---------------------------------------------------------------------------------------
# The table

SCENARIOS = {"ldip": "baerum-ldip.toml", "d22": "baerum-dekningsgrad-22.toml",
             "plan": "baerum-planlagt-kapasitet.toml",
             "plan1150": "baerum-planlagt-kapasitet-1150.toml"}
INDEPENDENT = "independent check"
CONSTRUCTION = "by construction"
ID_HOUSING = "bolig_utviklingshemming"


def _n(x: float) -> str:
    return f"{x:+,.0f}" if x < 0 or x > 0 else "0"


def _pct(x: float, sign: bool = True) -> str:
    return f"{100 * x:+.1f} %" if sign else f"{100 * x:.1f} %"


def _where(*keys: str) -> str:
    lines = sorted({PUBLISHED[k].line for k in keys})
    return "004 l. " + ", ".join(str(n) for n in lines)


def rows() -> list[tuple[str, str, str, str, str, str]]:
    """(figure, published, where, ours, derived from, check) for every row."""
    from forecast.api import run

    pop = population_2018()
    d = derived(pop)
    res = {k: run(ROOT / "scenarios" / f) for k, f in SCENARIOS.items()}
    ppl = res["ldip"].population["pop"]

    def persons(year, lo=0, hi=105):
        return float(ppl.sel(year=year, age=slice(lo, hi)).sum())

    def series(key, service, var):
        return res[key].demand[var].sel(service=service)

    def at(key, service, var, year):
        return float(series(key, service, var).sel(year=year))

    out = []
    add = out.append
    # Fig. 1–2
    tot18, tot38 = persons(2018), persons(2038)
    add(("population 2018–2038", "+33 %, about +41,500", _where("pop_growth_pct", "pop_growth"),
         f"{_pct(tot38 / tot18 - 1)}, {_n(tot38 - tot18)}",
         "baerum-mmmm.toml: our cohort-component projection (KOMPAS follows the housing programme)",
         INDEPENDENT))
    o18, o38 = persons(2018, 67), persons(2038, 67)
    add(("ages 67+ 2018–2038", "+80 %, about +14,500",
         _where("pop67_growth_pct", "pop67_growth"), f"{_pct(o38 / o18 - 1)}, {_n(o38 - o18)}",
         "as above", INDEPENDENT))
    g = [persons(y, 80, 89) for y in (2018, 2022, 2026)]
    add(("ages 80–89", "rise slightly 3–4 years, strongly from 2022", _where("pop8089_strong_from"),
         f"{_pct(g[1] / g[0] - 1)} 2018–2022, {_pct(g[2] / g[1] - 1)} 2022–2026", "as above",
         INDEPENDENT))
    n90 = {y: persons(y, 90) for y in range(2018, 2039)}
    doubled = next((y for y, v in n90.items() if v >= 2 * n90[2018]), None)
    add(("ages 90+ twice today's", "around 2034", _where("pop90_doubled_by"),
         f"{doubled} ({n90[2034]:,.0f} in 2034 = {n90[2034] / n90[2018]:.2f} × 2018)",
         "as above", INDEPENDENT))
    add(("ages 80+ in 2038", f"about {d['kompas_80_2038']:,.0f} (implied)",
         _where("places_today", "places_22"), f"{persons(2038, 80):,.0f}",
         "published: solving the two place figures below for KOMPAS's 80+", INDEPENDENT))
    # Fig. 3
    need = lambda k, y: at(k, "heldogn", "need", y)
    cap = lambda k, y: at(k, "heldogn", "capacity", y)
    add(("24-hour places 2018–2038 at today's coverage", "about +1,550", _where("places_today"),
         _n(need("ldip", 2038) - need("ldip", 2018)),
         f"coverage {_pct(d['coverage_2018'], False)} and 1,377 places solved from this row and "
         "the next; differs only through our 80+", "by construction, up to our 80+"))
    add(("24-hour places 2018–2038 at 22 %", "about +1,350", _where("places_22", "coverage_22"),
         _n(need("d22", 2038) - need("d22", 2018)), "as above, 22 % reached linearly by 2038",
         "by construction, up to our 80+"))
    add(("existing + planned places: coverage 2038", "21.9 %", _where("coverage_planned"),
         f"{_pct(at('plan', 'heldogn', 'capacity_coverage', 2038), False)}",
         f"baerum-planlagt-kapasitet.toml: 0.219 × {d['kompas_80_2038']:,.0f} = "
         f"{d['places_2038_219']:,} places in 2038", "by construction, up to our 80+"))
    add(("existing + planned places: places 2038 − 2018", "about +1,150", _where("places_planned"),
         f"{_n(cap('plan', 2038) - cap('plan', 2018))} (21.9 % reading), "
         f"{_n(cap('plan1150', 2038) - cap('plan1150', 2018))} (1,150 reading)",
         f"the two readings disagree: +1,150 is {_pct(d['coverage_1150_kompas'], False)} of "
         f"KOMPAS's 80+ ({_pct(at('plan1150', 'heldogn', 'capacity_coverage', 2038), False)} "
         "of ours); baerum-planlagt-kapasitet-1150.toml carries it",
         "by construction (document inconsistent)"))
    add(("Dønski closed from 1.1.2019", "−32 places", _where("closure_donski"),
         _n(cap("ldip", 2019) - cap("ldip", 2018)), "capacity closures {2019 = 32}",
         CONSTRUCTION))
    # Fig. 4
    add(("housing for people with intellectual disabilities 2018–2038",
         "+57 %, about +180 units", _where("housing_id_pct", "housing_id_units"),
         f"{_pct(at('ldip', ID_HOUSING, 'need', 2038) / at('ldip', ID_HOUSING, 'need', 2018) - 1)}, "
         f"{_n(at('ldip', ID_HOUSING, 'need', 2038) - at('ldip', ID_HOUSING, 'need', 2018))} units",
         "baerum-ldip.toml cohort service: base 316 = 180 ÷ 0.57 and 12 entries a birth cohort "
         "at 22 = (180 + 3 × 20) ÷ 20, both solved from this figure; 3 exits a year",
         CONSTRUCTION))
    # Fig. 5
    h = {y: at("plan", "hjemmetjenester", "need", y) for y in (2018, 2022, 2038)}
    add(("home-care users 2018–2022", "stable", _where("home_flat_until"),
         _pct(h[2022] / h[2018] - 1),
         "baerum-planlagt-kapasitet.toml: today's coverage by KOSTRA group (users from KOSTRA "
         "2017, below), less people in planned 24-hour places beyond today's coverage, as "
         "Fig. 5 is corrected", INDEPENDENT))
    add(("home-care users to 2038", "+72 % (from 2022)", _where("home_growth_pct"),
         f"{_pct(h[2038] / h[2022] - 1)} from 2022, {_pct(h[2038] / h[2018] - 1)} from 2018",
         "as above", INDEPENDENT))
    # Tabell 4–5 (KOSTRA 2017)
    u = d["home_users"]
    by_group = res["ldip"].demand["need_by_group"].sel(service="hjemmetjenester", year=2018)
    home80 = float(by_group.sel(group=["80-89", "90+"]).sum())
    add(("home care, share of residents 80+ (2017)", "28.4 %", _where("home80_2017"),
         f"{_pct(home80 / pop['80+'], False)} ({home80:,.0f} users)",
         f"input: 0.284 × {pop['80+']:,}; split 80–89 / 90+ {u['80-89']:,} / {u['90+']:,} "
         "in the national ratio 28 : 45 (assumption)", CONSTRUCTION))
    add(("home-care users 0–66 and 67–79 (2017)", "not given as counts",
         _where("home066_per_inhabitant_rise", "home066_per_recipient_fall",
                "home67_per_inhabitant_fall", "home67_per_recipient_pct"),
         f"{u['0-66']:,} and {u['67-79']:,}",
         f"net cost per inhabitant ÷ per recipient: 0–66 "
         f"{d['home_cost_per_inhabitant']['0-66']:,.0f} ÷ "
         f"{d['home_cost_per_recipient']['0-66']:,.0f} kr; 67+ "
         f"{d['home_cost_per_inhabitant']['67+']:,.0f} ÷ "
         f"{d['home_cost_per_recipient']['67+']:,.0f} kr = {d['home_users_67']:,} users, "
         f"less {d['home_users_80']:,} at 80+", CONSTRUCTION))
    places_per_80 = need("ldip", 2018) / pop["80+"]
    add(("residents 80+ in 24-hour care (2017)", "16.1 %", _where("inst80_2017"),
         f"{_pct(places_per_80, False)} places per resident 80+",
         f"a different measure: 0.161 × {pop['80+']:,} = {0.161 * pop['80+']:,.0f} residents "
         "80+ in places; places also serve people under 80 and short stays, so ours must be "
         "larger", INDEPENDENT))
    add(("residents 80+ with neither (2017)", "55.5 %", _where("none80_2017"),
         f"{_pct(1 - value('home80_2017') - value('inst80_2017'), False)}",
         "100 − 28.4 − 16.1: the document's own figures agree (and date 16.1 % to 2017)",
         "check of the reading"))
    # Tabell 1
    cost = {s: at("ldip", s, "cost", 2018) for s in ("heldogn", "hjemmetjenester")}
    gross = value("gross_2018")
    add(("24-hour care, operating cost 2018", "38 % of 2,430.0 mill. = 923.4 mill.",
         _where("share_institutions", "gross_2018"), f"{cost['heldogn'] / 1e6:,.1f} mill.",
         f"{d['places_2018']:,} places × {d['unit_cost_place']:,.0f} kr "
         "(= 923.4 mill. ÷ 1,377)", CONSTRUCTION))
    add(("home care, operating cost 2018", "21 % of 2,430.0 mill. = 510.3 mill.",
         _where("share_ambulatory", "gross_2018"),
         f"{cost['hjemmetjenester'] / 1e6:,.1f} mill.",
         f"{d['home_hours_2018']:,.0f} hours × {d['unit_cost_hour']:,.2f} kr "
         f"({sum(u.values()):,} users × 5 h × 52 weeks; 5 h assumed)", CONSTRUCTION))
    fte = value("fte_ambulatory_2018")
    add(("ambulerende full-time equivalents 2018", "500 (about 30 % of home care by private "
         "providers)", _where("fte_ambulatory_2018", "private_share_2018"),
         f"{d['home_hours_2018'] / fte:,.0f} assigned hours per FTE",
         f"{d['home_hours_2018']:,.0f} hours ÷ 500; a full-time year is about 1,700–1,950 paid "
         "hours, so 5 hours a week for every KOSTRA user (some served by other areas) "
         "overstates ambulerende's hours: the 2018 cost stands, the price per hour is too low",
         "independent check (does not hold)"))
    add(("both, share of the care sector 2018", "2,430.0 mill. in all",
         _where("gross_2018"), f"{sum(cost.values()) / gross:.0%}",
         "bounded by the sector total (a test checks each service within its share)",
         CONSTRUCTION))
    return out


def table() -> str:
    head = ("| figure | published | where | ours | derived from | check |\n"
            "|---|---|---|---|---|---|\n")
    body = "".join("| " + " | ".join(r) + " |\n" for r in rows())
    return BEGIN + "\n" + head + body + SOCIAL_MARK + "\n" + END


def write_readme(text: str, path: Path = README) -> None:
    readme = path.read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    old = readme[start:end]
    if SOCIAL_MARK in old:   # keep rows someone added after the marker
        extra = old.split(SOCIAL_MARK, 1)[1].rsplit(END, 1)[0]
        text = text.replace(SOCIAL_MARK + "\n", SOCIAL_MARK + extra)
    path.write_text(readme[:start] + text + readme[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    args = parser.parse_args()
    text = table()
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
