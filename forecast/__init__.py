"""forecast: open demographic demand forecasting for Norwegian municipalities."""

import os
from pathlib import Path

from .errors import DataError, ForecastError, ScenarioError

REPO_ROOT = Path(__file__).resolve().parent.parent
# the project's source material: ../shared beside the clone, or wherever FORECAST_SHARED says
SHARED_DIR = Path(os.environ.get("FORECAST_SHARED", REPO_ROOT.parent / "shared"))

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
