"""Product artwork and handles: the per-category SVG tile style, the short two-line product
name drawn on it, and the Shopify-style slug of a title."""

from __future__ import annotations

import html
import re
import unicodedata

from plugin.demo.catalog import BATH, COFFEE, HOME, KITCHEN, OUTDOOR, STATIONERY, TEA

SVG_MAX_BYTES = 1500

# fmt: off
# background, foreground, shape (drawn in the foreground colour, centred at 200,170)
_CATEGORY_STYLE: dict[str, tuple[str, str, str]] = {
    COFFEE: ("#6F4E37", "#F5E6D3",
             '<path d="M130 110h120v90a60 60 0 0 1-120 0z"/>'
             '<circle cx="262" cy="160" r="26" fill="none" stroke="{fg}" stroke-width="12"/>'),
    TEA: ("#5B7F4A", "#EEF5E2", '<ellipse cx="200" cy="175" rx="85" ry="65"/>'
          '<rect x="180" y="88" width="40" height="26" rx="8"/>'),
    KITCHEN: ("#B5523B", "#FBEDE7", '<rect x="120" y="95" width="160" height="150" rx="24"/>'),
    OUTDOOR: ("#2F5D62", "#E3F1EF", '<polygon points="200,80 300,250 100,250"/>'),
    STATIONERY: ("#3D4E81", "#E8ECF8",
                 '<rect x="135" y="85" width="130" height="165" rx="6"/>'),
    BATH: ("#4F7F94", "#F4FAFC", '<circle cx="200" cy="170" r="78"/>'),
    HOME: ("#8E5572", "#F8EAF1", '<polygon points="200,80 290,160 260,250 140,250 110,160"/>'),
}
_DEFAULT_STYLE = ("#555555", "#F2F2F2", '<circle cx="200" cy="170" r="70"/>')
# fmt: on


def slugify(title: str) -> str:
    """A Shopify-style handle: lowercase ASCII words joined by dashes."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


_SIZE = re.compile(r"\s+(\d[\d.,/]*\s*(?:g|kg|ml|l|cm|lm|pcs))\b")
_DANGLING = frozenset({"&", "and", "of", "with", "for", "in"})


def _short_name_lines(title: str, width: int = 20) -> list[str]:
    """At most two short lines naming the product; a (variant) or a size goes on line 2."""
    variant = re.search(r"\(([^()\d]+)\)", title)
    size = _SIZE.search(title)
    words = _SIZE.sub("", re.sub(r"\s*\(.*?\)", "", title)).split() or [title]
    if variant:
        return [_last_words(words, width), variant.group(1).strip()[:width]]
    lines = _wrap(words, width)
    if size and len(lines) == 1:
        return [lines[0][:width], size.group(1)]
    while len(words) > 1 and len(lines) > 2:
        words = words[1:]
        lines = _wrap(words, width)
    return [line[:width] for line in lines[:2]]


def _last_words(words: list[str], width: int) -> str:
    """The longest tail of ``words`` that fits ``width`` (the noun is at the end)."""
    for start in range(len(words)):
        tail = " ".join(words[start:])
        if len(tail) <= width and words[start].lower() not in _DANGLING:
            return tail
    return words[-1][:width]


def _wrap(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def render_product_svg(title: str, category: str) -> str:
    """A small self-contained SVG tile: category colour, a simple shape, the short name."""
    background, foreground, shape = _CATEGORY_STYLE.get(category, _DEFAULT_STYLE)
    label = html.escape(title[:80], quote=True)
    text = "".join(
        f'<text x="200" y="{y}">{html.escape(line, quote=False)}</text>'
        for y, line in zip((312, 350), _short_name_lines(title), strict=False)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" '
        f'viewBox="0 0 400 400" role="img" aria-label="{label}">'
        f'<rect width="400" height="400" fill="{background}"/>'
        f'<g fill="{foreground}">{shape.replace("{fg}", foreground)}</g>'
        f'<g fill="{foreground}" font-family="Helvetica,Arial,sans-serif" font-size="28" '
        f'font-weight="600" text-anchor="middle">{text}</g></svg>'
    )
