"""One self-contained HTML report: tables inline, figures as base64 data URIs, no external request.

A Content-Security-Policy meta tag forbids every fetch except `data:` images and the inline style
sheet, so even a browser opening the file offline never reaches the network.
"""

from __future__ import annotations

import base64
import html
import struct
from dataclasses import dataclass
from pathlib import Path

from lumabench.report.tables import Table, to_html
from lumabench.tracking import Provenance

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.86em}
caption{caption-side:top;text-align:left;font-size:.95em;color:#444;padding:.3em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #e3e3e3}th{background:#f4f4f4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.paper td{background:#fff6dc;font-style:italic}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}dl.prov{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.prov dt{font-weight:bold}dl.prov dd{margin:0;font-family:"DejaVu Sans Mono",monospace;word-break:break-all}
nav ul{columns:2}.scroll{overflow-x:auto}
"""


@dataclass(frozen=True)
class FigureEntry:
    """A figure file, the report section it belongs to, and what it shows."""

    section: str
    title: str
    path: Path
    caption: str


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (so <img> carries its real size)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def _img(entry: FigureEntry) -> str:
    data = entry.path.read_bytes()
    width, height = png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure id="fig-{html.escape(entry.path.stem)}"><img src="{uri}" width="{width}" height="{height}" '
        f'alt="{html.escape(entry.title)}"><figcaption><b>{html.escape(entry.title)}.</b> '
        f"{html.escape(entry.caption)} <code>figures/{html.escape(entry.path.name)}</code></figcaption></figure>"
    )


def render(
    title: str,
    profile: str,
    prov: Provenance,
    tables: list[Table],
    figures: list[FigureEntry],
    notes: list[str],
) -> str:
    """The whole document as one string (no timestamps, so equal inputs give equal bytes)."""
    sections: dict[str, list[FigureEntry]] = {}
    for f in figures:
        sections.setdefault(f.section, []).append(f)
    dirty = {None: "unknown", True: "yes (uncommitted changes)", False: "no"}[prov.git_dirty]
    prov_rows = [
        ("profile", profile),
        ("git commit", prov.git_commit),
        ("working tree modified", dirty),
        ("params hash", prov.params_hash),
        ("data hashes from", prov.data_source),
        ("data digest", prov.data_digest),
    ] + [(f"data: {k}", v) for k, v in prov.data_hashes.items()]
    nav = ["<li><a href='#provenance'>Provenance</a></li>", "<li><a href='#tables'>Tables</a></li>"]
    nav += [f"<li><a href='#sec-{i}'>{html.escape(name)}</a></li>" for i, name in enumerate(sections)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<nav><ul>{''.join(nav)}</ul></nav>",
        "<h2 id='provenance'>Provenance</h2><dl class='prov'>",
        "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in prov_rows),
        "</dl>",
    ]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    parts.append("<h2 id='tables'>Tables</h2>")
    parts += [f"<div class='scroll'>{to_html(t)}</div>" for t in tables]
    for i, (name, entries) in enumerate(sections.items()):
        parts.append(f"<h2 id='sec-{i}'>{html.escape(name)}</h2>")
        parts += [_img(e) for e in entries]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
