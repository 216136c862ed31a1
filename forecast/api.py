"""The public API: scenario file -> population -> demand -> cost."""

from __future__ import annotations

from pathlib import Path

from . import __version__
from .errors import ForecastError
from .scenario import Scenario, load_scenario


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


def project(scenario: Scenario | str | Path | None = None):
    """Population projection of a scenario: an xarray.Dataset (see population.model)."""
    from .inputs import load_population_inputs
    from .population.model import PopulationAssumptions, project_population

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    try:
        if "areas" in scenario.raw:
            from .population.areas import project_areas
            return project_areas(scenario, attrs=provenance(scenario))
        inputs = load_population_inputs(scenario)
        assumptions = PopulationAssumptions.from_scenario(scenario)
        return project_population(inputs, assumptions, attrs=provenance(scenario))
    except ForecastError as exc:
        raise _name_file(exc, scenario) from None
