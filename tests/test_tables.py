"""forecast.inputs.tables: the duplicate-row check on integer keys."""

import numpy as np
import pandas as pd

from forecast.inputs.tables import _repeated_rows


def test_repeated_rows_is_dataframe_duplicated():
    """The same rows as DataFrame.duplicated (every later repeat, not the first), by counting
    cells and, for keys spanning too many cells, by pandas itself."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        keys = [rng.integers(0, 4, 30), rng.integers(-3, 3, 30), rng.integers(0, 2, 30)]
        want = pd.DataFrame(dict(enumerate(keys))).duplicated().to_numpy()
        assert np.array_equal(_repeated_rows(keys), want)
    wide = [np.array([0, 10**9, 0, 5]), np.array([1, 1, 1, 2])]   # 2e9 cells: pandas' way
    assert _repeated_rows(wide).tolist() == [False, False, True, False]
    assert not _repeated_rows([np.arange(5), np.zeros(5, dtype=int)]).any()
