"""The JSON API's recommendations, model and exclusions (plugin/api/recommendations.py) over real
HTTP: shapes, refusals and fallbacks. (The API-key check: tests/plugin/web/test_auth.py.)"""

from __future__ import annotations

import time

import httpx
import pytest

from plugin.store.shops import NewShop
from recommender.shop_model import ShopModel
from tests.conftest import LiveServer, settings_for
from tests.helpers import auth, order_payload, send_orders, train
from tests.openapi_check import reference, schema_errors


@pytest.fixture
def trained_shop(http: httpx.Client, shop: NewShop) -> NewShop:
    """A shop whose customers 1..40 buy 101+102 together, and 103..108 in rotation."""
    orders = []
    for n in range(40):
        orders.append(order_payload(1000 + n, n, [101, 102],
                                    created_at=f"2025-01-{n % 28 + 1:02d}T10:00:00Z"))
        orders.append(order_payload(2000 + n, n, [103 + n % 6, 103 + (n + 1) % 6],
                                    created_at=f"2025-02-{n % 28 + 1:02d}T10:00:00Z"))
    send_orders(http, shop, orders)
    assert train(http, shop).status_code == 200
    return shop


def test_shop_without_model_answers_empty_list(http, shop) -> None:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/1",
                        headers=auth(shop))
    assert response.status_code == 200
    assert response.json() == {"shop_id": shop.shop.shop_id, "model_version": None,
                               "strategy": "none", "items": []}


def test_train_without_orders_is_409(http, shop) -> None:
    response = train(http, shop)
    assert response.status_code == 409
    assert shop.shop.shop_id in response.json()["detail"]


def test_bought_together_has_the_contract_shape(http, trained_shop) -> None:
    shop_id = trained_shop.shop.shop_id
    response = http.get(f"/api/v1/shops/{shop_id}/recommendations/products/101",
                        params={"kind": "bought_together", "limit": 3}, headers=auth(trained_shop))
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"shop_id", "model_version", "strategy", "items"}
    assert body["shop_id"] == shop_id and isinstance(body["model_version"], str)
    assert len(body["items"]) == 3
    first = body["items"][0]
    assert first["product_id"] == "102" and first["because"] == ["101"]
    assert isinstance(first["score"], float) and first["reason"] == "bought_together"
    assert first["title"] == "Product 102" and first["price"] == "10.00"
    assert all(item["product_id"] != "101" for item in body["items"])


def test_similar_never_returns_the_product(http, trained_shop) -> None:
    response = http.get(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/products/103",
                        params={"kind": "similar", "limit": 5}, headers=auth(trained_shop))
    items = response.json()["items"]
    assert len(items) == 5 and "103" not in [i["product_id"] for i in items]


def test_unknown_product_gets_trending(http, trained_shop) -> None:
    response = http.get(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/products/999",
                        headers=auth(trained_shop))
    body = response.json()
    assert body["strategy"] == "trending" and len(body["items"]) == 8
    assert {i["reason"] for i in body["items"]} == {"trending"}


def test_unknown_customer_gets_trending(http, trained_shop) -> None:
    response = http.get(
        f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/customers/424242",
        params={"limit": 4}, headers=auth(trained_shop),
    )
    assert response.json()["strategy"] == "trending" and len(response.json()["items"]) == 4


def test_exclude_purchased_drops_what_the_customer_bought(http, trained_shop) -> None:
    url = f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/customers/0"
    response = http.get(url, params={"exclude_purchased": "true", "limit": 5},
                        headers=auth(trained_shop))
    returned = {i["product_id"] for i in response.json()["items"]}
    assert returned and not returned & {"101", "102", "103", "104"}


def test_customer_recommendations_may_include_repurchases(http, trained_shop) -> None:
    url = f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/customers/0"
    response = http.get(url, params={"limit": 8}, headers=auth(trained_shop))
    returned = {i["product_id"] for i in response.json()["items"]}
    assert returned & {"101", "102"}


def test_cart_never_returns_cart_items(http, trained_shop) -> None:
    response = http.post(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/cart",
                         json={"product_ids": ["101", "103"], "customer_id": None, "limit": 4},
                         headers=auth(trained_shop))
    items = [i["product_id"] for i in response.json()["items"]]
    assert items[0] == "102" and len(items) == 4 and not {"101", "103"} & set(items)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"product_ids": "101"}', b'{"product_ids": [{}]}',
    b'{"product_ids": ["1"], "limit": 0}', b'{"product_ids": ["1"], "limit": "many"}',
])
def test_bad_cart_body_is_400(http, trained_shop, body) -> None:
    response = http.post(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/cart",
                         content=body, headers=auth(trained_shop))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"kind": "cheapest"}])
def test_bad_product_query_is_400(http, trained_shop, query) -> None:
    response = http.get(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/products/101",
                        params=query, headers=auth(trained_shop))
    assert response.status_code == 400


def test_model_endpoint_describes_the_serving_model(http, trained_shop) -> None:
    response = http.get(f"/api/v1/shops/{trained_shop.shop.shop_id}/model",
                        headers=auth(trained_shop))
    body = response.json()
    assert body["model_version"] == "1"
    assert body["model"]["orders"] == 80 and body["model"]["customers"] == 40
    assert body["stats"]["accepted"] == 80


def test_retraining_publishes_a_new_version(http, trained_shop) -> None:
    response = train(http, trained_shop)
    assert response.json()["model_version"] == "2"
    listed = http.get(f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/trending",
                      headers=auth(trained_shop))
    assert listed.json()["model_version"] == "2"


def test_ids_above_two_to_the_53_stay_exact(http, shop) -> None:
    big_product, big_customer = 9007199254740993123, 9007199254740995777
    send_orders(http, shop, [order_payload(9007199254740999, big_customer, [big_product, 5])
                             for _ in range(1)])
    assert train(http, shop).status_code == 200
    response = http.get(
        f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/{big_product}",
        headers=auth(shop),
    )
    assert response.json()["items"][0]["product_id"] == "5"
    response = http.get(
        f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/5", headers=auth(shop)
    )
    assert response.json()["items"][0]["product_id"] == str(big_product)


def test_a_new_order_changes_the_personal_list_without_retraining(http, trained_shop) -> None:
    url = f"/api/v1/shops/{trained_shop.shop.shop_id}/recommendations/customers/777"
    before = http.get(url, params={"limit": 3}, headers=auth(trained_shop)).json()
    assert before["strategy"] == "trending"  # a customer the model has never seen
    send_orders(http, trained_shop, [order_payload(9100, 777, [101])])
    deadline = time.monotonic() + 30
    while True:  # the worker ingests within moments; no training call is made
        after = http.get(url, params={"limit": 3, "exclude_purchased": "true"},
                                      headers=auth(trained_shop)).json()
        if after["strategy"] != "trending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after["model_version"] == before["model_version"]
    assert after["strategy"] == "als"
    assert after["items"][0]["product_id"] == "102"  # what goes with the new purchase


def test_refusals_are_answered_without_loading_a_model(store, trained_shop, monkeypatch) -> None:
    """A bad key, an unknown shop and an oversized body are answered before any model is
    read; the first good call then loads it once."""
    loads = []
    original = ShopModel.from_bytes
    monkeypatch.setattr(ShopModel, "from_bytes",
                        classmethod(lambda cls, raw: loads.append(1) or original(raw)))
    shop_id = trained_shop.shop.shop_id
    base = f"/api/v1/shops/{shop_id}/recommendations"
    with LiveServer(settings_for(store, run_worker=False)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        bad_key = {"Authorization": "Bearer sk_not_the_key"}
        assert client.get(f"{base}/trending", headers=bad_key).status_code == 401
        assert client.get("/api/v1/shops/no-such-shop/recommendations/trending",
                          headers=auth(trained_shop)).status_code == 404
        oversized = client.post(f"{base}/cart", content=b"[" * (64 * 1024 + 1),
                                headers={**auth(trained_shop), "Content-Type": "application/json"})
        assert oversized.status_code == 413
        assert client.get("/widgets/v1/recommendations",
                          params={"key": "wk_unknown", "placement": "trending"}).status_code == 404
        assert loads == []
        assert client.get(f"{base}/trending", headers=auth(trained_shop)).status_code == 200
        assert client.get(f"{base}/products/101", headers=auth(trained_shop)).status_code == 200
        assert loads == [1]


def test_exclusions_are_replaced_and_read_back(http, shop) -> None:
    url = f"/api/v1/shops/{shop.shop.shop_id}/exclusions"
    assert http.get(url, headers=auth(shop)).json() == {"shop_id": shop.shop.shop_id,
                                                        "product_ids": [], "next_cursor": None}
    put = http.put(url, json={"product_ids": ["b", 7, "a", "b"]}, headers=auth(shop))
    assert put.status_code == 200 and put.json()["product_ids"] == ["7", "a", "b"]
    assert http.get(url, headers=auth(shop)).json()["product_ids"] == ["7", "a", "b"]
    replaced = http.put(url, json={"product_ids": ["c"]}, headers=auth(shop))
    assert replaced.json()["product_ids"] == ["c"]  # the whole list, not added to
    refused = http.put(url, json={"product_ids": ["d", ""]}, headers=auth(shop))
    assert refused.status_code == 400 and "product_ids[]" in refused.json()["detail"]
    assert http.get(url, headers=auth(shop)).json()["product_ids"] == ["c"]  # kept as it was
    shape = http.put(url, content=b"{nope", headers=auth(shop)).json()["detail"]
    assert shape.endswith('send JSON: {"product_ids": [...]}')


def test_a_long_exclusion_list_pages_with_a_cursor(http, shop) -> None:
    url = f"/api/v1/shops/{shop.shop.shop_id}/exclusions"
    ids = [f"p{n:04d}" for n in range(2500)]
    put = http.put(url, json={"product_ids": ids}, headers=auth(shop))
    assert put.json()["product_ids"] == ids[:1000] and put.json()["next_cursor"]
    walked, cursor, pages = [], None, 0
    while True:
        page = http.get(url, params={"limit": 700, **({"cursor": cursor} if cursor else {})},
                        headers=auth(shop)).json()
        walked += page["product_ids"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ids and pages == 4
    for bad in ({"cursor": "not-one"}, {"cursor": ""}, {"limit": "1001"}):
        refused = http.get(url, params=bad, headers=auth(shop))
        assert refused.status_code == 400, bad
        assert refused.json()["type"] == "/api/docs/problems#invalid-request"
    assert http.put(url, json={"product_ids": []}, headers=auth(shop)).json()["product_ids"] == []


# ---- the answers keep the API reference (GET /api/v1/openapi.json) ---------------------------

REC = "/api/v1/shops/{shop_id}/recommendations"


def test_every_recommendation_answer_keeps_the_reference(http, trained_shop, shop) -> None:
    doc = reference(http)
    trained, empty = trained_shop.shop.shop_id, shop.shop.shop_id
    calls = [
        ("GET", f"{REC}/products/{{product_id}}", "/recommendations/products/101", {}, None),
        ("GET", f"{REC}/products/{{product_id}}", "/recommendations/products/101",
         {"kind": "similar", "limit": 2}, None),
        ("GET", f"{REC}/products/{{product_id}}", "/recommendations/products/101",
         {"kind": "nearby"}, None),  # 400
        ("GET", f"{REC}/customers/{{customer_id}}", "/recommendations/customers/3",
         {"exclude_purchased": "true"}, None),
        ("GET", f"{REC}/customers/{{customer_id}}", "/recommendations/customers/3",
         {"limit": "0"}, None),  # 400
        ("POST", f"{REC}/cart", "/recommendations/cart", {},
         {"product_ids": ["101"], "customer_id": "3", "limit": 4}),
        ("POST", f"{REC}/cart", "/recommendations/cart", {}, {"product_ids": "101"}),  # 400
        ("GET", f"{REC}/trending", "/recommendations/trending", {"limit": 5}, None),
        ("GET", "/api/v1/shops/{shop_id}/model", "/model", {}, None),
        ("GET", "/api/v1/shops/{shop_id}/exclusions", "/exclusions", {}, None),
        ("PUT", "/api/v1/shops/{shop_id}/exclusions", "/exclusions", {},
         {"product_ids": ["103"]}),
    ]
    seen = set()
    for shop_id, key in ((trained, auth(trained_shop)), (empty, auth(shop))):
        for method, template, path, params, body in calls:
            response = http.request(method, f"/api/v1/shops/{shop_id}{path}", params=params,
                                    json=body, headers=key)
            seen.add((template, response.status_code))
            assert schema_errors(doc, method, template, response) == [], (path, response.text)
    assert (f"{REC}/cart", 400) in seen and (f"{REC}/trending", 200) in seen
    items = http.get(f"/api/v1/shops/{trained}/recommendations/products/101",
                     headers=auth(trained_shop)).json()["items"]
    assert any("because" in item for item in items)  # the optional field is exercised


def test_training_answers_keep_the_reference(http, shop) -> None:
    doc = reference(http)
    template = "/api/v1/shops/{shop_id}/model/train"
    nothing = train(http, shop)
    assert nothing.status_code == 409
    assert schema_errors(doc, "POST", template, nothing) == []
    send_orders(http, shop, [order_payload(1, 1, [1, 2]), order_payload(2, 2, [1, 3])])
    for wait in ("true", "false"):
        response = http.post(f"/api/v1/shops/{shop.shop.shop_id}/model/train",
                             params={"wait": wait}, headers=auth(shop))
        assert response.status_code == (200 if wait == "true" else 202)
        assert schema_errors(doc, "POST", template, response) == []
    wrong = http.get(f"/api/v1/shops/{shop.shop.shop_id}/model", headers={"Authorization": "x"})
    assert wrong.status_code == 401
    assert schema_errors(doc, "GET", "/api/v1/shops/{shop_id}/model", wrong) == []
