"""Rebuilding data/baerum and data/norway from the shared source data: read the sources
(sources.py), derive the rates with the pure population functions, write every file at once.

Each function writes all of its files or none (io.atomic.write_all).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from ..errors import DataError, ForecastError
from ..io.atomic import write_all
from ..population.calibrate import calibrate, calibration_tables
from ..population.regional import norway_tables
from .sources import read_all_sources, read_sources


def csv_writer(frame: pd.DataFrame, name: str):
    """A writer for io.atomic.write_all: CSV with 10 significant digits; for names ending .gz
    (the large tables) gzip with 6 digits and reproducible bytes (no name or time inside)."""
    if not name.endswith(".gz"):
        return lambda tmp: frame.to_csv(tmp, index=False, float_format="%.10g")

    def write(tmp):
        text = frame.to_csv(index=False, float_format="%.6g").encode()
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   mtime=0, compresslevel=6) as gz:
            gz.write(text)
    return write


def _nothing(n: float = 1) -> None:
    return None


def baerum_writers(shared_dir: Path, base_year: int = 2018, window: int = 5, *,
                   birth_migration_share: float = 0.5, smooth_sigma: float = 1.0,
                   advance=_nothing) -> dict:
    """Read the sources and derive Bærum's rates: {file name: writer(path)} for every
    data/baerum rate file. `advance()` is called after reading and after estimating (a
    progress bar's, see forecast.progress)."""
    src = read_sources(shared_dir)
    advance()
    try:
        cal = calibrate(src, base_year, window, birth_migration_share=birth_migration_share,
                        smooth_sigma=smooth_sigma)
    except DataError as exc:
        if exc.file is not None:
            raise
        raise DataError(exc.message, file=str(shared_dir), key=exc.key) from None
    tables = calibration_tables(cal)
    advance()
    return {name: csv_writer(df, name) for name, df in tables.items()}


def norway_writers(shared_dir: Path, base_year: int = 2018, *, advance=_nothing) -> dict:
    """Read the sources and derive every municipality's rates: {file name: writer(path)} for
    every data/norway file. A problem that names no file is reported against `shared_dir`."""
    try:
        src = read_all_sources(shared_dir)
        advance()
        tables = norway_tables(src, base_year)
    except ForecastError as exc:
        if exc.file is not None:
            raise
        raise ForecastError(exc.message, file=str(shared_dir), key=exc.key) from None
    advance()
    return {name: csv_writer(df, name) for name, df in tables.items()}


def rebuild_data(shared_dir: Path, out_dir: Path, base_year: int = 2018, window: int = 5, *,
                 birth_migration_share: float = 0.5, smooth_sigma: float = 1.0,
                 advance=_nothing) -> list[Path]:
    """Read the sources, derive Bærum's rates and write every data/baerum file, all or none."""
    writers = baerum_writers(shared_dir, base_year, window, smooth_sigma=smooth_sigma,
                             birth_migration_share=birth_migration_share, advance=advance)
    return write_all({Path(out_dir) / name: write for name, write in writers.items()})


def rebuild_norway(shared_dir: Path, out_dir: Path, base_year: int = 2018, *,
                   advance=_nothing) -> list[Path]:
    """Read the sources, derive every municipality's rates and write every data/norway file,
    all or none. A problem that names no file is reported against `shared_dir`."""
    writers = norway_writers(shared_dir, base_year, advance=advance)
    return write_all({Path(out_dir) / name: write for name, write in writers.items()})
