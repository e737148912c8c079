"""The report as a list of blocks, rendered to Markdown and to self-contained HTML.

Blocks: ``Heading``, ``Para``, ``Table`` (cells are text or ``Link``), ``Image`` (PNG
bytes: a file next to ``report.md``, embedded as a data URI in ``index.html``). In HTML a
table wider than the page scrolls inside its own box, so the page itself never does.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
div.wide{max-width:100%;overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:13px}
p,figcaption{overflow-wrap:anywhere}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.yes{background:#e8f5e9}td.no{background:#ffebee}td.partial{background:#fff8e1}td.assisted{background:#e3f2fd}td.declared{background:#f3e5f5}
td.na{background:#eceff1;color:#555}
img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
code{background:#f5f5f5;padding:0 3px}
"""


@dataclass
class Link:
    text: str
    href: str


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str  # plain text; `code` spans allowed


@dataclass
class Table:
    header: list[str]
    rows: list[list[str | Link]]
    classes: list[list[str]] = field(default_factory=list)  # optional css class per cell


@dataclass
class Image:
    name: str  # file name, e.g. heatmap_detection_s.png
    png: bytes
    alt: str


Block = Heading | Para | Table | Image


def _md_cell(c: str | Link) -> str:
    if isinstance(c, Link):
        return f"[{_md_escape(c.text)}]({c.href})"
    return _md_escape(str(c))


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_md_escape(h) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            for row in b.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
        elif isinstance(b, Image):
            out += [f"![{b.alt}]({b.name})", ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_cell(c: str | Link) -> str:
    if isinstance(c, Link):
        return f'<a href="{html.escape(c.href)}">{html.escape(c.text)}</a>'
    text = str(c)
    if len(text) > 4 and text.startswith("**") and text.endswith("**"):
        return f"<strong>{html.escape(text[2:-2])}</strong>"
    return html.escape(text)


def to_html(blocks: list[Block], title: str) -> str:
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = "".join(ch if ch.isalnum() else "-" for ch in b.text.lower())
            out.append(f'<h{b.level} id="{anchor}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            out.append('<div class="wide"><table><thead><tr>')
            out += [f"<th>{html.escape(h)}</th>" for h in b.header]
            out.append("</tr></thead><tbody>")
            for i, row in enumerate(b.rows):
                cls = b.classes[i] if i < len(b.classes) else []
                cells = []
                for j, c in enumerate(row):
                    k = cls[j] if j < len(cls) and cls[j] else ""
                    attr = f' class="{k}"' if k else ""
                    cells.append(f"<td{attr}>{_html_cell(c)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table></div>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode()
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b.alt)}">'
                f"<figcaption>{html.escape(b.alt)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
