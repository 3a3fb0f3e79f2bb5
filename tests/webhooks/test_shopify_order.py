"""The compiled Shopify order rules (webhooks.shopify_order.order) held to the Python field
rules (parse_order_by_rules): on real and demo orders they answer, with the same
Order; on fuzzed ones they answer the same Order or leave it to the rules, never another."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.demo.store import generate_store
from plugin.store.fields import PayloadError
from plugin.store.order import Order
from webhooks import shopify_order
from webhooks.shopify_order import parse_order, parse_order_by_rules

SHOPIFY = Path(__file__).resolve().parents[3] / "shared" / "data" / "webhooks" / "shopify"
CAPTURED = [SHOPIFY / "orders_test_notification_raw_2022-05.json",
            SHOPIFY / "rest_fixture_shopify_python_api_order.json"]


def captured(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document.get("order", document)


def by_rules(payload: Any) -> Order | str:
    """What the Python rules make of `payload`: the Order, or their refusal's message."""
    try:
        return parse_order_by_rules(payload)
    except PayloadError as error:
        return f"refused: {error}"


@pytest.mark.parametrize("path", CAPTURED, ids=lambda path: path.name)
def test_captured_shopify_orders_take_the_compiled_rules_and_match(path: Path) -> None:
    payload = captured(path)
    made = shopify_order.order(payload)
    assert made is not None
    assert made == by_rules(payload)
    assert made.lines  # the captures have product lines


def test_every_demo_order_takes_the_compiled_rules_and_matches() -> None:
    orders = generate_store(n_orders=300, n_products=145).orders
    for payload in orders:
        made = shopify_order.order(json.loads(json.dumps(payload)))  # as a body decodes
        assert made is not None and made == by_rules(payload), payload["id"]


def test_a_refusal_is_worded_by_the_rules() -> None:
    payload = captured(CAPTURED[0])
    payload["line_items"][1]["price"] = "-5.00"
    assert shopify_order.order(payload) is None
    with pytest.raises(PayloadError, match=r"^line_items\[1\]\.price must not be negative"):
        parse_order(payload)


def test_rare_shapes_the_rules_accept_are_left_to_them() -> None:
    payload = captured(CAPTURED[0])
    payload["currency"] = "eur"  # the rules upper-case it
    payload["line_items"][0]["title"] = "tab\there"  # the rules make it a space
    payload["line_items"][0]["price"] = 12.5  # a number: the rules write it out
    assert shopify_order.order(payload) is None
    made = parse_order(payload)
    assert made.currency == "EUR" and made.lines[0].title == "tab here"
    assert made.lines[0].price == "12.5"


# ---- fuzzing: one field at a time, or several, replaced by an odd value ----------------------

ODD = [
    None, "", " ", True, False, 0, -1, 1.5, float("nan"), [], {}, [1], {"id": 1},
    10**18 - 1, 10**18, -(10**18) + 1, -(10**18), 2**64, "x" * 128, "x" * 129, "x" * 500,
    "x" * 501, "12\n34", "\u200b", "\u00a0", "é", "0", "00", "01", "1.", ".5", "1.0000001",
    "1e5", "-0", "0.0000001", "E1R", "E-R", "999999999999", "1000000000000", "1000000",
    1_000_000, 1_000_001,
    "2025-01-01", "2025-01-01T00:00:00", "2025-01-01T00:00:00Z", "2025-01-01 00:00:00",
    "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2099-12-31T23:59:59+23:59",
    "20250101T000000Z", "EUR", "eur", "EU", "EURO", " EUR", "EUR\n", "12.50", "12.50\n",
]
ODD_VALUES = st.one_of(st.sampled_from(ODD), st.integers(), st.text(max_size=40),
                       st.floats(allow_nan=False))
ORDER_FIELDS = ["id", "created_at", "updated_at", "cancelled_at", "currency", "total_price",
                "customer", "line_items", "refunds"]
LINE_FIELDS = ["product_id", "variant_id", "title", "quantity", "price", "id"]
REFUND_FIELDS = ["id", "refund_line_items"]
REFUND_LINE_FIELDS = ["line_item_id", "quantity"]


def with_refund(payload: dict[str, Any]) -> dict[str, Any]:
    line = payload["line_items"][0]
    payload["refunds"] = [{"id": 9001, "refund_line_items": [
        {"line_item_id": line["id"], "quantity": 1}]}]
    return payload


@st.composite
def fuzzed_orders(draw: st.DrawFn) -> dict[str, Any]:
    payload = with_refund(copy.deepcopy(captured(CAPTURED[0])))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["order", "line", "customer", "refund", "refund_line",
                                      "drop"]))
        value = draw(ODD_VALUES)
        if where == "order":
            payload[draw(st.sampled_from(ORDER_FIELDS))] = value
        elif where == "drop":
            payload.pop(draw(st.sampled_from(ORDER_FIELDS)), None)
        else:
            target = _target(payload, where, draw(st.integers(0, 2)))
            if target is not None:
                fields = {"line": LINE_FIELDS, "customer": ["id"], "refund": REFUND_FIELDS,
                          "refund_line": REFUND_LINE_FIELDS}[where]
                key = draw(st.sampled_from(fields))
                if draw(st.booleans()):
                    target[key] = value
                else:
                    target.pop(key, None)
    return payload


def _target(payload: dict[str, Any], where: str, index: int) -> dict[str, Any] | None:
    """The object of kind `where` to change, when the payload still has one."""
    def nth(items: Any) -> Any:
        return items[index % len(items)] if isinstance(items, list) and items else None
    if where == "line":
        found = nth(payload.get("line_items"))
    elif where == "customer":
        found = payload.get("customer")
    elif where == "refund":
        found = nth(payload.get("refunds"))
    else:
        refund = nth(payload.get("refunds"))
        found = nth(refund.get("refund_line_items")) if isinstance(refund, dict) else None
    return found if isinstance(found, dict) else None


def test_every_odd_value_in_every_field_is_answered_as_the_rules_answer() -> None:
    """Each field of each kind of object, set to each odd value or left out: the compiled
    rules answer the rules' Order or leave it to them (and do answer for some)."""
    answered = 0
    for where, fields in [("order", ORDER_FIELDS), ("line", LINE_FIELDS),
                          ("customer", ["id"]), ("refund", REFUND_FIELDS),
                          ("refund_line", REFUND_LINE_FIELDS)]:
        for key in fields:
            for value in [*ODD, LEFT_OUT]:
                payload = with_refund(copy.deepcopy(captured(CAPTURED[0])))
                target = payload if where == "order" else _target(payload, where, 0)
                assert target is not None
                if value is LEFT_OUT:
                    target.pop(key, None)
                else:
                    target[key] = value
                made = shopify_order.order(payload)
                if made is not None:
                    answered += 1
                    assert made == by_rules(payload), (where, key, value)
    assert answered > 200  # ids, times, amounts and titles within the types are answered


LEFT_OUT = object()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzzed_orders())
def test_the_compiled_rules_never_answer_otherwise_than_the_rules(payload: dict[str, Any]
                                                                  ) -> None:
    made = shopify_order.order(payload)
    expected = by_rules(payload)
    if made is not None:
        assert made == expected
    assert by_rules_or(parse_order, payload) == expected


def by_rules_or(parse: Any, payload: Any) -> Order | str:
    try:
        made: Order = parse(payload)
    except PayloadError as error:
        return f"refused: {error}"
    return made
