"""A customer's purchase history as the personal recommendations read it: product id -> how
many of their orders that still count hold it.

It is read on every customer's first call after a change, so it costs one round trip (a Lua
script reads the order indexes of the customers asked for and their orders together, one call
for a shop's customers however many). What it reads of each order is the order's training
line record (plugin.store.lines: the lines the customer kept, a few dozen bytes, none for a
cancelled order), written with the order; until a shop's records are complete (before the
migration order-lines-1 ran) it reads the stored JSON as plain data, not as Order objects:
the order store checked every field when it wrote them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.lines import record_customer_products
from plugin.store.scripts import Script, missing

log = logging.getLogger(__name__)
NEWEST = 500  # orders read per customer, newest first
PER_CALL = 64  # customers read by one script call: Redis serves no one else while it runs

# KEYS: the shop's line records (HASH), their completeness marker, its orders (HASH), then the
# order index (ZSET order id -> created_at) of each customer; ARGV[1]: how many of the newest.
# {1 if the records are read (else the orders' JSON), then per customer what is stored of
# each of its newest orders (false: gone since, or a record-less order)}.
_READ = Script("""
local records = redis.call('EXISTS', KEYS[2]) == 1
local source = records and KEYS[1] or KEYS[3]
local found = {records and 1 or 0}
for i = 4, #KEYS do
  local ids = redis.call('ZREVRANGE', KEYS[i], 0, tonumber(ARGV[1]) - 1)
  found[i - 2] = #ids == 0 and {} or redis.call('HMGET', source, unpack(ids))
end
return found
""")


async def customer_history(
    redis: aioredis.Redis, shop_id: str, customer_id: str, newest: int = NEWEST
) -> dict[str, int]:
    """Product id -> number of the customer's `newest` orders that still count holding it
    (not cancelled, a line's net quantity after refunds above 0)."""
    return (await _histories(redis, [(shop_id, customer_id)], newest))[0]


async def read_histories(redis: aioredis.Redis, shop_id: str, customer_ids: Sequence[str]
                         ) -> list[dict[str, int]]:
    """customer_history of each customer, read in one round trip together with every other
    read_histories asked for in the same turn of the event loop (see GroupRead)."""
    if not customer_ids:
        return []
    return await _group_read(redis).read(shop_id, customer_ids)


async def _histories(redis: aioredis.Redis, wanted: Sequence[tuple[str, str]], newest: int
                     ) -> list[dict[str, int]]:
    """The history of each (shop id, customer id), in one round trip: each customer read once
    however often asked, one script call per shop and PER_CALL customers (a pipeline of them
    when there are several)."""
    by_shop: dict[str, list[str]] = {}
    for shop_id, customer_id in dict.fromkeys(wanted):
        by_shop.setdefault(shop_id, []).append(customer_id)
    calls = [(shop_id, customer_ids[at:at + PER_CALL]) for shop_id, customer_ids in
             by_shop.items() for at in range(0, len(customer_ids), PER_CALL)]
    if len(calls) == 1:  # one call: a pipeline would cost a third more
        replies = [await _READ(redis, _read_keys(*calls[0]), [newest])]
    else:
        replies = await _pipelined(redis, calls, newest)
        if any(missing(reply) for reply in replies):  # a new or restarted server
            await _READ.load(redis)
            replies = await _pipelined(redis, calls, newest)
    found: dict[tuple[str, str], dict[str, int]] = {}
    for reply, (shop_id, customer_ids) in zip(replies, calls, strict=True):
        if isinstance(reply, Exception):
            raise reply
        for customer_id, history in zip(customer_ids, _counted(reply, customer_ids),
                                        strict=True):
            found[shop_id, customer_id] = history
    return [found[asked] for asked in wanted]


async def _pipelined(redis: aioredis.Redis, calls: list[tuple[str, list[str]]], newest: int
                     ) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for shop_id, customer_ids in calls:
            _READ.queue(pipe, _read_keys(shop_id, customer_ids), [newest])
        return list(await pipe.execute(raise_on_error=False))


class GroupRead:
    """History reads of concurrent requests sent to Redis together, as GroupCommit sends
    appends: the first read asked for schedules a flush for the next turn of the event loop,
    every read asked for in this turn joins it, and the flush reads them all in one round trip
    (each customer once, a few script calls at most: `_histories`).
    A burst of first calls (a fresh process, or right after many customers' orders came in)
    then costs one round trip instead of one each: redis-py's own work per call is most of
    a history read. A failed round trip reaches every caller of its batch."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[str, Sequence[str], asyncio.Future[list[dict[str, int]]]]] = []
        self._reads: set[asyncio.Task[None]] = set()

    async def read(self, shop_id: str, customer_ids: Sequence[str]) -> list[dict[str, int]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, int]]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((shop_id, customer_ids, future))
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._read(batch))
        self._reads.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._reads.discard)

    async def _read(self, batch: list[tuple[str, Sequence[str],
                                            asyncio.Future[list[dict[str, int]]]]]) -> None:
        try:
            histories = await _histories(
                self.redis, [(shop_id, c) for shop_id, ids, _ in batch for c in ids], NEWEST)
        except Exception as error:  # RedisError: the round trip failed, for all of them
            for *_, future in batch:
                if not future.done():  # its request was cancelled
                    future.set_exception(error)
            return
        except BaseException:  # cancelled: the loop is closing
            for *_, future in batch:
                future.cancel()
            raise
        at = 0
        for _, ids, future in batch:
            if not future.done():
                future.set_result(histories[at:at + len(ids)])
            at += len(ids)


_group_reads: weakref.WeakKeyDictionary[aioredis.Redis, GroupRead] = weakref.WeakKeyDictionary()


def _group_read(redis: aioredis.Redis) -> GroupRead:
    """The group read of this client (a client lives in one event loop)."""
    group = _group_reads.get(redis)
    if group is None:
        group = _group_reads[redis] = GroupRead(redis)
    return group


def _read_keys(shop_id: str, customer_ids: Sequence[str]) -> list[str]:
    return [keys.order_lines(shop_id), keys.order_lines_ready(shop_id), keys.orders(shop_id),
            *(keys.customer_orders(shop_id, customer_id) for customer_id in customer_ids)]


def _counted(reply: list[Any], customer_ids: Sequence[str]) -> list[dict[str, int]]:
    """Each customer's history from the script's reply (records, or the orders' JSON)."""
    count = _from_records if reply[0] == 1 else _from_orders
    return [count(stored, customer_id)
            for stored, customer_id in zip(reply[1:], customer_ids, strict=True)]


def _from_records(stored: list[bytes | None], customer_id: str) -> dict[str, int]:
    history: dict[str, int] = {}
    for record in stored:
        if not record:  # no record: cancelled, nothing kept, or gone
            continue
        owner, products = record_customer_products(record)
        if owner == customer_id:  # else moved to someone else since
            for product_id in set(products):
                history[product_id] = history.get(product_id, 0) + 1
    return history


def _from_orders(stored: list[bytes | None], customer_id: str) -> dict[str, int]:
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
