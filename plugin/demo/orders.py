"""The order history: drafts (who buys what, when), line items, cancellations, and the
Shopify-shaped order payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plugin.demo.assortment import Catalog, cents_to_str
from plugin.demo.clock import SECONDS_PER_HOUR, Clock, local_iso
from plugin.demo.customers import (
    Customer,
    customer_times,
    draw_basket,
    make_customer,
    order_counts,
    quantity,
)

CURRENCY = "EUR"
ORDER_ID_BASE = 5_100_000_000_000
CUSTOMER_ID_BASE = 6_200_000_000_000
LINE_ITEM_ID_BASE = 14_300_000_000_000
FIRST_ORDER_NUMBER = 1001

GUEST_SHARE = 0.03
CUSTOMERS_PER_ORDER = 0.42
CANCELLED_SHARE = 0.01


@dataclass(frozen=True)
class _Draft:
    created: int
    sequence: int
    customer: int | None
    basket: list[int]


def _drafts(
    rng: np.random.Generator, catalog: Catalog, clock: Clock, n_orders: int
) -> tuple[list[_Draft], list[Customer]]:
    n_guest = min(round(n_orders * GUEST_SHARE), n_orders - 1) if n_orders > 1 else 0
    n_registered = n_orders - n_guest
    n_customers = max(1, min(n_registered, round(n_orders * CUSTOMERS_PER_ORDER)))
    counts = order_counts(rng, n_customers, n_registered)
    customers = [make_customer(rng, catalog, count) for count in counts]
    drafts: list[_Draft] = []
    for index, customer in enumerate(customers):
        for nth, created in enumerate(customer_times(rng, clock, customer, catalog)):
            basket = draw_basket(rng, catalog, customer, nth)
            drafts.append(_Draft(created, len(drafts), index, basket))
    for created in clock.draw(n_guest):
        drafts.append(_Draft(created, len(drafts), None, draw_basket(rng, catalog, None, 0)))
    drafts.sort(key=lambda draft: (draft.created, draft.sequence))
    return drafts, customers


def _line_items(
    rng: np.random.Generator, catalog: Catalog, basket: list[int], first_line_id: int
) -> tuple[list[dict[str, Any]], int]:
    lines = []
    total_cents = 0
    for offset, index in enumerate(basket):
        item = catalog.items[index]
        product = item.product
        qty = quantity(rng, item.cycle_days is not None)
        total_cents += round(float(product.price) * 100) * qty
        lines.append(
            {
                "id": first_line_id + offset,
                "product_id": int(product.product_id),
                "variant_id": int(product.product_id) * 10 + 1,
                "title": product.title,
                "quantity": qty,
                "price": product.price,
                "sku": f"SKU-{product.product_id}",
            }
        )
    return lines, total_cents


def _customer_payload(customer: Customer, number: int) -> dict[str, Any]:
    return {
        "id": CUSTOMER_ID_BASE + number,
        "email": f"customer{number}@example.com",
        "first_name": customer.first_name,
        "last_name": customer.last_name,
    }


def _order_payload(
    index: int,
    created: int,
    cancelled: int | None,
    total_cents: int,
    customer: dict[str, Any] | None,
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    created_at = local_iso(created)
    cancelled_at = local_iso(cancelled) if cancelled is not None else None
    total = cents_to_str(total_cents)
    return {
        "id": ORDER_ID_BASE + index,
        "name": f"#{FIRST_ORDER_NUMBER + index}",
        "order_number": FIRST_ORDER_NUMBER + index,
        "email": customer["email"] if customer else f"guest{index}@example.com",
        "created_at": created_at,
        "updated_at": cancelled_at or created_at,
        "processed_at": created_at,
        "cancelled_at": cancelled_at,
        "cancel_reason": "customer" if cancelled_at else None,
        "financial_status": "voided" if cancelled_at else "paid",
        "currency": CURRENCY,
        "subtotal_price": total,
        "total_price": total,
        "customer": customer,
        "line_items": lines,
    }


def _cancellation(rng: np.random.Generator, created: int, end: int) -> int | None:
    if rng.random() >= CANCELLED_SHARE:
        return None
    delay = int(rng.integers(30 * 60, 48 * SECONDS_PER_HOUR))
    return max(min(created + delay, end), created + 1)


def generate_orders(
    rng: np.random.Generator, catalog: Catalog, clock: Clock, n_orders: int
) -> list[dict[str, Any]]:
    drafts, customers = _drafts(rng, catalog, clock, n_orders)
    numbers: dict[int, int] = {}  # customer index -> number, in order of first purchase
    orders = []
    next_line_id = LINE_ITEM_ID_BASE
    for index, draft in enumerate(drafts):
        customer = None
        if draft.customer is not None:
            number = numbers.setdefault(draft.customer, len(numbers) + 1)
            customer = _customer_payload(customers[draft.customer], number)
        lines, total_cents = _line_items(rng, catalog, draft.basket, next_line_id)
        next_line_id += len(lines)
        cancelled = _cancellation(rng, draft.created, clock.end)
        orders.append(_order_payload(index, draft.created, cancelled, total_cents, customer, lines))
    return orders
