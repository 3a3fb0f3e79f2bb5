"""Shopify's mandatory privacy webhooks (webhooks/shopify_privacy.py): refused at the door when
they could not be acted on, and acted on in the worker against the embedded Redis. (The same
over signed HTTP, and everything an erasure removes: tests/plugin/store/test_privacy.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order
from plugin.store.privacy import get_data_request
from plugin.store.records import get_order, store_order
from plugin.store.shops import NewShop, get_shop
from tests.conftest import Store
from webhooks.shopify_privacy import (
    SHOPIFY_CUSTOMER_REDACT,
    SHOPIFY_DATA_REQUEST,
    SHOPIFY_SHOP_REDACT,
    SHOPIFY_TOPICS,
    apply_shopify,
    check_shopify,
)


def body(shop: NewShop, customer_id: Any = 7, **more: Any) -> dict[str, Any]:
    return {"shop_id": 1, "shop_domain": shop.shop.domain,
            "customer": {"id": customer_id, "email": "ann@example.com"}, **more}


def order(order_id: str, customer_id: str) -> Order:
    line = LineItem("p1", None, "Mug", 1, "5.00", line_id=f"{order_id}-1")
    return Order(order_id, customer_id, 1.0, 1.0, False, "EUR", "5.00", (line,))


def act(store: Store, shop: NewShop, topic: str, payload: Any) -> None:
    async def work(redis: Any) -> None:
        fresh = await get_shop(redis, shop.shop.shop_id)
        assert fresh is not None
        await apply_shopify(redis, fresh, topic, payload)

    store.run(work)


def orders_of(store: Store, shop: NewShop, *order_ids: str) -> list[Order | None]:
    async def work(redis: Any) -> list[Order | None]:
        return [await get_order(redis, shop.shop.shop_id, o) for o in order_ids]

    return store.run(work)


@pytest.fixture
def ordered(store: Store, shop: NewShop) -> NewShop:
    """The shop with an order of customer 7 and one of customer 8."""
    async def work(redis: Any) -> None:
        await store_order(redis, shop.shop.shop_id, order("o7", "7"))
        await store_order(redis, shop.shop.shop_id, order("o8", "8"))

    store.run(work)
    return shop


# ---- at the door ------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", sorted(SHOPIFY_TOPICS))
def test_a_body_that_is_not_an_object_is_refused(topic) -> None:
    with pytest.raises(PayloadError, match=f"^the body of a {topic} webhook must be a JSON"):
        check_shopify(topic, [])


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "customer must be an object"), ({"customer": 7}, "customer must be an object"),
    ({"customer": {"email": "a@b.c"}}, r"customer\.id"),
    ({"customer": {"id": [7]}}, r"customer\.id"),
])
@pytest.mark.parametrize("topic", [SHOPIFY_DATA_REQUEST, SHOPIFY_CUSTOMER_REDACT])
def test_a_customer_webhook_without_the_customers_id_is_refused(topic, payload, field) -> None:
    with pytest.raises(PayloadError, match=field):
        check_shopify(topic, payload)


def test_a_data_request_needs_its_request_id() -> None:
    with pytest.raises(PayloadError, match=r"data_request\.id"):
        check_shopify(SHOPIFY_DATA_REQUEST, {"customer": {"id": 7}})
    check_shopify(SHOPIFY_DATA_REQUEST, {"customer": {"id": 7}, "data_request": {"id": 9}})


def test_a_shop_redact_names_no_customer() -> None:
    check_shopify(SHOPIFY_SHOP_REDACT, {"shop_id": 1})
    check_shopify(SHOPIFY_CUSTOMER_REDACT, {"customer": {"id": "7"}})


# ---- in the worker ----------------------------------------------------------------------------


def test_a_data_request_keeps_the_customers_export_under_its_id(store, ordered) -> None:
    act(store, ordered, SHOPIFY_DATA_REQUEST,
        body(ordered, data_request={"id": 9999}, orders_requested=[]))
    export = store.run(lambda r: get_data_request(r, ordered.shop.shop_id, "9999"))
    assert export is not None and export["request_id"] == "9999"
    assert (export["customer_id"], export["email"]) == ("7", "ann@example.com")
    assert [o["order_id"] for o in export["orders"]] == ["o7"]


def test_a_customer_redact_erases_that_customers_orders_only(store, ordered) -> None:
    act(store, ordered, SHOPIFY_CUSTOMER_REDACT, body(ordered, orders_to_redact=[]))
    assert orders_of(store, ordered, "o7", "o8") == [None, order("o8", "8")]


def test_orders_to_redact_are_erased_too(store, ordered) -> None:
    act(store, ordered, SHOPIFY_CUSTOMER_REDACT, body(ordered, 42, orders_to_redact=["o8"]))
    assert orders_of(store, ordered, "o7", "o8") == [order("o7", "7"), None]


@pytest.mark.parametrize(("field", "value", "named"), [
    ("orders_to_redact", "o7", "orders_to_redact must be a list"),
    ("orders_to_redact", [True], r"orders_to_redact\[0\]")])
def test_a_malformed_order_list_is_refused_erasing_nothing(store, ordered, field, value,
                                                           named) -> None:
    with pytest.raises(PayloadError, match=named):
        act(store, ordered, SHOPIFY_CUSTOMER_REDACT, body(ordered, **{field: value}))
    assert None not in orders_of(store, ordered, "o7", "o8")


def test_a_webhook_naming_another_shops_domain_is_refused(store, ordered) -> None:
    for topic in (SHOPIFY_CUSTOMER_REDACT, SHOPIFY_SHOP_REDACT):
        with pytest.raises(PayloadError, match="is not the domain of shop"):
            act(store, ordered, topic, {**body(ordered), "shop_domain": "other.myshopify.com"})
    assert None not in orders_of(store, ordered, "o7", "o8")


def test_the_domain_is_compared_without_case(store, ordered) -> None:
    act(store, ordered, SHOPIFY_CUSTOMER_REDACT,
        {**body(ordered), "shop_domain": ordered.shop.domain.upper()})
    assert orders_of(store, ordered, "o7") == [None]


def test_a_shop_redact_erases_the_shop(store, ordered) -> None:
    act(store, ordered, SHOPIFY_SHOP_REDACT, {"shop_id": 1, "shop_domain": ordered.shop.domain})
    assert store.run(lambda r: get_shop(r, ordered.shop.shop_id)) is None
    assert orders_of(store, ordered, "o7", "o8") == [None, None]
