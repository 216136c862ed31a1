"""Quantiles over the draws (the last axis) without sorting every row.

    quantiles_last(x, quantiles) -> (Q, *lead)
        exact: the same numbers as np.quantile(x, q, axis=-1) (method 'linear'), bit for bit;
        NaN for a row with a NaN
    band_quantiles(cells, band_cells, quantiles, out, total)
        sums age-sex cells into report bands, writes their exact quantiles and adds every
        region's band rows to a per-draw total
    StreamingQuantiles(n_rows, quantiles, bins=512)
        approximate quantiles of rows whose draws arrive in batches, within one bin width

Exact selection, per row: a sample of 128 values sets a range around the quantiles asked
for; each value gets a bin of that range, NB = D/4 bins of equal width, the values outside
in the first and last bin (the bin of v is monotone in v, so bin order is value order); the
cumulative counts of the bins give the bin of each needed order statistic; only the values
of those bins are gathered and sorted, and the order statistics read off. Passes over a row:
bins (vectorised), counts, gather, plus a sort of the sample and of a few dozen values,
instead of a sort of the whole row. Rows shorter than 512 draws, and rows with +-inf, are
sorted whole; the result is exact whatever the sample (a poor sample only costs time).

Not reproduced: zero signs (-0.0 and 0.0 compare equal, so which of them a tie yields may
differ from numpy: numbers equal, the sign bit may not be); float32 input (read as float64
here, np.quantile computes in float32); integer quantiles (np.quantile(x, [0, 1]) takes the
order statistics without interpolating, which differs from q = 0.0, 1.0 only for rows with
+-inf: here q is always float).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


def _ranks(quantiles, d: int):
    """For each q: the ranks of the two order statistics numpy interpolates between and the
    weight t, computed as np.quantile does ((d - 1) q in float64, floored)."""
    q = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if q.ndim != 1 or np.any(~((q >= 0) & (q <= 1))):
        raise ValueError(f"quantiles must be a 1-d sequence in [0, 1], got {quantiles!r}")
    h = (d - 1) * q
    lo = np.floor(h)
    t = h - lo
    lo = lo.astype(np.int64)
    hi = np.minimum(lo + 1, d - 1)
    return lo, hi, t


def _bin_count(d: int) -> int:
    """Bins for exact selection: about 4 values a bin, so the gathered bins hold few values;
    at most 4,096 so the counts stay in the L1 cache."""
    return int(min(4096, max(1, d // 4)))


@njit(cache=True, error_model="numpy")
def _interpolate(a, b, t):
    # numpy's _lerp, the same operations in the same order (bit for bit)
    if t >= 0.5:
        return b - (b - a) * (1.0 - t)
    return a + (b - a) * t


SAMPLE = 128        # values sampled from a row to set the range of its bins
SORT_BELOW = 512    # rows shorter than this are sorted whole


@njit(cache=True, error_model="numpy")
def _sorted_quantiles(row, lo_rank, hi_rank, frac, buf, res):
    # exact by sorting a copy of the whole row: short rows and rows with +-inf
    d = row.size
    buf[:d] = row
    s = buf[:d]
    s.sort()
    for k in range(res.size):
        res[k] = _interpolate(s[lo_rank[k]], s[hi_rank[k]], frac[k])


@njit(cache=True, error_model="numpy")
def _row_quantiles(row, lo_rank, hi_rank, frac, work, res):
    """Exact quantiles of one row into res (Q,). work: from _work (counts, slot, bins, buf,
    sample, gather); slot and gather are all zero on entry and on exit."""
    counts, slot, bins, buf, sample, gather = work
    d = row.size
    n_q = res.size
    if d < SORT_BELOW:
        for v in row:
            if v != v:
                res[:] = np.nan
                return
        _sorted_quantiles(row, lo_rank, hi_rank, frac, buf, res)
        return

    # bin range from a sample, around the quantiles asked for; the values outside go to
    # the first and last bins, which stays exact (only slower if a rank falls there). The
    # sample is 16 runs of 8 values spread over the row: few cache lines to fetch
    m = sample.size
    step = (d - 8) // 15
    for k in range(m):
        sample[k] = row[(k // 8) * step + k % 8]
    sample.sort()                                   # NaN sort last
    q_lo = 1.0
    q_hi = 0.0
    for k in range(n_q):
        q_lo = min(q_lo, lo_rank[k] / (d - 1))
        q_hi = max(q_hi, hi_rank[k] / (d - 1))
    # a sample quantile's rank in the sample has sd sqrt(m p (1 - p)): 3 sd of margin
    lower = sample[max(0, int(q_lo * (m - 1) - 3.0 * np.sqrt(m * q_lo * (1 - q_lo))) - 2)]
    upper = sample[min(m - 1, int(q_hi * (m - 1) + 3.0 * np.sqrt(m * q_hi * (1 - q_hi))) + 3)]

    nb = counts.size
    scale = nb / (upper - lower)
    if not (scale > 0.0 and scale < np.inf):
        # NaN or +-inf in the sample, or too many ties to give a range: the plain way
        _row_plain(row, lo_rank, hi_rank, frac, work, res)
        return
    top = nb - 1.0
    finite = True
    for j in range(d):                              # vectorised: no branch
        v = row[j]
        finite &= v - v == 0.0                      # False for NaN and +-inf
        f = (v - lower) * scale                     # monotone in v
        f = f if f > 0.0 else 0.0
        f = f if f < top else top
        bins[j] = np.uint16(f)
    if not finite:
        _row_plain(row, lo_rank, hi_rank, frac, work, res)
        return
    _select(row, lo_rank, hi_rank, frac, work, res)


@njit(cache=True, error_model="numpy")
def _row_plain(row, lo_rank, hi_rank, frac, work, res):
    """The careful path: NaN -> NaN; +-inf -> sort; else bins over the row's min..max."""
    counts, slot, bins, buf, sample, gather = work
    d = row.size
    mn = row[0]
    mx = row[0]
    for v in row:
        if v != v:
            res[:] = np.nan
            return
        if v < mn:
            mn = v
        elif v > mx:
            mx = v
    if not (np.isfinite(mn) and np.isfinite(mx)):
        _sorted_quantiles(row, lo_rank, hi_rank, frac, buf, res)
        return
    if mn == mx:
        res[:] = mn           # the interpolation of equal values gives that value exactly
        return
    nb = counts.size
    scale = nb / (mx - mn)
    if not np.isfinite(scale):
        scale = 0.0           # range too small to divide: one bin, still exact
    for j in range(d):
        i = np.int32((row[j] - mn) * scale)
        bins[j] = np.uint16(i if i < nb - 1 else nb - 1)
    _select(row, lo_rank, hi_rank, frac, work, res)


@njit(cache=True, error_model="numpy")
def _gathered_rank(gathered, counts, slot, i, rank):
    # the value of the given rank in the row, from bin i's place in the gathered values
    before = counts[i - 1] if i > 0 else 0
    return gathered[slot[i] - 1 + rank - before]


@njit(cache=True, error_model="numpy")
def _select(row, lo_rank, hi_rank, frac, work, res):
    """Exact order statistics from the bins of the values (bins[j], monotone in row[j])."""
    counts, slot, bins, buf, sample, gather = work
    d = row.size
    n_q = res.size
    nb = counts.size
    counts[:] = 0
    for j in range(d):
        counts[bins[j]] += 1
    for i in range(1, nb):    # counts[i] = number of values in bins 0..i
        counts[i] += counts[i - 1]

    # bins of the needed ranks (lo ranks, then hi ranks), ascending
    rank_bin = np.empty(2 * n_q, np.int64)
    for k in range(n_q):
        rank_bin[k] = np.searchsorted(counts, lo_rank[k], side="right")
        rank_bin[n_q + k] = np.searchsorted(counts, hi_rank[k], side="right")
    sorted_bins = np.sort(rank_bin)
    # slot[i] = 1 + where bin i's values start in the gathered buffer (0: not gathered)
    offset = 0
    prev = -1
    for i in sorted_bins:
        if i != prev:
            slot[i] = offset + 1
            gather[i] = 1
            offset += counts[i] - (counts[i - 1] if i > 0 else 0)
            prev = i

    n = 0
    for j in range(d):                # no branch: store always, keep if the bin is gathered
        buf[n] = row[j]
        n += gather[bins[j]]
    gathered = buf[:n]
    gathered.sort()           # bins are in value order, so this is the order of the row

    for k in range(n_q):
        a = _gathered_rank(gathered, counts, slot, rank_bin[k], lo_rank[k])
        b = _gathered_rank(gathered, counts, slot, rank_bin[n_q + k], hi_rank[k])
        res[k] = _interpolate(a, b, frac[k])
    for i in sorted_bins:
        slot[i] = 0
        gather[i] = 0


@njit(cache=True, error_model="numpy")
def _work(n_bins, d):
    """Per-thread work arrays for _row_quantiles."""
    return (np.empty(n_bins, np.int32), np.zeros(n_bins, np.int32), np.empty(d, np.uint16),
            np.empty(d), np.empty(SAMPLE), np.zeros(n_bins, np.uint8))


@njit(parallel=True, cache=True, error_model="numpy")
def _quantiles_rows(rows, lo_rank, hi_rank, frac, n_bins, n_chunks, out):
    """out[k, r] = quantile k of rows[r]; the rows shared in n_chunks contiguous chunks, one
    set of work arrays a chunk."""
    n, d = rows.shape
    n_q = frac.size
    for c in prange(n_chunks):
        work = _work(n_bins, d)
        res = np.empty(n_q)
        for r in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _row_quantiles(rows[r], lo_rank, hi_rank, frac, work, res)
            for k in range(n_q):
                out[k, r] = res[k]


def _chunks(n_tasks: int) -> int:
    # a few chunks a thread, so a slow chunk does not leave a CPU idle
    return max(1, min(n_tasks, 4 * numba.get_num_threads()))


def quantiles_last(x: np.ndarray, quantiles) -> np.ndarray:
    """(Q, *lead) quantiles over the last axis of x (*lead, D): the same numbers as
    np.quantile(x, q, axis=-1) (method 'linear'), bit for bit; NaN where a row has a NaN.
    x is not modified."""
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"quantiles_last needs at least one draw on the last axis, shape {x.shape}")
    lead, d = x.shape[:-1], x.shape[-1]
    lo, hi, t = _ranks(quantiles, d)
    rows = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, d)   # read only
    out = np.empty((len(t), rows.shape[0]))
    if rows.shape[0]:
        _quantiles_rows(rows, lo, hi, t, _bin_count(d), _chunks(rows.shape[0]), out)
    return out.reshape((len(t),) + lead)


@njit(parallel=True, cache=True, error_model="numpy")
def _band_kernel(cells, band_cells, lo_rank, hi_rank, frac, n_bins, out, total):
    n_reg, n_time, n_cell, d = cells.shape
    n_band = band_cells.shape[0]
    n_q = frac.size
    members = np.zeros((n_band, n_cell), np.int64)
    n_members = np.zeros(n_band, np.int64)
    for b in range(n_band):
        for c in range(n_cell):
            if band_cells[b, c]:
                members[b, n_members[b]] = c
                n_members[b] += 1
    # parallel over years: each owns total[:, t]; inside, regions in order and every band of
    # a region, so a (region, year)'s cells are read from memory once for all its bands
    for t in prange(n_time):
        row = np.empty(d)
        work = _work(n_bins, d)
        res = np.empty(n_q)
        for r in range(n_reg):
            for b in range(n_band):
                if n_members[b] == 0:
                    row[:] = 0.0
                else:
                    row[:] = cells[r, t, members[b, 0]]
                    for i in range(1, n_members[b]):     # increasing s*G + g
                        m = members[b, i]
                        for j in range(d):
                            row[j] += cells[r, t, m, j]
                for j in range(d):
                    total[b, t, j] += row[j]
                _row_quantiles(row, lo_rank, hi_rank, frac, work, res)
                for k in range(n_q):
                    out[k, r, b, t] = res[k]


def band_quantiles(cells: np.ndarray, band_cells: np.ndarray, quantiles, out: np.ndarray,
                   total: np.ndarray) -> None:
    """Report bands from age-sex cells, their exact quantiles and their per-draw total.

    cells (R, T1, S, G, D) float64, persons by region, year, sex (S = 1: both sexes, or 2),
    age cell, draw; band_cells (B, S G) bool, cell s*G + g belongs to band b; out (Q, R, B, T1) float64,
    written; total (B, T1, D) float64, total[b, t] += band row of every region, in region
    order (the numbers do not depend on the threads). A band row is the sum of its cells in
    increasing s*G + g order; its quantiles are those of quantiles_last."""
    cells = np.ascontiguousarray(cells, dtype=np.float64)
    if cells.ndim != 5 or cells.shape[2] not in (1, 2) or cells.shape[-1] == 0:
        raise ValueError(f"cells must be (R, T1, 1|2, G, D) with D >= 1, got {cells.shape}")
    n_reg, n_time, n_sex, n_age, d = cells.shape
    band_cells = np.asarray(band_cells, dtype=bool)
    n_band = band_cells.shape[0]
    if band_cells.shape != (n_band, n_sex * n_age):
        raise ValueError(f"band_cells must be (B, {n_sex * n_age}), got {band_cells.shape}")
    lo, hi, t = _ranks(quantiles, d)
    if out.shape != (len(t), n_reg, n_band, n_time) or out.dtype != np.float64:
        raise ValueError(f"out must be float64 {(len(t), n_reg, n_band, n_time)}, "
                         f"got {out.dtype} {out.shape}")
    if total.shape != (n_band, n_time, d) or total.dtype != np.float64:
        raise ValueError(f"total must be float64 {(n_band, n_time, d)}, "
                         f"got {total.dtype} {total.shape}")
    if n_band * n_time == 0:
        return
    _band_kernel(cells.reshape(n_reg, n_time, n_sex * n_age, d), band_cells, lo, hi, t,
                 _bin_count(d), out, total)


@njit(parallel=True, cache=True, error_model="numpy")
def _stream_range(batch, n_bins, lower, inv_width):
    """Each row's histogram range from its first batch: the finite values' min..max widened
    by half that span on each side (a constant row: by half its magnitude, at least 0.5)."""
    for r in prange(batch.shape[0]):
        mn = np.inf
        mx = -np.inf
        for v in batch[r]:
            if np.isfinite(v):
                mn = min(mn, v)
                mx = max(mx, v)
        if mn > mx:                         # no finite value: any range will do
            mn = mx = 0.0
        span = mx - mn
        if span == 0.0:
            span = max(abs(mn), 1.0)
        lower[r] = mn - 0.5 * span
        inv_width[r] = n_bins / (2.0 * span)


@njit(parallel=True, cache=True, error_model="numpy")
def _stream_update(batch, lower, inv_width, counts, below, above, row_min, row_max, has_nan):
    n_bins = counts.shape[1]
    for r in prange(batch.shape[0]):
        # the row's state in locals for the loop (no stores to shared arrays per value)
        lo, inv = lower[r], inv_width[r]
        mn, mx = row_min[r], row_max[r]
        n_below, n_above, nan = 0, 0, False
        hist = counts[r]
        for v in batch[r]:
            if v != v:
                nan = True
                continue
            mn = v if v < mn else mn
            mx = v if v > mx else mx
            pos = (v - lo) * inv
            if pos < 0.0:
                n_below += 1
            elif pos >= n_bins:
                n_above += 1
            else:
                hist[int(pos)] += 1
        row_min[r], row_max[r] = mn, mx
        below[r] += n_below
        above[r] += n_above
        has_nan[r] |= nan


@njit(cache=True, error_model="numpy")
def _stream_rank(k, n, cum, below, above, lower, width, row_min, row_max):
    """Estimate of the k-th smallest of n values (0-based) from a row's histogram (cum:
    cumulative counts of its bins); NaN if k falls below or above the range (other than
    the min and the max, which are known exactly)."""
    if k < below:
        return row_min if k == 0 else np.nan
    if k >= n - above:
        return row_max if k == n - 1 else np.nan
    j = k - below
    i = np.searchsorted(cum, j, side="right")
    before = cum[i - 1] if i > 0 else 0
    # the values of a bin taken as evenly spread over it: within one bin of the true one
    return lower + width * (i + (j - before + 0.5) / (cum[i] - before))


@njit(parallel=True, cache=True, error_model="numpy")
def _stream_result(counts, n, lo_rank, hi_rank, frac, lower, inv_width, below, above,
                   row_min, row_max, has_nan, out, outside):
    n_rows, n_bins = counts.shape
    for r in prange(n_rows):
        if has_nan[r]:
            out[:, r] = np.nan
            continue
        cum = np.cumsum(counts[r].astype(np.int64))
        width = 1.0 / inv_width[r]
        for k in range(frac.size):
            a = _stream_rank(lo_rank[k], n, cum, below[r], above[r], lower[r], width,
                             row_min[r], row_max[r])
            b = _stream_rank(hi_rank[k], n, cum, below[r], above[r], lower[r], width,
                             row_min[r], row_max[r])
            if a != a or b != b:
                outside[r] = True
            # the true value lies in min..max: clamping can only bring the estimate closer
            out[k, r] = min(max(a + (b - a) * frac[k], row_min[r]), row_max[r])


class StreamingQuantiles:
    """Approximate quantiles of n_rows rows whose draws arrive in batches.

    A fixed-width histogram per row (`bins` int32 counts, memory n_rows * bins * 4 bytes)
    over a range set by the first batch: its min..max widened by half the span on each side.
    Values below or above the range are counted, with the row's running min and max. The
    k-th smallest value is estimated inside its bin (the bin's values taken as evenly spread)
    and the quantile interpolated between the order statistics as np.quantile does, so

        |result - np.quantile(all draws)| <= tolerance() = one bin width

    (times 1 + 1e-9, for the rounding of the bin edges), and 0 for a constant row. The
    numbers depend on the first batch (it sets the range) but not on how the later draws are
    split into batches. A quantile whose order statistics fall below or above the range
    (other than the exact min and max) raises ValueError: the first batch was too small to
    set the range. The first batch must have >= 100 draws. Rows with a NaN give NaN. At most
    2**31 - 1 draws a row.
    """

    MIN_FIRST_BATCH = 100

    def __init__(self, n_rows: int, quantiles, bins: int = 512):
        self.quantiles = np.atleast_1d(np.asarray(quantiles, dtype=float))
        if self.quantiles.ndim != 1 or np.any(~((self.quantiles >= 0) & (self.quantiles <= 1))):
            raise ValueError(f"quantiles must be a 1-d sequence in [0, 1], got {quantiles!r}")
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        self.n_rows = int(n_rows)
        self.bins = int(bins)
        self.count = 0
        self._counts = np.zeros((self.n_rows, self.bins), np.int32)
        self._lower = np.zeros(self.n_rows)
        self._inv_width = np.ones(self.n_rows)
        self._below = np.zeros(self.n_rows, np.int64)
        self._above = np.zeros(self.n_rows, np.int64)
        self._min = np.full(self.n_rows, np.inf)
        self._max = np.full(self.n_rows, -np.inf)
        self._has_nan = np.zeros(self.n_rows, bool)

    def update(self, batch: np.ndarray) -> None:
        """Add a batch of draws, (n_rows, Db) with Db >= 1 (>= 100 for the first batch)."""
        batch = np.ascontiguousarray(batch, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[0] != self.n_rows or batch.shape[1] < 1:
            raise ValueError(f"batch must be ({self.n_rows}, Db) with Db >= 1, got {batch.shape}")
        if self.count == 0:
            if batch.shape[1] < self.MIN_FIRST_BATCH:
                raise ValueError(f"the first batch sets the histogram range and needs >= "
                                 f"{self.MIN_FIRST_BATCH} draws, got {batch.shape[1]}")
            _stream_range(batch, self.bins, self._lower, self._inv_width)
        if self.count + batch.shape[1] > np.iinfo(np.int32).max:
            raise ValueError("more than 2**31 - 1 draws a row")
        _stream_update(batch, self._lower, self._inv_width, self._counts, self._below,
                       self._above, self._min, self._max, self._has_nan)
        self.count += batch.shape[1]

    def result(self) -> np.ndarray:
        """(Q, n_rows) quantiles of the draws seen, within tolerance() of the exact ones."""
        if self.count == 0:
            raise ValueError("no draws yet")
        lo, hi, t = _ranks(self.quantiles, self.count)
        out = np.empty((len(t), self.n_rows))
        outside = np.zeros(self.n_rows, bool)
        _stream_result(self._counts, self.count, lo, hi, t, self._lower, self._inv_width,
                       self._below, self._above, self._min, self._max, self._has_nan, out,
                       outside)
        if outside.any():
            rows = np.flatnonzero(outside)
            raise ValueError(f"{len(rows)} rows (first {rows[:5].tolist()}) have a quantile "
                             f"outside the histogram range: the first batch was too small "
                             f"to set the range")
        return out

    def tolerance(self) -> np.ndarray:
        """(n_rows,) bound on |result() - exact quantile|: one bin width (0 for a row whose
        draws are all equal, NaN for a row with a NaN)."""
        width = (1.0 + 1e-9) / self._inv_width
        out = np.minimum(width, self._max - self._min)
        out[self._has_nan] = np.nan
        return out
