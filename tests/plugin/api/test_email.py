"""E-mail blocks (plugin/api/email.py) over real HTTP: signed URLs without the API key,
refusals of changed or expired links, e-mail-safe HTML, tracked click redirects, shop
isolation; the block URL call's answers are what the API reference declares."""

from __future__ import annotations

import html
import time
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from plugin.api.signed_links import block_url, click_url, existing_link_secret, link_secret
from plugin.store import keys
from plugin.store.records import store_product
from plugin.store.shops import NewShop
from plugin.store.tracking import clicks_of_customer, day_of
from tests.conftest import Store
from tests.helpers import auth, order_payload, send_orders, train
from tests.openapi_check import reference, schema_errors, undocumented

XSS = "<img src=x onerror=alert(1)>"
PUBLIC = "http://testserver"  # the public_url of the test server's settings


def catalog(shop_id: str) -> list[dict[str, Any]]:
    """Display fields as platforms send them: relative, protocol-relative and unsafe URLs."""
    return [
        {"product_id": "101", "title": XSS, "url": "/products/xss-101",
         "image_url": "//cdn.example.com/101.jpg", "price": "1234.50", "available": True},
        {"product_id": "102", "title": "Mug & Saucer", "url": "https://elsewhere.example/mug",
         "image_url": "https://cdn.example.com/102.png", "price": "10.00", "available": True},
        {"product_id": "103", "title": "Odd links", "url": "javascript:alert(1)",
         "image_url": "data:image/png;base64,AAAA", "price": None, "available": True},
        *({"product_id": str(p), "title": f"Plain {p}", "url": None, "image_url": None,
           "price": "5", "available": True} for p in (104, 105, 106)),
    ]


def fill_shop(http: httpx.Client, store: Store, shop: NewShop, customers: int = 30) -> NewShop:
    """Customers 0.. buy 101+102 in January and two of 103..106 in February; trained."""
    orders = []
    for n in range(customers):
        orders.append(order_payload(1000 + n, n, [101, 102],
                                    created_at=f"2025-01-{n % 28 + 1:02d}T10:00:00Z"))
        orders.append(order_payload(2000 + n, n, [103 + n % 4, 103 + (n + 1) % 4],
                                    created_at=f"2025-02-{n % 28 + 1:02d}T10:00:00Z"))
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    for product in catalog(shop.shop.shop_id):
        store.run(lambda r, p=product: store_product(r, shop.shop.shop_id, p,
                                                     shop.shop.storefront_url))
    return shop


@pytest.fixture
def email_shop(http: httpx.Client, store: Store, make_shop: Any) -> NewShop:
    return fill_shop(http, store, make_shop(currency="EUR", locale="de-DE"))


def block_link(http: httpx.Client, shop: NewShop, customer_id: str, **params: Any) -> str:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/customers/{customer_id}"
                        "/email-block-url", params=params, headers=auth(shop))
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def local(url: str) -> str:
    """The path and query of a public URL, to request it from the test server."""
    assert url.startswith(PUBLIC + "/"), url
    return url[len(PUBLIC):]


def with_param(url: str, name: str, value: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_set_param(name, value))


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(body: str) -> Tags:
    parser = Tags()
    parser.feed(body)
    parser.close()
    return parser


def api_items(http: httpx.Client, shop: NewShop, customer_id: str, limit: int,
              exclude: bool = False) -> list[dict[str, Any]]:
    response = http.get(
        f"/api/v1/shops/{shop.shop.shop_id}/recommendations/customers/{customer_id}",
        params={"limit": limit, "exclude_purchased": str(exclude).lower()}, headers=auth(shop))
    assert response.status_code == 200
    return list(response.json()["items"])


def block_product_ids(http: httpx.Client, body: str) -> list[str]:
    links = [attrs["href"] or "" for tag, attrs in parse(body).tags if tag == "a"]
    ids = [httpx.URL(link).params["product"] for link in links]
    return list(dict.fromkeys(ids))  # image and title link to the same product


def test_block_url_needs_the_api_key(http, email_shop) -> None:
    url = f"/api/v1/shops/{email_shop.shop.shop_id}/lifecycle/customers/1/email-block-url"
    assert http.get(url).status_code == 401


def test_signed_block_opens_without_the_api_key(http, email_shop) -> None:
    response = http.get(local(block_link(http, email_shop, "1")))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<table" in response.text


@pytest.mark.parametrize("exclude", [False, True])
def test_block_shows_what_the_api_answers(http, email_shop, exclude) -> None:
    link = block_link(http, email_shop, "3", limit=5, exclude_purchased=str(exclude).lower())
    shown = block_product_ids(http, http.get(local(link)).text)
    expected = [item["product_id"] for item in api_items(http, email_shop, "3", 5, exclude)]
    assert shown == expected and len(shown) == (2 if exclude else 5)


def test_block_html_is_email_safe(http, email_shop) -> None:
    body = http.get(local(block_link(http, email_shop, "2", limit=6, heading="For <you>"))).text
    tags = parse(body)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"style", "script", "link", "iframe", "form"}
    assert names <= {"table", "tr", "td", "a", "img", "p"}
    for _tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs)
        assert "class" not in attrs
    images = [attrs["src"] or "" for tag, attrs in tags.tags if tag == "img"]
    links = [attrs["href"] or "" for tag, attrs in tags.tags if tag == "a"]
    assert images and all(src.startswith(("https://", "http://")) for src in images)
    assert links and all(href.startswith(f"{PUBLIC}/email/v1/click?") for href in links)


def test_relative_and_unsafe_image_urls(http, email_shop) -> None:
    body = http.get(local(block_link(http, email_shop, "2", limit=6))).text
    images = {attrs["src"] for tag, attrs in parse(body).tags if tag == "img"}
    assert "https://cdn.example.com/101.jpg" in images  # protocol-relative made absolute
    assert not any((src or "").startswith("data:") for src in images)


def test_titles_stay_text(http, email_shop) -> None:
    body = http.get(local(block_link(http, email_shop, "2", limit=6, heading=XSS))).text
    assert XSS not in body
    assert html.escape(XSS) in body
    assert [tag for tag, attrs in parse(body).tags if attrs.get("src") == "x"] == []
    assert "".join(parse(body).text).count(XSS) == 2  # the heading and the product's title


def test_prices_follow_the_shops_currency_and_locale(http, email_shop) -> None:
    body = http.get(local(block_link(http, email_shop, "2", limit=6))).text
    assert "1.234,50\xa0€" in html.unescape(body)


def test_signed_url_carries_no_secret(http, store, email_shop) -> None:
    link = block_link(http, email_shop, "1")
    secret = store.run(lambda r: existing_link_secret(r, email_shop.shop.shop_id))
    assert secret is not None
    body = http.get(local(link)).text
    assert secret.reveal() not in link and secret.reveal() not in body


@pytest.mark.parametrize(("name", "value"), [
    ("sig", "A" * 43), ("exp", str(int(time.time()) + 10 * 365 * 86400)), ("limit", "6"),
    ("exclude_purchased", "true"), ("heading", "changed"),
])
def test_changed_link_is_403(http, email_shop, name, value) -> None:
    link = block_link(http, email_shop, "1")
    response = http.get(local(with_param(link, name, value)))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_unsigned_link_is_403(http, email_shop) -> None:
    response = http.get(f"/email/v1/blocks/{email_shop.shop.shop_id}/1")
    assert response.status_code == 403


def test_another_customer_by_changing_the_path_is_403(http, email_shop) -> None:
    link = block_link(http, email_shop, "1")
    changed = link.replace(f"/{email_shop.shop.shop_id}/1?", f"/{email_shop.shop.shop_id}/2?")
    assert changed != link
    assert http.get(local(changed)).status_code == 403


def test_another_shops_customer_cannot_be_reached(http, store, email_shop, make_shop) -> None:
    other = fill_shop(http, store, make_shop(), customers=4)
    block_link(http, other, "1")  # the other shop has a secret of its own
    link = block_link(http, email_shop, "1")
    changed = link.replace(f"/{email_shop.shop.shop_id}/", f"/{other.shop.shop_id}/")
    assert http.get(local(changed)).status_code == 403
    response = http.get(f"/api/v1/shops/{other.shop.shop_id}/lifecycle/customers/1"
                        "/email-block-url", headers=auth(email_shop))
    assert response.status_code == 403


def test_expired_link_is_410(http, store, email_shop) -> None:
    shop_id = email_shop.shop.shop_id
    secret = store.run(lambda r: link_secret(r, shop_id))
    expired = block_url(PUBLIC, secret, shop_id, "1", 4, False, "", int(time.time()) - 60)
    response = http.get(local(expired))
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"


def test_deleting_the_secret_revokes_every_link(http, store, email_shop) -> None:
    shop_id = email_shop.shop.shop_id
    old = block_link(http, email_shop, "1")
    store.run(lambda r: r.delete(keys.email_link_secret(shop_id)))
    assert http.get(local(old)).status_code == 403
    assert http.get(local(block_link(http, email_shop, "1"))).status_code == 200


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "13"}, {"limit": "four"}, {"exclude_purchased": "maybe"},
    {"expires_in_days": "0"}, {"expires_in_days": "366"}, {"heading": "x" * 201},
])
def test_bad_block_url_params_are_400(http, email_shop, params) -> None:
    response = http.get(f"/api/v1/shops/{email_shop.shop.shop_id}/lifecycle/customers/1"
                        "/email-block-url", params=params, headers=auth(email_shop))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def clicks_in_block(http: httpx.Client, shop: NewShop, customer_id: str) -> dict[str, str]:
    body = http.get(local(block_link(http, shop, customer_id, limit=6))).text
    links = [attrs["href"] or "" for tag, attrs in parse(body).tags if tag == "a"]
    return {httpx.URL(link).params["product"]: link for link in links}


def test_click_redirects_to_the_product(http, email_shop) -> None:
    clicks = clicks_in_block(http, email_shop, "2")
    storefront = email_shop.shop.storefront_url
    expected = {"101": f"{storefront}/products/xss-101", "102": "https://elsewhere.example/mug",
                "103": storefront, "104": storefront}
    for product_id, target in expected.items():
        response = http.get(local(clicks[product_id]))
        assert response.status_code == 303
        assert response.headers["location"] == target


def test_click_link_for_another_product_is_403(http, email_shop) -> None:
    link = clicks_in_block(http, email_shop, "2")["101"]
    assert http.get(local(with_param(link, "product", "102"))).status_code == 403
    assert http.get(local(with_param(link, "customer", "3"))).status_code == 403


def test_unsigned_or_expired_click_is_refused(http, store, email_shop) -> None:
    shop_id = email_shop.shop.shop_id
    unsigned = f"/email/v1/click?shop={shop_id}&customer=2&product=101"
    assert http.get(unsigned).status_code == 403
    assert http.get("/email/v1/click?shop=NO%20SHOP&exp=1&sig=x").status_code == 403
    secret = store.run(lambda r: link_secret(r, shop_id))
    expired = click_url(PUBLIC, secret, shop_id, "2", "101", int(time.time()) - 1)
    assert http.get(local(expired)).status_code == 410


def test_click_is_counted_once_for_attribution(http, store, email_shop) -> None:
    shop_id = email_shop.shop.shop_id
    link = clicks_in_block(http, email_shop, "2")["102"]
    before = time.time()
    assert http.get(local(link)).status_code == 303
    assert http.get(local(link)).status_code == 303  # the same link again counts once
    assert http.head(local(link)).status_code == 303  # a link checker is no click
    clicks = store.run(lambda r: clicks_of_customer(r, shop_id, "2", before - 1, time.time()))
    assert [(c.placement, c.product_id) for c in clicks] == [("email", "102")]
    counts = store.run(lambda r: r.hgetall(keys.widget_counts(shop_id, day_of(time.time()))))
    assert counts.get(b"email:click") == b"1"


def test_a_click_counts_for_its_own_shop_only(http, store, email_shop, make_shop) -> None:
    other = fill_shop(http, store, make_shop(), customers=4)
    link = clicks_in_block(http, email_shop, "2")["102"]
    assert http.get(local(link)).status_code == 303
    clicks = store.run(lambda r: clicks_of_customer(r, other.shop.shop_id, "2", 0, time.time()))
    assert clicks == []


def test_block_of_a_shop_without_model_is_empty(http, shop) -> None:
    response = http.get(local(block_link(http, shop, "1")))
    assert response.status_code == 200 and response.text == ""


# ---- the API reference --------------------------------------------------------------------------

BLOCK_URL_ROUTE = "/api/v1/shops/{shop_id}/lifecycle/customers/{customer_id}/email-block-url"


def test_the_reference_declares_only_the_block_url_call(http) -> None:
    """The signed /email/v1/ links are public pages, not API calls: not in the reference."""
    doc = reference(http)
    assert undocumented(doc, BLOCK_URL_ROUTE) == []
    operation = doc["paths"][BLOCK_URL_ROUTE]["get"]
    assert operation["security"] == [{"apiKey": ["lifecycle:read"]}]
    assert [p["name"] for p in operation["parameters"]] == [
        "shop_id", "customer_id", "limit", "exclude_purchased", "heading", "expires_in_days"]
    assert not [path for path in doc["paths"] if path.startswith("/email/")]


@pytest.mark.parametrize(("customer_id", "params", "status"), [
    ("1", {}, 200),
    ("never-seen", {"limit": "12", "exclude_purchased": "true", "heading": XSS,
                    "expires_in_days": "365"}, 200),
    ("1", {"limit": "13"}, 400),
    ("1", {"heading": "x" * 201}, 400),
    ("1", {"expires_in_days": "0"}, 400),
])
def test_block_url_answers_are_what_the_reference_declares(http, shop, customer_id, params,
                                                           status) -> None:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/customers/{customer_id}"
                        "/email-block-url", params=params, headers=auth(shop))
    assert response.status_code == status
    assert schema_errors(reference(http), "GET", BLOCK_URL_ROUTE, response) == []


def test_block_url_key_refusals_are_declared(http, shop, make_shop) -> None:
    url = f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/customers/1/email-block-url"
    for response, status in [(http.get(url), 401), (http.get(url, headers=auth(make_shop())),
                                                    403)]:
        assert response.status_code == status
        assert schema_errors(reference(http), "GET", BLOCK_URL_ROUTE, response) == []
