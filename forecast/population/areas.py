"""Sub-areas (delområder): regions of one municipality that exchange movers.

Sub-areas are projected by the one kernel like any set of regions (forecast.population.model;
the files are read by forecast.inputs.areas). Every area has its own population and receives
a share of the municipality's in-migration from outside (`inmig_share`, plus its own housing
programme when one is given); movers between areas go through one pool; out-migration to
outside, fertility and mortality are the municipality's rates in every area. With the same
rates in every area the areas sum to the municipal projection of the summed population,
whatever the internal moves; `municipality(ds)` gives the sum.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def municipality(ds: xr.Dataset) -> xr.Dataset:
    """The municipality: every area variable summed over areas (NaN flows stay NaN)."""
    summed = ds.drop_vars(["tfr", "e0", "fert_level", "area_name"], errors="ignore").sum(
        "area", skipna=False)
    for name in ("tfr", "e0"):
        if name in ds:
            summed[name] = ds[name]
    summed.attrs = dict(ds.attrs)
    if "fert_level" in ds:  # the municipality's level, the same in every area
        summed["fert_level"] = ds["fert_level"].isel(area=0, drop=True)
    for name in summed.data_vars:
        summed[name].attrs = dict(ds[name].attrs)
    return summed


def split_largest_remainder(count: int, shares) -> np.ndarray:
    """Integers summing to `count` in proportion to `shares`: floors of count·share, then one
    more each to the largest remainders (ties: the earlier area)."""
    quota = count * np.asarray(shares, dtype=float)
    out = np.floor(quota).astype(np.int64)
    extra = int(count - out.sum())
    order = np.argsort(-(quota - out), kind="stable")
    out[order[:extra]] += 1
    return out
