"""The owner's pinned products (plugin.store.pins) put first by serving (plugin.engine.serving),
the same through every surface that asks a query: the JSON API, the widget endpoint, the
nurture feed and the e-mail block. Never a blocked product, nor the product asked about, nor
(in a list of products the customer never bought) one they bought; none on the buy-again
shelf; and a pin's end is served at once, by the same process, with no write."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin.store import keys
from plugin.store.records import store_product
from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store
from tests.helpers import auth, eventually
from tests.plugin.api.test_email import block_link, block_product_ids, catalog, fill_shop, local

CUSTOMER = "3"  # bought 101, 102 (January), 103 and 106 (February): never 104, 105


@pytest.fixture(scope="module")
def trained(store: Store, base_url: str) -> NewShop:
    """One shop for the module: customers 0..29 buy 101+102 in January and two of 103..106 in
    February; trained. Each test sets the pins and exclusions it needs."""
    shop_id = "t-" + uuid.uuid4().hex[:12]
    shop = store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                        "http://testserver"))
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return fill_shop(client, store, shop)


@pytest.fixture
def shop(http: httpx.Client, trained: NewShop) -> Iterator[NewShop]:
    yield trained
    set_pins(http, trained, [])
    exclude(http, trained, [])


def set_pins(http: httpx.Client, shop: NewShop, pins: list[dict[str, Any]]) -> None:
    response = http.put(f"/api/v1/shops/{shop.shop.shop_id}/pins", json={"pins": pins},
                        headers=auth(shop))
    assert response.status_code == 200, response.text


def exclude(http: httpx.Client, shop: NewShop, product_ids: list[str]) -> None:
    response = http.put(f"/api/v1/shops/{shop.shop.shop_id}/exclusions",
                        json={"product_ids": product_ids}, headers=auth(shop))
    assert response.status_code == 200, response.text


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["product_id"] for item in items]


def pinned(items: list[dict[str, Any]]) -> list[str]:
    return [item["product_id"] for item in items if item["reason"] == "pinned"]


def api_items(http: httpx.Client, shop: NewShop, path: str, **params: Any) -> list[dict]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/{path}",
                        params=params, headers=auth(shop))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def cart_items(http: httpx.Client, shop: NewShop, product_ids: list[str], limit: int,
               customer_id: str | None = None) -> list[dict]:
    response = http.post(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/cart",
                         json={"product_ids": product_ids, "limit": limit,
                               "customer_id": customer_id}, headers=auth(shop))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def widget_items(http: httpx.Client, shop: NewShop, placement: str, **params: Any) -> list[dict]:
    response = http.get("/widgets/v1/recommendations",
                        params={"key": shop.shop.widget_key, "placement": placement, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def feed_items(http: httpx.Client, shop: NewShop, customer_id: str, **params: Any) -> list[dict]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed",
                        params={"limit": 500, **params}, headers=auth(shop))
    assert response.status_code == 200, response.text
    rows = [row for row in response.json()["items"] if row["customer_id"] == customer_id]
    assert len(rows) == 1, f"customer {customer_id} is not in the feed"
    return list(rows[0]["products"])


def email_ids(http: httpx.Client, shop: NewShop, customer_id: str, **params: Any) -> list[str]:
    body = http.get(local(block_link(http, shop, customer_id, **params)))
    assert body.status_code == 200, body.text
    return block_product_ids(http, body.text)


def first_and_scored(items: list[dict[str, Any]], expected_pinned: list[str]) -> None:
    """The pinned products lead, scored as the answer's best, the rest follow once."""
    assert pinned(items) == expected_pinned, items
    assert ids(items)[:len(expected_pinned)] == expected_pinned, items
    assert len(set(ids(items))) == len(items)
    scores = [item["score"] for item in items]
    assert all(scores[n] >= max(scores) for n in range(len(expected_pinned))), scores


def test_pins_show_first_and_identically_through_every_surface(http, shop) -> None:
    set_pins(http, shop, [{"product_id": "106", "for_product_id": "101"},
                          {"product_id": "105", "for_product_id": None}])

    together = api_items(http, shop, "products/101", kind="bought_together", limit=4)
    first_and_scored(together, ["106", "105"])
    assert len(together) == 4 and "101" not in ids(together)
    assert together[0]["because"] == ["101"] and "because" not in together[1]
    assert together[0]["title"] == "Plain 106"  # display fields as for any item
    assert ids(widget_items(http, shop, "bundle", product_id="101", limit=4)) == ids(together)

    similar = api_items(http, shop, "products/101", kind="similar", limit=4)
    first_and_scored(similar, ["106", "105"])
    assert ids(widget_items(http, shop, "also_bought", product_id="101", limit=4)) == \
        ids(similar)

    other = api_items(http, shop, "products/103", kind="bought_together", limit=4)
    first_and_scored(other, ["105"])  # 106 is pinned for 101 only

    cart = cart_items(http, shop, ["103", "101"], 4)
    first_and_scored(cart, ["106", "105"])
    assert not {"101", "103"} & set(ids(cart))
    assert ids(widget_items(http, shop, "cart", product_ids="103,101", limit=4)) == ids(cart)
    thank_you = widget_items(http, shop, "thank_you", product_ids="103,101", limit=4)
    assert ids(thank_you) == ids(cart)  # a guest's order: what goes with it

    trending = api_items(http, shop, "trending", limit=4)
    first_and_scored(trending, ["105"])
    assert ids(widget_items(http, shop, "trending", limit=4)) == ids(trending)
    assert ids(widget_items(http, shop, "home", limit=4)) == ids(trending)

    for exclude_purchased in (False, True):
        flag = str(exclude_purchased).lower()
        personal = api_items(http, shop, f"customers/{CUSTOMER}", limit=4,
                             exclude_purchased=flag)
        first_and_scored(personal, ["105"])
        widget = widget_items(http, shop, "home" if exclude_purchased else "customer",
                              customer_id=CUSTOMER, limit=4)
        assert ids(widget) == ids(personal)
        feed = feed_items(http, shop, CUSTOMER, products=4, exclude_purchased=flag)
        assert ids(feed) == ids(personal) and pinned(feed) == ["105"]
        assert email_ids(http, shop, CUSTOMER, limit=4, exclude_purchased=flag) == \
            ids(personal)


def test_blocked_and_asked_about_products_are_never_pinned(http, store, shop) -> None:
    shop_id = shop.shop.shop_id
    exclude(http, shop, ["105"])
    unavailable = {**catalog(shop_id)[5], "available": False}
    assert unavailable["product_id"] == "106"
    store.run(lambda r: store_product(r, shop_id, unavailable, shop.shop.storefront_url))
    try:
        set_pins(http, shop, [{"product_id": "105"}, {"product_id": "106"},
                              {"product_id": "101"}, {"product_id": "104", "for_product_id": "101"},
                              {"product_id": "103", "for_product_id": "102"}])

        def served() -> None:
            together = api_items(http, shop, "products/101", kind="bought_together", limit=4)
            assert "106" not in ids(together), together
            first_and_scored(together, ["104"])  # 101 is the product asked about
            assert ids(widget_items(http, shop, "bundle", product_id="101", limit=4)) == \
                ids(together)

        eventually(served)
        for_102 = api_items(http, shop, "products/102", kind="similar", limit=4)
        first_and_scored(for_102, ["103", "101"])  # the product's pins, then everywhere's
        cart = cart_items(http, shop, ["101", "102"], 5)
        first_and_scored(cart, ["104", "103"])
        assert ids(widget_items(http, shop, "cart", product_ids="101,102", limit=5)) == ids(cart)
        trending = api_items(http, shop, "trending", limit=5)
        first_and_scored(trending, ["101"])
        assert not {"105", "106"} & set(ids(trending))
    finally:
        store.run(lambda r: store_product(r, shop_id, catalog(shop_id)[5],
                                          shop.shop.storefront_url))


def test_a_list_of_never_bought_products_gets_no_pin_they_bought(http, shop) -> None:
    set_pins(http, shop, [{"product_id": "102"}, {"product_id": "104"}])
    with_bought = api_items(http, shop, f"customers/{CUSTOMER}", limit=4)
    first_and_scored(with_bought, ["102", "104"])
    new_only = api_items(http, shop, f"customers/{CUSTOMER}", limit=4, exclude_purchased="true")
    first_and_scored(new_only, ["104"])
    assert "102" not in ids(new_only)
    home = widget_items(http, shop, "home", customer_id=CUSTOMER, limit=4)
    assert ids(home) == ids(new_only)
    assert email_ids(http, shop, CUSTOMER, limit=4, exclude_purchased="true") == ids(new_only)
    thanks = widget_items(http, shop, "thank_you", product_ids="104", customer_id=CUSTOMER,
                          limit=4)
    assert pinned(thanks) == [] and not {"102", "104"} & set(ids(thanks))


def test_the_buy_again_shelf_shows_no_pin(http, shop) -> None:
    before = widget_items(http, shop, "buy_again", customer_id=CUSTOMER, limit=4)
    set_pins(http, shop, [{"product_id": "105"}, {"product_id": "104"}])
    after = widget_items(http, shop, "buy_again", customer_id=CUSTOMER, limit=4)
    assert pinned(after) == [] and ids(after) == ids(before)


def test_more_pins_than_the_limit_fill_it_in_the_owners_order(http, shop) -> None:
    set_pins(http, shop, [{"product_id": p} for p in ("104", "102", "106", "103")])
    first_and_scored(api_items(http, shop, "trending", limit=3), ["104", "102", "106"])
    assert ids(widget_items(http, shop, "trending", limit=2)) == ["104", "102"]


def test_a_pin_is_gone_once_its_end_has_passed_without_any_write(http, store, shop) -> None:
    end = datetime.now(UTC) + timedelta(seconds=2)
    set_pins(http, shop, [{"product_id": "104", "until": end.isoformat()},
                          {"product_id": "103", "for_product_id": "101",
                           "until": (end + timedelta(days=1)).isoformat()}])
    shop_id = shop.shop.shop_id
    notes = store.run(lambda r: r.xlen(keys.changes(shop_id)))
    for wait in (0.0, 0.5):  # the second round: after the note was read again, answers kept
        time.sleep(wait)
        first_and_scored(api_items(http, shop, "trending", limit=4), ["104"])
        first_and_scored(widget_items(http, shop, "bundle", product_id="101", limit=4),
                         ["103", "104"])
        assert pinned(feed_items(http, shop, CUSTOMER, products=4)) == ["104"]
        assert email_ids(http, shop, CUSTOMER, limit=4)[0] == "104"

    def ended() -> None:
        assert datetime.now(UTC) >= end
        assert pinned(api_items(http, shop, "trending", limit=4)) == []
        assert pinned(widget_items(http, shop, "trending", limit=4)) == []
        assert pinned(widget_items(http, shop, "bundle", product_id="101", limit=4)) == ["103"]
        assert pinned(feed_items(http, shop, CUSTOMER, products=4)) == []
        assert pinned(api_items(http, shop, f"customers/{CUSTOMER}", limit=4)) == []

    eventually(ended, timeout=20)
    assert store.run(lambda r: r.xlen(keys.changes(shop_id))) == notes  # no write at all
    listed = http.get(f"/api/v1/shops/{shop_id}/pins", headers=auth(shop)).json()["pins"]
    assert [(p["product_id"], p["active"]) for p in listed] == [("104", False), ("103", True)]
