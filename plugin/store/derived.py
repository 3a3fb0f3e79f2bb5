"""Records derived from each stored order (its lifecycle fact in plugin.store.facts, its
training lines in plugin.store.lines): the order store writes them in the script that writes
the order; this module writes them for orders stored before a kind of record existed.

A kind of record is a Derived: the Lua function that writes one record (the order store's
scripts include it too), how the back-fill calls it, its keys and the record of an Order.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.order import Order, stored_order
from plugin.store.scripts import Arg, Script

PAGE = 500

# KEYS[1] the orders, ARGV[1] the order id, ARGV[2] sha1 of its JSON as read: an order whose JSON
# changed since (or is gone) is left to the write that changed it.
_UNCHANGED = """
if redis.sha1hex(redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
"""


@dataclass(frozen=True)
class Derived:
    """One kind of record derived from each stored order.

    write_lua defines the Lua function that writes one record ('' removes it); call is the
    Lua line the back-fill runs it with: KEYS[1] is the orders hash and KEYS[2..] are
    `keys(shop)`, ARGV[1] the order id, ARGV[3] the record and ARGV[4..] `extra()`.
    """

    write_lua: str
    call: str
    keys: Callable[[str], tuple[str, ...]]
    record: Callable[[Order], bytes]  # b'': the order has none
    extra: Callable[[], tuple[Arg, ...]] = tuple

    @functools.cached_property
    def backfill_script(self) -> str:
        return f"{self.write_lua}{_UNCHANGED}{self.call}\nreturn 1\n"


async def backfill(redis: aioredis.Redis, shop_id: str, kind: Derived) -> int:
    """Write the record of every stored order of the shop; non-empty records written."""
    written = 0
    page: list[tuple[bytes, bytes]] = []
    async for order_id, raw in redis.hscan_iter(keys.orders(shop_id), count=PAGE):
        page.append((order_id, raw))
        if len(page) >= PAGE:
            written += await write_records_of(redis, shop_id, kind, page)
            page = []
    return written + (await write_records_of(redis, shop_id, kind, page) if page else 0)


async def write_records_of(redis: aioredis.Redis, shop_id: str, kind: Derived,
                           stored: list[tuple[bytes, bytes]]) -> int:
    """Write the records of stored orders, given as (order id, JSON as read); an order whose
    JSON changed since is left to the write that changed it. Non-empty records written."""
    script = Script(kind.backfill_script)
    await script.load(redis)  # then queued by its SHA1 (a cluster pipeline takes no EVAL text)
    records = []
    async with redis.pipeline(transaction=False) as pipe:
        for order_id, raw in stored:
            order = stored_order(raw)  # None: breaks the field rules, has no record
            records.append(kind.record(order) if order is not None else b"")
            script.queue(pipe, [keys.orders(shop_id), *kind.keys(shop_id)],
                         [order_id, hashlib.sha1(raw).hexdigest(), records[-1], *kind.extra()])
        replies = await pipe.execute()
    return sum(1 for reply, record in zip(replies, records, strict=True) if reply and record)
