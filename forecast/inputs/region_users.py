"""Base-year users per region: a CSV `municipality,service,users[,group]` → arrays.

The loader (api.run) calls it; compute_demand only gets the arrays. One row per
municipality and service; a service with several age groups needs a `group` column and one
row per group (the group's label as in the scenario, e.g. "67-79"). A service that is in the
file needs every municipality of the run; services not in the file keep the scenario's users.

    municipality,service,group,users
    0301,heldogn,80+,2950
    0301,hjem,0-66,4100
    0301,hjem,67-79,1500
    …
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

REGION = "municipality"
COLUMNS = (REGION, "service", "users")


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"not a readable CSV ({str(exc).splitlines()[0]})",
                        file=str(path)) from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; expected columns "
                        f"{','.join(COLUMNS)}[,group], the file has {','.join(df.columns)}",
                        file=str(path))
    if df.empty:
        raise DataError("no data rows", file=str(path))
    return df.apply(lambda col: col.str.strip())


def read_region_users(path, services: dict, regions: tuple) -> dict[str, np.ndarray]:
    """{service id: users (len(regions), n_groups)}, rows in the order of `regions`.

    services: DemandConfig.services (the ids and their age groups); regions: the run's
    municipality codes. Raises DataError naming the file and column for an unknown service or
    municipality, a missing or unknown group, a duplicate row, a users value that is not a
    number >= 0, or a municipality without users for a service in the file."""
    path = Path(path)
    file = str(path)
    df = _read(path)
    rows = np.arange(len(df)) + 2            # the line of each row in the file
    unknown = ~df["service"].isin(list(services))
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"row {rows[i]}: unknown service {df['service'].iloc[i]!r}; expected "
                        f"one of {', '.join(services)}", file=file, key="service")
    index = {str(code): i for i, code in enumerate(regions)}
    unknown = ~df[REGION].isin(list(index))
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"row {rows[i]}: unknown municipality {df[REGION].iloc[i]!r} (not one "
                        f"of the run's {len(index)} regions)", file=file, key=REGION)
    users = pd.to_numeric(df["users"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(users) | (users < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"row {rows[i]}: expected a number of users >= 0, got "
                        f"{df['users'].iloc[i]!r}", file=file, key="users")
    groups = df["group"] if "group" in df.columns else pd.Series([""] * len(df))
    group_pos = np.zeros(len(df), dtype=int)
    for sid, s in services.items():
        mine = np.flatnonzero((df["service"] == sid).to_numpy())
        labels = [g.label for g in s.groups]
        for i in mine:
            g = groups.iloc[i]
            if g == "" and len(labels) == 1:
                continue
            if g == "":
                key_msg = ("a `group` column" if "group" not in df.columns
                           else "a group on every row")
                raise DataError(f"row {rows[i]}: service {sid!r} has the age groups "
                                f"{', '.join(labels)}; give {key_msg} (one row per group)",
                                file=file, key="group")
            if g not in labels:
                raise DataError(f"row {rows[i]}: unknown age group {g!r} of service {sid!r}; "
                                f"expected one of {', '.join(labels)}", file=file, key="group")
            group_pos[i] = labels.index(g)
    dup = pd.DataFrame({"r": df[REGION], "s": df["service"], "g": group_pos}).duplicated()
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise DataError(f"row {rows[i]}: duplicate row for municipality {df[REGION].iloc[i]!r}, "
                        f"service {df['service'].iloc[i]!r}", file=file, key=REGION)
    out = {}
    region_pos = df[REGION].map(index).to_numpy(int)
    for sid in dict.fromkeys(df["service"]):   # the file's services, in their order
        mine = (df["service"] == sid).to_numpy()
        table = np.full((len(regions), len(services[sid].groups)), np.nan)
        table[region_pos[mine], group_pos[mine]] = users[mine]
        if np.isnan(table).any():
            r, g = np.argwhere(np.isnan(table))[0]
            some = not np.isnan(table[r]).all()     # the municipality is there, a group not
            where = f", group {services[sid].groups[g].label}" if some else ""
            raise DataError(f"missing users of service {sid!r} for municipality "
                            f"{regions[r]!r}{where}", file=file, key="group" if some else REGION)
        out[sid] = table
    return out
