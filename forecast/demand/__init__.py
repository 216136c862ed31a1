"""Demand stage: service definitions from the scenario file → need, capacity, gap, hours.

Entry points:
  parse_demand(raw, file, base_year, end_year) -> DemandConfig   (services.py)
  compute_demand(population, config) -> xr.Dataset               (model.py)
  run_demand(population, config) -> xr.Dataset: compute_demand, then forecast.cost.compute_cost
  (one Dataset with the demand and the cost variables).
"""

from __future__ import annotations

from .model import compute_demand
from .services import AgeGroup, DemandConfig, Service, parse_demand

__all__ = ["AgeGroup", "DemandConfig", "Service", "compute_demand", "parse_demand",
           "run_demand"]


def run_demand(population, config: DemandConfig):
    """Demand and cost in one Dataset (see model.py and forecast/cost.py for the variables)."""
    from ..cost import compute_cost

    return compute_cost(compute_demand(population, config), config)
