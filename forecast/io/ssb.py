"""Import SSB (Statistics Norway) tables: PxWeb json-stat responses and SSB's CSV exports.

Every reader returns the same long table: one column per dimension holding SSB's codes
(``Region``, ``Kjonn``, ``Alder``, ``ContentsCode``, ``Tid``, ...), a ``<dim>_label`` column
beside each, ``value`` (float; NaN where SSB gives no number) and ``status`` (SSB's symbol, or
missing). ``df.attrs["dimensions"]`` lists the dimension columns in SSB's order.

Missing cells are never zero. SSB marks them with a status symbol instead of a number
("." not applicable, ".." not available, "..." not yet available, ":" confidential, "-" nil);
each becomes ``value`` NaN with the symbol kept in ``status``. "-" (SSB's "nil") is kept as
missing too: the importer does not guess a number for any symbol.

Accepted inputs:

* json-stat 2.0 datasets (PxWeb ``"format": "json-stat2"``) and json-stat 1.x bundles with one
  dataset (``"json-stat"``). ``status`` may be a string, a list or an ``{index: symbol}`` object.
  PxWeb metadata responses (``title``/``variables``) and query bodies (``query``/``response``)
  are recognised and refused with a one-line error.
* SSB CSV exports, long or wide: :mod:`forecast.io.ssb_csv` describes the layouts it reads.

``import_ssb`` turns a population table (it has a Kjonn or an Alder dimension) into our
``data/`` layout ``[region,]year,sex,age,persons[,status]`` with ``to_population``, and any other
table into a generic long table of dimension codes + ``value`` + ``status``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .atomic import atomic_path
from .ssb_csv import STATUS_SYMBOLS, _ALIASES, _read_bytes, read_ssb_csv

POP_DIMS = ("Region", "Kjonn", "Alder", "ContentsCode", "Tid")
OPEN_AGE = 105
_OPEN_TEXT = re.compile(r"(\+|eller eldre|eller mer|og over|or older|or more|and over)\s*$", re.I)
_AGE_TEXT = re.compile(r"(\d{1,3})\s*(?:år|years?)?\s*(\+|eller eldre|eller mer|og over|or older"
                       r"|or more|and over)?", re.I)
_MALE = {"1", "menn", "mann", "male", "males", "men", "man"}
_FEMALE = {"2", "kvinner", "kvinne", "female", "females", "women", "woman"}


# ---------------------------------------------------------------- json-stat

def read_jsonstat(path) -> pd.DataFrame:
    """A PxWeb json-stat response as the long table described in the module docstring."""
    path = Path(path)
    where = str(path)
    try:
        obj = json.loads(_read_bytes(path).decode("utf-8-sig"), object_pairs_hook=OrderedDict)
    except UnicodeDecodeError:
        raise DataError("not JSON-stat: the file is not UTF-8 text", file=where) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON-stat: invalid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno})", file=where) from None
    ds = _dataset(obj, where)
    ids, sizes = _ids_sizes(ds, where)
    n = int(np.prod(sizes)) if sizes else 0
    if n == 0:
        raise DataError("the dataset has no cells; expected a non-empty 'size'", file=where,
                        key="size")
    labels = {dim: _categories(ds, dim, size, where) for dim, size in zip(ids, sizes)}
    clash = [dim for dim in ids if dim in ("value", "status") or dim.endswith("_label")]
    if clash:
        raise DataError(f"dimension id {clash[0]!r} clashes with a column name of the import",
                        file=where, key=f"dimension.{clash[0]}")
    raw = _raw_values(ds, n, where)
    for_pyjstat = OrderedDict(ds, value=raw)  # dense values; status is handled here
    for_pyjstat.pop("status", None)
    if "id" in for_pyjstat and not for_pyjstat.get("version"):
        for_pyjstat["version"] = "2.0"  # pyjstat reads top-level id/size only for 2.0
    from pyjstat import pyjstat
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        df = pyjstat.Dataset.read(for_pyjstat).write("dataframe", naming="id")
    if list(df.columns[:-1]) != ids or len(df) != n:
        raise DataError(f"pyjstat gave {len(df)} rows for {n} cells; expected one per cell",
                        file=where, key="value")
    value, status = _values_status(raw, ds.get("status"), n, where)
    out = pd.DataFrame({dim: df[dim].astype(str) for dim in ids})
    for dim in ids:
        out.insert(out.columns.get_loc(dim) + 1, f"{dim}_label", out[dim].map(labels[dim]))
    out["value"] = value
    out["status"] = pd.Series(status, dtype=object)
    ext = ds.get("extension") or {}
    out.attrs = {"dimensions": ids, "source": where, "label": ds.get("label"),
                 "table": (ext.get("px") or {}).get("tableid") if isinstance(ext, dict) else None}
    return out


def _dataset(obj, where):
    """The dataset dict of a json-stat 2 dataset or of a one-dataset json-stat 1.x bundle."""
    if isinstance(obj, dict):
        if "variables" in obj and "title" in obj:
            raise DataError("this is a PxWeb table metadata response (title, variables), not data;"
                            " POST a query with response format json-stat2 and import its answer",
                            file=where, key="variables")
        if "query" in obj and "response" in obj:
            raise DataError("this is a PxWeb query body (query, response), not data; POST it to "
                            "the table's API address and import the answer", file=where,
                            key="query")
        if obj.get("class") == "dataset":
            return obj
        if "class" not in obj and len(obj) == 1:  # json-stat 1.x bundle {"dataset": {...}}
            inner = next(iter(obj.values()))
            if isinstance(inner, dict) and "dimension" in inner:
                ds = OrderedDict(inner)
                ds["class"] = "dataset"
                return ds
        if obj.get("class") in ("collection", "bundle"):
            raise DataError(f"a json-stat {obj['class']}; expected a single dataset",
                            file=where, key="class")
    raise DataError("not JSON-stat: expected a json-stat dataset ('class': 'dataset' with id, "
                    "size, dimension and value)", file=where, key="class")


def _ids_sizes(ds, where):
    dims = ds.get("dimension")
    if not isinstance(dims, dict):
        raise DataError("no 'dimension' object; expected one entry per dimension id",
                        file=where, key="dimension")
    ids = ds.get("id", dims.get("id"))
    sizes = ds.get("size", dims.get("size"))
    if (not isinstance(ids, list) or not isinstance(sizes, list) or len(ids) != len(sizes)
            or not all(isinstance(i, str) for i in ids)
            or not all(isinstance(s, int) and s >= 0 for s in sizes)):
        raise DataError("expected 'id' (dimension names) and 'size' (counts) of equal length",
                        file=where, key="id")
    missing = [dim for dim in ids if not isinstance(dims.get(dim), dict)]
    if missing:
        raise DataError(f"dimension {missing[0]!r} is listed in 'id' but not described",
                        file=where, key=f"dimension.{missing[0]}")
    return ids, sizes


def _categories(ds, dim, size, where) -> dict[str, str]:
    """{code: label} of one dimension, checked against its size."""
    cat = ds["dimension"][dim].get("category")
    key = f"dimension.{dim}.category"
    if not isinstance(cat, dict):
        raise DataError("no category object; expected index and/or label", file=where, key=key)
    index, label = cat.get("index"), cat.get("label") or {}
    if isinstance(index, list):
        codes = [str(c) for c in index]
    elif isinstance(index, dict):
        if sorted(v for v in index.values() if isinstance(v, int)) != list(range(len(index))):
            raise DataError("category index positions are not 0..n-1", file=where, key=key)
        codes = [str(c) for c, _ in sorted(index.items(), key=lambda kv: kv[1])]
    elif index is None and isinstance(label, dict) and len(label) == 1:
        codes = [str(next(iter(label)))]
    else:
        raise DataError("expected a category index (list or object)", file=where, key=key)
    if len(codes) != size:
        raise DataError(f"{len(codes)} categories but size {size}", file=where, key=key)
    if not isinstance(label, dict):
        label = {}
    return {c: str(label.get(c, c)) for c in codes}


def _raw_values(ds, n, where) -> list:
    values = ds.get("value")
    if isinstance(values, dict):
        try:
            sparse = {int(k): v for k, v in values.items()}
        except ValueError:
            raise DataError("sparse 'value' keys must be cell positions", file=where,
                            key="value") from None
        if any(k < 0 or k >= n for k in sparse):
            raise DataError(f"sparse 'value' position outside 0..{n - 1}", file=where, key="value")
        return [sparse.get(i) for i in range(n)]
    if not isinstance(values, list):
        raise DataError("no 'value' array; expected the cells' numbers", file=where, key="value")
    if len(values) != n:
        raise DataError(f"{len(values)} values but the sizes give {n} cells", file=where,
                        key="value")
    return values


def _values_status(raw, status, n, where):
    if status is None:
        symbols = [None] * n
    elif isinstance(status, str):
        symbols = [status] * n
    elif isinstance(status, list) and len(status) in (1, n):
        symbols = status * n if len(status) == 1 else list(status)
    elif isinstance(status, dict):
        symbols = [None] * n
        for k, s in status.items():
            if not str(k).isdigit() or int(k) >= n:
                raise DataError(f"status position {k!r} outside 0..{n - 1}", file=where,
                                key="status")
            symbols[int(k)] = s
    else:
        raise DataError("expected 'status' as a string, a list or an {index: symbol} object",
                        file=where, key="status")
    values = np.full(n, np.nan)
    for i, v in enumerate(raw):
        if v is None:
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[i] = float(v)
        elif isinstance(v, str) and v.strip() in STATUS_SYMBOLS:
            symbols[i] = symbols[i] or v.strip()
        else:
            raise DataError(f"cell {i}: expected a number or null, got {v!r}", file=where,
                            key="value")
    symbols = [None if s in (None, "") else str(s) for s in symbols]
    return values, symbols


# ---------------------------------------------------------------- population

def to_population(df: pd.DataFrame, file, contents: str | None = None) -> pd.DataFrame:
    """A population table (Region?, Kjonn, Alder, ContentsCode?, Tid) in our data/ layout:
    ``[region,]year,sex,age,persons[,status]``; region only when there is more than one, status
    only when some cell has a symbol. Missing cells stay NaN. ``contents`` picks one
    ContentsCode (code or label) when the table has several."""
    where = str(file)
    dims = _dimensions(df)
    found = {role: _find_dim(dims, role) for role in POP_DIMS}
    for role in ("Kjonn", "Alder", "Tid"):
        if found[role] is None:
            raise DataError(f"no {role} dimension (found {', '.join(dims)}); a population table "
                            "needs Kjonn, Alder and Tid", file=where, key=role)
    known = {d for d in found.values() if d}
    for dim in dims:
        if dim not in known and df[dim].nunique() > 1:
            raise DataError(f"extra dimension with {df[dim].nunique()} categories; a population "
                            "table has only Region, Kjonn, Alder, ContentsCode and Tid - select "
                            "one category of it", file=where, key=dim)
    cc = found["ContentsCode"]
    if cc is not None:
        df = _select_contents(df, cc, contents, where)
    elif contents is not None:
        raise DataError(f"contents {contents!r} given but the table has no ContentsCode",
                        file=where, key="ContentsCode")
    out = pd.DataFrame(index=df.index)
    if found["Region"] is not None:
        out["region"] = _mapped(df, found["Region"], _region, where).astype(str)
    out["year"] = _mapped(df, found["Tid"], _year, where).astype(np.int64)
    out["sex"] = _mapped(df, found["Kjonn"], _sex, where).astype(str)
    out["age"] = _mapped(df, found["Alder"], _age, where).astype(np.int64)
    out["persons"] = df["value"].astype(float)
    out["status"] = df["status"]
    keys = [c for c in ("region", "year", "sex", "age") if c in out]
    dup = out.duplicated(keys, keep=False)
    if dup.any():
        r = out[dup].iloc[0]
        same = (out[keys] == r[keys]).all(axis=1)
        ages = ", ".join(repr(a) for a in df.loc[same, found["Alder"]])
        raise DataError(f"two cells for {', '.join(f'{k} {r[k]}' for k in keys)} (codes {ages});"
                        " expected one", file=where, key=found["Alder"])
    negative = out["persons"] < 0
    if negative.any():
        raise DataError(f"negative persons {out['persons'][negative].iloc[0]:g}; expected >= 0",
                        file=where, key="value")
    regions = list(dict.fromkeys(out["region"])) if "region" in out else []
    if len(regions) == 1:
        out = out.drop(columns="region")
    if out["status"].isna().all():
        out = out.drop(columns="status")
    out["_sex"] = out["sex"].map({"female": 0, "male": 1})
    order = [("_sex" if c == "sex" else c) for c in keys if c in out]
    out = out.sort_values(order, kind="stable").drop(columns="_sex")
    out = out.reset_index(drop=True)
    out.attrs = {"kind": "population", "source": where, "regions": regions}
    return out


def _dimensions(df) -> list[str]:
    return list(df.attrs.get("dimensions") or [
        c for c in df.columns if c not in ("value", "status") and not c.endswith("_label")])


def _find_dim(dims, role):
    names = {role.casefold(), *_ALIASES[role]}
    for dim in dims:
        if dim.casefold() in names or (role == "Region" and dim.casefold().startswith("region")):
            return dim
    return None


def _select_contents(df, cc, contents, where):
    label = f"{cc}_label"
    codes = list(dict.fromkeys(df[cc]))
    if contents is None:
        if len(codes) > 1:
            raise DataError(f"{len(codes)} statistics ({', '.join(codes)}); expected one - "
                            "choose one with contents (--contents)", file=where, key=cc)
        return df
    pick = df[cc] == contents
    if not pick.any() and label in df:
        pick = df[label] == contents
    if not pick.any():
        raise DataError(f"contents {contents!r} not in the table; expected one of "
                        f"{', '.join(codes)}", file=where, key=cc)
    return df[pick]


def _mapped(df, dim, parse, where) -> pd.Series:
    """Parse each distinct (code, label) of `dim` once; errors name the dimension."""
    labels = df[f"{dim}_label"] if f"{dim}_label" in df else df[dim]
    keys, uniques = pd.factorize(df[dim].astype(str) + "\x1f" + labels.astype(str))
    parsed = []
    for key in uniques:
        code, label = key.split("\x1f", 1)
        try:
            parsed.append(parse(code.strip(), label.strip()))
        except ValueError as exc:
            raise DataError(str(exc), file=where, key=dim) from None
    return pd.Series(np.asarray(parsed, dtype=object)[keys], index=df.index)


def _region(code, label):
    return code[2:] if code.startswith("K-") else code


def _year(code, label):
    if re.fullmatch(r"\d{4}", code):
        return int(code)
    raise ValueError(f"cannot read year {code!r}; expected a four-digit year")


def _sex(code, label):
    for text in (code, label):
        if text.casefold() in _MALE:
            return "male"
        if text.casefold() in _FEMALE:
            return "female"
        if text.isdigit():
            break
    raise ValueError(f"unknown sex code {code!r} ({label}); expected '1' (male) or '2' (female)")


def _age(code, label):
    m = re.fullmatch(r"(\d{1,3})(\+)?", code)
    if m:
        age, open_ = int(m[1]), bool(m[2]) or bool(_OPEN_TEXT.search(label))
    else:
        m = _AGE_TEXT.fullmatch(code)  # a text cell kept whole, e.g. "105 years or older"
        if not m:
            raise ValueError(f"cannot read age code {code!r} ({label}); expected single years "
                             "'000'..'104' and '105+'")
        age, open_ = int(m[1]), bool(m[2])
    if age > OPEN_AGE or (open_ and age != OPEN_AGE):
        raise ValueError(f"age code {code!r} ({label}) is not in our ages; expected single "
                         f"years 0..104 and {OPEN_AGE}+ as the open group")
    return age


# ---------------------------------------------------------------- import

def to_long(df: pd.DataFrame, file=None, contents: str | None = None) -> pd.DataFrame:
    """The generic long layout: dimension codes, value, status. ``contents`` keeps only that
    ContentsCode (code or label); without it every statistic is kept."""
    dims = _dimensions(df)
    if contents is not None:
        where = str(file if file is not None else df.attrs.get("source"))
        cc = _find_dim(dims, "ContentsCode")
        if cc is None:
            raise DataError(f"contents {contents!r} given but the table has no ContentsCode "
                            f"(found {', '.join(dims)})", file=where, key="ContentsCode")
        df = _select_contents(df, cc, contents, where)
    out = df[dims + ["value", "status"]].reset_index(drop=True)
    out.attrs = {"kind": "long", "source": df.attrs.get("source")}
    return out


def read_ssb(path) -> pd.DataFrame:
    """Read an SSB file: json-stat when its content starts with '{' or '[', CSV otherwise."""
    head = _read_bytes(Path(path))[:4096].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if head.startswith(("{", "[")):
        return read_jsonstat(path)
    return read_ssb_csv(path)


def import_ssb(path, out: Path | None = None, *, contents: str | None = None,
               table: str = "auto") -> pd.DataFrame:
    """Read an SSB file and convert it: `table` "population" (our year,sex,age,persons layout),
    "long" (dimension codes + value + status) or "auto" (population when the table has a Kjonn
    or an Alder dimension). With `out`, write the result as CSV atomically."""
    if table not in ("auto", "population", "long"):
        raise ValueError(f"table must be auto, population or long, not {table!r}")
    df = read_ssb(path)
    dims = df.attrs["dimensions"]
    is_pop = table == "population" or (
        table == "auto" and (_find_dim(dims, "Kjonn") or _find_dim(dims, "Alder")))
    result = to_population(df, path, contents) if is_pop else to_long(df, path, contents)
    if out is not None:
        write_csv(result, out)
    return result


def write_csv(df: pd.DataFrame, out) -> None:
    """Write atomically; whole-number columns without a decimal point, missing as empty."""
    frame = df.copy()
    for col in ("persons", "value"):
        if col in frame:
            v = frame[col].to_numpy(dtype=float)
            finite = v[np.isfinite(v)]
            if np.array_equal(finite, np.round(finite)) and (np.abs(finite) < 2**53).all():
                frame[col] = pd.Series(v, index=frame.index).astype("Int64")
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
