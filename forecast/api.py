"""The public API: scenario file -> population -> demand -> cost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import ForecastError, ScenarioError
from .scenario import REPO_ROOT, Scenario, load_scenario

DEFAULT_RUN_SCENARIO = REPO_ROOT / "scenarios" / "baerum-ldip.toml"


def provenance(scenario: Scenario) -> dict:
    hashes = scenario.file_hashes()
    return {"scenario": scenario.name, "scenario_file": str(scenario.file),
            "forecast_version": __version__,
            "input_files": "; ".join(f"{Path(p).name}={h}" for p, h in hashes.items())}


def _name_file(exc: ForecastError, scenario: Scenario) -> ForecastError:
    """Errors raised below the scenario loader know the key but not the file: add it."""
    if exc.file is None:
        return type(exc)(exc.message, file=str(scenario.file), key=exc.key)
    return exc


def load_inputs(scenario: Scenario, regions=None):
    """(PopulationInputs, PopulationAssumptions) of the scenario, read once: `project` and
    `draws` take them as `loaded` so a run with draws reads its files once."""
    from .inputs.population import load_population

    try:
        return load_population(scenario, regions)
    except ForecastError as exc:
        raise _name_file(exc, scenario) from None


def project(scenario: Scenario | str | Path | None = None, regions=None,
            outputs: str = "full", loaded=None):
    """Population projection of a scenario: an xarray.Dataset (see population.model).

    One municipality: dims (year, sex, age); sub-areas: (area, year, sex, age); a
    multi-region file: (region, year, sex, age), `regions` = "all", codes or names.
    `loaded`: the result of load_inputs, when the caller has it."""
    from .population.model import project_population

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    inputs, assumptions = loaded if loaded is not None else load_inputs(scenario, regions)
    try:
        ds = project_population(inputs, assumptions, outputs=outputs,
                                attrs=provenance(scenario))
    except ForecastError as exc:
        raise _name_file(exc, scenario) from None
    check_finite_population(ds, scenario)
    if inputs.layout == "single":
        return ds.isel(region=0, drop=True)
    if inputs.layout == "areas":
        return ds.rename({"region": "area", "region_name": "area_name"})
    return ds


@dataclass
class RunResult:
    scenario: Scenario
    population: object          # xarray.Dataset, see population.model
    demand: object | None       # xarray.Dataset, see demand.model and cost; None without services
    config: object | None       # demand.DemandConfig
    costs: object | None = None  # cost.CostConfig
    areas: object | None = None  # the sub-areas' population (area, year, sex, age), if any
    uncertainty: object | None = None  # quantiles over draws (forecast.uncertainty); None
                                       # without draws

    def assumptions(self) -> list[dict]:
        """Every assumption of the run, for the workbook's sheet of assumptions."""
        from .cost import merge_assumptions

        rows = population_assumptions(self.scenario)
        if self.config is None:
            return rows
        services = self.config.assumptions()
        if self.costs is not None:
            services = merge_assumptions(services, self.costs.assumptions())
        return rows + services


POPULATION_SECTIONS = ("population", "fertility", "mortality", "migration", "housing", "areas")


def population_assumptions(scenario: Scenario) -> list[dict]:
    rows = []
    for section in POPULATION_SECTIONS:
        table = scenario.section(section)
        source = table.get("source", "")
        for key, value in table.items():
            if key == "source":
                continue
            if isinstance(value, str) and (key == "file" or key.endswith("_file")):
                value = Path(value).name
            rows.append({"section": section, "key": key, "value": value, "unit": "",
                         "source": source})
    return rows


# --- results that are not finite: an error naming the assumption behind them --------------
# The bounds (forecast/bounds.py) keep single values sane; a combination can still overflow
# (e.g. capacity openings that sum past the largest float). Only ±inf is checked: NaN marks
# "not applicable" in these results (no capacity, no unit cost, the last year's flows).

POPULATION_KEYS = ("fertility.tfr", "fertility.tfr_shift", "migration.in_level",
                   "migration.out_level", "migration.components", "housing.dwellings",
                   "housing.persons_per_dwelling", "housing.programme_file",
                   "areas.housing_file")
# demand variable -> the service's key that feeds it (in the order they are computed)
DEMAND_KEYS = {"coverage": "coverage", "need": "users", "capacity": "capacity",
               "gap": "capacity", "hours": "intensity", "volume": "users",
               "unit_cost": "cost.unit_cost", "cost": "cost.unit_cost",
               "investment": "cost.investment_per_place"}


def _first_infinite_year(values) -> int | None:
    """The first year in which `values` (a DataArray with a `year` dim) holds ±inf."""
    import numpy as np

    other = [d for d in values.dims if d != "year"]
    bad = np.isinf(values).any(other) if other else np.isinf(values)
    years = values["year"].values[bad.values]
    return int(years[0]) if len(years) else None


def check_finite_population(ds, scenario: Scenario) -> None:
    for name in ("pop", "births", "deaths", "inmig", "outmig"):
        if name not in ds:
            continue
        year = _first_infinite_year(ds[name])
        if year is not None:
            given = [k for k in POPULATION_KEYS
                     if k.split(".")[1] in scenario.section(k.split(".")[0])]
            raise ScenarioError(f"the projected {name} is not finite from {year}; expected "
                                "finite counts: check the assumptions of fertility, migration "
                                "and housing", file=str(scenario.file),
                                key=", ".join(given) or "fertility, migration")


def check_finite_demand(demand, config) -> None:
    for sid in demand["service"].values:
        for name, key in DEMAND_KEYS.items():
            if name not in demand:
                continue
            year = _first_infinite_year(demand[name].sel(service=sid))
            if year is not None:
                service = config.services[str(sid)]
                if key == "intensity":
                    key = next(k for k in ("hours_per_user_week", "hours_per_user_year",
                                           "months_per_user") if getattr(service, k) is not None)
                raise ScenarioError(f"the {name} is not finite from {year}; expected finite "
                                    "numbers: check this assumption",
                                    key=f"services.{sid}.{key}")


def check_charts(scenario: Scenario, services: list[str]) -> None:
    """[outputs] charts = {role = service id}: known roles naming defined services."""
    from .io.charts import ROLES

    for role, service in scenario.section("outputs").get("charts", {}).items():
        key = f"outputs.charts.{role}"
        if role not in ROLES:
            raise ScenarioError(f"unknown chart; expected one of {', '.join(ROLES)}",
                                file=str(scenario.file), key=key)
        if service not in services:
            raise ScenarioError(f"names service {service!r}, which is not defined; expected "
                                f"one of {', '.join(services)}", file=str(scenario.file), key=key)


def draws(scenario: Scenario, regions=None, n_draws: int | None = None, seed: int | None = None,
          config=None, costs=None, scheduler: str | None = None, advance=None, loaded=None):
    """Quantiles over draws (forecast.uncertainty) of the scenario's population, and of its
    services' need, gap and cost with `config` (and `costs`); None when there are no draws
    (`n_draws` and `seed` override the scenario's [uncertainty]). One municipality: no
    `region` dim. `loaded`: the result of load_inputs, when the caller has it."""
    from .inputs.uncertainty import load_uncertainty
    from .uncertainty import run_draws

    try:
        settings = load_uncertainty(scenario, n_draws, seed)
        if settings is None:
            return None
        inputs, a = loaded if loaded is not None else load_inputs(scenario, regions)
        if inputs.layout == "areas":
            raise ScenarioError("draws of sub-areas are not supported; run the municipality "
                                "without [areas] for its uncertainty", file=str(scenario.file),
                                key="uncertainty.draws" if n_draws is None else "--draws")
        ds = run_draws(inputs, a, settings, config, costs, scheduler=scheduler,
                       advance=advance)
    except ForecastError as exc:
        raise _name_file(exc, scenario) from None
    ds.attrs.update(provenance(scenario))
    return ds.isel(region=0, drop=True) if inputs.layout == "single" else ds


SERVICE_SECTIONS = ("services", "cost", "outputs", "service_users_file")


def with_services(scenario: Scenario, services: Scenario | str | Path | None = None) -> Scenario:
    """A population-only scenario (no [services]) with the services, prices and charts of
    another scenario (default scenarios/baerum-ldip.toml): the same service definitions under
    another population. A scenario that has services is returned unchanged."""
    if "services" in scenario.raw:
        return scenario
    if not isinstance(services, Scenario):
        services = load_scenario(services if services is not None else DEFAULT_RUN_SCENARIO)
    if "services" not in services.raw:
        raise ScenarioError("the scenario has no [services] to apply; expected service "
                            "definitions", file=str(services.file), key="services")
    if (services.base_year, services.end_year) != (scenario.base_year, scenario.end_year):
        raise ScenarioError(f"its services are for {services.base_year}-{services.end_year}, "
                            f"the population for {scenario.base_year}-{scenario.end_year}; "
                            f"expected the same years", file=str(services.file), key="base_year")
    raw = dict(scenario.raw)
    raw.update({k: services.raw[k] for k in SERVICE_SECTIONS if k in services.raw})
    return Scenario(file=scenario.file, name=scenario.name, description=scenario.description,
                    base_year=scenario.base_year, end_year=scenario.end_year, raw=raw,
                    sources=[*scenario.sources, *services.sources])


def run(scenario: Scenario | str | Path | None = None, regions=None,
        n_draws: int | None = None, seed: int | None = None, scheduler: str | None = None,
        advance=None) -> RunResult:
    """Population, then demand, capacity and cost of the scenario's services.

    With a multi-region population file (`regions` = "all", codes or names) every result has
    a `region` dim; base-year users per region come from the scenario's
    `service_users_file` (municipality,service,[group,]users). Sub-areas: demand is the
    municipality's (the sum of the areas); `RunResult.areas` keeps the areas."""
    from .cost import compute_cost, parse_costs
    from .demand import compute_demand, parse_demand

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario if scenario is not None else DEFAULT_RUN_SCENARIO)
    loaded = load_inputs(scenario, regions)
    population = project(scenario, regions=regions, loaded=loaded)
    areas = None
    if "area" in population.dims:
        from .population.areas import municipality
        areas, population = population, municipality(population)
    if "services" not in scenario.raw:
        spread = draws(scenario, regions, n_draws, seed, scheduler=scheduler, advance=advance,
                       loaded=loaded)
        return RunResult(scenario, population, None, None, areas=areas, uncertainty=spread)
    try:
        file = str(scenario.file)
        users_file = scenario.raw.get("service_users_file")
        many = "region" in population.dims
        config = parse_demand(scenario.raw, file, scenario.base_year, scenario.end_year,
                              region_users=many and users_file is not None)
        if many and users_file is not None:
            from .inputs.region_users import read_region_users
            codes = tuple(str(c) for c in population["region"].values)
            config.users_by_region = read_region_users(users_file, config.services, codes)
            config.regions, config.users_file = codes, str(users_file)
        costs = parse_costs(scenario.raw, file, scenario.base_year, scenario.end_year,
                            config.services)
        check_charts(scenario, list(config.services))
        demand = compute_cost(compute_demand(population, config), costs)
        check_finite_demand(demand, config)
    except ForecastError as exc:
        raise _name_file(exc, scenario) from None
    demand.attrs.update(provenance(scenario))
    spread = draws(scenario, regions, n_draws, seed, config, costs, scheduler, advance,
                   loaded)
    if spread is not None:
        spread.attrs["price_year"] = demand.attrs.get("price_year", "")
    return RunResult(scenario, population, demand, config, costs, areas=areas,
                     uncertainty=spread)
