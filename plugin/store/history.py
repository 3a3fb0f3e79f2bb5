"""A customer's purchase history as the personal recommendations read it: product id -> how
many of their orders that still count hold it.

It is read on every customer's first call after a change, so it costs one round trip (a Lua
script reads the customer's order index and their orders together) and reads the stored JSON
as plain data, not as Order objects: the order store checked every field when it wrote them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.scripts import Script, missing

log = logging.getLogger(__name__)
NEWEST = 500  # orders read per customer, newest first

# KEYS: the customer's order index (ZSET order id -> created_at), the shop's orders (HASH);
# ARGV[1]: how many of the newest. The stored JSON of each (false: gone since).
_READ = Script("""
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
""")


async def customer_history(
    redis: aioredis.Redis, shop_id: str, customer_id: str, newest: int = NEWEST
) -> dict[str, int]:
    """Product id -> number of the customer's `newest` orders that still count holding it
    (not cancelled, a line's net quantity after refunds above 0)."""
    stored = await _READ(redis, _read_keys(shop_id, customer_id), [newest])
    return _counted(stored, customer_id)


async def customer_histories(
    redis: aioredis.Redis, shop_id: str, customer_ids: Sequence[str], newest: int = NEWEST
) -> list[dict[str, int]]:
    """customer_history of each customer, all read in one round trip (a page of a feed)."""
    if not customer_ids:
        return []
    if len(customer_ids) == 1:  # one call: a pipeline would cost a third more
        return [await customer_history(redis, shop_id, customer_ids[0], newest)]
    replies = await _pipelined(redis, shop_id, customer_ids, newest)
    if any(missing(reply) for reply in replies):  # a new or restarted server
        await _READ.load(redis)
        replies = await _pipelined(redis, shop_id, customer_ids, newest)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return [_counted(stored, customer_id)
            for stored, customer_id in zip(replies, customer_ids, strict=True)]


async def _pipelined(redis: aioredis.Redis, shop_id: str, customer_ids: Sequence[str],
                     newest: int) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for customer_id in customer_ids:
            _READ.queue(pipe, _read_keys(shop_id, customer_id), [newest])
        return list(await pipe.execute(raise_on_error=False))


def _read_keys(shop_id: str, customer_id: str) -> list[str]:
    return [keys.customer_orders(shop_id, customer_id), keys.orders(shop_id)]


def _counted(stored: list[bytes | None], customer_id: str) -> dict[str, int]:
    history: dict[str, int] = {}
    for raw in stored:
        order = stored_json(raw) if raw else None
        if order is None or order["cancelled"] or order["customer_id"] != customer_id:
            continue
        quantities = net_quantities(order["lines"], order.get("refunds"))
        for product_id in {line["product_id"] for line, kept in
                           zip(order["lines"], quantities, strict=True) if kept > 0}:
            history[product_id] = history.get(product_id, 0) + 1
    return history


def net_quantities(lines: list[dict[str, Any]], refunds: list[dict[str, Any]] | None
                   ) -> list[int]:
    """What the customer kept of each line of a stored order (Order.to_json's fields):
    Order.net_quantity, ordered minus refunded, never below zero."""
    if not refunds:
        return [line["quantity"] for line in lines]
    given_back: dict[str, int] = {}
    for refund in refunds:
        given_back[refund["line_id"]] = given_back.get(refund["line_id"], 0) + refund["quantity"]
    return [max(0, line["quantity"] - given_back.get(line["line_id"], 0))
            if line.get("line_id") else line["quantity"] for line in lines]


def stored_json(raw: bytes) -> dict[str, Any] | None:
    """A stored order's JSON as data: orjson, or the json module for what only it reads (a
    lone surrogate in a title); None (logged) for anything else, which no write stores."""
    with contextlib.suppress(orjson.JSONDecodeError):
        return _order(orjson.loads(raw))
    try:
        return _order(json.loads(raw))
    except ValueError as error:
        log.warning("skipped a stored order that is not JSON: %s", error)
        return None


def _order(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict) and {"cancelled", "customer_id", "lines"} <= data.keys():
        return data
    log.warning("skipped a stored order without an order's fields")
    return None
