"""The plugin's pages in Chromium: the HTML PHP renders for WooCommerce's product, cart,
thank-you and shop pages and for the shortcode, pointing at our live server with a trained
shop's widget key, loads the real embed.js, and each widget shows what the model answers for
the page's product, cart, order and customer. And the block's editor script registers a
working block."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, VIEWPORT, PageWatch, browser  # noqa: F401
from tests.helpers import order_payload, send_orders, train
from tests.widgets.wordpress.php import PLUGIN, connected, run

WAIT_MS = 20_000
CUSTOMER = 7
TITLE = 'Linen shirt <img src=x onerror=alert(1)> "classic"'


posted: list[tuple[str, str]] = []  # the storefront's POST requests: (path, body)


@pytest.fixture
def storefront() -> Iterator[tuple[str, dict[str, str]]]:
    """A WooCommerce storefront of fixed pages (path -> HTML, filled in by the test) on a
    loopback port of its own: another origin than the API's, in the same address space
    (Chromium blocks a public page's requests to loopback). It records POSTs in `posted`."""
    posted.clear()
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer(pages.get(self.path, "").encode(), "text/html; charset=utf-8")

        def do_POST(self) -> None:  # WooCommerce's AJAX add to cart, recorded
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            posted.append((self.path, body))
            self.answer(b'{"fragments": {}, "cart_hash": ""}', "application/json")

        def answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def trained(http: httpx.Client, make_shop: Callable[..., NewShop],
            storefront: tuple[str, dict[str, str]]) -> NewShop:
    """A trained shop of the storefront's origin: customers 0..39 always buy 101 with 102,
    and 103..108 in rotating pairs; customer 7 also bought 105 twice more."""
    shop = make_shop(storefront_url=storefront[0], currency="EUR")
    orders = []
    for n in range(40):
        orders.append(order_payload(1000 + n, n, [101, 102]))
        orders.append(order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6]))
    orders += [order_payload(3000 + n, CUSTOMER, [105]) for n in range(2)]
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop


@pytest.fixture
def context(browser) -> Iterator[Any]:  # noqa: F811
    opened = browser.new_context(user_agent=DESKTOP_UA, viewport=VIEWPORT)
    yield opened
    opened.close()


def wordpress_page(base_url: str, shop: NewShop, command: str, *args: str,
                   **state: Any) -> str:
    """A storefront page around what the plugin prints for `command` (see
    stubs/driver.php) and the footer's scripts, for signed-in customer 7."""
    rendered = run(command, *args, options=connected(url=base_url, key=shop.shop.widget_key),
                   user=CUSTOMER, currency="EUR", **state)
    assert rendered["html"] and "embed.js" in rendered["footer"], rendered
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<link rel="icon" href="data:,"><title>WooCommerce</title>{WOOCOMMERCE}</head>'
            f'<body><main>{rendered["html"]}</main>{rendered["footer"]}</body></html>')


# WooCommerce's page script as far as the plugin's cart refresh sees it: jQuery events
# on the document and its body, and the blocks' DOM event
WOOCOMMERCE = """<script>
window.triggered = [];
window.jQuery = (on) => ({trigger: (name) => window.triggered.push(
  (on === document.body ? "body " : on === document ? "document " : "? ") + name)});
document.addEventListener("wc-blocks_added_to_cart",
  (e) => window.triggered.push("native " + e.type + " " + JSON.stringify(e.detail)));
</script>"""


PAGES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "/product/linen-shirt/": (("hook", "woocommerce_after_single_product_summary"), {
        "is": {"product": True}, "post_type": "product", "post_id": 101,
        "product": {"id": 101, "name": TITLE, "price": "24.50", "type": "simple"}}),
    "/cart/": (("hook", "woocommerce_after_cart_table"), {"cart": [[103], [104, 1041]]}),
    "/checkout/order-received/5001/": (("hook", "woocommerce_thankyou", "5001"), {
        "orders": {"5001": {"customer_id": CUSTOMER, "items": [[101], [103]]}}}),
    "/shop/": (("hook", "woocommerce_before_shop_loop"), {"is": {"shop": True}}),
    "/my-account/": (("shortcode", '[shopreco placement="buy_again" heading="Again?"]'), {}),
}
# What each widget asks the API for (with key, limit and placement)
CALLS = {
    "bundle": {"product_id": "101"},
    "also_bought": {"product_id": "101"},
    "cart": {"product_ids": "103,104", "customer_id": str(CUSTOMER)},
    "thank_you": {"product_ids": "101,103", "customer_id": str(CUSTOMER)},
    "home": {"customer_id": str(CUSTOMER)},
    "buy_again": {"customer_id": str(CUSTOMER)},
}


def widget_calls(page: Any) -> dict[str, dict[str, str]]:
    """The query of each recommendations call the page makes, by placement."""
    calls: dict[str, dict[str, str]] = {}

    def seen(request: Any) -> None:
        if "/widgets/v1/recommendations?" in request.url:
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            calls[query["placement"]] = query

    page.on("request", seen)
    return calls


def shown_ids(page: Any, host: str) -> list[str]:
    page.locator(host).scroll_into_view_if_needed(timeout=WAIT_MS)
    page.locator(f"{host}[data-shopreco-state=ready]").wait_for(timeout=WAIT_MS)
    ids: list[str] = page.eval_on_selector(host, """el => [...el.shadowRoot
        .querySelectorAll('li[data-product-id]')].map(li => li.dataset.productId)""")
    return ids


def answer(base_url: str, query: dict[str, str]) -> list[str]:
    """What the public endpoint answers for the widget's own query."""
    response = httpx.get(f"{base_url}/widgets/v1/recommendations", params=query, timeout=30)
    response.raise_for_status()
    return [item["product_id"] for item in response.json()["items"]]


def test_the_plugins_pages_show_the_models_recommendations(context, storefront, trained,
                                                           base_url) -> None:
    origin, pages = storefront
    pages.update({path: wordpress_page(base_url, trained, *command, **state)
                  for path, (command, state) in PAGES.items()})
    seen: set[str] = set()
    for path in PAGES:
        page = context.new_page()
        watch, calls = PageWatch(page), widget_calls(page)
        page.goto(f"{origin}{path}")
        hosts = page.eval_on_selector_all("[data-shopreco]",
                                          "els => els.map(e => e.dataset.shopreco)")
        for placement in hosts:
            shown = shown_ids(page, f"[data-shopreco={placement}]")
            query = calls[placement]
            assert {k: query.get(k) for k in CALLS[placement]} == CALLS[placement], placement
            assert query["key"] == trained.shop.widget_key and query["limit"] == "4"
            expected = answer(base_url, query)
            assert expected, f"the model recommends nothing for {query}"
            if placement == "bundle":  # the product's own row first
                assert shown == ["101", *expected] and expected[0] == "102"
                own = page.locator("[data-shopreco=bundle] li").first.locator(".t")
                assert own.inner_text() == f"This item: {TITLE}"  # text, never markup
            else:
                assert shown == expected, placement
            seen.add(placement)
        if path == "/cart/":
            add_to_cart(page)
        if path == "/my-account/":
            heading = page.locator("[data-shopreco=buy_again] h2").inner_text()
            assert heading == "Again?" and "105" in shown_ids(page, "[data-shopreco=buy_again]")
        assert watch.errors == [] and watch.dialogs == [] and watch.failed_loads == [], path
        page.close()
    assert seen == set(CALLS)


def add_to_cart(page: Any) -> None:
    """The cart widget's first Add button posts the product to WooCommerce's AJAX add to
    cart, then the mini-cart, the cart page and the cart blocks are told to refresh."""
    first = shown_ids(page, "[data-shopreco=cart]")[0]
    page.locator("[data-shopreco=cart] li button").first.click()
    page.wait_for_function("window.triggered.length === 3", timeout=WAIT_MS)
    assert page.evaluate("window.triggered") == [
        "body wc_fragment_refresh", "document wc_update_cart",
        'native wc-blocks_added_to_cart {"preserveCartData":false}']
    assert posted == [("/?wc-ajax=add_to_cart", f"product_id={first}&quantity=1")]


EDITOR_STUBS = """
window.changes = [];
const el = (type, props, ...children) =>
  ({type: typeof type === "string" ? type : type.name, props: props || {}, children});
const component = (name) => ({[name]: function () {}})[name];
window.wp = {
  blocks: {registerBlockType: (name, settings) => { window.registered = {name, settings}; }},
  element: {createElement: el},
  components: Object.fromEntries(["Placeholder", "SelectControl", "TextControl",
    "RangeControl"].map((n) => [n, component(n)])),
  blockEditor: {useBlockProps: () => ({className: "wp-block-shopreco-recommendations"})},
  i18n: {__: (text) => text},
};
"""


def test_the_block_editor_script_registers_the_block(context) -> None:
    page = context.new_page()
    watch = PageWatch(page)
    page.set_content("<!doctype html><title>editor</title>")
    page.add_script_tag(content=EDITOR_STUBS)
    page.add_script_tag(path=str(PLUGIN / "blocks" / "recommendations" / "index.js"))
    result = page.evaluate("""() => {
        const {name, settings} = window.registered;
        const tree = settings.edit({attributes: {placement: "cart", productId: "", limit: 4,
            heading: ""}, setAttributes: (change) => window.changes.push(change)});
        const controls = tree.children[0].children;
        const values = {SelectControl: "also_bought", TextControl: "12", RangeControl: 6};
        controls.forEach((c, i) => c.props.onChange(i === 3 ? "Hi" : values[c.type]));
        return {name, saved: settings.save(), wrapper: tree.props.className,
                placeholder: tree.children[0].type, controls: controls.map((c) => c.type),
                options: controls[0].props.options.map((o) => o.value),
                value: controls[0].props.value, changes: window.changes};
    }""")
    block = json.loads((PLUGIN / "blocks" / "recommendations" / "block.json").read_text())
    assert result == {
        "name": block["name"], "saved": None, "wrapper": "wp-block-shopreco-recommendations",
        "placeholder": "Placeholder",
        "controls": ["SelectControl", "TextControl", "RangeControl", "TextControl"],
        "options": block["attributes"]["placement"]["enum"], "value": "cart",
        "changes": [{"placement": "also_bought"}, {"productId": "12"}, {"limit": 6},
                    {"heading": "Hi"}],
    }
    assert watch.errors == []
    page.close()
