"""The privacy API (plugin/api/privacy.py) over real HTTP: a stored data request, a customer's
export and their erasure, with their parameters checked, every answer as the API reference
(GET /api/v1/openapi.json) describes it. (What an export holds and what an erasure removes
everywhere: tests/plugin/store/test_privacy.py.)"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from plugin.api.privacy import parse_email, parse_order_ids
from plugin.store import keys
from plugin.store.events import Event
from plugin.store.experiment_data import pin_customer
from plugin.store.experiments import (
    arm_for,
    create_experiment,
    new_experiment,
    start_experiment,
)
from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order
from plugin.store.privacy import store_data_request
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from plugin.store.tracking import record_click
from plugin.web.params import BadRequest
from tests.conftest import Store
from tests.helpers import (
    auth,
    body_of,
    bundle_orders,
    order_payload,
    send_orders,
    shopify_headers,
    train,
)
from tests.openapi_check import reference, schema_errors, undocumented
from webhooks.ingest import Ingestor, dead_letter

AT = 1_750_000_000.0


@pytest.mark.parametrize(("raw", "email"), [(None, None), ("", None),
                                            ("a@b.example", "a@b.example")])
def test_an_email_is_optional(raw: str | None, email: str | None) -> None:
    assert parse_email(raw) == email


def test_an_email_needs_an_at_sign() -> None:
    with pytest.raises(BadRequest, match="email must be an e-mail address, got 'alice'"):
        parse_email("alice")


@pytest.mark.parametrize(("raw", "ids"), [(None, []), ("", []), ("7", ["7"]),
                                          ("1, 2,3", ["1", "2", "3"])])
def test_order_ids_are_a_comma_separated_list(raw: str | None, ids: list[str]) -> None:
    assert parse_order_ids(raw) == ids


@pytest.mark.parametrize("raw", ["1,,2", "1,", "x" * 129])
def test_a_bad_order_id_names_the_list(raw: str) -> None:
    with pytest.raises(BadRequest, match=r"order_ids\[\]"):
        parse_order_ids(raw)


@pytest.fixture
def customers(store: Store, shop: NewShop) -> NewShop:
    """ann: orders a1, a2; bob: b1; a guest order g1."""
    async def fill(redis: Any) -> None:
        for order_id, customer in (("a1", "ann"), ("a2", "ann"), ("b1", "bob"), ("g1", None)):
            line = (LineItem("p1", None, "One", 1, "5.00", f"{order_id}-1"),)
            await store_order(redis, shop.shop.shop_id, Order(
                order_id, customer, AT, AT, False, "EUR", "5.00", line))

    store.run(fill)
    return shop


def url(shop: NewShop, path: str) -> str:
    return f"/api/v1/shops/{shop.shop.shop_id}/{path}"


def test_a_stored_data_request_is_answered(http: httpx.Client, store: Store,
                                           customers: NewShop, make_shop: Any) -> None:
    shop_id = customers.shop.shop_id
    stored = store.run(lambda r: store_data_request(r, shop_id, "req-1", "ann"))
    answer = http.get(url(customers, "privacy/requests/req-1"), headers=auth(customers))
    assert answer.status_code == 200 and answer.json() == json.loads(json.dumps(stored))
    assert [o["order_id"] for o in answer.json()["orders"]] == ["a1", "a2"]
    unknown = http.get(url(customers, "privacy/requests/req-2"), headers=auth(customers))
    assert unknown.status_code == 404 and "'req-2'" in unknown.json()["detail"]
    assert "30 days" in unknown.json()["detail"]
    other = make_shop()  # another shop has no request req-1, and may not read this one
    assert http.get(url(other, "privacy/requests/req-1"), headers=auth(other)).status_code == 404
    assert http.get(url(customers, "privacy/requests/req-1"),
                    headers=auth(other)).status_code == 403


def test_a_customers_export_holds_their_orders_and_the_named_ones(
        http: httpx.Client, customers: NewShop) -> None:
    answer = http.get(url(customers, "customers/ann/data"), headers=auth(customers),
                      params={"email": "ann@example.com", "order_ids": "g1"})
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert (export["shop_id"], export["customer_id"], export["email"]) == (
        customers.shop.shop_id, "ann", "ann@example.com")
    assert sorted(o["order_id"] for o in export["orders"]) == ["a1", "a2", "g1"]
    assert "bob" not in answer.text


@pytest.mark.parametrize(("method", "path"), [("GET", "customers/ann/data"),
                                              ("DELETE", "customers/ann")])
@pytest.mark.parametrize(("params", "named"), [({"email": "ann"}, "email"),
                                               ({"order_ids": "a1,,a2"}, "order_ids")])
def test_bad_parameters_are_a_400_and_erase_nothing(
        http: httpx.Client, store: Store, customers: NewShop, method: str, path: str,
        params: dict[str, str], named: str) -> None:
    answer = http.request(method, url(customers, path), params=params, headers=auth(customers))
    assert answer.status_code == 400 and named in answer.json()["detail"]
    assert answer.headers["content-type"] == "application/problem+json"
    stored = store.run(lambda r: r.hkeys(keys.orders(customers.shop.shop_id)))
    assert sorted(stored) == [b"a1", b"a2", b"b1", b"g1"]


def test_erasing_a_customer_answers_what_was_removed(http: httpx.Client, store: Store,
                                                     customers: NewShop) -> None:
    answer = http.delete(url(customers, "customers/ann"), headers=auth(customers))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["shop_id"], body["customer_id"]) == (customers.shop.shop_id, "ann")
    assert body["erased"]["orders"] == 2 and body["erased"]["model_version"] is None
    stored = store.run(lambda r: r.hkeys(keys.orders(customers.shop.shop_id)))
    assert sorted(stored) == [b"b1", b"g1"]
    export = http.get(url(customers, "customers/ann/data"), headers=auth(customers)).json()
    assert export["orders"] == []


def test_the_privacy_endpoints_need_the_shops_api_key(http: httpx.Client, customers: NewShop,
                                                      make_shop: Any) -> None:
    other = make_shop()
    for method, path in (("GET", "privacy/requests/r"), ("GET", "customers/ann/data"),
                         ("DELETE", "customers/ann")):
        assert http.request(method, url(customers, path)).status_code == 401
        assert http.request(method, url(customers, path),
                            headers=auth(other)).status_code == 403
    assert len(http.get(url(customers, "customers/ann/data"),
                        headers=auth(customers)).json()["orders"]) == 2  # nothing erased


# ---- the API reference ----------------------------------------------------------------------

SHOPS = "/api/v1/shops/{shop_id}"
REQUEST = f"{SHOPS}/privacy/requests/{{request_id}}"
DATA = f"{SHOPS}/customers/{{customer_id}}/data"
CUSTOMER = f"{SHOPS}/customers/{{customer_id}}"
ANN_EMAIL = "Ann.Privacy@example.com"
GUEST_ORDER = 90_001  # ann's guest checkout: found by her e-mail
IN_EXPERIMENT: dict[str, dict[str, str]] = {}  # by shop: ann's experiment and arm


@pytest.fixture
def trained(http: httpx.Client, store: Store, shop: NewShop) -> NewShop:
    """40 customers' orders and a trained model; customer 1 (ann) has a refund on her first
    order and a guest checkout with her e-mail, a dead letter names her, her browser v-ann
    sent browsing events with her id and clicked a widget, and Shopify asked for her data
    (request 4401) after the training (and the worker acted on it)."""
    orders = bundle_orders(customers=40)
    for payload in orders[:3]:  # customer 1's
        payload["email"] = payload["customer"]["email"] = ANN_EMAIL
    first = orders[0]
    first["refunds"] = [{"id": 77001, "refund_line_items": [
        {"line_item_id": first["line_items"][0]["id"], "quantity": 1}]}]
    guest = order_payload(GUEST_ORDER, None, [101, 104])
    guest["email"] = ANN_EMAIL
    send_orders(http, shop, [*orders, guest])
    assert train(http, shop).status_code == 200
    broken = body_of({"id": 1, "note": "call me", "contact_email": ANN_EMAIL})
    fields = {k.encode(): v if isinstance(v, bytes) else v.encode()
              for k, v in Event("shopify", "orders/updated", "dl-1", broken).fields().items()}
    shop_id = shop.shop.shop_id
    store.run(lambda r: dead_letter(r, shop_id, b"1-1", fields, PayloadError("broken"), 1))
    an_hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    browsed = http.post(url(shop, "events"), headers=auth(shop), json={
        "visitor_id": "v-ann", "customer_id": "1", "events": [
            {"type": "product_view", "product_id": "101", "at": an_hour_ago},
            {"type": "add_to_cart", "product_id": "102"}]})
    assert browsed.status_code == 200 and browsed.json()["recorded"] == 2, browsed.text
    store.run(lambda r: record_click(r, shop_id, placement="recently_viewed", product_id="101",
                                     customer_id="1", visitor_id="v-ann", at=AT))
    experiment = new_experiment("Bundle against none", "bundle", [
        {"name": "A", "strategy": "chosen", "share": 50},
        {"name": "B", "strategy": "holdout", "share": 50}], AT)

    async def in_experiment(redis: Any) -> None:
        await create_experiment(redis, shop_id, experiment)
        await start_experiment(redis, shop_id, experiment.experiment_id, AT)
        await pin_customer(redis, shop_id, experiment.experiment_id, "1", "v:v-ann")

    store.run(in_experiment)
    IN_EXPERIMENT[shop_id] = {"experiment_id": experiment.experiment_id,
                              "name": experiment.name,
                              "arm": arm_for(experiment, "v:v-ann").name}
    request = {"shop_id": 1, "shop_domain": shop.shop.domain,
               "customer": {"id": 1, "email": ANN_EMAIL}, "orders_requested": [GUEST_ORDER],
               "data_request": {"id": 4401}}
    body = body_of(request)
    secret = shop.shop.webhook_secrets[0].reveal()
    sent = http.post("/webhooks/shopify", content=body, headers=shopify_headers(
        shop.shop.domain, secret, body, topic="customers/data_request"))
    assert sent.status_code == 200, sent.text
    store.run(lambda r: Ingestor(r).drain(shop_id))
    return shop


def test_every_privacy_answer_is_as_the_reference_describes(
        http: httpx.Client, trained: NewShop, make_shop: Any) -> None:
    doc = reference(http)
    key = auth(trained)
    kept = http.get(url(trained, "privacy/requests/4401"), headers=key)
    assert kept.status_code == 200, kept.text
    assert schema_errors(doc, "GET", REQUEST, kept) == []
    params = {"email": ANN_EMAIL, "order_ids": f"{GUEST_ORDER}, 10001"}
    exported = http.get(url(trained, "customers/1/data"), params=params, headers=key)
    assert exported.status_code == 200, exported.text
    assert schema_errors(doc, "GET", DATA, exported) == []
    for export in (kept.json(), exported.json()):  # every nested schema was exercised
        orders = {o["order_id"]: o for o in export["orders"]}
        assert orders[str(GUEST_ORDER)]["customer_id"] is None
        assert orders["10000"]["refunds"] and orders["10000"]["lines"]
        assert export["email"] == ANN_EMAIL.lower() and export["model"]["version"] is not None
        assert export["model"]["holds_customer"] and export["model"]["purchased_product_ids"]
        assert any("order" in event for event in export["events"])
        assert export["dead_letters"][0]["error"] == "PayloadError: broken"
        assert [(b["visitor_id"], [p["product_id"] for p in b["products"]])
                for b in export["browsing"]] == [("v-ann", ["102", "101"])]
        assert {(c["visitor_id"], c["product_id"], c["at"]) for c in export["widget_clicks"]} \
            == {(None, "101", AT), ("v-ann", "101", AT)}
        assert export["experiments"] == [IN_EXPERIMENT[trained.shop.shop_id]]
    stranger = http.get(url(trained, "customers/nobody/data"), headers=key)
    assert stranger.json()["email"] is None and stranger.json()["orders"] == []
    assert stranger.json()["browsing"] == stranger.json()["widget_clicks"] == []
    assert schema_errors(doc, "GET", DATA, stranger) == []
    erased = http.delete(url(trained, "customers/1"), params=params, headers=key)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["model_version"] is not None
    assert schema_errors(doc, "DELETE", CUSTOMER, erased) == []
    again = http.delete(url(trained, "customers/1"), headers=key)  # nothing left: no new model
    assert again.json()["erased"]["model_version"] is None
    assert schema_errors(doc, "DELETE", CUSTOMER, again) == []
    assert http.get(url(trained, "customers/1/data"), headers=key).json()["experiments"] == []
    other = auth(make_shop())
    for method, template, path in (("GET", REQUEST, "privacy/requests/4401"),
                                   ("GET", DATA, "customers/1/data"),
                                   ("DELETE", CUSTOMER, "customers/1")):
        refused = [
            http.request(method, url(trained, path), params={"email": "ann"}, headers=key),
            http.request(method, url(trained, path), params={"order_ids": "1,,2"}, headers=key),
            http.request(method, url(trained, path)),
            http.request(method, url(trained, path), headers=other),
            http.request(method, f"/api/v1/shops/no-such-shop/{path}", headers=key),
        ]
        expected = [400, 400, 401, 403, 404]
        if template == REQUEST:  # no parameters to refuse; the request is gone with ann
            expected[:2] = [404, 404]
        assert [r.status_code for r in refused] == expected, (path, refused[0].text)
        for response in refused:
            assert schema_errors(doc, method, template, response) == [], response.text


@pytest.mark.parametrize("route", [REQUEST, DATA, CUSTOMER])
def test_the_reference_documents_every_field_with_a_valid_example(http: httpx.Client,
                                                                  route: str) -> None:
    doc = reference(http)
    assert undocumented(doc, route) == []
    for operation in doc["paths"][route].values():
        assert operation["security"] == [{"apiKey": ["privacy"]}]
        assert operation["tags"] == ["Privacy"]
