"""The e-mail HTML block: a table of products that e-mail clients render (Outlook included).

Inline styles only (clients drop <style> and never run <script>), a presentation table of two
columns, absolute http(s) image and link URLs, every text HTML-escaped, prices in the shop's
currency and locale (CLDR rules through Babel, as the widget's Intl.NumberFormat does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from html import escape
from urllib.parse import urljoin

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency

from plugin.store.urls import safe_http_url

COLUMNS = 2
IMAGE_WIDTH = 260  # px: two columns in a 600 px e-mail body
FONT = "Arial,Helvetica,sans-serif"
TEXT_COLOUR = "#222222"


@dataclass(frozen=True)
class BlockProduct:
    """One product as the block shows it; `link` is the tracked click URL."""

    title: str
    link: str
    price: str | None = None  # already formatted, e.g. "€10.00"
    image_url: str | None = None  # absolute http(s)


def absolute_url(raw: object, base: str) -> str | None:
    """`raw` made absolute against `base` (the shop's storefront); None unless http(s)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    return safe_http_url(urljoin(base.rstrip("/") + "/", raw.strip()))


def format_price(raw: object, currency: str, locale: str) -> str | None:
    """A catalog price (decimal string) as the shop's customers read it, e.g. 1.234,50 €."""
    if raw is None or isinstance(raw, bool):
        return None
    return _formatted(str(raw), currency, locale)


@lru_cache(maxsize=4096)
def _formatted(raw: str, currency: str, locale: str) -> str | None:
    """format_price's work, kept per (price, currency, locale): a feed page formats the same
    catalog prices many times, and Babel's formatting costs ~0.2 ms a call."""
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        babel_locale = Locale.parse("en_US")
    return format_currency(amount, currency or "USD", locale=babel_locale)


def render_block(products: Sequence[BlockProduct], heading: str = "") -> str:
    """The block as an HTML fragment to paste into an e-mail template ("" without products)."""
    if not products:
        return ""
    rows = [_heading_row(heading)] if heading else []
    for start in range(0, len(products), COLUMNS):
        cells = [_cell(product) for product in products[start:start + COLUMNS]]
        cells += [_EMPTY_CELL] * (COLUMNS - len(cells))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="width:100%;max-width:600px;border-collapse:collapse;font-family:{FONT};">'
        + "".join(rows) + "</table>"
    )


_CELL_STYLE = "width:50%;padding:8px;vertical-align:top;text-align:center;"
_EMPTY_CELL = f'<td width="50%" style="{_CELL_STYLE}">&nbsp;</td>'


def _heading_row(heading: str) -> str:
    return (
        f'<tr><td colspan="{COLUMNS}" style="padding:0 8px 12px 8px;font-size:20px;'
        f'line-height:26px;font-weight:bold;color:{TEXT_COLOUR};">{escape(heading)}</td></tr>'
    )


def _cell(product: BlockProduct) -> str:
    link, title = escape(product.link), escape(product.title)
    image = "" if product.image_url is None else (
        f'<a href="{link}" target="_blank" style="text-decoration:none;">'
        f'<img src="{escape(product.image_url)}" alt="{title}" width="{IMAGE_WIDTH}" '
        f'style="display:block;width:100%;max-width:{IMAGE_WIDTH}px;height:auto;border:0;'
        'margin:0 auto 8px auto;"></a>'
    )
    price = "" if product.price is None else (
        f'<p style="margin:4px 0 0 0;font-size:14px;line-height:20px;font-weight:bold;'
        f'color:{TEXT_COLOUR};">{escape(product.price)}</p>'
    )
    return (
        f'<td width="50%" valign="top" style="{_CELL_STYLE}">{image}'
        f'<a href="{link}" target="_blank" style="font-size:14px;line-height:20px;'
        f'color:{TEXT_COLOUR};text-decoration:none;">{title}</a>{price}</td>'
    )
