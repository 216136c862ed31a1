"""Figure mechanics shared by the charts (charts.py, fan_charts.py): sized and styled for a
report page, a source line at the bottom, count axes from zero, year axes, shortfall shading.
matplotlib is imported inside the functions so `import forecast` stays fast."""

from __future__ import annotations

import numpy as np
import xarray as xr

# Sized for a report page: a figure 8 in wide shown 16 cm wide keeps 10 pt text at 7.9 pt.
FIGSIZE = (8.0, 4.5)
DPI = 150
STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "legend.title_fontsize": 10}
SOURCE_FONTSIZE = 9
SHORTFALL_COLOUR = "tab:red"
SHORTFALL = "Underdekning (behov over kapasitet)"


def styled(draw):
    """Draw inside matplotlib.rc_context(STYLE): text sizes for a report page, rcParams of
    the caller untouched."""
    from functools import wraps

    @wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


def figure(rows: int = 1, height_ratios=None, height: float | None = None):
    """(Figure, axes) with `rows` panels sharing the year axis; room at the bottom for the
    source line."""
    from matplotlib.figure import Figure

    size = (FIGSIZE[0], height or FIGSIZE[1])
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, list(axes[:, 0])


def source_text(*datasets, extra: str = "") -> str:
    """'Kilde: forecast 0.1.0, scenario Bærum LDIP' from the first dataset that names them."""
    attrs = {}
    for ds in reversed([d for d in datasets if d is not None]):
        attrs.update({k: v for k, v in ds.attrs.items() if v not in (None, "")})
    parts = [f"forecast {attrs['forecast_version']}" if "forecast_version" in attrs
             else "forecast"]
    if "scenario" in attrs:
        parts.append(f"scenario {attrs['scenario']}")
    if extra:
        parts.append(extra)
    return "Kilde: " + ", ".join(parts)


def add_source(fig, text: str) -> None:
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=SOURCE_FONTSIZE,
             color="0.3")


def dash(name: str) -> str:
    return name.replace("-", "\u2013")


def thousands(x, _pos=None) -> str:
    return f"{x:,.0f}".replace(",", "\u00a0")


def count_axis(ax, ylabel: str) -> None:
    """A count: from zero, thousands separated."""
    from matplotlib.ticker import FuncFormatter

    ax.set_ylabel(ylabel)
    top = ax.dataLim.y1     # call after drawing: the highest value drawn, with some room
    ax.set_ylim(0, 1.08 * top if np.isfinite(top) and top > 0 else None)
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))


def year_axis(ax, years, label: str = "År") -> None:
    years = sorted(int(y) for y in years)
    span = years[-1] - years[0]
    step = 1 if span <= 10 else 2 if span <= 24 else 5
    ax.set_xticks(list(range(years[0], years[-1] + 1, step)))
    if span > 0:
        ax.set_xlim(years[0], years[-1])
    ax.set_xlabel(label)
    ax.grid(True, alpha=0.3)


def scenario_title(ds: xr.Dataset) -> str:
    name = ds.attrs.get("scenario")
    return f" \u2013 {name}" if name else ""


def service_text(ds: xr.Dataset, service: str) -> tuple[str, str]:
    """(label, unit) of a service; the id and 'antall' when the Dataset has none."""
    label = str(ds["label"].sel(service=service).item()) if "label" in ds.variables else service
    unit = str(ds["unit"].sel(service=service).item()) if "unit" in ds.variables else ""
    return label, unit or "antall"


def shade_shortfall(ax, years, need, capacity, colour=SHORTFALL_COLOUR, label=SHORTFALL):
    """Shade where the need line lies above the capacity steps (as drawn: need linear
    between years, capacity constant from each year to the next). Returns whether any was."""
    years = np.asarray(years, dtype=float)
    need, capacity = np.asarray(need, dtype=float), np.asarray(capacity, dtype=float)
    x = np.linspace(years[0], years[-1], 20 * (len(years) - 1) + 1)
    need_x = np.interp(x, years, need)
    step = np.clip(np.searchsorted(years, x, side="right") - 1, 0, len(years) - 1)
    cap_x = capacity[step]
    with np.errstate(invalid="ignore"):
        above = need_x > cap_x
    if not above.any():
        return False
    ax.fill_between(x, cap_x, need_x, where=above, color=colour, alpha=0.25, linewidth=0,
                    label=label)
    return True
