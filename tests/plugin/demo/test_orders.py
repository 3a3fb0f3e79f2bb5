"""The order history (plugin.demo.orders): exactly the orders asked for, in time order,
Shopify-shaped, with customers numbered by their first purchase, a few guests and rare
cancellations, and line items that add up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from plugin.demo.assortment import Catalog, build_items, popularity
from plugin.demo.clock import Clock, local_iso
from plugin.demo.orders import (
    CANCELLED_SHARE,
    CUSTOMER_ID_BASE,
    FIRST_ORDER_NUMBER,
    GUEST_SHARE,
    LINE_ITEM_ID_BASE,
    ORDER_ID_BASE,
    generate_orders,
)

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)


def orders(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    items = build_items(rng, 60)
    catalog = Catalog(items, popularity(rng, len(items)))
    return generate_orders(rng, catalog, Clock(rng, START, END), n)


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return orders(3000)


def created(order: dict[str, Any]) -> float:
    return datetime.fromisoformat(order["created_at"]).timestamp()


@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_exactly_the_orders_asked_for_the_first_one_never_a_guest(n: int) -> None:
    made = orders(n)
    assert len(made) == n
    if n == 1:
        assert made[0]["customer"] is not None


def test_the_same_seed_gives_the_same_history(history) -> None:
    assert orders(3000) == history
    assert orders(3000, seed=8) != history


def test_orders_are_numbered_in_time_order(history) -> None:
    assert [created(o) for o in history] == sorted(created(o) for o in history)
    assert [o["id"] for o in history] == [ORDER_ID_BASE + n for n in range(3000)]
    assert [o["order_number"] for o in history[:2]] == [FIRST_ORDER_NUMBER, FIRST_ORDER_NUMBER + 1]
    assert all(o["name"] == f"#{o['order_number']}" for o in history)
    assert all(START.timestamp() <= created(o) < END.timestamp() for o in history)
    assert all(o["created_at"] == local_iso(int(created(o))) for o in history)


def test_customers_are_numbered_by_their_first_purchase(history) -> None:
    first_seen: list[int] = []
    for order in history:
        customer = order["customer"]
        if customer is not None and customer["id"] not in first_seen:
            first_seen.append(customer["id"])
            number = customer["id"] - CUSTOMER_ID_BASE
            assert customer["email"] == order["email"] == f"customer{number}@example.com"
            assert customer["first_name"] and customer["last_name"]
    assert first_seen == [CUSTOMER_ID_BASE + n for n in range(1, len(first_seen) + 1)]
    assert 0.35 * 3000 <= len(first_seen) <= 0.45 * 3000


def test_a_few_orders_are_guests_with_their_own_email(history) -> None:
    guests = [(n, o) for n, o in enumerate(history) if o["customer"] is None]
    assert len(guests) == round(3000 * GUEST_SHARE)
    assert all(o["email"] == f"guest{n}@example.com" for n, o in guests)


def test_line_ids_run_on_across_orders_and_totals_add_up(history) -> None:
    line_ids = [line["id"] for o in history for line in o["line_items"]]
    assert line_ids == list(range(LINE_ITEM_ID_BASE, LINE_ITEM_ID_BASE + len(line_ids)))
    for order in history:
        total = sum(Decimal(line["price"]) * line["quantity"] for line in order["line_items"])
        assert Decimal(order["total_price"]) == Decimal(order["subtotal_price"]) == total
        assert order["currency"] == "EUR" and order["financial_status"] in ("paid", "voided")


def test_cancellations_are_rare_and_come_after_the_order_within_the_span(history) -> None:
    cancelled = [o for o in history if o["cancelled_at"] is not None]
    assert 0 < len(cancelled) <= 3 * CANCELLED_SHARE * len(history)
    for order in cancelled:
        at = datetime.fromisoformat(order["cancelled_at"]).timestamp()
        assert created(order) < at <= max(END.timestamp(), created(order) + 1)
        assert at - created(order) <= 48 * 3600
        assert (order["financial_status"], order["cancel_reason"], order["updated_at"]) == (
            "voided", "customer", order["cancelled_at"])
    placed = [o for o in history if o["cancelled_at"] is None]
    assert all(o["updated_at"] == o["created_at"] and o["cancel_reason"] is None for o in placed)
