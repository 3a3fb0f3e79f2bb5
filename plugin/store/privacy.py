"""Privacy: who a customer is in a shop's data (their id, e-mail and orders), and the export of
everything held about them (plugin.store.erasure erases it).

Shopify sends the mandatory privacy webhooks (customers/data_request, customers/redact,
shop/redact: webhooks/shopify_privacy.py); the other platforms have none, so the API and the
CLI offer the same actions. An export holds the customer's stored orders, the raw webhook
events and dead letters that mention them, the browsing histories and widget clicks of the
visitors (browsers) linked to them, their own widget clicks, and their row of the serving
model.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.browsing import browsing_history
from plugin.store.connection import text
from plugin.store.experiments import arm_for, list_experiments
from plugin.store.models import load_model
from plugin.store.order import email_customer_id, stored_order
from plugin.store.records import iter_orders
from plugin.store.tracking import clicks_held, linked_visitors

PAGE = 500
_CUSTOMER_FIELDS = ("customer_id", "customerId")
_ORDER_FIELDS = ("order_id", "orderId")
NOT_PERSONAL = ("the product catalog, and the model's aggregates (co-purchase scores, trending, "
                "product factors), which hold no identity")


# ---- who: the customer, their e-mail and their orders ------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The customer an export or erasure is about: their id, e-mail and order ids."""

    customer_id: str
    email: str | None = None  # lower-case
    order_ids: frozenset[str] = frozenset()

    def with_orders(self, order_ids: Iterable[str]) -> Subject:
        return replace(self, order_ids=self.order_ids | frozenset(order_ids))

    def names(self, name: str) -> bool:
        """`name` (a hash field, a set member) is their id, e-mail or one of their order ids."""
        return name == self.customer_id or name in self.order_ids or (
            self.email is not None and name.strip().lower() == self.email)

    def mentioned_in(self, value: Any, topic: str = "") -> bool:
        """A decoded JSON value names them: `customer{id}` / `customer_id` / `customerId`,
        `order_id` / `orderId` / `{type: order, id}` of one of their orders, the top-level id
        of an order (or customer) event, or a string equal to their e-mail."""
        if isinstance(value, dict):
            top_id = loose_id(value.get("id"))
            if ("order" in topic and top_id in self.order_ids) or (
                    "customer" in topic and top_id == self.customer_id):
                return True
        return self._walk(value)

    def mentioned_in_entry(self, fields: dict[bytes, bytes]) -> bool:
        """A stream entry (raw webhook event or dead letter) names them in any field."""
        topic = text(fields.get(b"topic", b"")).lower()
        return any(self.mentioned_in(decode_value(value), topic)
                   for name, value in fields.items()
                   if name != b"topic" and self._may_name(value))

    def _may_name(self, raw: bytes) -> bool:
        """Fast pre-check before parsing: an id or the e-mail occurs in the raw bytes."""
        return self._needles.search(raw.lower()) is not None

    @functools.cached_property
    def _needles(self) -> re.Pattern[bytes]:
        words = [self.customer_id, *self.order_ids]
        if self.email:  # as UTF-8 and as JSON escapes it (\u00e9)
            words += [self.email, json.dumps(self.email)[1:-1]]
        return re.compile(b"|".join(re.escape(word.lower().encode()) for word in words))

    def _walk(self, value: Any) -> bool:
        if isinstance(value, dict):
            return self._named_by_object(value) or any(self._walk(v) for v in value.values())
        if isinstance(value, list):
            return any(self._walk(item) for item in value)
        return isinstance(value, str) and self.email is not None \
            and value.strip().lower() == self.email

    def _named_by_object(self, obj: dict[str, Any]) -> bool:
        customer = obj.get("customer")
        return (
            any(loose_id(obj.get(name)) == self.customer_id for name in _CUSTOMER_FIELDS)
            or (isinstance(customer, dict) and loose_id(customer.get("id")) == self.customer_id)
            or any(loose_id(obj.get(name)) in self.order_ids for name in _ORDER_FIELDS)
            or (obj.get("type") == "order" and loose_id(obj.get("id")) in self.order_ids)
        )


async def find_subject(
    redis: aioredis.Redis, shop_id: str, customer_id: str, email: str | None = None,
    order_ids: Iterable[str] = (),
) -> Subject:
    """The customer with every order that is theirs: the given ids, their stored orders, and
    the orders of order events that mention them (a guest checkout found by e-mail)."""
    if not customer_id:
        raise ValueError("the customer id must not be empty")
    subject = Subject(customer_id, normal_email(email), frozenset(order_ids))
    ids = {customer_id, email_customer_id(email)} - {None}  # + orders imported by e-mail
    stored = [order.order_id async for order in iter_orders(redis, shop_id)
              if order.customer_id in ids]
    subject = subject.with_orders(stored)
    in_events = set()
    for stream in (keys.events(shop_id), keys.dead_letters(shop_id)):
        async for _entry_id, fields in stream_entries(redis, stream):
            order_id = order_event_id(fields)
            if order_id is not None and subject.mentioned_in_entry(fields):
                in_events.add(order_id)
    return subject.with_orders(in_events)


# ---- export ------------------------------------------------------------------------------------


async def export_customer(
    redis: aioredis.Redis, shop_id: str, customer_id: str, email: str | None = None,
    order_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """Everything held about one customer, JSON-ready: their stored orders (normalised), the
    raw webhook events and dead letters that mention them, the browsing and widget clicks of
    the visitors linked to them and their own clicks, the experiment arms they are pinned in,
    and the served model's row for them (the products it holds as purchased). The catalog is
    not personal data."""
    subject = await find_subject(redis, shop_id, customer_id, email, order_ids)
    visitors = await linked_visitors(redis, shop_id, customer_id)
    return {
        "shop_id": shop_id,
        "customer_id": customer_id,
        "email": subject.email,
        "exported_at": time.time(),
        "orders": await _stored_orders(redis, shop_id, subject),
        "events": await _exported_entries(redis, keys.events(shop_id), subject),
        "dead_letters": await _exported_entries(redis, keys.dead_letters(shop_id), subject),
        "browsing": [{"visitor_id": visitor, "products": [
            {"product_id": product_id, "at": at}
            for product_id, at in await browsing_history(redis, shop_id, visitor)]}
            for visitor in visitors],
        "widget_clicks": [
            {"visitor_id": visitor, "placement": click.placement,
             "product_id": click.product_id, "at": click.at}
            for visitor, click in await clicks_held(redis, shop_id, customer_id, visitors)],
        "experiments": await _experiment_arms(redis, shop_id, customer_id),
        "model": await _model_row(redis, shop_id, customer_id),
        "not_personal": NOT_PERSONAL,
    }


async def _experiment_arms(redis: aioredis.Redis, shop_id: str, customer_id: str
                           ) -> list[dict[str, Any]]:
    """The experiments the customer is pinned in, with the arm that pin puts them in."""
    found = await list_experiments(redis, shop_id)
    async with redis.pipeline(transaction=False) as pipe:
        for experiment in found:
            pipe.hget(keys.experiment_pins(shop_id, experiment.experiment_id), customer_id)
        units = await pipe.execute()
    return [{"experiment_id": e.experiment_id, "name": e.name,
             "arm": arm_for(e, text(unit)).name}
            for e, unit in zip(found, units, strict=True) if unit is not None][::-1]


async def store_data_request(
    redis: aioredis.Redis, shop_id: str, request_id: str, customer_id: str,
    email: str | None = None, order_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """Export the customer and keep the export under the request id for 30 days."""
    export = {"request_id": request_id,
              **await export_customer(redis, shop_id, customer_id, email, order_ids)}
    await redis.set(keys.privacy_request(shop_id, request_id), json.dumps(export),
                    ex=keys.PRIVACY_REQUEST_TTL_SECONDS)
    return export


async def get_data_request(
    redis: aioredis.Redis, shop_id: str, request_id: str
) -> dict[str, Any] | None:
    raw = await redis.get(keys.privacy_request(shop_id, request_id))
    return None if raw is None else dict(json.loads(raw))


async def _stored_orders(
    redis: aioredis.Redis, shop_id: str, subject: Subject
) -> list[dict[str, Any]]:
    if not subject.order_ids:
        return []
    raw = await redis.hmget(keys.orders(shop_id), sorted(subject.order_ids))
    orders = [o for entry in raw if entry is not None and (o := stored_order(entry)) is not None]
    return [asdict(order) for order in sorted(orders, key=lambda o: (o.created_at, o.order_id))]


async def _exported_entries(
    redis: aioredis.Redis, stream: str, subject: Subject
) -> list[dict[str, Any]]:
    return [
        {"entry_id": text(entry_id),
         **{text(name): decode_value(value) if name == b"body" else text(value)
            for name, value in fields.items()}}
        async for entry_id, fields in stream_entries(redis, stream)
        if subject.mentioned_in_entry(fields)
    ]


async def _model_row(redis: aioredis.Redis, shop_id: str, customer_id: str) -> dict[str, Any]:
    version = await redis.get(keys.model_current(shop_id))
    model = None if version is None else await load_model(
        redis, keys.model(shop_id, text(version)))
    if version is None or model is None:
        return {"version": None, "holds_customer": False, "purchased_product_ids": []}
    rows = np.flatnonzero(model.user_ids == customer_id)
    products = [] if not len(rows) else sorted(
        model.item_ids[model.user_items[int(rows[0])].indices].tolist())
    return {"version": text(version), "holds_customer": bool(len(rows)),
            "purchased_product_ids": products}


# ---- erase one customer ------------------------------------------------------------------------


# ---- erase a shop ------------------------------------------------------------------------------


# ---- Shopify's mandatory privacy webhooks ------------------------------------------------------


# ---- small helpers ---------------------------------------------------------------------------


async def stream_entries(
    redis: aioredis.Redis, stream: str
) -> AsyncIterator[tuple[bytes, dict[bytes, bytes]]]:
    start = "-"
    while True:
        batch: Any = await redis.xrange(stream, min=start, count=PAGE)
        for entry_id, fields in batch:
            yield entry_id, fields
        if len(batch) < PAGE:
            return
        start = "(" + text(batch[-1][0])


def order_event_id(fields: dict[bytes, bytes]) -> str | None:
    if "order" not in text(fields.get(b"topic", b"")).lower():
        return None
    body = decode_value(fields.get(b"body", b""))
    return loose_id(body.get("id")) if isinstance(body, dict) else None


def loose_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def normal_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


def decode_value(raw: bytes | str) -> Any:
    """A stored value as JSON if it is JSON, else as text."""
    try:
        return json.loads(raw)
    except ValueError:
        return text(raw)


