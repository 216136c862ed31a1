"""Cost stage: unit costs × volume in fixed prices, real growth, investment, decomposition.

Top-level `[cost]` (global settings):
  price_year   the year whose prices every NOK result is in; required when a service has a
               cost table
  real_growth  dated value: real growth of unit costs a year (e.g. real wages; 0.01 = 1 %).
               Default 0. The index is 1 in the base year and grows by (1 + g(t)) in each
               later year t.
  price_index  {year = index}: converts a service's price_year to price_year (value ×
               index[price_year] / index[service's price_year]); needed only where they differ
  source

`[services.<id>.cost]`:
  basis        what unit_cost is paid per, a year: "need" (a user, place or recipient
               needed), "capacity" (a place available), "hours" (an hour), "months" (a
               recipient-month: need × months_per_user). Default "need".
  unit_cost    dated value, NOK per unit of the basis, in prices of price_year (required)
  price_year   the year of those prices (required)
  real_growth  dated value; replaces the global real_growth for this service
  investment_per_place  dated value, NOK per place opened above the previous year's capacity
               (in prices of price_year, no real growth)
  source

`parse_costs(raw, file, base_year, end_year, services)` reads both kinds of table into a
CostConfig (the services are DemandConfig.services: a basis must be one the service has).

`compute_cost(demand, costs)` returns the demand Dataset with these added (one Dataset), over
the demand's leading dims (*lead: region, draw, … or none) like the rest of it:
  volume(*lead, service, year)     units of the basis (coord cost_basis)
  unit_cost(*lead, service, year)  NOK per unit of the basis, fixed prices of `price_year`,
                                   real growth included
  cost(*lead, service, year)       operating cost in NOK = volume × unit_cost; NaN without a
                                   cost table
  investment(*lead, service, year) NOK = max(capacity(t) − capacity(t−1), 0) ×
                                   investment_per_place(t); 0 in the base year; NaN where no
                                   investment cost is given
  coord cost_basis(service); attrs price_year

`decompose(result, service, year_from, year_to)` splits the growth of cost of one municipality
into factors (see there); `growth_decomposition` is the arithmetic of a multiplicative
decomposition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .bounds import MAX_UNIT_COST
from .errors import ScenarioError
from .paths import check_path, evaluate
from .checks import check_keys

COST_KEYS = ("price_year", "real_growth", "price_index", "source")
SERVICE_COST_KEYS = ("basis", "unit_cost", "price_year", "real_growth", "investment_per_place",
                     "source")
BASES = {"need": "user", "capacity": "place", "hours": "hour", "months": "month"}
INTENSITY = {"capacity": "places per user", "hours": "hours per user",
             "months": "months per user"}


@dataclass
class CostSettings:
    price_year: int | None = None
    real_growth: float | dict = 0.0
    price_index: dict[int, float] | None = None
    source: str | None = None


@dataclass
class ServiceCost:
    basis: str
    unit_cost: float | dict
    price_year: int
    real_growth: float | dict | None = None
    investment_per_place: float | dict | None = None
    source: str | None = None

    def basis_unit(self) -> str:
        return BASES[self.basis]


@dataclass
class CostConfig:
    """The scenario's cost tables: global settings and each costed service's ServiceCost."""
    settings: CostSettings = field(default_factory=CostSettings)
    services: dict[str, ServiceCost] = field(default_factory=dict)
    service_sources: dict[str, str | None] = field(default_factory=dict)  # fallback sources

    def assumptions(self) -> list[dict]:
        """Every cost value: section, key, value, unit, source (see merge_assumptions)."""
        rows = []

        def add(section, key, value, unit="", source=None):
            if value is not None:
                rows.append({"section": section, "key": key, "value": value, "unit": unit,
                             "source": source or ""})

        for sid, k in self.services.items():
            sec = f"services.{sid}"
            src = k.source or self.service_sources.get(sid)
            add(sec, "cost.basis", k.basis, "", src)
            per_year = " a year" if k.basis in ("need", "capacity") else ""
            add(sec, "cost.unit_cost", k.unit_cost, f"NOK per {k.basis_unit()}{per_year}", src)
            add(sec, "cost.price_year", k.price_year, "year", src)
            add(sec, "cost.real_growth", k.real_growth, "per year", src)
            add(sec, "cost.investment_per_place", k.investment_per_place, "NOK per place", src)
        if self.settings.price_year is not None:
            src = self.settings.source
            add("cost", "price_year", self.settings.price_year, "year", src)
            add("cost", "real_growth", self.settings.real_growth, "per year", src)
            add("cost", "price_index", self.settings.price_index, "index", src)
        return rows


def merge_assumptions(service_rows: list[dict], cost_rows: list[dict]) -> list[dict]:
    """Each service's cost rows right after its other rows; the global [cost] rows last."""
    by_section: dict[str, list[dict]] = {}
    for row in cost_rows:
        by_section.setdefault(row["section"], []).append(row)
    last = {row["section"]: i for i, row in enumerate(service_rows)}
    out = []
    for i, row in enumerate(service_rows):
        out.append(row)
        if last[row["section"]] == i:
            out.extend(by_section.pop(row["section"], []))
    return out + [row for rows in by_section.values() for row in rows]


def _price_year(value, file, key) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2300:
        raise ScenarioError(f"expected a year (integer), got {value!r}", file=file, key=key)
    return value


def parse_cost_settings(table, *, file: str, base_year: int, end_year: int) -> CostSettings:
    check_keys(table, COST_KEYS, file, "cost")
    out = CostSettings(source=table.get("source"))
    if "price_year" in table:
        out.price_year = _price_year(table["price_year"], file, "cost.price_year")
    if "real_growth" in table:
        out.real_growth = check_path(table["real_growth"], file=file, key="cost.real_growth",
                                     lower=-0.5, upper=0.5, years=(base_year, end_year))
    if "price_index" in table:
        index = table["price_index"]
        if not isinstance(index, dict):
            raise ScenarioError(f"expected a table {{year = index}}, got {index!r}", file=file,
                                key="cost.price_index")
        out.price_index = check_path(index, file=file, key="cost.price_index", lower=1e-9)
    return out


def parse_service_cost(table, *, file: str, key: str, base_year: int,
                       end_year: int) -> ServiceCost:
    check_keys(table, SERVICE_COST_KEYS, file, key)
    basis = table.get("basis", "need")
    if basis not in BASES:
        raise ScenarioError(f"expected one of {', '.join(BASES)}, got {basis!r}", file=file,
                            key=f"{key}.basis")
    if "unit_cost" not in table:
        raise ScenarioError(f"missing; expected NOK per {BASES[basis]} (a number or "
                            "{year = value})", file=file, key=f"{key}.unit_cost")
    if "price_year" not in table:
        raise ScenarioError("missing; a unit cost needs the year of its prices", file=file,
                            key=f"{key}.price_year")
    horizon = (base_year, end_year)
    out = ServiceCost(basis=basis, price_year=_price_year(table["price_year"], file,
                                                          f"{key}.price_year"),
                      unit_cost=check_path(table["unit_cost"], file=file, key=f"{key}.unit_cost",
                                           lower=0.0, upper=MAX_UNIT_COST, years=horizon),
                      source=table.get("source"))
    if "real_growth" in table:
        out.real_growth = check_path(table["real_growth"], file=file, key=f"{key}.real_growth",
                                     lower=-0.5, upper=0.5, years=horizon)
    if "investment_per_place" in table:
        out.investment_per_place = check_path(table["investment_per_place"], file=file,
                                              key=f"{key}.investment_per_place", lower=0.0,
                                              upper=MAX_UNIT_COST, years=horizon)
    return out


def _check_basis(service, cost: ServiceCost, file: str, prefix: str) -> None:
    """The basis must be a volume the service has (demand.Service: capacity, intensity)."""
    needs = {"capacity": (service.capacity is not None, "a capacity table"),
             "hours": (service.hours_per_user_week is not None
                       or service.hours_per_user_year is not None,
                       "intensity.hours_per_user_week or intensity.hours_per_user_year"),
             "months": (service.months_per_user is not None, "intensity.months_per_user")}
    if cost.basis in needs and not needs[cost.basis][0]:
        raise ScenarioError(f"basis {cost.basis!r} needs the service's {needs[cost.basis][1]}",
                            file=file, key=f"{prefix}.cost.basis")
    if cost.investment_per_place is not None and service.capacity is None:
        raise ScenarioError("investment is paid for new places: the service needs a capacity "
                            "table", file=file, key=f"{prefix}.cost.investment_per_place")


def parse_costs(raw: dict, file: str, base_year: int, end_year: int,
                services: dict) -> CostConfig:
    """The top-level `[cost]` and every `[services.<id>.cost]` of a merged scenario.

    services: DemandConfig.services (parsed first), for the basis checks and sources."""
    config = CostConfig()
    tables = raw.get("services", {})
    for sid, service in services.items():
        config.service_sources[sid] = service.source
        table = tables.get(sid, {}).get("cost")
        if table is None:
            continue
        prefix = f"services.{sid}"
        cost = parse_service_cost(table, file=file, key=f"{prefix}.cost", base_year=base_year,
                                  end_year=end_year)
        _check_basis(service, cost, file, prefix)
        config.services[sid] = cost
    config.settings = parse_cost_settings(raw.get("cost", {}), file=file, base_year=base_year,
                                          end_year=end_year)
    for sid, cost in config.services.items():
        check_price_year(cost, config.settings, file=file, key=f"services.{sid}.cost")
    return config


def check_price_year(cost: ServiceCost, settings: CostSettings, *, file: str, key: str) -> None:
    """A service's prices must be convertible to the global price year."""
    if settings.price_year is None:
        raise ScenarioError("missing; services have unit costs: state the year of the prices "
                            "results are in", file=file, key="cost.price_year")
    if cost.price_year == settings.price_year:
        return
    index = settings.price_index or {}
    for y in (cost.price_year, settings.price_year):
        if y not in index:
            raise ScenarioError(f"prices of {cost.price_year} differ from cost.price_year "
                                f"{settings.price_year}, and cost.price_index has no value "
                                f"for {y}", file=file, key=f"{key}.price_year")


def price_factor(from_year: int, settings: CostSettings) -> float:
    if from_year == settings.price_year:
        return 1.0
    return settings.price_index[settings.price_year] / settings.price_index[from_year]


def growth_index(real_growth, years) -> np.ndarray:
    """1 in the first year, × (1 + g(t)) in each later year t."""
    g = evaluate(real_growth, years)
    return np.concatenate([[1.0], np.cumprod(1.0 + g[1:])])


def compute_cost(demand: xr.Dataset, config: CostConfig) -> xr.Dataset:
    """The demand Dataset with volume, unit_cost, cost and investment added, over the same
    leading dims (the arithmetic runs on the last axis, years; no loop over regions)."""
    years = demand["year"].to_numpy()
    settings = config.settings
    ids = [str(s) for s in demand["service"].values]
    dims = tuple(d for d in demand["need"].dims if d not in ("service", "year")) + (
        "service", "year")

    cache = {}

    def values(name):   # (*lead, service, year), each variable read once
        if name not in cache:
            cache[name] = demand[name].transpose(*dims).to_numpy()
        return cache[name]

    need = values("need")
    out = {name: np.full(need.shape, np.nan)
           for name in ("volume", "unit_cost", "cost", "investment")}
    bases = []
    for i, sid in enumerate(ids):
        k = config.services.get(sid)
        bases.append("" if k is None else k.basis)
        if k is None:
            continue
        n = need[..., i, :]
        volume = {"need": lambda: n, "capacity": lambda: values("capacity")[..., i, :],
                  "hours": lambda: values("hours")[..., i, :],
                  "months": lambda: n * values("months_per_user")[..., i, :]}[k.basis]()
        factor = price_factor(k.price_year, settings)
        growth = k.real_growth if k.real_growth is not None else settings.real_growth
        unit = evaluate(k.unit_cost, years) * factor * growth_index(growth, years)
        out["volume"][..., i, :] = volume
        out["unit_cost"][..., i, :] = unit
        out["cost"][..., i, :] = volume * unit
        if k.investment_per_place is not None:
            cap = values("capacity")[..., i, :]
            new = np.maximum(np.diff(cap, axis=-1), 0.0)
            new = np.concatenate([np.zeros(new.shape[:-1] + (1,)), new], axis=-1)
            out["investment"][..., i, :] = new * evaluate(k.investment_per_place, years) * factor
    ds = demand.copy()
    units = {"volume": "see coord cost_basis", "unit_cost": "NOK", "cost": "NOK",
             "investment": "NOK"}
    for name, v in out.items():
        ds[name] = xr.DataArray(v, dims=dims, attrs={"units": units[name]})
    ds = ds.assign_coords(cost_basis=("service", bases))
    if settings.price_year is not None:
        ds.attrs["price_year"] = settings.price_year
    return ds
