"""Self-contained HTML pages: inline CSS, a small sortable-table script, inline SVG plots, nothing fetched.

Everything that comes from user data (class names, hostnames, paths, error messages) goes through
:func:`esc`; SVG from :mod:`edgeyolo.report.plots` is already escaped by matplotlib.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgeyolo._version import __version__

CSS = """
:root { --fg:#1d232b; --muted:#5b6675; --line:#d9dee5; --accent:#1f6feb; --bad:#b42318; --good:#067647;
        --bg:#ffffff; --panel:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
main { max-width: 1400px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, .muted { color: var(--muted); }
.summary { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--accent);
           border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
.summary.none { border-left-color: var(--bad); }
.summary .choice { font-size: 18px; font-weight: 600; }
figure { margin: 8px 0 16px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 2px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns: 1fr; } }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 5px; text-align: left; vertical-align: top; }
th { white-space: nowrap; }
.name { white-space: nowrap; }
.note { display: inline-block; min-width: 110px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
thead th { background: var(--panel); }
thead th.group { text-align: center; border-left: 2px solid #fff; }
table.sortable thead tr:last-child th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable thead tr:last-child th::after { content: " \\2195"; color: #aab2bd; font-size: 11px; }
table.sortable thead th[data-dir="asc"]::after { content: " \\2191"; color: var(--fg); }
table.sortable thead th[data-dir="desc"]::after { content: " \\2193"; color: var(--fg); }
tr.selected td { background: #e8f1ff; font-weight: 600; }
tr.error td { background: #fff1f0; }
tr.superseded td { color: var(--muted); }
.status-error { color: var(--bad); font-weight: 600; }
.tag { display: inline-block; border-radius: 10px; padding: 0 7px; font-size: 11.5px; background: #eef1f4; }
.tag.sel { background: var(--accent); color: #fff; }
.tag.front { background: #dcfae6; color: var(--good); }
details { margin: 6px 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table.kv th { width: 220px; color: var(--muted); font-weight: normal; }
.extra { border-top: 3px double var(--line); margin-top: 40px; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"""

# Click a header to sort by that column (numbers numerically, blanks last); a ``#sort=<col>`` or
# ``#sort=<col>-desc`` fragment sorts the first sortable table on load, so a sorted view can be linked.
JS = """
(function () {
  function key(td) {
    var v = td.hasAttribute("data-sort") ? td.getAttribute("data-sort") : td.textContent.trim();
    var n = Number(v);
    return { blank: v === "", num: v !== "" && !isNaN(n), n: n, s: v.toLowerCase() };
  }
  function cmp(a, b) {
    if (a.blank !== b.blank) return a.blank ? 1 : -1;
    if (a.num && b.num) return a.n - b.n;
    if (a.num !== b.num) return a.num ? -1 : 1;
    return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  }
  function headRow(table) { return table.tHead.rows[table.tHead.rows.length - 1]; }
  function sortTable(table, col, desc) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[col]), b = key(r2.cells[col]);
      if (a.blank !== b.blank) return a.blank ? 1 : -1;  // missing values last in both directions
      return desc ? -cmp(a, b) : cmp(a, b);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(headRow(table).cells, function (th, i) {
      if (i === col) th.setAttribute("data-dir", desc ? "desc" : "asc"); else th.removeAttribute("data-dir");
    });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(headRow(table).cells, function (th, i) {
      th.addEventListener("click", function () { sortTable(table, i, th.getAttribute("data-dir") === "asc"); });
    });
  });
  var m = /^#sort=(\\d+)(-desc)?$/.exec(window.location.hash);
  var first = document.querySelector("table.sortable");
  if (m && first && Number(m[1]) < headRow(first).cells.length) sortTable(first, Number(m[1]), !!m[2]);
})();
"""

# No network: forbid every fetch, allow only the page's own inline style and script.
CSP_META = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
)


def esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is safe in attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(v: float | int | None, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` is escaped unless ``safe``; ``sort`` is the value the column sorts by."""

    text: object
    sort: float | str | None = None
    num: bool = False
    safe: bool = False

    def render(self) -> str:
        attrs = ' class="num"' if self.num else ""
        if self.sort is not None:
            attrs += f' data-sort="{esc(self.sort)}"'
        return f"<td{attrs}>{self.text if self.safe else esc(self.text)}</td>"


def num(v: float | int | None, digits: int = 2) -> Cell:
    """A right-aligned number cell that sorts numerically (blank sort key when missing)."""
    return Cell(fmt(v, digits), sort="" if v is None else v, num=True)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell | object]],
    *,
    sortable: bool = True,
    row_classes: Sequence[str] | None = None,
    numeric: Sequence[bool] | None = None,
    groups: Sequence[tuple[str, int]] = (),
) -> str:
    """An HTML table; plain values become escaped cells.

    ``groups`` adds a header row above ``headers`` of (label, columns spanned); sorting uses the last row.
    """
    numeric = numeric or [False] * len(headers)
    num_attr = ' class="num"'
    head = "".join(f"<th{num_attr if n else ''}>{esc(h)}</th>" for h, n in zip(headers, numeric))
    if groups:
        top = "".join(f'<th colspan="{span}" class="group">{esc(label)}</th>' for label, span in groups)
        head = f"{top}</tr><tr>{head}"
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = "".join((c if isinstance(c, Cell) else Cell(c)).render() for c in row)
        body.append((f'<tr class="{cls}">' if cls else "<tr>") + f"{cells}</tr>")
    attrs = ' class="sortable"' if sortable else ""
    return (
        f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def kv_table(items: Iterable[tuple[str, object]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def figure(svg: str | None, caption: str = "") -> str:
    """A plot (inline SVG from :mod:`plots`) with an escaped caption; a note when there is nothing to draw."""
    if not svg:
        return f'<p class="muted">{esc(caption or "Nothing to plot.")}</p>'
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def section(title: str, body: str, *, anchor: str = "", extra: bool = False) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}{' class=extra' if extra else ''}><h2>{esc(title)}</h2>{body}</section>"


def page(
    title: str,
    header: str,
    sections: Sequence[str],
    extra_sections: Sequence[tuple[str, str]] = (),
    *,
    script: bool = True,
) -> str:
    """A complete self-contained HTML document: every edgeyolo page (report, compare, tune) is built here.

    Args:
        title: the page title (escaped).
        header: already-safe HTML under the title (summary box).
        sections: already-safe HTML sections from :func:`section`.
        extra_sections: (title, already-safe HTML) pairs appended after the built-in sections, each in its own
            clearly separated section; this is the hook other features (e.g. diagnose) add to a report with.
        script: include the sortable-table script (pages without sortable tables leave it out).
    """
    extra = "".join(
        section(t, body, anchor=f"extra-{i}", extra=True) for i, (t, body) in enumerate(extra_sections)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{CSP_META}<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main><h1>{esc(title)}</h1>{header}\n"
        + "\n".join(sections)
        + ("\n<!-- extra sections -->\n" + extra if extra else "")
        + f"\n<footer>Generated by edgeyolo {esc(__version__)} on {time.strftime('%Y-%m-%d %H:%M:%S')}; "
        "self-contained (no external resources).</footer></main>"
        + (f"<script>{JS}</script>" if script else "")
        + "</body></html>\n"
    )
