"""The e-mail HTML block (plugin/api/email_html.py): absolute http(s) URLs only, prices in the
shop's currency and locale, a two-column presentation table with inline styles and every text
escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from plugin.api.email_html import COLUMNS, BlockProduct, absolute_url, format_price, render_block

STORE = "https://shop.example/store"


@pytest.mark.parametrize(("raw", "url"), [
    ("/products/mug", "https://shop.example/products/mug"),
    ("products/mug", "https://shop.example/store/products/mug"),  # below the storefront
    (" /p ", "https://shop.example/p"),
    ("//cdn.example.com/1.jpg", "https://cdn.example.com/1.jpg"),
    ("http://other.example/x", "http://other.example/x"),
    ("HTTPS://Cdn.Example.com/a", "https://Cdn.Example.com/a"),
    ("javascript:alert(1)", None), ("data:image/png;base64,AAAA", None), ("mailto:a@b", None),
    ("ftp://cdn.example.com/x", None), ("https://user:pw@cdn.example.com/x", None),
    ("", None), ("   ", None), (None, None), (42, None),
])
def test_urls_are_made_absolute_and_only_http(raw: object, url: str | None) -> None:
    assert absolute_url(raw, STORE) == url


@pytest.mark.parametrize(("raw", "currency", "locale", "shown"), [
    ("1234.50", "EUR", "de-DE", "1.234,50\xa0€"),
    ("10", "USD", "en-US", "$10.00"),
    ("-2", "USD", "en-US", "-$2.00"),
    (12.5, "GBP", "en-GB", "£12.50"),  # a number from a catalog that sent one
    ("1e3", "EUR", "fr-FR", "1\u202f000,00\xa0€"),
    ("10", "JPY", "ja-JP", "￥10"),  # no minor unit
    ("1234.5", "EUR", "xx-YY", "€1,234.50"),  # a locale Babel does not know: en-US rules
    ("1234.5", "EUR", "!!", "€1,234.50"),
    ("3", "", "en-US", "$3.00"),  # no currency: USD
])
def test_prices_follow_currency_and_locale(raw: object, currency: str, locale: str,
                                           shown: str) -> None:
    assert format_price(raw, currency, locale) == shown


@pytest.mark.parametrize("raw", [None, True, False, "", "abc", "NaN", "Infinity", "-inf", "1,5"])
def test_what_is_no_price_shows_no_price(raw: object) -> None:
    assert format_price(raw, "EUR", "de-DE") is None


class Cells(HTMLParser):
    """The block's rows, cells, tags and text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[dict[str, str | None]]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(block: str) -> Cells:
    cells = Cells()
    cells.feed(block)
    cells.close()
    return cells


def product(n: int, **changes: str | None) -> BlockProduct:
    fields: dict[str, str | None] = {
        "title": f"Product {n}", "link": f"https://reco.example/email/v1/click?product={n}&x=1",
        "price": f"€{n},00", "image_url": f"https://cdn.example.com/{n}.jpg", **changes}
    return BlockProduct(**fields)  # type: ignore[arg-type]


def test_no_products_is_an_empty_block() -> None:
    assert render_block([]) == "" and render_block([], "Heading") == ""


@pytest.mark.parametrize(("count", "rows"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)])
def test_products_fill_rows_of_two_columns(count: int, rows: int) -> None:
    block = parse(render_block([product(n) for n in range(count)]))
    assert len(block.rows) == rows and all(len(row) == COLUMNS for row in block.rows)
    links = [a["href"] for tag, a in block.tags if tag == "a"]
    assert len(links) == 2 * count  # the image and the title link to the product
    assert block.text.count("\xa0") == rows * COLUMNS - count  # the empty cells


def test_the_block_is_a_presentation_table_with_inline_styles() -> None:
    html = render_block([product(1), product(2)], "For you")
    block = parse(html)
    assert html.startswith('<table role="presentation"') and html.endswith("</table>")
    assert {tag for tag, _ in block.tags} == {"table", "tr", "td", "a", "img", "p"}
    assert all("style" in attrs and "class" not in attrs for tag, attrs in block.tags
               if tag != "tr")
    assert block.rows[0] == [{"colspan": str(COLUMNS), "style": block.rows[0][0]["style"]}]
    assert "For you" in block.text
    image = next(attrs for tag, attrs in block.tags if tag == "img")
    assert (image["src"], image["alt"], image["width"]) == (
        "https://cdn.example.com/1.jpg", "Product 1", "260")


def test_without_a_heading_image_or_price_those_parts_are_left_out() -> None:
    block = parse(render_block([product(1, image_url=None, price=None)]))
    assert [tag for tag, _ in block.tags if tag in {"img", "p"}] == []
    assert len(block.rows) == 1  # no heading row
    assert [t for t in block.text if t.strip()] == ["Product 1"]


def test_every_text_and_address_is_escaped() -> None:
    evil = '<img src=x onerror=alert(1)>"&'
    html = render_block([product(1, title=evil, link='https://r.example/?a="b"&c',
                                 price="<b>€1</b>",
                                 image_url='https://cdn.example.com/x.jpg" onload="x')],
                        heading=evil)
    assert "<img src=x" not in html and "<b>" not in html
    block = parse(html)
    assert block.text.count(evil) == 2 and "<b>€1</b>" in block.text  # shown as text
    assert not [name for _, attrs in block.tags for name in attrs if name.startswith("on")]
    assert {a["href"] for tag, a in block.tags if tag == "a"} == {'https://r.example/?a="b"&c'}
    assert [a["src"] for tag, a in block.tags if tag == "img"] == [
        'https://cdn.example.com/x.jpg" onload="x']
