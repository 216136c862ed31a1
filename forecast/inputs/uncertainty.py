"""The scenario's `[uncertainty]` section and the stochastic components file.

    [uncertainty]
    draws = 1000          # 0 (default): the deterministic run only
    seed = 1              # same seed, same numbers (any threads, chunks or workers)
    vary = ["fertility", "mortality", "migration"]   # default: all three
    components_file = "../data/norway/stochastic.csv"  # default: that file
    calibrated = true     # apply the local-migration persistence and spread chosen by the
                          # interval backtests (population.stochastic.calibrated); default true
    unit_cost_sd = 0.01   # sd of the yearly change in the log of every unit cost: a real
                          # unit-cost index by draw, shared by all services and
                          # municipalities; default 0 (unit costs as in [cost])
    coverage_sd = 0.02    # sd of the yearly change in the log of each service's coverage,
                          # independent between services, shared by municipalities; default 0

Both are random walks from 1 at the first year, so their spread grows with the square root of
the years ahead (with a sd of 0.01 a year the 10 and 90 % quantiles are about -6 % and +6 %
after 20 years);
nothing in the data estimates them: a scenario that sets them says why in `source`.

The components file is written by `forecast calibrate --all` from data before the base year
(population.stochastic.components_table); its base year must not be after the scenario's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError, ScenarioError
from ..population.stochastic import COMPONENTS, Components, calibrated, components_from_table
from ..scenario import REPO_ROOT

DEFAULT_COMPONENTS = REPO_ROOT / "data" / "norway" / "stochastic.csv"
MAX_DRAWS = 1_000_000


@dataclass
class UncertaintySettings:
    draws: int
    seed: int
    vary: tuple[str, ...]
    components: Components
    components_file: str
    calibrated: bool
    unit_cost_sd: float = 0.0
    coverage_sd: float = 0.0


def read_components(path) -> Components:
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"parameter": str, "sex": str, "age": str})
    except FileNotFoundError:
        raise DataError("file not found; expected the stochastic components (forecast "
                        "calibrate --all writes data/norway/stochastic.csv)", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"not a readable CSV ({exc})", file=str(path)) from None
    missing = {"parameter", "sex", "age", "value"} - set(df.columns)
    if missing:
        raise DataError(f"expected columns parameter,sex,age,value; missing {sorted(missing)}",
                        file=str(path))
    try:
        df["value"] = pd.to_numeric(df["value"])
        return components_from_table(df)
    except KeyError as exc:
        raise DataError(f"missing parameter {exc.args[0]!r}", file=str(path),
                        key="parameter") from None
    except ValueError:
        raise DataError("expected a number in every row", file=str(path), key="value") from None


def load_uncertainty(scenario, draws: int | None = None, seed: int | None = None
                     ) -> UncertaintySettings | None:
    """The scenario's settings with `draws` / `seed` given on the command line taking
    precedence; None when there are no draws."""
    table = scenario.raw.get("uncertainty", {})
    file = str(scenario.file)
    n = table.get("draws", 0) if draws is None else draws
    if not isinstance(n, int) or n < 0 or n > MAX_DRAWS:
        key = "--draws" if draws is not None else "uncertainty.draws"
        raise ScenarioError(f"expected a whole number of draws in 0..{MAX_DRAWS:,}, got {n!r}",
                            file=None if draws is not None else file, key=key)
    if n == 0:
        return None
    vary = tuple(table.get("vary", COMPONENTS))
    bad = [v for v in vary if v not in COMPONENTS]
    if bad:
        raise ScenarioError(f"unknown component {bad[0]!r}; expected some of "
                            f"{', '.join(COMPONENTS)}", file=file, key="uncertainty.vary")
    path = table.get("components_file", str(DEFAULT_COMPONENTS))
    comps = read_components(path)
    if comps.base_year > scenario.base_year:
        raise DataError(f"the components were estimated with data up to {comps.base_year}, "
                        f"after the scenario's base year {scenario.base_year}; expected a base "
                        f"year <= {scenario.base_year}", file=str(path), key="base_year")
    use_calibrated = table.get("calibrated", True)
    if use_calibrated:
        comps = calibrated(comps)
    return UncertaintySettings(draws=n, seed=int(table.get("seed", 1) if seed is None else seed),
                               vary=vary, components=comps, components_file=str(path),
                               calibrated=use_calibrated,
                               unit_cost_sd=float(table.get("unit_cost_sd", 0.0)),
                               coverage_sd=float(table.get("coverage_sd", 0.0)))
