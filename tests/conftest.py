import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent


def _shared_beside_origin() -> None:
    """The source material is ../shared beside the project. A clone made elsewhere (e.g. a
    fresh clone in /tmp) finds it beside the repository it was cloned from."""
    if "FORECAST_SHARED" in os.environ or (ROOT.parent / "shared").is_dir():
        return
    origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                            capture_output=True, text=True).stdout.strip()
    if origin and (Path(origin).parent / "shared").is_dir():
        os.environ["FORECAST_SHARED"] = str((Path(origin).parent / "shared").resolve())


_shared_beside_origin()

from forecast.scenario import SHARED_DIR  # noqa: E402  (after FORECAST_SHARED is set)

SHARED = SHARED_DIR / "data"


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of scenarios/ and data/ to break one thing at a time."""
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path


def synthetic_population(years, by_age: dict[int, list[float]]) -> xr.Dataset:
    """pop(year, sex, age): `by_age[age]` persons a year (half women, half men), 0 elsewhere."""
    years = np.asarray(years)
    pop = np.zeros((len(years), 2, 106))
    for age, values in by_age.items():
        pop[:, :, age] = np.asarray(values, dtype=float)[:, None] / 2
    return xr.Dataset({"pop": (("year", "sex", "age"), pop)},
                      coords={"year": years, "sex": ["female", "male"], "age": np.arange(106)})


UNCERTAINTY_QUANTILES = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
# need, cost and population at quantile q = the deterministic value × this factor
UNCERTAINTY_FACTORS = [0.8, 0.85, 0.9, 1.0, 1.1, 1.15, 1.2]
UNCERTAINTY_BANDS = ["0-5", "6-15", "16-66", "67-79", "80-89", "90+", "67+", "80+", "total"]


def synthetic_uncertainty(pop_ds: xr.Dataset, demand_ds: xr.Dataset,
                          p_shortfall: dict[str, list[float]]) -> xr.Dataset:
    """A `RunResult.uncertainty` of forecast.uncertainty's shape, easy to check by hand:
    every quantile is the deterministic value times UNCERTAINTY_FACTORS; `p_shortfall` =
    service -> one probability per year (NaN for services without capacity)."""
    from forecast.report import AGE_GROUPS

    q = np.array(UNCERTAINTY_QUANTILES)
    factor = xr.DataArray(UNCERTAINTY_FACTORS, coords={"quantile": q}, dims="quantile")
    by_age = pop_ds["pop"].sum("sex")
    bands = [by_age.sel(age=slice(*AGE_GROUPS[b])).sum("age") for b in UNCERTAINTY_BANDS[:-1]]
    bands.append(by_age.sum("age"))
    pop_band = xr.concat(bands, dim="band").assign_coords(band=UNCERTAINTY_BANDS)
    services = [str(s) for s in demand_ds["service"].values]
    need = (demand_ds["need"] * factor).transpose("quantile", "service", "year")
    gap = need - demand_ds["capacity"]           # as forecast.uncertainty: positive = shortfall
    p = xr.DataArray([p_shortfall.get(s, [np.nan] * demand_ds.sizes["year"]) for s in services],
                     coords={"service": services, "year": demand_ds["year"].values},
                     dims=("service", "year"))
    years = demand_ds["year"].values

    def first_year(level):
        out = []
        for s in services:
            passed = years[p.sel(service=s).values > level]
            out.append(float(passed[0]) if len(passed) else np.nan)
        return xr.DataArray(out, coords={"service": services}, dims="service")

    return xr.Dataset(
        {"pop_band": (pop_band * factor).transpose("quantile", "band", "year"),
         "need": need.reset_coords(drop=True), "gap": gap.reset_coords(drop=True),
         "cost": (demand_ds["cost"] * factor).transpose("quantile", "service", "year")
         .reset_coords(drop=True),
         "p_shortfall": p, "first_year_p50": first_year(0.5),
         "first_year_p80": first_year(0.8)},
        attrs={"draws": 1000, "seed": 42, "vary": "fertility,mortality,migration"})
