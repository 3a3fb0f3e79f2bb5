"""The privacy API (plugin/api/privacy.py) over real HTTP: a stored data request, a customer's
export and their erasure, with their parameters checked. (What an export holds and what an
erasure removes everywhere: tests/plugin/store/test_privacy.py.)"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from plugin.api.privacy import parse_email, parse_order_ids
from plugin.store import keys
from plugin.store.order import LineItem, Order
from plugin.store.privacy import store_data_request
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from plugin.web.params import BadRequest
from tests.conftest import Store
from tests.helpers import auth

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
