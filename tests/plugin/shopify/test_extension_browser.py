"""The theme app extension in Chromium: a storefront page made of the rendered app embed and
app blocks, served from an origin of its own, loads the real embed.js from the live server,
and the widgets show what the trained model answers for the signed-in customer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, VIEWPORT, PageWatch, browser  # noqa: F401
from tests.helpers import order_payload, send_orders, train
from tests.plugin.shopify.theme import app, cart, line_item, product, render, settings_of

WAIT_MS = 20_000
CUSTOMER = 7
TITLE = 'Linen shirt <img src=x onerror=alert(1)> "classic"'


@contextmanager
def page_server(pages: dict[str, str]) -> Iterator[str]:
    """A storefront of fixed HTML pages on a loopback port of its own (another origin than
    the app's); yields its origin and stops when done."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def trained(http: httpx.Client, make_shop: Callable[..., NewShop]) -> Callable[[str], NewShop]:
    """A trained shop whose storefront is `origin`: customers 0..39 always buy 101 with 102,
    and 103..108 in rotating pairs; customer 7 also bought 105 twice more."""

    def make(origin: str) -> NewShop:
        shop = make_shop(storefront_url=origin, currency="EUR")
        orders = []
        for n in range(40):
            orders.append(order_payload(1000 + n, n, [101, 102]))
            orders.append(order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]))
        orders += [order_payload(3000 + n, CUSTOMER, [105]) for n in range(2)]
        send_orders(http, shop, orders)
        assert train(http, shop).status_code == 200
        return shop

    return make


def product_page(widget_key: str, base_url: str) -> str:
    """The extension's embed and app blocks on a product page for product 101, rendered the
    way Shopify would for signed-in customer 7 with product 103 in the cart."""
    shopify: dict[str, Any] = {
        "app": app(widget_key, base_url), "customer": {"id": CUSTOMER},
        "product": product(101, TITLE, 2450, 1011), "cart": cart(line_item(103, 1031)),
        "request": {"page_type": "product", "locale": {"iso_code": "en"}},
    }
    blocks = [
        render("bundle", settings_of("bundle", product_count=2), **shopify),
        render("also-bought", settings_of("also-bought", heading="Shoppers <also> loved"),
               **shopify),
        render("complete-your-order", **shopify),
        render("picked-for-you", **shopify),
        render("buy-again", **shopify),
        render("inspired-by-browsing", **shopify),
        render("recently-viewed", **shopify),
    ]
    sections = "".join(f'<section style="min-height:400px">{b}</section>' for b in blocks)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<link rel="icon" href="data:,"><title>Linen shirt</title></head><body>'
            f'{sections}{render("embed", **shopify)}</body></html>')


@pytest.fixture
def context(browser) -> Iterator[Any]:  # noqa: F811
    opened = browser.new_context(user_agent=DESKTOP_UA, viewport=VIEWPORT)
    yield opened
    opened.close()


def ready(page: Any, host: str) -> None:
    page.locator(host).scroll_into_view_if_needed(timeout=WAIT_MS)
    page.locator(f"{host}[data-shopreco-state=ready]").wait_for(timeout=WAIT_MS)


def shown_ids(page: Any, host: str) -> list[str]:
    ids: list[str] = page.eval_on_selector(host, """el => [...el.shadowRoot
        .querySelectorAll('li[data-product-id]')].map(li => li.dataset.productId)""")
    return ids


def answer(base_url: str, shop: NewShop, **params: str) -> list[str]:
    """What the public endpoint answers for these parameters (what a widget must show)."""
    response = httpx.get(f"{base_url}/widgets/v1/recommendations", timeout=30,
                         params={"key": shop.shop.widget_key, **params})
    response.raise_for_status()
    return [item["product_id"] for item in response.json()["items"]]


def widget_calls(page: Any) -> dict[str, dict[str, str]]:
    """The query of each recommendations call the page makes, by placement."""
    calls: dict[str, dict[str, str]] = {}

    def seen(request: Any) -> None:
        if "/widgets/v1/recommendations?" in request.url:
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            calls[query["placement"]] = query

    page.on("request", seen)
    return calls


def test_the_extensions_blocks_render_the_models_widgets(context, trained, base_url) -> None:
    pages: dict[str, str] = {}
    with page_server(pages) as origin:
        shop = trained(origin)
        pages["/products/linen-shirt"] = product_page(shop.shop.widget_key, base_url)
        page = context.new_page()
        watch, calls = PageWatch(page), widget_calls(page)
        page.goto(f"{origin}/products/linen-shirt")

        bundle = "[data-shopreco=bundle]"
        ready(page, bundle)
        shown = shown_ids(page, bundle)
        assert shown == ["101", *answer(base_url, shop, placement="bundle", product_id="101",
                                        limit="2")]
        assert shown[1] == "102"  # the pair every order has together
        own_row = page.locator(f"{bundle} li").first.locator(".t")
        assert own_row.inner_text() == f"This item: {TITLE}"  # text, never markup

        carousel = "[data-shopreco=also_bought]"
        ready(page, carousel)
        assert page.locator(f"{carousel} h2").inner_text() == "Shoppers <also> loved"
        assert shown_ids(page, carousel) == answer(base_url, shop, placement="also_bought",
                                                   product_id="101", limit="4")

        expected = {"cart": {"product_ids": "103"}, "home": {}, "buy_again": {}}
        for placement, params in expected.items():
            host = f"[data-shopreco={placement}]"
            ready(page, host)
            assert shown_ids(page, host) == answer(
                base_url, shop, placement=placement, customer_id=str(CUSTOMER), limit="4",
                **params)
            assert calls[placement]["customer_id"] == str(CUSTOMER)
        assert "105" in shown_ids(page, "[data-shopreco=buy_again]")

        inspired, recent = ("[data-shopreco=inspired_by_browsing]",
                            "[data-shopreco=recently_viewed]")
        ready(page, inspired)
        visitor = page.evaluate("localStorage.getItem('shopreco_vid')")
        for placement in ("inspired_by_browsing", "recently_viewed"):
            assert (calls[placement]["product_id"], calls[placement]["visitor_id"]) == (
                "101", visitor)
        shown = shown_ids(page, inspired)  # what goes with 101, the newest view: never 101
        assert shown == answer(base_url, shop, placement="inspired_by_browsing",
                               visitor_id=visitor, product_id="101", limit="4")
        assert "101" not in shown
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # renders lazily
        page.locator(f"{recent}[data-shopreco-state=empty]").wait_for(  # only 101 viewed
            state="attached", timeout=WAIT_MS)
        assert "customer_id" not in calls["bundle"]
        assert calls["bundle"]["key"] == shop.shop.widget_key
        assert watch.errors == [] and watch.dialogs == [] and watch.failed_loads == []


def test_a_page_on_an_unregistered_origin_shows_nothing(context, trained, base_url) -> None:
    pages: dict[str, str] = {}
    with page_server(pages) as origin:
        shop = trained("https://some-other-shop.example")
        pages["/products/linen-shirt"] = product_page(shop.shop.widget_key, base_url)
        page = context.new_page()
        page.goto(f"{origin}/products/linen-shirt")
        host = "[data-shopreco=bundle]"  # in the first viewport, so it loads at once
        page.locator(f"{host}[data-shopreco-state=failed]").wait_for(
            state="attached", timeout=WAIT_MS)
        assert page.locator(host).is_hidden()  # the answer was not readable from this origin
