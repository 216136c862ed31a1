"""forecast: open demographic demand forecasting for Norwegian municipalities."""

from .errors import DataError, ForecastError, ScenarioError

__version__ = "0.1.0"
__all__ = ["ForecastError", "ScenarioError", "DataError", "__version__"]
