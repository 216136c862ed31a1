import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


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
