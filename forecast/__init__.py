"""forecast: open demographic demand forecasting for Norwegian municipalities."""

from .errors import DataError, ForecastError, ScenarioError

__version__ = "0.1.0"
__all__ = ["ForecastError", "ScenarioError", "DataError", "load_scenario", "project",
           "__version__"]


def __getattr__(name):
    # Heavy modules (xarray, numba) load on first use so the CLI starts fast.
    if name == "load_scenario":
        from .scenario import load_scenario
        return load_scenario
    if name == "project":
        from .api import project
        return project
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
