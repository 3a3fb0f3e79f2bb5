"""Widget tracking in Redis: deduplicated impression / click / add-to-cart counters per shop,
placement and UTC day, and the clicks of customers and visitors kept for attribution."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.scripts import Script

KINDS = ("impression", "click", "add_to_cart")
MAX_CLICKS_KEPT = 500  # per customer and per visitor, newest first
MAX_VISITORS_PER_CUSTOMER = 100


@dataclass(frozen=True)
class WidgetEvent:
    """One shopper interaction with a widget item; `at` in epoch seconds."""

    event_id: str
    kind: str
    placement: str
    product_id: str
    at: float


@dataclass(frozen=True)
class Click:
    """A click of a customer (or a visitor linked to them) on a product in a placement."""

    placement: str
    product_id: str
    at: float


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def counter_field(placement: str, kind: str) -> str:
    return f"{placement}:{kind}"


def _count(pipe: Pipeline, shop_id: str, placement: str, kind: str, at: float) -> None:
    key = keys.widget_counts(shop_id, day_of(at))
    pipe.hincrby(key, counter_field(placement, kind), 1)
    pipe.expire(key, keys.WIDGET_COUNTS_TTL_SECONDS)


def _store_click(pipe: Pipeline, key: str, placement: str, product_id: str, at: float,
                 nonce: str) -> None:
    pipe.zadd(key, {json.dumps([placement, product_id, nonce]): at})
    pipe.zremrangebyscore(key, "-inf", at - keys.WIDGET_CLICKS_TTL_SECONDS)
    pipe.zremrangebyrank(key, 0, -(MAX_CLICKS_KEPT + 1))
    pipe.expire(key, keys.WIDGET_CLICKS_TTL_SECONDS)


def _add_click(pipe: Pipeline, shop_id: str, customer_id: str | None, visitor_id: str | None,
               placement: str, product_id: str, at: float, nonce: str) -> None:
    if customer_id is not None:
        key = keys.widget_clicks_customer(shop_id, customer_id)
        _store_click(pipe, key, placement, product_id, at, nonce)
    if visitor_id is not None:
        key = keys.widget_clicks_visitor(shop_id, visitor_id)
        _store_click(pipe, key, placement, product_id, at, nonce)


async def record_click(
    redis: aioredis.Redis, shop_id: str, *, placement: str, product_id: str,
    customer_id: str | None, visitor_id: str | None, at: float,
) -> None:
    """Count a click on `product_id` in `placement` at `at` (epoch seconds) and keep it for
    attribution: an order of the customer (or of a customer the visitor is linked to) with
    that product within SHOPRECO_ATTRIBUTION_DAYS after `at` is attributed to `placement`.
    For callers that deduplicate themselves (tracked e-mail links)."""
    async with redis.pipeline(transaction=True) as pipe:
        _count(pipe, shop_id, placement, "click", at)
        _add_click(pipe, shop_id, customer_id, visitor_id, placement, product_id, at,
                   secrets.token_hex(8))
        if customer_id is not None and visitor_id is not None:
            await _link(redis, pipe, shop_id, visitor_id, customer_id)
        await pipe.execute()


async def link_visitor(redis: aioredis.Redis, shop_id: str, visitor_id: str,
                       customer_id: str) -> None:
    """Link a visitor to the customer signed in with it (the API's browsing events): its
    clicks count for the customer, and erasing the customer erases its clicks and browsing."""
    async with redis.pipeline(transaction=True) as pipe:
        await _link(redis, pipe, shop_id, visitor_id, customer_id)
        await pipe.execute()


async def _link(redis: aioredis.Redis, pipe: Pipeline, shop_id: str, visitor_id: str,
                customer_id: str) -> None:
    """Queue the visitor -> customer link (the visitor's clicks count for the customer)."""
    key = keys.widget_customer_visitors(shop_id, customer_id)
    full = await redis.scard(key) >= MAX_VISITORS_PER_CUSTOMER
    if full and not await redis.sismember(key, visitor_id):
        return
    pipe.sadd(key, visitor_id)
    pipe.expire(key, keys.WIDGET_CLICKS_TTL_SECONDS)


async def record_events(
    redis: aioredis.Redis, shop_id: str, visitor_id: str, customer_id: str | None,
    events: Sequence[WidgetEvent],
) -> int:
    """Count the events not seen before (by event id, per shop); returns how many counted."""
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.set(keys.widget_event_seen(shop_id, event.event_id), "1", nx=True,
                     ex=keys.WIDGET_EVENT_DEDUPE_SECONDS)
        fresh = [event for event, new in zip(events, await pipe.execute(), strict=True) if new]
    async with redis.pipeline(transaction=True) as pipe:
        for event in fresh:
            _count(pipe, shop_id, event.placement, event.kind, event.at)
            if event.kind == "click":
                _add_click(pipe, shop_id, customer_id, visitor_id, event.placement,
                           event.product_id, event.at, event.event_id)
        if customer_id is not None:
            await _link(redis, pipe, shop_id, visitor_id, customer_id)
        await pipe.execute()
    return len(fresh)


async def clicks_of_customer(
    redis: aioredis.Redis, shop_id: str, customer_id: str, since: float, until: float
) -> list[Click]:
    """The customer's clicks and those of visitors linked to them, from `since` to `until`."""
    return (await clicks_of_customers(redis, shop_id, [(customer_id, since, until)]))[0]


async def clicks_of_customers(
    redis: aioredis.Redis, shop_id: str, windows: Sequence[tuple[str, float, float]]
) -> list[list[Click]]:
    """clicks_of_customer of each (customer id, since, until), in at most three round trips
    for all: which customers have clicks or linked visitors at all (most have neither), the
    visitors of those that have some, and the clicks."""
    customers = list(dict.fromkeys(customer for customer, _since, _until in windows))
    sources: dict[str, list[str]] = {customer: [] for customer in customers}
    found = await _existing(redis, [key for customer in customers for key in (
        keys.widget_clicks_customer(shop_id, customer),
        keys.widget_customer_visitors(shop_id, customer))])
    linked = [customer for n, customer in enumerate(customers) if 2 * n + 2 in found]
    for n, customer in enumerate(customers):
        if 2 * n + 1 in found:
            sources[customer].append(keys.widget_clicks_customer(shop_id, customer))
    if linked:
        async with redis.pipeline(transaction=False) as pipe:
            for customer in linked:
                pipe.smembers(keys.widget_customer_visitors(shop_id, customer))
            for customer, visitors in zip(linked, await pipe.execute(), strict=True):
                sources[customer] += [keys.widget_clicks_visitor(shop_id, text(v))
                                      for v in sorted(visitors)]
    async with redis.pipeline(transaction=False) as pipe:
        for customer, since, until in windows:
            for key in sources[customer]:
                pipe.zrangebyscore(key, since, until, withscores=True)
        replies = iter(await pipe.execute())
    return [[_click(member, score) for _key in sources[customer]
             for member, score in next(replies)] for customer, _since, _until in windows]


# The 1-based positions of the KEYS that exist, in one call.
_EXISTING = Script("""
local found = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then found[#found + 1] = i end
end
return found
""")


async def _existing(redis: aioredis.Redis, names: Sequence[str]) -> set[int]:
    return set(await _EXISTING(redis, names, [])) if names else set()


def _click(member: bytes, score: float) -> Click:
    placement, product_id, _nonce = json.loads(member)
    return Click(placement, product_id, float(score))


async def clicks_held(redis: aioredis.Redis, shop_id: str, customer_id: str,
                      visitors: Sequence[str]) -> list[tuple[str | None, Click]]:
    """Every click kept of the customer (visitor None) and of each of `visitors`, oldest
    first within each, for the privacy export."""
    sources: list[tuple[str | None, str]] = [
        (None, keys.widget_clicks_customer(shop_id, customer_id)),
        *((visitor, keys.widget_clicks_visitor(shop_id, visitor)) for visitor in visitors)]
    async with redis.pipeline(transaction=False) as pipe:
        for _visitor, key in sources:
            pipe.zrange(key, 0, -1, withscores=True)
        replies = await pipe.execute()
    return [(visitor, _click(member, score))
            for (visitor, _key), found in zip(sources, replies, strict=True)
            for member, score in found]


async def linked_visitors(redis: aioredis.Redis, shop_id: str, customer_id: str) -> list[str]:
    """The visitors linked to the customer (link_visitor, widget events naming them), sorted."""
    found = await redis.smembers(keys.widget_customer_visitors(shop_id, customer_id))
    return sorted(text(visitor) for visitor in found)


async def erase_customer_tracking(redis: aioredis.Redis, shop_id: str, customer_id: str) -> int:
    """Delete the customer's clicks, their visitor links and those visitors' clicks and
    browsing histories (privacy erasure); returns how many keys were deleted."""
    links = keys.widget_customer_visitors(shop_id, customer_id)
    visitors = await redis.smembers(links)
    doomed = [keys.widget_clicks_customer(shop_id, customer_id), links]
    doomed += [keys.widget_clicks_visitor(shop_id, text(v)) for v in visitors]
    doomed += [keys.visitor_browsing(shop_id, text(v)) for v in visitors]
    return int(await redis.delete(*doomed))
