"""Command line: parse -> call the API -> write -> print a summary. Errors exit 2."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .errors import ForecastError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Open demographic demand forecasting for Norwegian municipalities.")


class PopFormat(str, Enum):
    csv = "csv"
    netcdf = "netcdf"


def _fail(exc: ForecastError):
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _print_population(ds, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from .report import population_summary

    summary = population_summary(ds)
    table = Table(title=title, title_justify="left")
    table.add_column("Age group")
    for col in summary.columns:
        table.add_column(str(col), justify="right")
    for name, row in summary.iterrows():
        cells = [f"{v:+.1f}" if col == "change %" else
                 (f"{v:+,.0f}" if col == "change" else f"{v:,.0f}")
                 for col, v in row.items()]
        table.add_row(str(name), *cells)
    Console().print(table)


ScenarioArg = typer.Argument(None, help="Scenario file (TOML). Default: the Bærum main "
                                        "alternative (scenarios/baerum-mmmm.toml).")


@app.command()
def project(scenario: Optional[Path] = ScenarioArg,
            out: Optional[Path] = typer.Option(None, "--out", help="Folder to write results to."),
            format: PopFormat = typer.Option(PopFormat.csv, "--format",
                                             help="Output format when --out is given.")):
    """Project the population: single-year ages, two sexes, stocks at 1 January."""
    from .api import project as run_projection
    from .scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        ds = run_projection(sc)
        written = []
        if out is not None:
            from .io.outputs import write_population_outputs
            written = write_population_outputs(out, ds, fmt=format.value)
    except ForecastError as exc:
        _fail(exc)
    _print_population(ds, f"{sc.name}: population at 1 January (persons)")
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def validate(scenario: Path = typer.Argument(..., help="Scenario file (TOML).")):
    """Check a scenario file and the data files it names, without projecting."""
    from .inputs import load_population_inputs
    from .scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        load_population_inputs(sc)
        _validate_demand(sc)
    except ForecastError as exc:
        _fail(exc)
    typer.echo(f"{scenario}: ok ({sc.name}, {sc.base_year}-{sc.end_year})")


def _validate_demand(sc) -> None:
    if "services" in sc.raw:
        from .demand import parse_demand
        parse_demand(sc.raw, str(sc.file), sc.base_year, sc.end_year)


@app.command()
def calibrate(shared: Path = typer.Option(Path("../shared/data"), "--shared",
                                          help="Folder with the source data (SSB, HMD, HFD)."),
              out: Path = typer.Option(Path("data/baerum"), "--out",
                                       help="Folder to write the rate files to."),
              base_year: int = typer.Option(2018, "--base-year",
                                            help="Use only data before this year.")):
    """Rebuild the default rate files in data/ from the source data."""
    from .population.calibrate import rebuild_data

    try:
        written = rebuild_data(shared, out, base_year=base_year)
    except ForecastError as exc:
        _fail(exc)
    for path in written:
        typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
