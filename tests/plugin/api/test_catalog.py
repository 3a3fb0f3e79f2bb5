"""The catalog through the JSON API (plugin/api/catalog.py) over real HTTP: products upserted,
read back, deleted and sent in batches; what is stored is what recommendations then show, in
this process at once and in another within the cache's bound; every refusal a 400 naming the
field that stores nothing; the shop's key with its scope; every answer as the reference says."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from plugin.api.catalog import MAX_BATCH
from plugin.store import keys
from plugin.store.api_keys import create_key
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import auth, eventually, order_payload, send_orders, train
from tests.openapi_check import reference, schema_errors, undocumented

ONE = "/api/v1/shops/{shop_id}/catalog/products/{product_id}"
MANY = "/api/v1/shops/{shop_id}/catalog/products"
MUG = {"title": "Blue mug", "price": "19.90", "url": "/products/blue-mug",
       "image_url": "https://cdn.example.com/mug.jpg", "available": True,
       "variant_id": "808950810"}


def one(shop: NewShop, product_id: str) -> str:
    return ONE.format(shop_id=shop.shop.shop_id, product_id=product_id)


def many(shop: NewShop) -> str:
    return MANY.format(shop_id=shop.shop.shop_id)


def put(http: httpx.Client, shop: NewShop, product_id: str, body: Any) -> httpx.Response:
    return http.put(one(shop, product_id), json=body, headers=auth(shop))


def stored(store: Store, shop: NewShop) -> dict[bytes, bytes]:
    return dict(store.run(lambda r: r.hgetall(keys.products(shop.shop.shop_id))))


def items(http: httpx.Client, shop: NewShop, product_id: str) -> dict[str, dict[str, Any]]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/"
                        f"{product_id}", params={"limit": 20}, headers=auth(shop))
    assert response.status_code == 200, response.text
    return {item["product_id"]: item for item in response.json()["items"]}


def widget_ids(http: httpx.Client, shop: NewShop, product_id: str) -> list[str]:
    response = http.get("/widgets/v1/recommendations", params={
        "key": shop.shop.widget_key, "placement": "bundle", "product_id": product_id,
        "limit": 20})
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


def test_a_product_is_stored_read_back_and_documented(http: httpx.Client,
                                                      shop: NewShop) -> None:
    doc = reference(http)
    written = put(http, shop, "632910392", MUG)
    assert written.status_code == 200, written.text
    product = {"product_id": "632910392", "title": "Blue mug", "price": "19.90",
               "currency": "USD", "url": f"{shop.shop.storefront_url}/products/blue-mug",
               "image_url": "https://cdn.example.com/mug.jpg", "available": True,
               "variant_id": "808950810", "deleted": False}
    assert written.json() == {"shop_id": shop.shop.shop_id, "product": product}
    read = http.get(one(shop, "632910392"), headers=auth(shop))
    assert read.status_code == 200 and read.json() == written.json()
    missing = http.get(one(shop, "404404"), headers=auth(shop))
    assert missing.status_code == 404 and "not in the catalog" in missing.json()["detail"]
    gone = http.delete(one(shop, "632910392"), headers=auth(shop))
    assert gone.status_code == 204 and gone.content == b""
    after = http.get(one(shop, "632910392"), headers=auth(shop)).json()["product"]
    assert (after["available"], after["deleted"], after["title"]) == (False, True, "Blue mug")
    for method, route, answer in [("PUT", ONE, written), ("GET", ONE, read),
                                  ("GET", ONE, missing), ("DELETE", ONE, gone)]:
        assert schema_errors(doc, method, route, answer) == []
    assert undocumented(doc, ONE) == [] and undocumented(doc, MANY) == []
    operations = doc["paths"][ONE]
    assert [operations[m]["security"] for m in ("get", "put", "delete")] == [
        [{"apiKey": ["catalog:read"]}], [{"apiKey": ["catalog:write"]}],
        [{"apiKey": ["catalog:write"]}]]
    assert doc["paths"][MANY]["post"]["security"] == [{"apiKey": ["catalog:write"]}]


def test_only_title_and_price_are_needed_and_a_product_id_may_repeat_the_paths(
        http: httpx.Client, shop: NewShop) -> None:
    written = put(http, shop, "7", {"product_id": 7, "title": "Tea", "price": "3",
                                    "currency": "usd", "url": None})
    assert written.status_code == 200, written.text
    assert written.json()["product"] == {
        "product_id": "7", "title": "Tea", "price": "3", "currency": "USD", "url": None,
        "image_url": None, "available": True, "variant_id": None, "deleted": False}


def test_what_is_stored_is_what_recommendations_show_at_once(
        http: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert items(http, shop, "102")["101"]["title"] == "Product 101"  # from the orders
    assert put(http, shop, "101", MUG).status_code == 200
    shown = items(http, shop, "102")["101"]
    assert {k: shown[k] for k in ("title", "price", "url", "image_url", "variant_id")} == {
        "title": "Blue mug", "price": "19.90",
        "url": f"{shop.shop.storefront_url}/products/blue-mug",
        "image_url": "https://cdn.example.com/mug.jpg", "variant_id": "808950810"}
    assert put(http, shop, "101", {**MUG, "available": False}).status_code == 200
    assert "101" not in items(http, shop, "102")
    assert "101" not in widget_ids(http, shop, "102")
    assert put(http, shop, "101", MUG).status_code == 200
    assert "101" in items(http, shop, "102") and "101" in widget_ids(http, shop, "102")


def test_a_deleted_product_is_never_recommended_until_stored_again(
        http: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert http.delete(one(shop, "101"), headers=auth(shop)).status_code == 204
    assert "101" not in items(http, shop, "102") and "101" not in widget_ids(http, shop, "102")
    send_orders(http, shop, [order_payload(5000 + n, 90 + n, [101, 102]) for n in range(3)])
    assert train(http, shop).status_code == 200  # new orders of it do not bring it back
    assert "101" not in items(http, shop, "102")
    assert http.delete(one(shop, "never-seen"), headers=auth(shop)).status_code == 204
    assert put(http, shop, "101", MUG).status_code == 200
    assert items(http, shop, "102")["101"]["title"] == "Blue mug"


def test_another_process_serves_the_change_within_the_cache_bound(
        http: httpx.Client, elsewhere: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert items(elsewhere, shop, "102")["101"]["title"] == "Product 101"  # held there now
    assert put(http, shop, "101", {**MUG, "title": "Renamed"}).status_code == 200

    def renamed() -> None:
        assert items(elsewhere, shop, "102")["101"]["title"] == "Renamed"

    eventually(renamed, timeout=5)
    assert http.delete(one(shop, "101"), headers=auth(shop)).status_code == 204

    def gone() -> None:
        assert "101" not in items(elsewhere, shop, "102")
        assert "101" not in widget_ids(elsewhere, shop, "102")

    eventually(gone, timeout=5)


def test_a_batch_is_stored_whole(http: httpx.Client, store: Store, trained_shop: NewShop) -> None:
    shop = trained_shop
    doc = reference(http)
    sent = [{"product_id": str(p), "title": f"Item {p}", "price": f"{p}.50",
             "available": p != 103} for p in (101, 103, 104)]
    response = http.post(many(shop), json={"products": sent}, headers=auth(shop))
    assert response.status_code == 200, response.text
    assert schema_errors(doc, "POST", MANY, response) == []
    assert [(p["product_id"], p["title"], p["price"], p["available"])
            for p in response.json()["products"]] == [
        ("101", "Item 101", "101.50", True), ("103", "Item 103", "103.50", False),
        ("104", "Item 104", "104.50", True)]
    assert items(http, shop, "102")["101"]["title"] == "Item 101"
    assert "103" not in items(http, shop, "104")
    full = [{"product_id": f"b{n}", "title": "T", "price": "1"} for n in range(MAX_BATCH)]
    assert http.post(many(shop), json={"products": full}, headers=auth(shop)).status_code == 200
    assert len(stored(store, shop)) >= MAX_BATCH + 3


REFUSED_ONE = [
    ("not json", "JSON"),
    ([], "must be an object"),
    ({"price": "1"}, "title must be text of 1 to 500"),
    ({**MUG, "title": ""}, "title must be text"),
    ({**MUG, "title": "   "}, "title must be text"),
    ({**MUG, "title": "x" * 501}, "title must be text of 1 to 500"),
    ({**MUG, "title": 5}, "title must be text"),
    ({"title": "T"}, r"price must be a decimal string"),
    ({**MUG, "price": 19.9}, "price must be a decimal string"),
    ({**MUG, "price": "free"}, "price must be a decimal amount"),
    ({**MUG, "price": "-1"}, "price must not be negative"),
    ({**MUG, "price": "1e3"}, "no exponent"),
    ({**MUG, "price": "2e12"}, "price must be a finite amount"),
    ({**MUG, "currency": "EUR"}, "currency must be the shop's currency, USD"),
    ({**MUG, "currency": "dollars"}, "currency must be an ISO 4217"),
    ({**MUG, "url": "javascript:alert(1)"}, "url must be an absolute http"),
    ({**MUG, "url": "products/mug"}, "url must be an absolute http"),
    ({**MUG, "url": 'https://shop.example.com/a"b'}, "url must be"),
    ({**MUG, "image_url": "https://user@evil.example/i.jpg"}, "image_url must be"),
    ({**MUG, "image_url": "data:image/png;base64,AAAA"}, "image_url must be"),
    ({**MUG, "url": ["https://shop.example.com"]}, "url must be"),
    ({**MUG, "available": "yes"}, "available must be true or false"),
    ({**MUG, "variant_id": ""}, "variant_id must be a non-empty"),
    ({**MUG, "variant_id": True}, "variant_id"),
    ({**MUG, "product_id": "other"}, "product_id 'other' is not the path's 'p1'"),
    ({**MUG, "colour": "blue"}, "unknown fields colour"),
]


@pytest.mark.parametrize("body, reason", REFUSED_ONE, ids=[str(n) for n in range(len(REFUSED_ONE))])
def test_a_bad_product_is_refused_naming_the_field_and_nothing_is_stored(
        http: httpx.Client, store: Store, shop: NewShop, body: Any, reason: str) -> None:
    assert put(http, shop, "p1", MUG).status_code == 200
    before = stored(store, shop)
    if isinstance(body, str):
        response = http.put(one(shop, "p1"), content=body, headers=auth(shop))
    else:
        response = put(http, shop, "p1", body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert re.search(reason, response.json()["detail"]), response.json()["detail"]
    assert schema_errors(reference(http), "PUT", ONE, response) == []
    assert stored(store, shop) == before


def _batch(n: int) -> list[dict[str, Any]]:
    return [{"product_id": f"n{i}", "title": "T", "price": "1"} for i in range(n)]


REFUSED_BATCH = [
    ([], "a list `products`"),
    ({"products": {"product_id": "1"}}, "a list `products`"),
    ({"products": [], "extra": 1}, "a list `products`"),
    ({"products": []}, f"1 to {MAX_BATCH} products, got 0"),
    ({"products": _batch(MAX_BATCH + 1)}, f"1 to {MAX_BATCH} products, got {MAX_BATCH + 1}"),
    ({"products": [*_batch(2), {"title": "T", "price": "1"}]},
     r"products\[2\].product_id must be a non-empty"),
    ({"products": [*_batch(1), {"product_id": "x", "title": "T", "price": "1,5"}]},
     r"products\[1\].price must be a decimal amount"),
    ({"products": [*_batch(3), {"product_id": "n1", "title": "T", "price": "1"}]},
     r"products\[3\].product_id 'n1' repeats products\[1\]"),
    ({"products": [*_batch(1), "n9"]}, r"products\[1\] must be an object"),
    ({"products": [{**_batch(1)[0], "url": "ftp://x.example"}]}, r"products\[0\].url must"),
]


@pytest.mark.parametrize("body, reason", REFUSED_BATCH,
                         ids=[str(n) for n in range(len(REFUSED_BATCH))])
def test_one_bad_product_refuses_the_whole_batch(http: httpx.Client, store: Store,
                                                 shop: NewShop, body: Any, reason: str) -> None:
    before = stored(store, shop)
    response = http.post(many(shop), json=body, headers=auth(shop))
    assert response.status_code == 400, response.text
    assert re.search(reason, response.json()["detail"]), response.json()["detail"]
    assert schema_errors(reference(http), "POST", MANY, response) == []
    assert stored(store, shop) == before


def test_the_catalog_needs_the_shops_key_with_its_scope(
        http: httpx.Client, store: Store, shop: NewShop, make_shop: Any) -> None:
    assert put(http, shop, "p1", MUG).status_code == 200
    other = make_shop()
    assert put(http, other, "p1", {**MUG, "title": "Theirs"}).status_code == 200
    for method in ("GET", "PUT", "DELETE"):
        kwargs: dict[str, Any] = {"json": MUG} if method == "PUT" else {}
        assert http.request(method, one(shop, "p1"), **kwargs).status_code == 401
        assert http.request(method, one(shop, "p1"), headers=auth(other),
                            **kwargs).status_code == 403
    assert http.post(many(shop), json={"products": _batch(1)},
                     headers=auth(other)).status_code == 403
    assert http.get(one(shop, "p1").replace(shop.shop.shop_id, "no-such-shop"),
                    headers=auth(shop)).status_code == 404
    reader = store.run(lambda r: create_key(r, shop.shop.shop_id, "reader", ["catalog:read"]))
    bearer = {"Authorization": f"Bearer {reader.secret}"}
    assert http.get(one(shop, "p1"), headers=bearer).status_code == 200
    refused = http.put(one(shop, "p1"), json=MUG, headers=bearer)
    assert refused.status_code == 403 and "catalog:write" in refused.json()["detail"]
    assert http.get(one(shop, "p1"), headers=auth(shop)).json()["product"]["title"] == "Blue mug"
    assert http.get(one(other, "p1"), headers=auth(other)).json()["product"]["title"] == "Theirs"
