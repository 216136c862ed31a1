"""Scenario + data files -> PopulationInputs and PopulationAssumptions (the edge).

One municipality (data/baerum: files without a region column), many (data/norway: files
with a `municipality` column, a fertility level file and a regions file), or sub-areas (an
[areas] section). Everything is read and checked here, once; the stage gets arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..bounds import MAX_LEVEL
from ..errors import DataError, ScenarioError
from ..paths import check_path
from ..population.housing import housing_component
from ..population.model import PopulationAssumptions, PopulationInputs
from ..checks import check_keys
from .tables import (REGION, population_in_year, read_csv, read_e0_history, read_fertility,
                     read_migration, read_mortality, read_population_history, read_sex_ratio,
                     regional_population)

COMPONENT_KEYS = ("in_level", "out_level")
ALL = "all"


def assumptions_from_scenario(scenario) -> PopulationAssumptions:
    f, m, g = (scenario.section(k) for k in ("fertility", "mortality", "migration"))
    return PopulationAssumptions(
        base_year=scenario.base_year, end_year=scenario.end_year,
        tfr=f.get("tfr"), tfr_shift=f.get("tfr_shift", 0.0),
        e0=(m.get("e0_female"), m.get("e0_male")), e0_shift=m.get("e0_shift", 0.0),
        trend_years=tuple(m["trend_years"]) if "trend_years" in m else None,
        in_level=g.get("in_level", 1.0), out_level=g.get("out_level", 1.0),
        components=_component_levels(g.get("components", {}), scenario))


def _component_levels(table: dict, scenario) -> dict:
    """[migration.components.<name>] tables: dated multipliers of one component's flows."""
    file = str(scenario.file)
    years = (scenario.base_year, scenario.end_year)
    out = {}
    for name, levels in table.items():
        key = f"migration.components.{name}"
        check_keys(levels, COMPONENT_KEYS, file, key)
        for k, v in levels.items():
            check_path(v, file=file, key=f"{key}.{k}", lower=0.0, upper=MAX_LEVEL, years=years)
        out[name] = levels
    return out


def read_regions_table(path) -> pd.DataFrame:
    """municipality,name[,split_history]: names of the regions and which to flag."""
    df = read_csv(path, {REGION: "str", "name": "str"}, optional={"split_history": "str"})
    dup = df[REGION].duplicated()
    if dup.any():
        raise DataError(f"duplicate {REGION} {df[REGION][dup].iloc[0]!r}", file=str(path),
                        key=REGION)
    return df


def select_regions(wanted, known: pd.DataFrame | None, in_file, file: str) -> tuple[str, ...]:
    """Region codes from a selection: "all", a code, a name, or a list of them."""
    codes = list(dict.fromkeys(in_file))
    if wanted is None or wanted == ALL:
        return tuple(codes)
    items = [wanted] if isinstance(wanted, str) else list(wanted)
    by_name = {}
    if known is not None:
        by_name = {n.casefold(): c for c, n in zip(known[REGION], known["name"])}
        by_name.update({n.split("-")[0].casefold(): c for c, n in zip(known[REGION],
                                                                       known["name"])})
    out = []
    for item in items:
        code = str(item).strip()
        code = by_name.get(code.casefold(), code)
        if code not in set(codes):
            raise ScenarioError(f"unknown municipality {item!r}; expected a code or name in "
                                "the population file (e.g. 0301 or Oslo)", file=file,
                                key="population.municipality")
        out.append(code)
    return tuple(dict.fromkeys(out))


def _fert_levels(path, regions) -> np.ndarray:
    df = read_csv(path, {REGION: "str", "factor": "float"})
    dup = df[REGION].duplicated()
    if dup.any():
        raise DataError(f"duplicate {REGION} {df[REGION][dup].iloc[0]!r}", file=str(path),
                        key=REGION)
    levels = dict(zip(df[REGION], df["factor"]))
    missing = [r for r in regions if r not in levels]
    if missing:
        raise DataError(f"no fertility level for {REGION} {missing[0]!r}", file=str(path),
                        key=REGION)
    out = np.array([levels[r] for r in regions])
    if (out <= 0).any() or (out > 5).any():
        raise DataError(f"expected factors in (0, 5], got {out[(out <= 0) | (out > 5)][0]:g}",
                        file=str(path), key="factor")
    return out


def load_population(scenario, regions=None) -> tuple[PopulationInputs, PopulationAssumptions]:
    """Read everything the population stage needs. `regions` ("all", codes or names) selects
    municipalities of a multi-region population file; default: the scenario's
    population.municipality, else all of them."""
    s, file = scenario.raw, str(scenario.file)
    a = assumptions_from_scenario(scenario)
    pop_file = s["population"]["file"]
    history = read_population_history(pop_file)
    e0_file = s["mortality"].get("e0_history_file")
    common = dict(mx=read_mortality(s["mortality"]["file"]),
                  asfr=read_fertility(s["fertility"]["file"]),
                  sex_ratio=read_sex_ratio(s["fertility"]["sex_ratio_file"]),
                  e0_history=read_e0_history(e0_file) if e0_file else None)
    if REGION in history.columns:
        return _many(scenario, history, common, regions, a), a
    if regions is not None:
        raise ScenarioError(f"the population file has no {REGION} column: it holds one "
                            "municipality, so --municipality/--all do not apply", file=file,
                            key="population.file")
    base = population_in_year(history, scenario.base_year, pop_file)
    inmig, outrate, components = read_migration(s["migration"]["file"])
    inputs = PopulationInputs(regions=(scenario.name,), base_pop=base[None],
                              fert_level=np.ones(1), inmig=inmig[:, None],
                              outrate=outrate[:, None], components=components, layout="single",
                              **common)
    housing = _housing(scenario, need_programme="areas" not in s)
    if "areas" in s:
        return _areas(scenario, inputs, housing), a
    if housing is not None:
        if housing.dwellings is None:
            raise ScenarioError("no housing programme; give programme_file or dwellings",
                                file=file, key="housing")
        inputs.housing_inmig = housing_component(housing, housing.dwellings, housing.types)[None]
        inputs.housing_mode, inputs.existing_level = housing.mode, housing.existing_level
    return inputs, a


def _housing(scenario, need_programme: bool):
    if "housing" not in scenario.raw:
        return None
    from .housing import read_housing
    return read_housing(scenario, need_programme=need_programme)


def _many(scenario, history, common, regions, a) -> PopulationInputs:
    s, file = scenario.raw, str(scenario.file)
    for section in ("housing", "areas"):
        if section in s:
            raise ScenarioError("not supported for a multi-region population file (it is one "
                                "municipality's)", file=file, key=section)
    table = None
    if "regions_file" in s["population"]:
        table = read_regions_table(s["population"]["regions_file"])
    wanted = regions if regions is not None else s["population"].get("municipality")
    codes = select_regions(wanted, table, history[REGION], file)
    base = regional_population(history, codes, scenario.base_year, s["population"]["file"])
    inmig, outrate, components = read_migration(s["migration"]["file"], codes)
    level_file = s["fertility"].get("level_file")
    fert = _fert_levels(level_file, codes) if level_file else np.ones(len(codes))
    names, flagged = None, ()
    if table is not None:
        known = dict(zip(table[REGION], table["name"]))
        names = tuple(known.get(c, c) for c in codes)
        if "split_history" in table.columns:
            split = set(table[REGION][table["split_history"].str.lower() == "true"])
            flagged = tuple(c for c in codes if c in split)
    return PopulationInputs(regions=codes, names=names, base_pop=base, fert_level=fert,
                            inmig=inmig, outrate=outrate, components=components,
                            flagged=flagged, **common)


def _areas(scenario, inputs: PopulationInputs, housing) -> PopulationInputs:
    """The municipality's inputs turned into sub-areas that exchange movers."""
    from .areas import check_area_base, check_programmes, read_area_files

    years = np.arange(scenario.base_year, scenario.end_year)
    areas = read_area_files(scenario.section("areas"), str(scenario.file), scenario.base_year,
                            scenario.end_year, has_housing=housing is not None)
    check_area_base(areas, inputs.base_pop[0], scenario.base_year)
    share = areas.inmig_share
    n = len(areas.codes)
    out = PopulationInputs(regions=areas.codes, names=areas.names, base_pop=areas.base_pop,
                           mx=inputs.mx, asfr=inputs.asfr, fert_level=np.ones(n),
                           sex_ratio=inputs.sex_ratio,
                           inmig=inputs.inmig * share[None, :, None, None],
                           outrate=np.repeat(inputs.outrate, n, axis=1),
                           components=inputs.components, e0_history=inputs.e0_history,
                           exchange=areas.exchange, layout="areas")
    if housing is None:
        return out
    if areas.dwellings is not None:
        check_programmes(areas, housing, years)
        out.housing_inmig = housing_component(housing, areas.dwellings, areas.housing_types)
    elif housing.dwellings is not None:
        municipal = housing_component(housing, housing.dwellings, housing.types)
        out.housing_inmig = share[:, None, None, None] * municipal[None]
    else:
        raise ScenarioError("no housing programme; give housing.programme_file, "
                            "housing.dwellings or areas.housing_file", file=str(scenario.file),
                            key="housing")
    out.housing_mode, out.existing_level = housing.mode, housing.existing_level
    return out
