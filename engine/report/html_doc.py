"""Building blocks of the self-contained HTML reports (tearsheet and comparison).

A report is one file that opens from disk with no network: charts are embedded as base64 PNG
``data:`` URIs, the CSS is inline, there is no script and no external URL of any kind. Every
text that comes from the user (names, config values) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported only where a chart is drawn (engine.report.render)
    from matplotlib.figure import Figure

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2933;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; font-size: 14px; }
h1 { font-size: 22px; margin-bottom: 2px; }
h2 { font-size: 17px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; margin-top: 30px; }
h3 { font-size: 15px; margin-bottom: 6px; }
.sub { color: #52606d; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e7eb; }
th { background: #f0f4f8; text-align: right; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f7fafc; }
.neg { color: #b42318; }
img { max-width: 100%; display: block; margin: 6px 0 18px 0; }
pre { background: #f5f7fa; border: 1px solid #e4e7eb; padding: 10px; font-size: 12px;
      overflow-x: auto; }
.note { color: #616e7c; font-size: 12px; }
"""


def esc(text: object) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(text), quote=True)


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas (no GUI backend, no pyplot state).

    No metadata (no "Software" URL, no time) is written, so the bytes are reproducible.
    """
    from engine.report.render import figure_png as render_png

    return render_png(fig, dpi)


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` whose source is the PNG itself, base64-encoded in a ``data:`` URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def save_chart(fig: Figure, out_dir: Path, stem: str, alt: str) -> str:
    """Write ``<out_dir>/<stem>.png`` and return the same image as an embedded ``<img>`` tag."""
    return write_png(figure_png(fig), out_dir, stem, alt)


def write_png(png: bytes, out_dir: Path, stem: str, alt: str) -> str:
    """Write PNG bytes to ``<out_dir>/<stem>.png``; return them as an embedded ``<img>`` tag."""
    (out_dir / f"{stem}.png").write_bytes(png)
    return img_tag(png, alt)


def assemble(
    sections: Sequence[tuple[str, Sequence[object]]], pngs: dict[str, bytes], out_dir: Path
) -> list[str]:
    """Render ``(heading, parts)`` sections: a part is HTML text or a chart placeholder.

    A placeholder is any object with ``stem`` and ``alt`` (an :class:`engine.report.render.Chart`);
    it becomes ``<stem>.png`` in ``out_dir`` and an embedded ``<img>`` of ``pngs[stem]``.
    """
    out = []
    for heading, parts in sections:
        html_parts = [
            part if isinstance(part, str)
            else write_png(pngs[part.stem], out_dir, part.stem, part.alt)  # type: ignore[attr-defined]
            for part in parts
        ]
        out.append(section(heading, *html_parts))
    return out


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], table_id: str | None = None
) -> str:
    """A compact HTML table; cells are escaped; negative numbers get the ``neg`` class."""
    attr = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="neg"' if i > 0 and str(cell).startswith("-") else ""
            cells.append(f"<td{cls}>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    """A whole HTML document: inline CSS, a heading, then the given section fragments."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}</p>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def section(heading: str, *parts: str) -> str:
    """An ``<h2>`` heading followed by already-rendered fragments."""
    return f"<h2>{esc(heading)}</h2>" + "".join(parts)
