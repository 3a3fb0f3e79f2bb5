"""The one order model (plugin.store.order): nothing half-valid exists, what a customer kept of a
line, the stored JSON read back, and the id of a customer known only by e-mail."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields, replace

import pytest

from plugin.store.fields import PayloadError
from plugin.store.order import (
    LineItem,
    Order,
    Refund,
    checked_line,
    checked_order,
    checked_refund,
    email_customer_id,
    from_checked,
    stored_order,
)


def an_order(**changes: object) -> Order:
    lines = (LineItem("101", "1011", "Mug", 3, "10.00", "L1"),
             LineItem("102", None, "Saucer", 2, "4.50", "L2"),
             LineItem("103", None, "Spoon", 1, "1.00"))
    order = Order("9", "11", 1.7e9, 1.7e9 + 5, False, "EUR", "40.00", lines)
    return replace(order, **changes)  # type: ignore[arg-type]


def test_the_order_model_refuses_a_half_valid_order() -> None:
    line = LineItem("101", None, "Mug", 1, "10.00")
    Order("1", "11", 1.7e9, 1.7e9, False, "EUR", "10.00", (line,))
    with pytest.raises(PayloadError, match="currency"):
        Order("1", "11", 1.7e9, 1.7e9, False, "eur", "10.00", (line,))
    with pytest.raises(PayloadError, match="price"):
        LineItem("101", None, "Mug", 1, "-1")
    with pytest.raises(PayloadError, match="title"):
        LineItem("101", None, "\ud800", 1, "1")
    with pytest.raises(PayloadError, match="product_id"):
        LineItem(101, None, "Mug", 1, "1")  # type: ignore[arg-type]


def test_ids_times_lines_and_refunds_are_checked_too() -> None:
    line = LineItem("101", None, "Mug", 1, "10.00")
    for field, value in (("order_id", 9), ("customer_id", 11), ("created_at", float("nan")),
                         ("updated_at", -1.0), ("total_price", "ten"), ("lines", ("x",)),
                         ("refunds", ({"refund_id": "r"},))):
        with pytest.raises(PayloadError):
            replace(an_order(lines=(line,)), **{field: value})
    with pytest.raises(PayloadError, match="refunded quantity"):
        Refund("r1", "L1", -1)
    with pytest.raises(PayloadError, match="refund line_id"):
        Refund("r1", "", 1)
    assert an_order(customer_id=None).customer_id is None  # a guest checkout


def test_what_a_customer_kept_is_ordered_minus_refunded_never_below_zero() -> None:
    order = an_order(refunds=(Refund("r1", "L1", 1), Refund("r2", "L1", 1),
                              Refund("r3", "L2", 5), Refund("r4", "other", 1)))
    mug, saucer, spoon = order.lines
    assert order.net_quantity(mug) == 1  # two refunds of one line add up
    assert order.net_quantity(saucer) == 0  # more given back than ordered: nothing kept
    assert order.net_quantity(spoon) == 1  # a line without an id cannot be named by a refund


def test_the_stored_json_reads_back_as_the_same_order() -> None:
    order = an_order(customer_id=None, cancelled=True, refunds=(Refund("r1", "L1", 2),))
    raw = order.to_json()
    assert json.loads(raw)["lines"][0] == {"product_id": "101", "variant_id": "1011",
                                          "title": "Mug", "quantity": 3, "price": "10.00",
                                          "line_id": "L1"}
    assert Order.from_json(raw) == order
    assert Order.from_json(raw.encode(), trusted=True) == order
    older = json.loads(an_order().to_json())
    del older["refunds"]  # written before refunds were kept
    assert Order.from_json(json.dumps(older)).refunds == ()


def test_only_trusted_json_skips_the_field_rules() -> None:
    broken = json.loads(an_order().to_json())
    broken["currency"] = "eur"
    with pytest.raises(PayloadError, match="currency"):
        Order.from_json(json.dumps(broken))
    assert Order.from_json(json.dumps(broken), trusted=True).currency == "eur"


def test_from_checked_builds_without_checking_and_fills_defaults() -> None:
    line = from_checked(LineItem, product_id="1", variant_id=None, title="T", quantity=2,
                        price="1.00")
    assert line == LineItem("1", None, "T", 2, "1.00") and line.line_id is None
    unchecked = from_checked(LineItem, product_id=1, variant_id=None, title="T", quantity=2,
                             price="1.00")
    assert unchecked.product_id == 1  # not checked: the caller's parse already did
    with pytest.raises(KeyError):
        from_checked(Refund, refund_id="r")  # a field without a default is required


def test_the_checked_constructors_fill_every_field_in_declaration_order() -> None:
    line = checked_line("1", None, "T", 2, "1.00", "L1")
    refund = checked_refund("R1", "L1", 1)
    order = checked_order("9", None, 1.7e9, 1.7e9 + 5, True, "EUR", "2.00", (line,), (refund,))
    assert line == LineItem("1", None, "T", 2, "1.00", "L1")
    assert refund == Refund("R1", "L1", 1)
    assert order == Order("9", None, 1.7e9, 1.7e9 + 5, True, "EUR", "2.00", (line,), (refund,))
    for made in (line, refund, order):  # as __init__ sets them: to_json writes vars()
        assert list(vars(made)) == [field.name for field in fields(made)]
    assert json.loads(order.to_json()) == json.loads(
        Order("9", None, 1.7e9, 1.7e9 + 5, True, "EUR", "2.00", (line,), (refund,)).to_json())
    unchecked = checked_line(1, None, "T", -2, "x", None)  # type: ignore[arg-type]
    assert unchecked.product_id == 1 and unchecked.quantity == -2  # the caller checked them


def test_a_stored_order_that_breaks_the_rules_is_skipped_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    good = an_order()
    assert stored_order(good.to_json()) == good
    broken = json.loads(good.to_json())
    broken["lines"][0]["quantity"] = -1
    with caplog.at_level(logging.WARNING, logger="plugin.store.order"):
        assert stored_order(json.dumps(broken)) is None
        assert stored_order(b"not json") is None
        assert stored_order(b'{"order_id": "1"}') is None
    assert len(caplog.records) == 3
    assert "breaks the field rules" in caplog.records[0].getMessage()


def test_a_customer_known_by_email_gets_one_id_whatever_the_case_and_spaces() -> None:
    digest = hashlib.sha256(b"ann@example.com").hexdigest()[:24]
    assert email_customer_id(" Ann@Example.COM ") == f"email:{digest}"
    assert email_customer_id("ann@example.com") == f"email:{digest}"
    assert email_customer_id("bob@example.com") != f"email:{digest}"
    assert email_customer_id("") is None and email_customer_id("  ") is None
    assert email_customer_id(None) is None
