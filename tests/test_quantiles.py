"""forecast.quantiles: exact quantiles equal np.quantile bit for bit, band sums equal explicit
sums, and the streaming quantiles stay within their stated bound."""

import numba
import numpy as np
import pytest

from forecast.quantiles import StreamingQuantiles, band_quantiles, quantiles_last

Q = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def assert_same(a, b):
    """NaN where b is NaN, elsewhere equal bit for bit."""
    assert a.shape == b.shape
    nan = np.isnan(b)
    assert np.array_equal(np.isnan(a), nan)
    assert np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64))


def test_hand_case_0_to_99():
    out = quantiles_last(np.arange(100.0), Q)
    # (100 - 1) q: 4.95, 9.9, 24.75, 49.5, 74.25, 89.1, 94.05
    assert_same(out, np.quantile(np.arange(100.0), Q))
    np.testing.assert_allclose(out, [4.95, 9.9, 24.75, 49.5, 74.25, 89.1, 94.05], rtol=1e-15)


def awkward_rows(rng, d):
    """Rows of d draws that exercise every path: smooth, skewed, ties, constant, NaN, +-inf,
    huge and tiny magnitudes."""
    x = rng.normal(size=(16, d))
    x[1] = rng.lognormal(size=d) ** 3          # skewed: most values in a few bins
    x[2] = 7.0                                 # constant
    x[3, d // 2] = np.nan
    x[4] = np.nan
    x[5, : d // 2] = np.inf
    x[6, 0] = -np.inf
    # many ties (+ 0.0: no -0.0, whose sign in a tie with 0.0 is not reproduced, see module doc)
    x[7] = np.round(x[7]) + 0.0
    x[8] = rng.integers(0, 3, d)               # three values only
    x[9, ::2] = 3.0                            # half the row one value
    x[10] *= 1e300
    x[11] *= 1e-310                            # subnormal
    x[12] = np.sort(x[12])                     # sorted: the sample sees one end only
    x[13] = np.sort(x[13])[::-1]
    return x


@pytest.mark.parametrize("d", [1, 2, 3, 10, 511, 512, 2000])
def test_equals_np_quantile_bit_for_bit(d):
    x = awkward_rows(np.random.default_rng(d), d)
    before = x.copy()
    for q in (Q, (0.0, 0.3, 1.0), (0.5,), (0.001, 0.999)):
        with np.errstate(invalid="ignore"):
            expected = np.quantile(x, q, axis=-1)
        assert_same(quantiles_last(x, q), expected)
    assert_same(x, before)                     # x not modified


def test_ten_thousand_draws_and_lead_dims():
    rng = np.random.default_rng(0)
    x = rng.gamma(3.0, 100.0, size=(3, 4, 10_000))
    assert_same(quantiles_last(x, Q), np.quantile(x, Q, axis=-1))
    # not contiguous: the same numbers
    assert_same(quantiles_last(x[:, ::2, ::-1], Q), np.quantile(x[:, ::2, ::-1], Q, axis=-1))


def test_shapes():
    assert quantiles_last(np.zeros((2, 0, 5)), Q).shape == (7, 2, 0)
    assert quantiles_last(np.arange(5.0), (0.5,)).shape == (1,)
    with pytest.raises(ValueError):
        quantiles_last(np.zeros((3, 0)), Q)
    with pytest.raises(ValueError):
        quantiles_last(np.zeros((3, 4)), (1.5,))


@pytest.mark.parametrize("n_sex", [2, 1])
def test_band_quantiles_equal_explicit_sums(n_sex):
    """Cells by sex (2) or of both sexes (1, as the draws' kernel writes them)."""
    rng = np.random.default_rng(1)
    n_reg, n_time, n_age, d = 3, 4, 5, 1_000
    cells = rng.gamma(2.0, 50.0, size=(n_reg, n_time, n_sex, n_age, d))
    band_cells = np.zeros((4, n_sex * n_age), bool)
    band_cells[0, [0, 1, 5, 6] if n_sex == 2 else [0, 1]] = True   # cells 0-1
    band_cells[1, [2, 7] if n_sex == 2 else [2]] = True
    band_cells[2] = True                        # total
    # band 3: no cell, a row of zeros
    out = np.full((len(Q), n_reg, 4, n_time), -1.0)
    initial = rng.random((4, n_time, d))
    total = initial.copy()
    expected_total = initial.copy()
    band_quantiles(cells, band_cells, Q, out, total)
    for b in range(4):
        members = np.flatnonzero(band_cells[b])
        for t in range(n_time):
            for r in range(n_reg):
                by_cell = cells[r, t].reshape(n_sex * n_age, d)
                row = np.zeros(d)
                for i in members:               # increasing s*G + g
                    row = row + by_cell[i]
                expected_total[b, t] = expected_total[b, t] + row
                assert_same(out[:, r, b, t], np.quantile(row, Q))
    assert_same(total, expected_total)
    # one thread: the same numbers
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        out_1, total_1 = np.empty_like(out), initial.copy()
        band_quantiles(cells, band_cells, Q, out_1, total_1)
    finally:
        numba.set_num_threads(threads)
    assert_same(out_1, out)
    assert_same(total_1, total)


def test_band_quantiles_checks_shapes():
    cells = np.zeros((1, 2, 2, 3, 10))
    with pytest.raises(ValueError):
        band_quantiles(cells, np.ones((2, 5), bool), Q, np.empty((7, 1, 2, 2)), np.zeros((2, 2, 10)))
    with pytest.raises(ValueError):
        band_quantiles(cells, np.ones((2, 6), bool), Q, np.empty((7, 1, 2, 3)), np.zeros((2, 2, 10)))


def streaming_rows(rng, d):
    x = np.vstack([rng.normal(size=d), rng.lognormal(size=d), np.full(d, 3.5),
                   rng.normal(100.0, 30.0, size=d), rng.exponential(size=d)])
    x[3, d // 4] = np.nan
    return x


def stream(x, splits):
    s = StreamingQuantiles(len(x), Q)
    start = 0
    for size in splits:
        s.update(x[:, start:start + size])
        start += size
    assert start == x.shape[1] == s.count
    return s


def test_streaming_within_tolerance_and_split_free():
    rng = np.random.default_rng(2)
    x = streaming_rows(rng, 20_000)
    s = stream(x, [1_000] + [2_000] * 9 + [1_000])
    got, tol = s.result(), s.tolerance()
    exact = np.quantile(x, Q, axis=-1)
    finite = ~np.isnan(x).any(axis=1)
    assert np.all(np.abs(got - exact)[:, finite] <= tol[finite])
    assert np.all(np.isnan(got[:, ~finite])) and np.all(np.isnan(tol[~finite]))
    assert tol[2] == 0 and np.all(got[:, 2] == 3.5)            # constant row: exact
    # bound = one bin: 2 x the first batch's span / 512
    first = x[0, :1_000]
    assert tol[0] == pytest.approx(2 * (first.max() - first.min()) / 512, rel=1e-8)
    # same first batch, other splits of the rest: the same numbers
    for splits in ([1_000, 4_999, 1, 3_000, 5_000, 5_000, 1_000], [1_000, 19_000]):
        assert_same(stream(x, splits).result(), got)


def test_streaming_refuses_to_guess():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="first batch"):
        StreamingQuantiles(2, Q).update(rng.normal(size=(2, 99)))
    s = StreamingQuantiles(1, Q)
    s.update(rng.normal(size=(1, 100)))
    s.update(rng.normal(50.0, 1.0, size=(1, 1_000)))   # most draws above the range
    with pytest.raises(ValueError, match="first batch was too small"):
        s.result()
