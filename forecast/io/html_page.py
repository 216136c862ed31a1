"""Building blocks of an HTML page of tables and plotly charts: escaping, Norwegian
numbers, tables whose cells carry data attributes (so tests and scripts can find a value),
and a page that collects sections and charts in order."""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.src { font-size: 0.85em; color: #555; min-width: 20em; max-width: 30em; }
tr.delta td { color: #555; font-style: italic; }
figure.chart { margin: 1em 0 2em 0; }
p.note { color: #555; }
"""


def escape(text) -> str:
    return html.escape(str(text))


def number(value, decimals: int = 0) -> str:
    """Norwegian style: 12 345,6 (no-break space, decimal comma, real minus); '' if missing."""
    value = float(value)
    if not np.isfinite(value):
        return ""
    text = f"{abs(value):,.{decimals}f}".replace(",", "\u00a0").replace(".", ",")
    return ("\u2212" if round(value, decimals) < 0 else "") + text


def year_text(value) -> str:
    """2019, or a dash where there is no year (NaN)."""
    value = float(value)
    return str(int(value)) if np.isfinite(value) else "–"


def plain_number(value) -> str:
    """A value of any size: 1,15 mill., 1 377, 6,00, 0,0235."""
    value = float(value)
    if not np.isfinite(value):
        return ""
    if abs(value) >= 1e6:
        return number(value / 1e6, 2) + " mill."
    return number(value) if abs(value) >= 100 else number(value, 3 - len(str(int(abs(value)))))


def table(header: Iterable[str], rows: Iterable[Iterable[str]], num_from: int = 1) -> str:
    """A table; `rows` hold ready <td> strings (see `cell`) or plain text, and a row may be
    ({attribute: value}, cells). Columns from `num_from` on are right-aligned numbers."""
    head = "".join(f'<th class="num">{escape(h)}</th>' if i >= num_from
                   else f"<th>{escape(h)}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        attrs = ""
        if isinstance(row, tuple) and len(row) == 2 and isinstance(row[0], dict):
            attrs, row = "".join(f' {k}="{escape(v)}"' for k, v in row[0].items()), row[1]
        cells = "".join(c if c.startswith("<td") else f"<td>{escape(c)}</td>" for c in row)
        body.append(f"<tr{attrs}>{cells}</tr>")
    return (f'<table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def cell(text: str, num: bool = True, **data) -> str:
    """A <td>; keywords become data- attributes (data-service="heldogn")."""
    attrs = "".join(f' data-{k.replace("_", "-")}="{escape(v)}"' for k, v in data.items())
    return f'<td class="{"num" if num else "src"}"{attrs}>{escape(text)}</td>'


class Page:
    """The sections and charts of one report, in order."""

    def __init__(self, source: str, contents_label: str, prepare=None):
        self.parts: list[str] = []
        self.source = source
        self.sections: list[tuple[str, str]] = []
        self.contents_label = contents_label
        self.prepare = prepare      # called on each figure before it is written

    def add(self, text: str) -> None:
        self.parts.append(text)

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        if anchor:
            self.sections.append((anchor, text))
            self.add(f'<h{level} id="{escape(anchor)}">{escape(text)}</h{level}>')
        else:
            self.add(f"<h{level}>{escape(text)}</h{level}>")

    def contents(self) -> str:
        links = "".join(f'<li><a href="#{escape(a)}">{escape(t)}</a></li>'
                        for a, t in self.sections)
        return f'<nav><b>{escape(self.contents_label)}</b><ul>{links}</ul></nav>'

    def note(self, text: str) -> None:
        self.add(f'<p class="note">{escape(text)}</p>')

    def chart(self, name: str, fig) -> None:
        if self.prepare is not None:
            self.prepare(fig)
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                           config=PLOTLY_CONFIG)
        self.add(f'<figure class="chart" data-chart="{escape(name)}">{body}</figure>')

    def document(self, title: str, top: Iterable[str]) -> str:
        """The whole page: plotly.js inline in the head, `top` (ready HTML) above the
        contents, then the sections."""
        from plotly.offline import get_plotlyjs

        return ("<!DOCTYPE html>\n<html lang=\"no\"><head><meta charset=\"utf-8\">"
                f"<title>{escape(title)}</title><style>{CSS}</style>"
                f"<script>{get_plotlyjs()}</script></head>"
                f"<body>{''.join(top)}{self.contents()}{''.join(self.parts)}</body></html>\n")
