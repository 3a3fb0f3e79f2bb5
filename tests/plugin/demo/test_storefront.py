"""The demo storefront (plugin.demo.storefront) over real HTTP: its pages embed the widget in each
placement for a new visitor (their own id in a cookie) or a chosen customer, the cart lives in
a cookie, "Place order" hands the cart to the order callback, and nothing a visitor sends
reaches a page unescaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from plugin.demo.store import DemoStore, generate_store
from plugin.demo.storefront import (
    CART_COOKIE,
    CUSTOMER_COOKIE,
    MAX_CART_ITEMS,
    SHOPPER_COOKIE,
    attributes,
    element,
    placeholder,
    returning_customers,
    storefront_routes,
)
from tests.conftest import LiveServer, Store, free_port

WIDGET_KEY = "wk_storefront_test"


@pytest.fixture(scope="module")
def demo() -> DemoStore:
    return generate_store(seed=3, n_orders=300, months=6, n_products=60)


@pytest.fixture(scope="module")
def placed() -> list[tuple[str, list[str]]]:
    return []


@pytest.fixture(scope="module")
def shop_url(store: Store, demo: DemoStore, placed: list[tuple[str, list[str]]]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    async def place_order(customer_id: str, product_ids: list[str]) -> None:
        placed.append((customer_id, product_ids))

    routes = storefront_routes(demo, WIDGET_KEY, url, place_order)
    with LiveServer(replace(store.settings, public_url=url), routes, port=port):
        yield url


@pytest.fixture
def visitor(shop_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop_url, timeout=30) as client:
        yield client


def embed_script(page: str) -> dict[str, str]:
    tag = re.search(r"<script async([^>]*)></script>", page)
    assert tag is not None
    return dict(re.findall(r' ([a-z-]+)="([^"]*)"', tag.group(1)))


def test_a_new_visitor_gets_an_id_of_their_own_that_the_widget_carries(
        visitor: httpx.Client, shop_url: str) -> None:
    first = visitor.get("/demo/")
    assert first.status_code == 200
    shopper = visitor.cookies[SHOPPER_COOKIE]
    assert shopper.isdigit()
    script = embed_script(first.text)
    assert script == {"src": f"{shop_url}/widgets/v1/embed.js", "data-key": WIDGET_KEY,
                      "data-customer-id": shopper}
    again = visitor.get("/demo/cart")
    assert embed_script(again.text)["data-customer-id"] == shopper  # kept from page to page
    assert SHOPPER_COOKIE not in again.headers.get("set-cookie", "")
    assert "Browsing as a new visitor" in first.text


def test_home_lists_every_product_and_the_most_loyal_customers(
        visitor: httpx.Client, demo: DemoStore) -> None:
    page = visitor.get("/demo/").text
    assert page.count('<div class="card">') == len(demo.products)
    for product in demo.products[:5]:
        assert f'href="/demo/products/{product.handle}"' in page
    for customer_id, name in returning_customers(demo, 3):
        assert f'href="/demo/?customer={customer_id}">{name}</a>' in page
    assert '<div data-shopreco="home" data-limit="6">' in page
    assert 'placement="buy_again"' not in page  # no shelf of their own products for a visitor
    inspired = ('<shopreco-recommendations placement="inspired_by_browsing" limit="6">'
                '</shopreco-recommendations>')  # the browser's own views: no id on the page
    assert page.index('<h2 id="all">') < page.index(inspired)  # below: nothing jumps


def test_playing_a_customer_signs_in_until_signing_out(visitor: httpx.Client) -> None:
    page = visitor.get("/demo/", params={"customer": "6200000000001"}).text
    assert visitor.cookies[CUSTOMER_COOKIE] == "6200000000001"
    assert "Signed in as customer 6200000000001" in page
    assert embed_script(page)["data-customer-id"] == "6200000000001"
    assert ('<shopreco-recommendations placement="buy_again" limit="6" '
            'customer-id="6200000000001"></shopreco-recommendations>') in page
    assert "Signed in as customer 6200000000001" in visitor.get("/demo/cart").text
    signed_out = visitor.get("/demo/", params={"customer": ""}).text
    assert "Browsing as a new visitor" in signed_out
    assert embed_script(signed_out)["data-customer-id"] == visitor.cookies[SHOPPER_COOKIE]


def test_a_product_page_embeds_the_bundle_the_carousel_and_the_recently_viewed(
        visitor: httpx.Client, demo: DemoStore) -> None:
    product = next(p for p in demo.products if "&" in p.title)
    page = visitor.get(f"/demo/products/{product.handle}").text
    assert f"<h1>{product.title.replace('&', '&amp;')}</h1>" in page
    assert (f'<div data-shopreco="bundle" data-limit="4" data-product-id="{product.product_id}" '
            f'data-product-title="{product.title.replace("&", "&amp;")}" '
            f'data-product-price="{product.price}"></div>') in page
    assert f'placement="also_bought" limit="6" product-id="{product.product_id}"' in page
    recent = (f'<div data-shopreco="recently_viewed" data-limit="4" '
              f'data-product-id="{product.product_id}"></div>')  # all but this page's product
    assert recent in page and page.index(recent) > page.index('placement="also_bought"')
    assert visitor.get("/demo/products/no-such-product").status_code == 404


def test_the_cart_is_kept_in_a_cookie_once_per_product(
        visitor: httpx.Client, demo: DemoStore, shop_url: str) -> None:
    first, second = demo.products[0], demo.products[1]
    assert "Your cart is empty." in visitor.get("/demo/cart").text
    added = visitor.get(f"/demo/cart/add/{first.product_id}", follow_redirects=False)
    assert (added.status_code, added.headers["location"]) == (303, "/demo/cart")
    visitor.get(f"/demo/cart/add/{first.product_id}")
    visitor.get(f"/demo/cart/add/{second.product_id}")
    visitor.get("/demo/cart/add/404404")  # not a product: ignored
    cart = visitor.get("/demo/cart").text
    assert f"<li>{first.title.replace('&', '&amp;')} — €{first.price}</li>" in cart
    assert '<span id="cart-count">2</span>' in cart
    assert (f'<div data-shopreco="cart" data-limit="4" '
            f'data-product-ids="{first.product_id},{second.product_id}"></div>') in cart
    with httpx.Client(base_url=shop_url, cookies={CART_COOKIE: visitor.cookies[CART_COOKIE]},
                      timeout=30) as same_cookie:  # the cookie is the whole cart
        assert '<span id="cart-count">2</span>' in same_cookie.get("/demo/cart").text
    with httpx.Client(base_url=shop_url, timeout=30) as other:
        assert "Your cart is empty." in other.get("/demo/cart").text


def test_the_widgets_add_to_cart_posts_items_into_the_cart(
        visitor: httpx.Client, demo: DemoStore) -> None:
    ids = [p.product_id for p in demo.products]
    answer = visitor.post("/demo/cart/items", json={"items": [{"product_id": ids[2]},
                                                             {"product_id": int(ids[3])}]})
    assert answer.status_code == 200
    assert answer.json() == {"count": 2, "product_ids": [ids[2], ids[3]]}
    everything = visitor.post("/demo/cart/items",
                              json={"items": [{"product_id": i} for i in ids]}).json()
    assert everything["count"] == MAX_CART_ITEMS == len(everything["product_ids"])
    assert everything["product_ids"][:2] == [ids[2], ids[3]]


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"items": [{"id": 1}]}', b'{"items": 5}',
                                  b'{"items": []}', b'{"items": [{"product_id": "404404"}]}'])
def test_add_to_cart_refuses_what_it_cannot_add_as_a_problem(
        visitor: httpx.Client, body: bytes) -> None:
    answer = visitor.post("/demo/cart/items", content=body,
                          headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert CART_COOKIE not in visitor.cookies


def test_placing_an_order_hands_the_cart_to_the_callback_and_empties_it(
        visitor: httpx.Client, demo: DemoStore, placed: list[tuple[str, list[str]]]) -> None:
    ids = [demo.products[4].product_id, demo.products[5].product_id]
    visitor.get("/demo/")  # a new visitor's first page
    visitor.post("/demo/cart/items", json={"items": [{"product_id": i} for i in ids]})
    before = len(placed)
    done = visitor.post("/demo/checkout", follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (
        303, f"/demo/thank-you?products={','.join(ids)}")
    assert placed[before:] == [(visitor.cookies[SHOPPER_COOKIE], ids)]  # as the new visitor
    assert CART_COOKIE not in visitor.cookies
    visitor.get("/demo/", params={"customer": "6200000000002"})
    visitor.post("/demo/cart/items", json={"items": [{"product_id": ids[0]}]})
    visitor.post("/demo/checkout")
    assert placed[-1] == ("6200000000002", [ids[0]])  # as the customer played
    visitor.post("/demo/checkout")  # an empty cart: no order
    assert len(placed) == before + 2


def test_the_thank_you_page_queues_its_widget_with_the_visitors_input_escaped(
        visitor: httpx.Client, demo: DemoStore) -> None:
    known = demo.products[0].product_id
    page = visitor.get("/demo/thank-you", params={
        "products": f"{known},404404,<b>", "customer": "</script><script>alert(1)//"}).text
    queued = re.search(r'shopreco\.push\(\["render", "#picked", (.*)\]\);</script>', page)
    assert queued is not None
    assert "</script><script>alert" not in page and "<b>" not in page
    options = json.loads(queued.group(1))
    assert options == {"placement": "thank_you", "productIds": known,
                       "customerId": "</script><script>alert(1)//", "limit": "4"}
    assert f"<li>{demo.products[0].title.replace('&', '&amp;')}</li>" in page


def test_product_images_are_their_svg_tiles(visitor: httpx.Client, demo: DemoStore) -> None:
    product = demo.products[7]
    image = visitor.get(f"/demo/images/{product.product_id}.svg")
    assert image.status_code == 200 and image.text == product.image_svg
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.headers["cache-control"] == "public, max-age=86400"
    assert visitor.get("/demo/images/404404.svg").status_code == 404


def test_returning_customers_are_those_with_most_orders_that_count(demo: DemoStore) -> None:
    counts: dict[str, int] = {}
    for order in demo.orders:
        if order["customer"] is not None and order["cancelled_at"] is None:
            cid = str(order["customer"]["id"])
            counts[cid] = counts.get(cid, 0) + 1
    chosen = returning_customers(demo, 3)
    assert [counts[cid] for cid, _name in chosen] == sorted(counts.values(), reverse=True)[:3]
    order = next(o for o in demo.orders if o["customer"] and str(o["customer"]["id"]) ==
                 chosen[0][0])
    assert chosen[0][1] == f"{order['customer']['first_name']} {order['customer']['last_name']}"
    cancelled = replace(demo, orders=[{**o, "cancelled_at": "x"} for o in demo.orders])
    assert returning_customers(cancelled, 3) == []


def test_embedding_markup_escapes_values_and_leaves_out_empty_ones() -> None:
    assert attributes(data_x='a"<b>', empty="", customer_id="7") == \
        ' data-x="a&quot;&lt;b&gt;" customer-id="7"'
    assert placeholder("cart", product_ids="1,2") == \
        '<div data-shopreco="cart" data-limit="4" data-product-ids="1,2"></div>'
    assert element("similar", product_id="") == \
        '<shopreco-recommendations placement="similar" limit="6"></shopreco-recommendations>'
