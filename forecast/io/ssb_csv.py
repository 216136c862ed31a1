"""Read SSB (Statistics Norway) CSV exports into the long table of :mod:`forecast.io.ssb`.

SSB CSV exports, UTF-8 (with or without BOM) or Windows-1252/Latin-1, separated by ``;``
(Norwegian; decimal comma), ``,`` (English; decimal point) or a tab; cells quoted or not; an
optional title line (a single field, e.g. ``"07459: Befolkning, ..."``) before the header;
trailing one-field footnote lines are ignored. Two shapes:
- long: dimension columns, then one value column headed ``value``/``verdi`` or with the table
  title (``"07459: ..."``), e.g. ``"region";"kjønn";"alder";"år";"statistikkvariabel";"value"``;
- wide: dimension columns, then one column per time period headed ``<statistic> <period>``,
  e.g. ``"Personer 2018"`` or ``"Persons 2015"`` (period ``2018``, ``2018K1``, ``2018M01``).
Cells may hold codes, text, or "code text" as PxWeb's "codes and text" export writes them
("0219 Bærum", "2 Kvinner", "105+ 105 år eller eldre"). A column whose every cell starts
with a code-like token (one with a digit) followed by text is split into code and label;
other columns keep the whole text as the code. Header names region/kommune, kjønn/sex,
alder/age, år/year/tid and statistikkvariabel/contents map to SSB's ids Region, Kjonn, Alder,
Tid and ContentsCode. Any other layout is refused with a one-line error.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

STATUS_SYMBOLS = (".", "..", "...", ":", "-")
_ALIASES = {
    "Region": ("region", "kommune"),
    "Kjonn": ("kjonn", "kjønn", "sex"),
    "Alder": ("alder", "age"),
    "Tid": ("tid", "år", "aar", "year"),
    "ContentsCode": ("contentscode", "statistikkvariabel", "contents", "statistical variable"),
}
_HEADER_TO_ID = {alias: dim for dim, aliases in _ALIASES.items() for alias in aliases}
_PERIOD = re.compile(r"(?:(.*?)\s+)?(\d{4}(?:[KMHU]\d{1,2})?)")
_CODE_TEXT = re.compile(r"(\S*\d\S*)\s+(\S.*)")


def read_ssb_csv(path) -> pd.DataFrame:
    """An SSB CSV export (long or wide, see the module docstring) as the long table."""
    path = Path(path)
    where = str(path)
    text = _decode(_read_bytes(path))
    _refuse_binary(text, where)
    delim = _delimiter(text, where)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        rows = [[c.strip() for c in r] for r in reader]
    except csv.Error as exc:
        raise DataError(f"not an SSB CSV export: line {reader.line_num}: {exc}; expected "
                        "SSB json-stat or a CSV text export", file=where) from None
    start = next((i for i, r in enumerate(rows) if len(r) > 1), None)
    if start is None:
        raise DataError("not an SSB CSV export: no header row with several columns", file=where)
    header, width = rows[start], len(rows[start])
    names = [_HEADER_TO_ID.get(h.casefold(), h) for h in header]
    folded = [n.casefold() for n in names]
    dup = next((n for n, f in zip(names, folded) if folded.count(f) > 1), None)
    if dup:
        raise DataError("two columns name the same dimension", file=where, key=dup)
    last = header[-1].casefold()
    first = next((j for j, h in enumerate(header) if _PERIOD.fullmatch(h)), None)
    if last in ("value", "verdi", "values"):
        first = None
    wide = first is not None and first > 0 and all(_PERIOD.fullmatch(h) for h in header[first:])
    if not wide and not (last in ("value", "verdi", "values") or re.match(r"\d{5}\s*:", last)):
        shown = delim.join(header)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise DataError(f"not an SSB CSV layout I know (header {shown}); expected "
                        "dimension columns then a 'value' column (long) or columns like "
                        "'Personer 2018' (wide)", file=where, key=header[-1])
    body = []  # (line number, cells)
    for lineno, r in enumerate(rows[start + 1:], start=start + 2):
        if len(r) <= 1:  # a blank line, or a footnote below the table
            continue
        if len(r) != width:
            raise DataError(f"line {lineno}: {len(r)} fields; expected {width} like the header",
                            file=where)
        body.append((lineno, r))
    if not body:
        raise DataError("no data rows below the header", file=where)
    if wide:
        stub = names[:first]
        periods = [_PERIOD.fullmatch(h).groups() for h in header[first:]]
        with_contents = any(p[0] for p in periods)
        for dim in ("Tid", "ContentsCode") if with_contents else ("Tid",):
            if dim in stub:
                raise DataError(f"wide layout with a {dim} column as well; expected that only "
                                "in the column headers", file=where, key=dim)
        dim_cells = {d: [r[stub.index(d)] for _ in periods for _, r in body] for d in stub}
        if with_contents:
            dim_cells["ContentsCode"] = [p[0] or "" for p in periods for _ in body]
        dim_cells["Tid"] = [p[1] for p in periods for _ in body]
        cells = [(n, header[first + k], r[first + k]) for k in range(len(periods))
                 for n, r in body]
    else:
        dim_cells = {d: [r[j] for _, r in body] for j, d in enumerate(names[:-1])}
        cells = [(n, header[-1], r[-1]) for n, r in body]
    dims = list(dim_cells)
    out = pd.DataFrame(index=range(len(cells)))
    for dim in dims:
        codes, labels = _split_codes(dim_cells[dim])
        out[dim] = codes
        out[f"{dim}_label"] = labels
    value, status = _parse_cells(cells, delim, where)
    out["value"] = value
    out["status"] = pd.Series(status, dtype=object)
    title = next((r[0] for r in rows[:start] if r and r[0]), None)
    out.attrs = {"dimensions": dims, "source": where, "label": title,
                 "table": title.split(":")[0].strip() if title and ":" in title else None}
    return out


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f-\x9f]")


def _refuse_binary(text: str, where: str) -> None:
    """Refuse text with control characters (NUL, ESC, ...) no CSV export holds."""
    m = _BINARY.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise DataError(f"not an SSB CSV export: binary data (byte 0x{ord(m[0]):02x} on line "
                        f"{line}); expected SSB json-stat or a CSV text export", file=where)


def _delimiter(text: str, where: str) -> str:
    """The separator among ; tab , that gives the most lines of one consistent width > 1."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    best, score = ";", (-1, -1)
    for delim in (";", "\t", ","):
        try:
            widths = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error as exc:
            raise DataError(f"not an SSB CSV export: {exc}; expected SSB json-stat or a CSV "
                            "text export", file=where) from None
        wide = [w for w in widths if w > 1]
        if not wide:
            continue
        mode = max(set(wide), key=wide.count)
        if (wide.count(mode), mode) > score:
            best, score = delim, (wide.count(mode), mode)
    return best


def _split_codes(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Split "0219 Bærum" cells into code and label when the whole column has that form."""
    keys, uniques = pd.factorize(np.asarray(cells, dtype=object))
    matches = [_CODE_TEXT.fullmatch(c) for c in uniques]
    if len(uniques) and all(matches):
        codes = np.array([m[1] for m in matches], dtype=object)
        labels = np.array([m[2] for m in matches], dtype=object)
        return codes[keys], labels[keys]
    whole = np.asarray(uniques, dtype=object)[keys]
    return whole, whole


def _parse_cells(cells, delim, where):
    """(values, statuses) from (line, column, text) cells; symbols -> NaN + status."""
    text = pd.Series([c for _, _, c in cells], dtype=object)
    is_status = text.isin(STATUS_SYMBOLS).to_numpy()
    blank = (text == "").to_numpy()
    number = text.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    if delim != ",":
        number = number.str.replace(",", ".", regex=False)
    values = pd.to_numeric(number.where(~(is_status | blank)), errors="coerce").to_numpy(float)
    bad = np.isnan(values) & ~is_status & ~blank
    if bad.any():
        lineno, column, cell = cells[int(np.flatnonzero(bad)[0])]
        raise DataError(f"line {lineno}: expected a number or an SSB status symbol "
                        f"({' '.join(STATUS_SYMBOLS)}), got {cell!r}", file=where, key=column)
    status = [c if st else None for c, st in zip(text, is_status)]
    return values, status


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise DataError("is a folder; expected an SSB json-stat or CSV file",
                        file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror})", file=str(path)) from None
    if not data.strip():
        raise DataError("empty file; expected an SSB json-stat or CSV file", file=str(path))
    return data
