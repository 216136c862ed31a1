"""Housing-led in-migration: new dwellings x persons per dwelling x the movers' age-sex profile.

KOMPAS-style planning lets in-migration follow the housing programme instead of the trend
(boligbasert framskriving). The housing component of year t is a count array

    inmig_housing[t, s, a] = sum over dwelling types k of
                             dwellings[t, k] * persons_per_dwelling[t, k] * profile[k, s, a]

with `profile` the age-sex distribution (shares summing to 1) of the people who move into new
dwellings, by the age reached on 1 January of the next year (as in migration.csv). They arrive
at mid-year like every in-migrant and then age in place in the projection (KOMPAS's
"flyttegenerasjoner"). The component is computed before the kernel, so the kernel is the same:

    mode = "replace": in-migration = housing component + existing_stock_inmig_level x trend
    mode = "add":     in-migration = trend + housing component

and in both modes the trend's out-migration rates are kept. `trend` is the in-migrant count of
migration.csv times `migration.in_level`.

The scenario keys are `[housing] programme_file | dwellings, persons_per_dwelling,
profile_file, mode, existing_stock_inmig_level` (scenario.POPULATION_SCHEMA); the files are
read by forecast.inputs.housing, which also builds the default profile for Bærum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, ScenarioError
from ..paths import evaluate, is_dated
from .kernel import N_AGE

MODES = ("replace", "add")
ALL_TYPES = ""          # the one dwelling type of a programme without a `type` column
SHARE_TOLERANCE = 1e-6  # shares must sum to 1 within this (profiles here, areas in areas.py)


@dataclass
class HousingSpec:
    """The [housing] section of a scenario, evaluated for the flow years of the projection."""
    mode: str
    years: np.ndarray                     # flow years base .. end-1
    existing_level: np.ndarray            # (T,) share of the trend in-migration kept ("replace")
    ppd_spec: object                      # persons per dwelling: number, dated, or per type
    profiles: dict[str, np.ndarray]       # type (ALL_TYPES = every type) -> (2, 106) shares
    types: tuple[str, ...] = (ALL_TYPES,) # dwelling types of the municipal programme
    dwellings: np.ndarray | None = None   # (T, n_types) municipal programme, None = not given
    file: str | None = None               # the scenario file, for error messages
    profile_file: str | None = None
    programme_file: str | None = None

    def persons_per_dwelling(self, types) -> np.ndarray:
        """(T, n_types) persons per new dwelling in each flow year and type."""
        spec, key = self.ppd_spec, "housing.persons_per_dwelling"
        per_type = isinstance(spec, dict) and not is_dated(spec)
        out = np.empty((len(self.years), len(types)))
        for k, name in enumerate(types):
            if not per_type:
                out[:, k] = evaluate(spec, self.years)
            elif name == ALL_TYPES:
                raise ScenarioError("given per dwelling type, but the programme has no `type` "
                                    "column; give one number or {year = value}",
                                    file=self.file, key=key)
            elif name not in spec:
                raise ScenarioError(f"no value for dwelling type {name!r}; the programme has "
                                    f"types {', '.join(types)}", file=self.file, key=key)
            else:
                out[:, k] = evaluate(spec[name], self.years)
        return out

    def profile(self, types) -> np.ndarray:
        """(n_types, 2, 106) movers' profile of each dwelling type."""
        out = np.empty((len(types), 2, N_AGE))
        for k, name in enumerate(types):
            if ALL_TYPES in self.profiles:
                out[k] = self.profiles[ALL_TYPES]
            elif name in self.profiles:
                out[k] = self.profiles[name]
            else:
                have = ", ".join(sorted(self.profiles))
                what = "no type column" if name == ALL_TYPES else f"no rows for type {name!r}"
                raise DataError(f"{what}; the profile has types {have}",
                                file=self.profile_file, key="type")
        return out


# --- the arithmetic ----------------------------------------------------------------------------

def housing_component(spec: HousingSpec, dwellings: np.ndarray, types) -> np.ndarray:
    """(..., T, 2, 106) persons moving into new dwellings, from dwellings (..., T, n_types)."""
    ppd = spec.persons_per_dwelling(types)                     # (T, K)
    profile = spec.profile(types)                              # (K, 2, A)
    persons = np.asarray(dwellings, dtype=float) * ppd         # (..., T, K)
    return np.einsum("...tk,ksa->...tsa", persons, profile)
