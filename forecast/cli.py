"""Command line: parse -> call the API -> write -> print a summary. Errors exit 2."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
import typer.core

from . import REPO_ROOT, SHARED_DIR
from .errors import ForecastError

SHARED_DATA = SHARED_DIR / "data"


# usage errors: typer >= 0.25 carries its own copy of click, older ones use click
_CLICK_ERRORS = tuple(e for e in (getattr(typer, "TyperException", None),
                                  getattr(getattr(typer.core, "click", None), "ClickException",
                                          None)) if e is not None)


class _Group(typer.core.TyperGroup):
    """The command group, with every error on one line: usage errors (an unknown option, a
    missing or malformed value) and ForecastError print `error: ...` to stderr and exit 2,
    without the usage text or a box around the message."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in self.commands.values():   # help without the type after an argument's
            for param in command.params:         # name ("SCENARIO <path>"): the name says it
                if param.param_type_name == "argument":
                    param.display_type_rich = lambda ctx: None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        import warnings

        try:
            with warnings.catch_warnings():
                # numpy's overflow warnings: results that are not finite are an error of
                # their own (forecast.api), which names the assumption
                warnings.filterwarnings("ignore", "overflow", RuntimeWarning)
                warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
                code = super().main(args=args, prog_name=prog_name,
                                    complete_var=complete_var, standalone_mode=False, **extra)
        except _CLICK_ERRORS as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":   # plain `forecast`: the help
                typer.echo(exc.format_message())
                code = 0
            else:
                ctx = getattr(exc, "ctx", None)
                # the command as the user knows it (`forecast run`, whatever the prog name)
                words = ["forecast", *ctx.command_path.split()[1:]] if ctx is not None else []
                where = f"{' '.join(words)}: " if words else ""
                typer.echo(f"error: {where}{_one_line(exc.format_message())}", err=True)
                code = exc.exit_code
        except ForecastError as exc:
            typer.echo(f"error: {_one_line(str(exc))}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# rich_markup_mode=None: click's plain help, which shows a metavar only where one is set
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  cls=_Group,
                  help="Open demographic demand forecasting for Norwegian municipalities.")


def _version(value: bool) -> None:
    if value:
        from . import __version__
        typer.echo(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version,
                                          is_eager=True, help="Show the version and exit.")):
    """Open demographic demand forecasting for Norwegian municipalities."""


QuietOpt = typer.Option(False, "--quiet", "-q",
                        help="No progress bar (it is drawn on stderr, only on a terminal).")


class PopFormat(str, Enum):
    csv = "csv"
    netcdf = "netcdf"


def _console():
    """Rich console; when output is not a terminal, wide enough for national totals."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def _check_out(out: Optional[Path]) -> None:
    """Refuse a bad --out before any work: /dev, a file, a device, a folder of other files."""
    if out is not None:
        from .io.atomic import check_out_folder
        check_out_folder(out)


def _check_out_file(out: Optional[Path]) -> None:
    """Refuse a bad --out FILE before any work: /dev, a folder, a device."""
    if out is not None:
        from .io.atomic import check_out_file
        check_out_file(out)


def _manifest(loaded: list, command: str, **options) -> dict:
    """What manifest.json says about the run: scenario(s), command and options."""
    import shlex

    options = {k: (v.value if isinstance(v, Enum) else
                   [str(x) for x in v] if isinstance(v, (list, tuple, set)) else
                   str(v) if isinstance(v, Path) else v)
               for k, v in options.items()}
    info = {"scenario": {"name": loaded[0].name, "file": str(loaded[0].file)}}
    if len(loaded) > 1:
        info["scenarios"] = [{"name": s.name, "file": str(s.file)} for s in loaded]
    info.update({"command": f"forecast {command}", "options": options})
    if Path(sys.argv[0]).name in ("forecast", "__main__.py"):   # not when run from a test
        info["command_line"] = shlex.join(["forecast", *sys.argv[1:]])
    return info


def _fail(exc: ForecastError):
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _print_population(ds, title: str) -> None:
    from rich.table import Table

    from .report import population_summary

    summary = population_summary(ds)
    table = Table(title=title, title_justify="left")
    table.add_column("Ages")
    headers = {"change": "Δ", "change %": "Δ %"}
    for col in summary.columns:
        table.add_column(headers.get(col, str(col)), justify="right", no_wrap=True)
    for name, row in summary.iterrows():
        cells = [f"{v:+.1f}" if col == "change %" else
                 (f"{v:+,.0f}" if col == "change" else f"{v:,.0f}")
                 for col, v in row.items()]
        table.add_row(str(name), *cells)
    _console().print(table)


def _print_areas(ds) -> None:
    from rich.table import Table

    from .report import summary_years

    years = summary_years(ds["year"].values)
    totals = ds["pop"].sum(["sex", "age"]).sel(year=years)
    table = Table(title="Sub-areas: population at 1 January (persons)", title_justify="left")
    table.add_column("Area")
    for year in years:
        table.add_column(str(year), justify="right")
    table.add_column("Δ %", justify="right")
    names = ds["area_name"].values if "area_name" in ds else ds["area"].values
    for i, name in enumerate(names):
        row = totals.isel(area=i).values
        table.add_row(str(name), *[f"{v:,.0f}" for v in row], f"{100 * (row[-1] / row[0] - 1):+.1f}")
    _console().print(table)


ScenarioArg = typer.Argument(None, help="Scenario file (TOML). Default: the Bærum main "
                                        "alternative (scenarios/baerum-mmmm.toml), or with "
                                        "--municipality/--all the national one "
                                        "(scenarios/norway-mmmm.toml).")
MunicipalityOpt = typer.Option(None, "--municipality", "-m", metavar="CODE",
                               help="Municipality code or name (repeat for several); needs a "
                                    "scenario with a multi-region population file.")
AllOpt = typer.Option(False, "--all", help="Every municipality of the population file.")
DrawsOpt = typer.Option(None, "--draws", metavar="N",
                        help="Number of stochastic draws (overrides the scenario's "
                             "[uncertainty] draws; 0: deterministic only).")
SeedOpt = typer.Option(None, "--seed", metavar="N",
                       help="Seed of the draws (same seed, same numbers).")
SchedulerOpt = typer.Option(None, "--scheduler", metavar="ADDRESS",
                            help="Address of a dask.distributed scheduler to run the draws on.")
NORWAY_SCENARIO = REPO_ROOT / "scenarios" / "norway-mmmm.toml"
NORWAY_SERVICES_SCENARIO = REPO_ROOT / "scenarios" / "norway-tjenester.toml"


_REGION_OPTIONS = {"population.municipality": "--municipality"}


def _regions(municipality: Optional[list[str]], all_: bool):
    if municipality and all_:
        raise ForecastError("give --municipality or --all, not both", key="--all")
    return "all" if all_ else (list(municipality) if municipality else None)


def _print_regions(ds, title: str) -> None:
    from rich.table import Table

    from .report import region_growth

    table = Table(title=title, title_justify="left")
    growth = region_growth(ds)
    for col in growth.columns:
        if col != "flagged":
            table.add_column(str(col), justify="left" if col in ("region", "name") else "right")
    for _, row in growth.iterrows():
        cells = [str(row["region"]), str(row["name"]) + (" *" if row["flagged"] else "")]
        cells += [f"{v:,.0f}" for v in row.iloc[2:4]] + [f"{row['change %']:+.1f}"]
        table.add_row(*cells)
    _console().print(table)
    if ds.attrs.get("flagged_regions"):
        typer.echo("* history before a later split is a fixed share of the merged "
                   f"municipality, not counts: {ds.attrs['flagged_regions']}")


@app.command()
def project(scenario: Optional[Path] = ScenarioArg,
            municipality: Optional[list[str]] = MunicipalityOpt,
            all_: bool = AllOpt,
            out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER",
                                               help="Folder to write results to."),
            format: PopFormat = typer.Option(PopFormat.csv, "--format", metavar="csv|netcdf",
                                             help="Output format when --out is given."),
            draws: Optional[int] = DrawsOpt, seed: Optional[int] = SeedOpt,
            scheduler: Optional[str] = SchedulerOpt, quiet: bool = QuietOpt):
    """Project the population: single-year ages, two sexes, stocks at 1 January."""
    from .api import draws as run_draws
    from .api import load_inputs
    from .api import project as run_projection
    from .progress import progress
    from .scenario import load_scenario

    try:
        regions = _regions(municipality, all_)
        _check_out(out)
        if scenario is None and regions is not None:
            scenario = NORWAY_SCENARIO
        sc = load_scenario(scenario)
        with progress(f"Projecting {sc.name}", None, quiet) as advance:
            loaded = load_inputs(sc, regions)
            ds = run_projection(sc, regions=regions, loaded=loaded)
            spread = run_draws(sc, regions, draws, seed, scheduler=scheduler, advance=advance,
                               loaded=loaded)
            written = []
            if out is not None:
                from .io.outputs import write_population_outputs
                written = write_population_outputs(out, ds, fmt=format.value,
                                                   uncertainty=spread,
                                                   manifest=_manifest(
                                                       [sc], "project", scenario=scenario,
                                                       municipality=municipality, all=all_,
                                                       out=out, format=format, draws=draws,
                                                       seed=seed))
    except ForecastError as exc:
        _fail(_as_typed(exc, _REGION_OPTIONS if municipality else {}))
    if "area" in ds.dims:
        from .population.areas import municipality as sum_areas
        _print_population(sum_areas(ds), f"{sc.name}: population at 1 January (persons), "
                                         "sum of the sub-areas")
        _print_areas(ds)
    elif "region" in ds.dims:
        n = ds.sizes["region"]
        what = ("sum of the municipalities" if n > 1 else
                str(ds["region_name"].values[0]) if "region_name" in ds.coords
                else str(ds["region"].values[0]))
        _print_population(ds.sum("region", keep_attrs=True),
                          f"{sc.name}: population at 1 January (persons), {what}")
        if n > 1:
            _print_regions(ds, f"{sc.name}: largest and smallest growth of {n} municipalities")
    else:
        _print_population(ds, f"{sc.name}: population at 1 January (persons)")
    if spread is not None:
        _print_population_spread(spread, sc.name)
    for path in written:
        typer.echo(f"wrote {path}")


RunScenarioArg = typer.Argument(None, help="Scenario file (TOML). Default: the Bærum LDIP "
                                           "baseline (scenarios/baerum-ldip.toml).")


def _print_frame(frame, title: str, fmt: str = "{:,.0f}") -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in frame.index.names:
        table.add_column(str(name))
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    previous = None
    for key, row in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        shown = [str(k) for k in key]
        if previous is not None and key[0] == previous[0]:
            shown[0] = ""  # a label once per block reads better than a repeated one
        previous = key
        # the measure "coverage %" and the rows "Δ % name"
        percent = any(str(k).endswith("%") or str(k).startswith("Δ %") for k in key)
        cell = "{:,.1f}" if percent and fmt == "{:,.0f}" else fmt
        table.add_row(*shown, *["" if v != v else cell.format(v) for v in row.to_numpy(float)])
    _console().print(table)


@app.command()
def run(scenario: Optional[Path] = RunScenarioArg,
        municipality: Optional[list[str]] = MunicipalityOpt,
        all_: bool = AllOpt,
        out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER",
                                           help="Folder for the results. Default: "
                                                "results/<scenario name>."),
        formats: Optional[str] = typer.Option(None, "--format", metavar="LIST",
                                              help="Comma-separated: csv, netcdf, excel, png, "
                                                   "html. Default all five; csv,netcdf for "
                                                   "several municipalities."),
        formats_alias: Optional[str] = typer.Option(None, "--formats", hidden=True),
        draws: Optional[int] = DrawsOpt, seed: Optional[int] = SeedOpt,
        scheduler: Optional[str] = SchedulerOpt, quiet: bool = QuietOpt):
    """Population, service demand, capacity and cost; writes tables, workbook and charts."""
    from .api import run as run_scenario
    from .io.outputs import write_run_outputs
    from .progress import progress
    from .report import regions_total, service_summary

    try:
        regions = _regions(municipality, all_)
        formats = _format_option(formats, formats_alias)
        _check_out(out)
        if scenario is None and regions is not None:
            scenario = NORWAY_SERVICES_SCENARIO
        with progress("Projecting and computing services", None, quiet) as advance:
            result = run_scenario(scenario, regions=regions, n_draws=draws, seed=seed,
                                  scheduler=scheduler, advance=advance)
            many = "region" in result.population.dims
            if formats is None:
                formats = "csv,netcdf" if many else "csv,netcdf,excel,png,html"
            folder = out if out is not None else Path("results") / result.scenario.file.stem
            written = write_run_outputs(folder, result.population, result.demand,
                                        result.assumptions(), _formats(formats),
                                        charts=result.scenario.section("outputs").get("charts"),
                                        areas=result.areas, uncertainty=result.uncertainty,
                                        descriptions={result.scenario.name:
                                                      result.scenario.description},
                                        manifest=_manifest(
                                            [result.scenario], "run", scenario=scenario,
                                            municipality=municipality, all=all_, out=folder,
                                            format=formats, draws=draws, seed=seed))
    except ForecastError as exc:
        _fail(_as_typed(exc, {"formats": "--format",
                              **(_REGION_OPTIONS if municipality else {})}))
    name = result.scenario.name
    if many:
        n = result.population.sizes["region"]
        _print_population(result.population.sum("region", keep_attrs=True),
                          f"{name}: population at 1 January, sum of {n} municipalities")
    else:
        _print_population(result.population, f"{name}: population at 1 January")
    if result.areas is not None:
        _print_areas(result.areas)
    if result.demand is not None:
        price = result.demand.attrs.get("price_year", "")
        demand = regions_total(result.demand) if many else result.demand
        what = f", sum of {n} municipalities" if many else ""
        _print_frame(service_summary(demand), f"{name}: services (cost in {price} prices){what}")
    if result.uncertainty is not None:
        if result.demand is None:
            _print_population_spread(result.uncertainty, name)
        else:
            _print_service_spread(result.uncertainty, name)
    typer.echo(f"wrote {len(written)} files to {folder}: "
               + ", ".join(p.name for p in written))


def _spread_cell(da, fmt="{:,.0f}", scale=1.0) -> str:
    """ "median (10 %–90 %)" of a DataArray with a quantile dim."""
    v = [float(da.sel(quantile=p)) / scale for p in (0.5, 0.1, 0.9)]
    if any(x != x for x in v):
        return ""
    return f"{fmt.format(v[0])} ({fmt.format(v[1])}–{fmt.format(v[2])})"


def _print_population_spread(u, name: str) -> None:
    """Median and 10–90 % range of persons by band in the summary years."""
    from rich.table import Table

    from .report import summary_years

    var = "total_pop_band" if "total_pop_band" in u else "pop_band"
    da = u[var]
    years = summary_years(u["year"].values)
    what = ", sum of the municipalities" if var.startswith("total") else ""
    table = Table(title=f"{name}: population, median (10 %–90 %) of {u.attrs['draws']:,} "
                        f"draws{what}", title_justify="left")
    table.add_column("age")
    for y in years:
        table.add_column(str(y), justify="right")
    for band in ["total"] + [b for b in da["band"].values if b != "total"]:
        table.add_row(str(band), *[_spread_cell(da.sel(band=band, year=y)) for y in years])
    _console().print(table)


def _service_sds(u) -> str:
    """", coverage sd 0.02 and unit cost sd 0.01 a year" when they vary, else ""."""
    parts = [f"{what} sd {u.attrs[key]:g}" for key, what in
             (("coverage_sd", "coverage"), ("unit_cost_sd", "unit cost"))
             if u.attrs.get(key, 0.0) > 0.0]
    return f", {' and '.join(parts)} a year" if parts else ""


def _print_service_spread(u, name: str) -> None:
    """Per service and year: need, gap and cost with their 10–90 % ranges and P(shortfall)."""
    from rich.table import Table

    many = "region" in u.dims
    price = u.attrs.get("price_year", "")
    for sid in u["service"].values:
        label = str(u["label"].sel(service=sid).values)
        unit = str(u["unit"].sel(service=sid).values)
        need = u["total_need" if many else "need"].sel(service=sid)
        cost = u["total_cost" if many else "cost"].sel(service=sid)
        has_gap = not many and bool(u["p_shortfall"].sel(service=sid).notnull().any())
        table = Table(title=f"{name}: {label}, median (10 %–90 %) of {u.attrs['draws']:,} "
                            "draws" + (", sum of the municipalities" if many else "")
                            + _service_sds(u), title_justify="left")
        table.add_column("year")
        table.add_column(f"need ({unit})", justify="right")
        if has_gap:
            table.add_column("gap (need − capacity)", justify="right")
            table.add_column("P(need > capacity)", justify="right")
        table.add_column(f"cost (mill. kr, {price} prices)", justify="right")
        for y in u["year"].values:
            row = [str(y), _spread_cell(need.sel(year=y))]
            if has_gap:
                row.append(_spread_cell(u["gap"].sel(service=sid, year=y)))
                row.append(f"{100 * float(u['p_shortfall'].sel(service=sid, year=y)):.0f} %")
            row.append(_spread_cell(cost.sel(year=y), "{:,.1f}", 1e6))
            table.add_row(*row)
        _console().print(table)
        if has_gap:
            firsts = [u[f"first_year_p{p}"].sel(service=sid) for p in ("50", "80")]
            text = [f"{p} % in {int(v)}" if v == v else f"{p} % in no year"
                    for p, v in zip(("50", "80"), (float(f) for f in firsts))]
            typer.echo(f"{label}: the probability of shortfall first passes "
                       + " and ".join(text))


def _formats(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}


def _format_option(value: Optional[str], alias: Optional[str]) -> Optional[str]:
    """--format, or --formats (its old name, kept hidden)."""
    if value is not None and alias is not None:
        raise ForecastError("give --format once (--formats is its old name)", key="--formats")
    return value if value is not None else alias


def _as_typed(exc: ForecastError, options: dict[str, str]) -> ForecastError:
    """The error with its key as the user typed it: an option (`--to`), not a parameter name
    or the scenario key the option overrides."""
    if exc.key in options:
        return type(exc)(exc.message, file=exc.file, key=options[exc.key])
    return exc


@app.command()
def compare(scenarios: list[Path] = typer.Argument(...,
                                                   help="Two or more scenario files; "
                                                        "differences are against the first."),
            out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER",
                                               help="Folder for comparison.csv (side by side, "
                                                    "with Δ and Δ %), the first scenario's "
                                                    "tables, the charts and report.html."),
            formats: str = typer.Option("csv,png,html", "--format", metavar="LIST",
                                        help="Comma-separated: csv, netcdf, excel, png, html; "
                                             "comparison.csv comes with csv."),
            services: Optional[Path] = typer.Option(
                None, "--services", metavar="SCENARIO",
                help="Scenario whose services, prices and charts apply to population-only "
                     "scenarios (LLML, HHMH, …). Default: scenarios/baerum-ldip.toml."),
            draws: Optional[int] = DrawsOpt, seed: Optional[int] = SeedOpt,
            quiet: bool = QuietOpt):
    """Coverage and population alternatives side by side, per service and year."""
    from .api import DEFAULT_RUN_SCENARIO, run as run_scenario, with_services
    from .progress import progress
    from .report import comparison_summary, short_names
    from .scenario import load_scenario

    try:
        if len(scenarios) < 2:
            raise ForecastError(f"expected two or more scenario files, got {len(scenarios)}",
                                key="scenarios")
        _check_out(out)
        loaded = [load_scenario(path) for path in scenarios]
        applied = [("services" not in sc.raw) for sc in loaded]
        if any(applied):
            default = load_scenario(services if services is not None else DEFAULT_RUN_SCENARIO)
            loaded = [with_services(sc, default) for sc in loaded]
        results = []
        with progress("Running the scenarios", len(loaded), quiet) as advance:
            for sc in loaded:
                results.append(run_scenario(sc, n_draws=draws, seed=seed))
                advance()
        names = [r.scenario.name for r in results]
        if len(set(names)) != len(names):
            raise ForecastError(f"two scenarios share the name {names!r}; give each a distinct "
                                "`name`", key="name")
        missing = [r.scenario.file.name for r in results if r.demand is None]
        if missing:
            raise ForecastError("the scenario has no [services]; expected service definitions",
                                file=missing[0], key="services")
        demands = {r.scenario.name: r.demand for r in results}
        written = []
        if out is not None:
            from .io.outputs import write_run_outputs
            first = results[0]
            every_year = [int(y) for y in first.demand["year"].values]
            side_by_side = comparison_summary(demands, every_year).round(4).reset_index()
            written = write_run_outputs(out, first.population, first.demand,
                                        first.assumptions(), _formats(formats),
                                        charts=first.scenario.section("outputs").get("charts"),
                                        comparison=demands, comparison_table=side_by_side,
                                        descriptions={r.scenario.name: r.scenario.description
                                                      for r in results},
                                        comparison_uncertainty={
                                            r.scenario.name: r.uncertainty for r in results
                                            if r.uncertainty is not None},
                                        manifest=_manifest(
                                            [r.scenario for r in results], "compare",
                                            scenarios=scenarios, out=out, format=formats))
    except ForecastError as exc:
        _fail(_as_typed(exc, {"formats": "--format"}))
    keys = short_names([r.scenario.file.stem for r in results])
    for key, r, borrowed in zip(keys, results, applied):
        note = f", services of {default.file.name}" if borrowed else ""
        typer.echo(f"{key}: {r.scenario.name} ({r.scenario.file.name}{note})")
    table = comparison_summary(dict(zip(keys, demands.values())))
    for service, part in table.groupby(level="service", sort=False):
        _print_frame(part.droplevel("service"),
                     f"{service}: side by side, Δ and Δ % = difference from {keys[0]}")
    spreads = {key: r.uncertainty for key, r in zip(keys, results) if r.uncertainty is not None}
    if spreads:
        _print_shortfall_comparison(spreads)
    first = names[0]
    what = {"comparison.csv": f"the scenarios side by side, every year, with Δ and Δ % from "
                              f"{first}",
            "demand_scenarios.csv": "every scenario's services, long format",
            "uncertainty_scenarios.csv": "every scenario's quantiles over the draws and "
                                         "probability of shortfall",
            "population.csv": f"population of {first}", "flows.csv": f"flows of {first}",
            "demand.csv": f"services of {first}", "result.nc": f"{first}, NetCDF",
            "forecast.xlsx": f"workbook of {first}",
            "report.html": "the report, every scenario side by side"}
    for path in written:
        typer.echo(f"wrote {path}: {what.get(path.name, 'chart')}")


def _print_shortfall_comparison(spreads: dict) -> None:
    """Per service with capacity: each alternative's probability that need exceeds capacity
    in the summary years and the first years it passes 50 % and 80 %."""
    from rich.table import Table

    from .report import summary_years

    first = next(iter(spreads.values()))
    years = summary_years(first["year"].values)
    services = []
    for u in spreads.values():
        for sid in u["service"].values:
            if sid not in services and bool(u["p_shortfall"].sel(service=sid).notnull().any()):
                services.append(sid)
    for sid in services:
        label = str(first["label"].sel(service=sid).values) if sid in first["service"] else sid
        table = Table(title=f"{label}: probability that need exceeds capacity "
                            f"({first.attrs['draws']:,} draws)", title_justify="left")
        table.add_column("alternative")
        for y in years:
            table.add_column(str(y), justify="right")
        table.add_column("first > 50 %", justify="right")
        table.add_column("first > 80 %", justify="right")
        for key, u in spreads.items():
            if sid not in u["service"].values:
                continue
            p = u["p_shortfall"].sel(service=sid)
            cells = ["" if float(p.sel(year=y)) != float(p.sel(year=y))
                     else f"{100 * float(p.sel(year=y)):.0f} %" for y in years]
            for level in ("50", "80"):
                v = float(u[f"first_year_p{level}"].sel(service=sid))
                cells.append(str(int(v)) if v == v else "never")
            table.add_row(key, *cells)
        _console().print(table)


@app.command()
def decompose(scenario: Optional[Path] = RunScenarioArg,
              year_from: int = typer.Option(..., "--from", metavar="YEAR", help="First year."),
              year_to: int = typer.Option(..., "--to", metavar="YEAR",
                                          help="Second year, after --from."),
              service: Optional[str] = typer.Option(None, "--service", metavar="ID",
                                                    help="One service id (default: all)."),
              history: Optional[Path] = typer.Option(
                  None, "--history", metavar="FILE",
                  help="Observed factors instead of a scenario: CSV year,factor,value (e.g. "
                       "recipients, months, payment per month); their product's growth is "
                       "split.")):
    """Cost growth between two years, split into demography, coverage, intensity and unit cost."""
    from .api import run as run_scenario
    from .decomposition import decompose as decompose_cost

    if year_to <= year_from:
        _fail(ForecastError(f"expected --to after --from, got --from {year_from} --to "
                            f"{year_to}", key="--to"))
    if history is not None:
        return _decompose_history(history, year_from, year_to)
    try:
        result = run_scenario(scenario)
        if result.demand is None:
            raise ForecastError("the scenario has no [services]; expected service definitions",
                                file=str(result.scenario.file), key="services")
        table = decompose_cost(result.demand, service, year_from, year_to)
    except ForecastError as exc:
        typed = {"year_from": "--from", "year_to": "--to"}
        if service is not None:
            typed["service"] = "--service"
        _fail(_as_typed(exc, typed))
    from rich.table import Table

    console = _console()
    labels = dict(zip(result.demand["service"].values, result.demand["label"].values))
    for sid, part in table.groupby("service", sort=False):
        out = Table(title=f"{labels[sid]}: growth {year_from}-{year_to} "
                          f"({result.scenario.name}); change % each factor alone + combined, "
                          f"LMDI % adds up exactly", title_justify="left")
        for col in ("effect", "measure", str(year_from), str(year_to), "change %", "NOK mill.",
                    "LMDI %", "LMDI NOK mill."):
            out.add_column(col, justify="left" if col in ("effect", "measure") else "right")
        for _, row in part.iterrows():
            effect = f"  of which {row['effect']}" if row["part_of"] else row["effect"]
            out.add_row(effect, row["measure"], _number(row["from_value"]),
                        _number(row["to_value"]), f"{row['change_pct']:+.1f}",
                        _signed(row["nok"] / 1e6), _signed(row["lmdi_pct"], "{:+.1f}"),
                        _signed(row["lmdi_nok"] / 1e6))
        console.print(out)
    for sid in table.attrs.get("skipped", []):
        typer.echo(f"note: {sid} has no users in {year_from}; growth from zero is not split")


def _decompose_history(path: Path, year_from: int, year_to: int) -> None:
    from rich.table import Table

    from .decomposition import decompose_paths
    from .inputs.service_outcomes import read_factor_history

    try:
        factors, units = read_factor_history(path, year_from, year_to)
        table = decompose_paths(factors, year_from, year_to, measures=units)
    except ForecastError as exc:
        _fail(exc)
    out = Table(title=f"{path.name}: growth {year_from}-{year_to} of the product of the "
                      f"factors; change % each factor alone + combined, LMDI % adds up exactly",
                title_justify="left")
    for col in ("effect", "measure", str(year_from), str(year_to), "change %", "LMDI %"):
        out.add_column(col, justify="left" if col in ("effect", "measure") else "right")
    for _, row in table.iterrows():
        out.add_row(row["effect"], row["measure"], _number(row["from_value"]),
                    _number(row["to_value"]), f"{row['change_pct']:+.1f}",
                    _signed(row["lmdi_pct"], "{:+.1f}"))
    _console().print(out)


def _signed(value: float, fmt: str = "{:+,.1f}") -> str:
    return "" if value != value else fmt.format(value)


def _number(value: float) -> str:
    if value != value:
        return ""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f} mill."
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


@app.command()
def validate(scenario: Path = typer.Argument(...,
                                             help="Scenario file (TOML).")):
    """Check a scenario file and its data files by running it, without writing anything."""
    from .api import run as run_scenario

    try:
        result = run_scenario(scenario)
    except ForecastError as exc:
        _fail(exc)
    sc = result.scenario
    services = f", {len(result.config.services)} services" if result.config else ""
    typer.echo(f"{scenario}: ok ({sc.name}, {sc.base_year}-{sc.end_year}{services})")


@app.command()
def calibrate(shared: Path = typer.Option(SHARED_DATA, "--shared", metavar="FOLDER",
                                          help="Folder with the source data (SSB, HMD, HFD)."),
              out: Optional[Path] = typer.Option(None, "--out", metavar="FOLDER",
                                                 help="Folder to write the rate files to (new, "
                                                      "or an earlier calibrate --out)."),
              in_place: bool = typer.Option(False, "--in-place",
                                            help="Rewrite the shipped data/baerum (with --all "
                                                 "data/norway) instead of --out."),
              base_year: int = typer.Option(2018, "--base-year", metavar="YEAR",
                                            help="Use only data before this year."),
              all_: bool = typer.Option(False, "--all",
                                        help="Rates for every municipality (data/norway)."),
              quiet: bool = QuietOpt):
    """Rebuild the rate files of data/ from the source data, into --out or --in-place."""
    from .progress import progress

    shipped = REPO_ROOT / "data" / ("norway" if all_ else "baerum")
    try:
        if out is None and not in_place:
            raise ForecastError(f"expected --out FOLDER for the new rate files, or --in-place "
                                f"to rewrite {shipped}", key="--out")
        if out is not None and in_place:
            raise ForecastError("give --out or --in-place, not both", key="--in-place")
        _check_out(out)
        with progress("Calibrating", 3, quiet) as advance:
            written = _calibrate(shared, out, shipped, base_year, all_, advance)
            advance()
    except ForecastError as exc:
        _fail(_as_typed(exc, {"base_year": "--base-year"}))
    for path in written:
        typer.echo(f"wrote {path}")


def _calibrate(shared: Path, out: Optional[Path], shipped: Path, base_year: int, all_: bool,
               advance) -> list[Path]:
    """Write the rate files: into the folder --out as a whole (with a manifest), or over the
    shipped data folder file by file (its other files, e.g. the housing programme, stay)."""
    from .inputs.calibration import baerum_writers, norway_writers, rebuild_data, rebuild_norway
    from .inputs.housing import write_default_profile

    if out is None:
        if all_:
            return rebuild_norway(shared, shipped, base_year, advance=advance)
        written = rebuild_data(shared, shipped, base_year=base_year, advance=advance)
        return written + [write_default_profile(shipped)]
    from .io.atomic import write_folder

    if all_:
        writers = norway_writers(shared, base_year, advance=advance)
    else:
        writers = baerum_writers(shared, base_year, advance=advance)
        # written after migration.csv, from it, in the same (temporary) folder
        writers["housing_profile.csv"] = lambda path: write_default_profile(path.parent)
    manifest = {"command": "forecast calibrate",
                "options": {"shared": str(shared), "out": str(out), "base_year": base_year,
                            "all": all_}}
    return write_folder(out, writers, manifest)


SERVICE_OUTCOMES = REPO_ROOT / "data" / "baerum" / "service_outcomes.csv"


@app.command()
def backtest(base: Optional[list[int]] = typer.Option(None, "--base", metavar="YEAR",
                                                      help="Base year(s); repeat for several "
                                                           "(not with --services)."),
             to: int = typer.Option(2018, "--to", metavar="YEAR",
                                    help="Last year to compare with counts."),
             window: Optional[int] = typer.Option(None, "--window", metavar="YEARS",
                                                  help="Calibration window in years (default "
                                                       "5; with --all 8, or as many as the "
                                                       "counts allow)."),
             e0: str = typer.Option("trend", "--e0", metavar="trend|constant",
                                    help="Life expectancy: trend or constant (Bærum only; "
                                         "--all uses forecast.population.national)."),
             all_: bool = typer.Option(False, "--all",
                                       help="Every municipality, beside naive benchmarks."),
             shared: Path = typer.Option(SHARED_DATA, "--shared", metavar="FOLDER",
                                         help="Folder with the source data."),
             out: Optional[Path] = typer.Option(None, "--out", metavar="FILE",
                                                help="CSV file for the full error table."),
             services: bool = typer.Option(False, "--services",
                                           help="Social assistance of a 2018-based scenario "
                                                "(--scenario) against the outcomes the "
                                                "documents report for later years."),
             scenario: Optional[Path] = typer.Option(None, "--scenario", metavar="SCENARIO",
                                                     help="With --services: the scenario "
                                                          "(default scenarios/baerum-ldip.toml)."),
             outcomes: Path = typer.Option(SERVICE_OUTCOMES, "--outcomes", metavar="FILE",
                                           help="With --services: the outcomes file."),
             quiet: bool = QuietOpt):
    """Rebuild rates from data before the base year, project, compare with actual counts;
    with --services, score the services of a scenario against later outcomes."""
    import pandas as pd

    from .progress import progress

    if services:
        return _backtest_services(scenario, outcomes, out, base)
    try:
        if not base:
            raise ForecastError("expected a base year (or --services)", key="--base")
        if window is not None and window < 1:
            raise ForecastError(f"expected a window of at least 1 year, got {window}",
                                key="--window")
        if e0 not in ("trend", "constant"):
            raise ForecastError(f"expected trend or constant, got {e0!r}", key="--e0")
        _check_out_file(out)
        if all_:
            from .backtest_all import report_tables, run_backtest_all
            from .inputs.sources import read_all_sources

            src = read_all_sources(shared)
            runs = []
            with progress("Backtests", len(base), quiet) as advance:
                for b in base:
                    runs.append(run_backtest_all(src, b, to, window))
                    advance()
            table = pd.concat([errors for _, errors in runs]) if out is not None else None
        else:
            from .backtest import run_backtest, summary
            from .inputs.sources import read_sources

            src = read_sources(shared)
            runs = []
            with progress("Backtests", len(base), quiet) as advance:
                for b in base:
                    runs.append(run_backtest(src, b, to, window or 5, e0=e0))
                    advance()
            table = (pd.concat([r.errors.assign(base=r.base_year, window=r.window)
                                for r in runs]) if out is not None else None)
        if out is not None:
            from .io.atomic import atomic_path
            with atomic_path(out) as tmp:
                table.to_csv(tmp, index=False, float_format="%.4f")
    except ForecastError as exc:
        _fail(exc)
    console = _console()
    if all_:
        for setup, errors in runs:
            for item in report_tables(setup, errors):
                console.print(item)
    else:
        for run in runs:
            _print_backtest(console, run)
        if len(runs) > 1:
            console.print(_frame_table(summary(runs).round(2), "Error in the last year, all bases"))
    if out is not None:
        typer.echo(f"wrote {out}")


def _backtest_services(scenario: Optional[Path], outcomes: Path, out: Optional[Path],
                       base: Optional[list[int]]) -> None:
    from rich.table import Table

    from .api import run as run_scenario
    from .backtest_services import mean_absolute_errors, service_backtest
    from .inputs.service_outcomes import read_service_outcomes

    try:
        if base:
            raise ForecastError("--services scores the scenario's own base year; leave out "
                                "--base", key="--base")
        table_outcomes = read_service_outcomes(outcomes)
        result = run_scenario(scenario)
        if result.demand is None:
            raise ForecastError("the scenario has no [services]; expected service definitions",
                                file=str(result.scenario.file), key="services")
        table = service_backtest(result.demand, result.population, table_outcomes)
        if out is not None:
            from .io.atomic import atomic_path
            with atomic_path(out) as tmp:
                table.to_csv(tmp, index=False, float_format="%.4f")
    except ForecastError as exc:
        _fail(exc)
    console = _console()
    base_year = result.scenario.base_year
    shown = Table(title=f"Service backtest: {result.scenario.name} (base {base_year}) against "
                        f"outcomes; error = forecast - outcome, % of outcome",
                  title_justify="left")
    for col in ("measure", "year", "outcome", "forecast", "naive", "forecast %", "naive %"):
        shown.add_column(col, justify="left" if col == "measure" else "right")
    for _, row in table.iterrows():
        fmt = "{:,.0f}" if row["unit"] == "NOK" else "{:.2f}"
        shown.add_row(row["measure"], str(row["year"]), fmt.format(row["outcome"]),
                      fmt.format(row["forecast"]), fmt.format(row["naive"]),
                      f"{row['forecast_error_pct']:+.1f}", f"{row['naive_error_pct']:+.1f}")
    console.print(shown)
    mae = mean_absolute_errors(table)
    summary = Table(title="Mean absolute error, % of outcome", title_justify="left")
    for col in ("measure", "forecast", "naive"):
        summary.add_column(col, justify="left" if col == "measure" else "right")
    for measure, row in mae.iterrows():
        summary.add_row(measure, f"{row['forecast']:.1f}", f"{row['naive']:.1f}")
    console.print(summary)
    if out is not None:
        typer.echo(f"wrote {out}")


@app.command("import-ssb")
def import_ssb(file: Path = typer.Argument(...,
                                           help="SSB json-stat2 response or CSV export."),
               out: Optional[Path] = typer.Option(None, "--out", metavar="FILE",
                                                  help="CSV file to write."),
               contents: Optional[str] = typer.Option(None, "--contents", metavar="CODE",
                                                      help="The statistic (ContentsCode) to "
                                                           "take when the table has several."),
               table: str = typer.Option("auto", "--table", metavar="auto|population|long",
                                         help="auto, population (year,sex,age,persons) or long.")):
    """Read an SSB table; missing values and status codes stay missing, never zero."""
    from .io.ssb import import_ssb as run_import

    try:
        if table not in ("auto", "population", "long"):
            raise ForecastError(f"expected auto, population or long, got {table!r}", key="--table")
        _check_out_file(out)
        df = run_import(file, out, contents=contents, table=table)
    except ForecastError as exc:
        _fail(exc)
    value = "persons" if "persons" in df.columns else "value"
    total = f", {df[value].sum():,.0f} persons" if value == "persons" else ""
    columns = ", ".join(c for c in df.columns if c not in (value, "status"))
    typer.echo(f"{file}: {len(df)} cells, {int(df[value].isna().sum())} missing{total} "
               f"(by {columns})")
    if out is not None:
        typer.echo(f"wrote {out}")


def _frame_table(frame, title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for _, row in frame.iterrows():
        table.add_row(*[f"{v:g}" if isinstance(v, float) else str(v) for v in row])
    return table


def _print_backtest(console, run) -> None:
    from rich.table import Table

    for method, what in (("model", "forecast"), ("naive", "naive benchmark")):
        part = run.errors[run.errors["method"] == method]
        years = sorted(part["year"].unique())
        for column, unit, fmt in (("error_pct", "%", "{:+.1f}"), ("error", "persons", "{:+,.0f}")):
            table = Table(title=f"Backtest from {run.base_year} (window {run.window}), {what}: "
                                f"projected - actual, {unit}", title_justify="left")
            table.add_column("Age group")
            for year in years:
                table.add_column(str(year), justify="right")
            for group, rows in part.groupby("group", sort=False):
                values = rows.set_index("year")[column]
                table.add_row(group, *[fmt.format(values[y]) for y in years])
            console.print(table)
    for note in run.notes:
        console.print(f"note: {note}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
