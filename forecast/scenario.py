"""Scenario files (TOML): loading, `extends`, path resolution and validation.

A scenario states the projection horizon and the assumptions of each stage. An alternative
names the file it `extends` and states only what differs: tables merge key by key, but a
dated value ({year = value}) in the child replaces the parent's whole table. Relative file
paths are resolved against the folder of the file that names them.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .bounds import MAX_DWELLINGS, MAX_LEVEL, MAX_PERSONS_PER_DWELLING, MAX_SD, MAX_TFR
from . import REPO_ROOT, SHARED_DIR  # noqa: F401  (re-exported: REPO_ROOT is used widely)
from .errors import ScenarioError
from .paths import check_path, is_dated

DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "baerum-mmmm.toml"

# The schema is data: section -> key -> (expected type description, validator kind).
POPULATION_SCHEMA: dict[str, dict[str, str]] = {
    "": {"name": "string", "description": "string", "extends": "file", "base_year": "year",
         "end_year": "year", "population": "table", "fertility": "table", "mortality": "table",
         "migration": "table", "services": "table", "cost": "table", "outputs": "table",
         "housing": "table", "areas": "table", "service_users_file": "file",
         "uncertainty": "table"},
    "population": {"file": "file", "regions_file": "file", "municipality": "regions",
                   "source": "string"},
    "fertility": {"file": "file", "sex_ratio_file": "file", "level_file": "file", "tfr": "path",
                  "tfr_shift": "path", "source": "string"},
    "mortality": {"file": "file", "e0_female": "e0", "e0_male": "e0", "e0_shift": "path",
                  "e0_history_file": "file", "trend_years": "years", "source": "string"},
    "migration": {"file": "file", "in_level": "path", "out_level": "path", "components": "table",
                  "source": "string"},
    "outputs": {"charts": "table"},
    # draws through population, demand and cost: forecast/inputs/uncertainty.py
    "uncertainty": {"draws": "count", "seed": "count", "vary": "names",
                    "components_file": "file", "calibrated": "bool", "unit_cost_sd": "sd",
                    "coverage_sd": "sd", "source": "string"},
    # housing-led in-migration and sub-areas: forecast/population/housing.py and areas.py
    "housing": {"programme_file": "file", "dwellings": "path", "persons_per_dwelling": "per_type",
                "profile_file": "file", "mode": "string", "existing_stock_inmig_level": "path",
                "source": "string"},
    "areas": {"areas_file": "file", "population_file": "file", "moves_file": "file",
              "housing_file": "file", "source": "string"},
}
# dated values with an upper bound (forecast/bounds.py); every dated value is >= 0 except
# the *_shift keys
UPPER = {"fertility.tfr": MAX_TFR, "migration.in_level": MAX_LEVEL,
         "migration.out_level": MAX_LEVEL, "housing.dwellings": MAX_DWELLINGS,
         "housing.persons_per_dwelling": MAX_PERSONS_PER_DWELLING,
         "housing.existing_stock_inmig_level": MAX_LEVEL}
REQUIRED = {"population": ["file"], "fertility": ["file", "sex_ratio_file"],
            "mortality": ["file"], "migration": ["file"]}
KIND_TEXT = {"string": "a string", "file": "a file path (string)", "year": "a year (integer)",
             "table": "a table", "path": "a number or a table {year = value}",
             "e0": 'a number (years), a table {year = value}, or "trend"',
             "years": "a list [first_year, last_year]",
             "count": "a whole number >= 0", "bool": "true or false",
             "sd": "a number in 0..0.5 (a standard deviation of a yearly change in logs)",
             "names": "a list of strings",
             "regions": 'a municipality code or name, a list of them, or "all"',
             "per_type": "a number, a table {year = value}, or a table {type = number or "
                         "{year = value}}"}


@dataclass
class Scenario:
    file: Path
    name: str
    description: str
    base_year: int
    end_year: int
    raw: dict
    sources: list[Path] = field(default_factory=list)  # every scenario file read, leaf first

    @property
    def years(self) -> range:
        return range(self.base_year, self.end_year + 1)

    def section(self, name: str) -> dict:
        return self.raw.get(name, {})

    def file_hashes(self) -> dict[str, str]:
        """sha256 of every scenario and data file the scenario uses (provenance)."""
        files = list(self.sources) + sorted(_data_files(self.raw))
        return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16]
                for p in files if Path(p).is_file()}


def _data_files(table: dict):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _data_files(value)
        elif (key == "file" or key.endswith("_file")) and isinstance(value, str):
            yield Path(value)


def _merge(parent: dict, child: dict) -> dict:
    """Child over parent, table by table. A dated value, or a table that changes its `kind`
    (a coverage rule of another kind), replaces the parent's table instead of merging."""
    out = dict(parent)
    for key, value in child.items():
        old = out.get(key)
        if (isinstance(value, dict) and isinstance(old, dict)
                and not is_dated(value) and not is_dated(old)
                and value.get("kind", old.get("kind")) == old.get("kind")):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _resolve_files(table: dict, folder: Path) -> dict:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out[key] = _resolve_files(value, folder)
        elif (key == "file" or key.endswith("_file")) and isinstance(value, str):
            out[key] = str((folder / value).resolve())
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", file=str(path)) from None


def _load_merged(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, list[Path]]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ScenarioError(f"`extends` forms a cycle: {chain}", file=str(seen[0]), key="extends")
    raw = _resolve_files(_read_toml(path), path.parent)
    parent_name = raw.pop("extends", None)
    if parent_name is None:
        return raw, [path]
    if not isinstance(parent_name, str):
        raise ScenarioError(f"expected a file name (string), got {parent_name!r}",
                            file=str(path), key="extends")
    parent_path = path.parent / parent_name
    if not parent_path.is_file():
        raise ScenarioError(f"the scenario it extends, {parent_name}, does not exist",
                            file=str(path), key="extends")
    parent, sources = _load_merged(parent_path, (*seen, path))
    return _merge(parent, raw), [path, *sources]


def _check_value(value, kind: str, file: str, key: str, years: tuple[int, int]):
    expected = KIND_TEXT[kind]
    if kind in ("string", "file"):
        ok = isinstance(value, str)
    elif kind == "year":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1800 <= value <= 2300
    elif kind == "table":
        ok = isinstance(value, dict)
    elif kind == "count":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "sd":
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and 0.0 <= value <= MAX_SD)
    elif kind == "names":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "regions":
        ok = isinstance(value, str) or (isinstance(value, list) and bool(value)
                                        and all(isinstance(v, str) for v in value))
    elif kind == "years":
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
              and value[0] < value[1])
    elif kind == "per_type" and isinstance(value, dict) and not is_dated(value):
        for sub, v in value.items():  # one number or dated value per dwelling type
            check_path(v, file=file, key=f"{key}.{sub}", lower=0.0, upper=UPPER.get(key),
                       years=years)
        return
    elif kind == "e0":
        if value == "trend":
            return
        check_path(value, file=file, key=key, lower=15.0, upper=110.0, years=years)
        return
    else:  # dated value
        lower = None if key.endswith("_shift") else 0.0
        check_path(value, file=file, key=key, lower=lower, upper=UPPER.get(key), years=years)
        return
    if not ok:
        raise ScenarioError(f"expected {expected}, got {value!r}", file=file, key=key)
    if kind == "file" and not Path(value).is_file():
        raise ScenarioError(f"data file not found: {value}", file=file, key=key)


def validate(raw: dict, file: str) -> tuple[int, int]:
    """Check the keys the population stages own; return (base_year, end_year)."""
    unknown = sorted(set(raw) - set(POPULATION_SCHEMA[""]))
    if unknown:  # before anything else: a misspelt key explains what looks missing
        raise ScenarioError(f"unknown key; expected one of {', '.join(sorted(POPULATION_SCHEMA['']))}",
                            file=file, key=unknown[0])
    for key in ("base_year", "end_year"):
        if key not in raw:
            raise ScenarioError("missing; expected a year (integer)", file=file, key=key)
    base, end = raw["base_year"], raw["end_year"]
    _check_value(base, "year", file, "base_year", (0, 0))
    _check_value(end, "year", file, "end_year", (0, 0))
    if end <= base:
        raise ScenarioError(f"expected a year after base_year {base}, got {end}",
                            file=file, key="end_year")
    for section, allowed in POPULATION_SCHEMA.items():
        table = raw if section == "" else raw.get(section, {})
        prefix = f"{section}." if section else ""
        if not isinstance(table, dict):
            raise ScenarioError(f"expected a table, got {table!r}", file=file, key=section)
        for key, value in table.items():
            if key not in allowed:
                raise ScenarioError(f"unknown key; expected one of {', '.join(sorted(allowed))}",
                                    file=file, key=prefix + key)
            if section == "" and key in ("base_year", "end_year"):
                continue
            _check_value(value, allowed[key], file, prefix + key, (base, end))
    for section, keys in REQUIRED.items():
        if section not in raw:
            raise ScenarioError("missing section; expected a table", file=file, key=section)
        for key in keys:
            if key not in raw[section]:
                raise ScenarioError(f"missing; expected {KIND_TEXT['file']}", file=file,
                                    key=f"{section}.{key}")
    if raw["mortality"].get("e0_female") == "trend" or raw["mortality"].get("e0_male") == "trend":
        if "e0_history_file" not in raw["mortality"]:
            raise ScenarioError('e0 = "trend" needs a history of life expectancy',
                                file=file, key="mortality.e0_history_file")
    return base, end


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read, merge and validate a scenario file (the Bærum main alternative by default)."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    raw, sources = _load_merged(path)
    base, end = validate(raw, str(path))
    return Scenario(file=path.resolve(), name=raw.get("name", path.stem),
                    description=raw.get("description", ""), base_year=base, end_year=end,
                    raw=raw, sources=sources)
