"""Demand stage: service definitions from the scenario file → need, capacity, gap, hours.

Entry points:
  parse_demand(raw, file, base_year, end_year) -> DemandConfig   (services.py)
  per-region base users come from forecast.inputs.region_users (the loader reads the file
      and puts the arrays in DemandConfig.users_by_region)
  compute_demand(population, config) -> xr.Dataset               (model.py)
Cost is a stage of its own (forecast.cost.compute_cost on this Dataset); demand does not
import it.
"""

from __future__ import annotations

from .model import compute_demand
from .services import AgeGroup, DemandConfig, Service, parse_demand

__all__ = ["AgeGroup", "DemandConfig", "Service", "compute_demand", "parse_demand"]
