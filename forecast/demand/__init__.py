"""Demand stage: service definitions from the scenario file → need, capacity, gap, hours.

Entry points:
  parse_demand(raw, file, base_year, end_year) -> DemandConfig   (services.py)
  read_region_users(path, services, regions) -> {service: (R, groups)}  (region_users.py,
      an edge reader: the loader calls it and puts the result in DemandConfig)
  compute_demand(population, config) -> xr.Dataset               (model.py)
Cost is a stage of its own (forecast.cost.compute_cost on this Dataset); demand does not
import it.
"""

from __future__ import annotations

from .model import compute_demand
from .region_users import read_region_users
from .services import AgeGroup, DemandConfig, Service, parse_demand

__all__ = ["AgeGroup", "DemandConfig", "Service", "compute_demand", "parse_demand",
           "read_region_users"]
