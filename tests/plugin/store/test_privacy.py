"""Privacy exports over real HTTP and the embedded Redis (plugin.store.privacy): who a customer is
in a shop's data, Shopify's data requests, the API and CLI export."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.browsing import record_browsing
from plugin.store.erasure import erase_customer
from plugin.store.events import Event, append
from plugin.store.privacy import (
    Subject,
    decode_value,
    export_customer,
    find_subject,
    get_data_request,
    loose_id,
    normal_email,
    order_event_id,
    store_data_request,
)
from plugin.store.tracking import WidgetEvent, link_visitor, record_events
from tests.conftest import Store, shopreco
from tests.helpers import body_of, order_payload
from tests.plugin.store.conftest import (
    ALICE,
    ALICE_EMAIL,
    ALICE_GUEST_ORDER,
    ALICE_ORDERS,
    BOB,
    BOB_EMAIL,
    BOB_ORDERS,
    DATA_REQUEST_ID,
    auth,
)

# ---- data requests and exports -----------------------------------------------------------------


def test_data_request_export_holds_the_customers_orders_and_nothing_of_another(
        http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/{DATA_REQUEST_ID}",
                        headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["customer_id"] == ALICE and export["request_id"] == DATA_REQUEST_ID
    assert [o["order_id"] for o in export["orders"]] == [*ALICE_ORDERS, ALICE_GUEST_ORDER]
    for needle in (BOB, BOB_EMAIL, *BOB_ORDERS):
        assert needle not in response.text


def test_data_request_export_is_kept_30_days(store, populated) -> None:
    ttl = store.run(lambda r: r.ttl(keys.privacy_request(populated.shop_id, DATA_REQUEST_ID)))
    assert keys.PRIVACY_REQUEST_TTL_SECONDS - 60 < ttl <= keys.PRIVACY_REQUEST_TTL_SECONDS


def test_unknown_data_request_is_404(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/999",
                        headers=auth(populated.shop))
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


def test_data_request_needs_the_shops_api_key(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/{DATA_REQUEST_ID}")
    assert response.status_code == 401


def test_api_export_lists_orders_events_and_the_model_row(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}/data",
                        params={"email": ALICE_EMAIL}, headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    export = response.json()
    assert [o["order_id"] for o in export["orders"]] == [*ALICE_ORDERS, ALICE_GUEST_ORDER]
    assert sorted(e["topic"] for e in export["events"]) == [  # the refund names no customer
        "customers/data_request", "orders/create", "orders/create", "orders/create"]
    assert [d["body"]["contact_email"] for d in export["dead_letters"]] == [ALICE_EMAIL]
    assert export["model"] == {"version": populated.model_version, "holds_customer": True,
                               "purchased_product_ids": ["501", "502", "503"]}
    for needle in (BOB, BOB_EMAIL, *BOB_ORDERS):
        assert needle not in response.text


def test_api_export_refuses_an_email_that_is_not_one(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}/data",
                        params={"email": "alice"}, headers=auth(populated.shop))
    assert response.status_code == 400
    assert "email" in response.json()["detail"]


def test_cli_export_prints_the_customers_orders(store, populated) -> None:
    result = shopreco(store, "privacy", "export", populated.shop_id, "--customer", BOB)
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    assert [o["order_id"] for o in export["orders"]] == list(BOB_ORDERS)
    assert ALICE not in result.stdout and ALICE_EMAIL not in result.stdout


# ---- who is named (pure) -----------------------------------------------------------------------


def order_entry(payload: dict[str, Any]) -> dict[bytes, bytes]:
    return {b"topic": b"orders/create", b"body": json.dumps(payload).encode()}


def test_an_email_escaped_by_json_is_still_found() -> None:
    subject = Subject("1", "zoë@example.com")
    assert subject.mentioned_in_entry(order_entry({"id": 5, "email": "Zoë@Example.com"}))


def test_an_email_that_only_contains_hers_is_not_hers() -> None:
    subject = Subject("1", "alice@example.com")
    assert not subject.mentioned_in_entry(order_entry({"id": 5, "email": "malice@example.com"}))


def test_a_product_id_equal_to_her_order_id_is_not_her_order() -> None:
    subject = Subject("1", None, frozenset({"42"}))
    assert not subject.mentioned_in_entry(
        {b"topic": b"products/update", b"body": json.dumps({"id": 42}).encode()})
    assert subject.mentioned_in_entry(order_entry({"id": 42}))


def test_subject_names_their_id_email_and_orders_only() -> None:
    subject = Subject("7", "ann@example.com", frozenset({"o1"}))
    assert subject.names("7") and subject.names("o1") and subject.names(" Ann@Example.COM ")
    assert not subject.names("70") and not subject.names("o2")
    assert not Subject("7").names("ann@example.com")  # no e-mail known: no e-mail matches


def test_subject_is_found_by_every_way_a_payload_names_a_customer_or_order() -> None:
    subject = Subject("7", None, frozenset({"42"}))
    for value in ({"customer_id": 7}, {"customerId": "7"}, {"customer": {"id": 7}},
                  {"order_id": "42"}, {"orderId": 42}, {"type": "order", "id": 42},
                  {"deep": [{"x": {"customer": {"id": "7"}}}]}):
        assert subject.mentioned_in(value), value
    for value in ({"customer_id": 8}, {"id": 7}, {"product_id": 42}, {"type": "product", "id": 42},
                  {"customer_id": True}, "7", [7, 42]):
        assert not subject.mentioned_in(value), value
    assert subject.mentioned_in({"id": 7}, topic="customers/update")  # the event is about them
    assert subject.mentioned_in({"id": 42}, topic="orders/paid")
    assert not subject.mentioned_in({"id": 42}, topic="customers/update")


def test_small_helpers_read_ids_emails_and_stored_values_loosely() -> None:
    assert [loose_id(v) for v in (7, "7", "", None, True, 7.0, ["7"])] == [
        "7", "7", None, None, None, None, None]
    assert [normal_email(v) for v in (" Ann@Example.com ", "", "  ", None)] == [
        "ann@example.com", None, None, None]
    assert decode_value(b'{"a": [1]}') == {"a": [1]}
    assert decode_value(b"plain \xff") == "plain \ufffd"
    assert order_event_id({b"topic": b"orders/create", b"body": b'{"id": 5}'}) == "5"
    assert order_event_id({b"topic": b"products/create", b"body": b'{"id": 5}'}) is None
    assert order_event_id({b"topic": b"orders/create", b"body": b"[5]"}) is None


def test_an_export_finds_a_guest_order_by_email_and_holds_no_model_before_training(
        store: Store, make_shop: Any) -> None:
    """find_subject adds the orders of events that name the customer's e-mail (a guest
    checkout); without a model the export says so."""
    shop_id = make_shop().shop.shop_id
    guest = order_payload(8801, None, [1])
    guest["email"] = "Guest.Ann@Example.com"
    other = order_payload(8802, None, [2])
    other["email"] = "someone@example.com"

    async def work(redis: Any) -> tuple[Any, ...]:
        for n, payload in enumerate((guest, other)):
            await append(redis, shop_id, Event("shopify", "orders/create", f"g-{n}",
                                               body_of(payload)))
        subject = await find_subject(redis, shop_id, "ann-1", "guest.ann@example.com")
        kept = await store_data_request(redis, shop_id, "req-1", "ann-1",
                                        "guest.ann@example.com")
        return (subject, kept, await get_data_request(redis, shop_id, "req-1"),
                await get_data_request(redis, shop_id, "req-2"))

    subject, kept, read, unknown = store.run(work)
    assert subject.order_ids == frozenset({"8801"})
    assert [e["delivery_id"] for e in kept["events"]] == ["g-0"]
    assert kept["model"] == {"version": None, "holds_customer": False,
                             "purchased_product_ids": []}
    assert read == json.loads(json.dumps(kept)) and unknown is None
    assert kept["request_id"] == "req-1" and kept["email"] == "guest.ann@example.com"


def test_an_export_holds_the_browsing_and_clicks_of_their_visitors_until_erased(
        store: Store, make_shop: Any) -> None:
    """Visitors linked to the customer (browsing events or widget events with their id):
    each one's products with the time of the latest view or add to cart, and the clicks;
    another customer's visitor is not in it, and the erasure leaves nothing to export."""
    shop_id = make_shop().shop.shop_id
    now = time.time()

    async def work(redis: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        await record_browsing(redis, shop_id, "v-ann", [("501", now - 60), ("502", now - 30)])
        await link_visitor(redis, shop_id, "v-ann", "ann-1")
        await record_browsing(redis, shop_id, "v-bob", [("503", now - 10)])
        await link_visitor(redis, shop_id, "v-bob", "bob-1")
        await record_events(redis, shop_id, "v-ann", "ann-1", [
            WidgetEvent("e1", "click", "recently_viewed", "501", now - 20)])
        before = await export_customer(redis, shop_id, "ann-1")
        await erase_customer(redis, shop_id, "ann-1")
        return (before, await export_customer(redis, shop_id, "ann-1"),
                await export_customer(redis, shop_id, "bob-1"))

    before, after, bob = store.run(work)
    assert before["browsing"] == [{"visitor_id": "v-ann", "products": [
        {"product_id": "502", "at": now - 30}, {"product_id": "501", "at": now - 60}]}]
    assert before["widget_clicks"] == [
        {"visitor_id": None, "placement": "recently_viewed", "product_id": "501",
         "at": now - 20},
        {"visitor_id": "v-ann", "placement": "recently_viewed", "product_id": "501",
         "at": now - 20}]
    assert "v-bob" not in json.dumps(before) and "503" not in json.dumps(before)
    assert (after["browsing"], after["widget_clicks"]) == ([], [])
    assert bob["browsing"] == [{"visitor_id": "v-bob", "products": [
        {"product_id": "503", "at": now - 10}]}]


def test_a_subject_needs_a_customer_id(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    with pytest.raises(ValueError, match="customer id"):
        store.run(lambda r: find_subject(r, shop_id, ""))
