"""Training lines: what training reads of each stored order (its id, customer, time and the
lines its customer kept), written by the order store in the same script as the order, so that
a shop's purchases load in one read and a few numpy steps instead of parsing every order.

An order has a record when it is not cancelled and keeps a line: a net quantity above zero,
what was ordered minus what refunds gave back (Order.net_quantity); its record holds those
lines only, in the order's order. keys.order_lines(shop) maps order id -> record: 14 bytes
little-endian (created_at float64, number of lines kept n uint32, UTF-8 bytes of the order id
and the customer id with their line feeds uint16), the n net quantities (uint32), then the
order id, the customer id ('' for a guest) and the n product ids, each in UTF-8 followed by a
line feed (ids are printable: they hold no line feed). A shop's records joined are cut into
four columns of bytes (heads, quantities, order and customer ids, product ids) in a few numpy
steps, and each text is decoded and split at once.

keys.order_lines_ready(shop) says that every stored order has its record, so training may read
the records instead of the orders: set by the migration order-lines-1 once it wrote the record
of every order stored before records existed, or by a write of the shop's only order (a new
shop's first). It goes only with the shop; every write, erasure and move of an order changes its
record in the same transaction.
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.derived import Derived, backfill
from plugin.store.order import LineItem, Order
from recommender.matrix import PurchaseLines, coded

_HEAD = struct.Struct("<dIH")
_HEADS = np.dtype([("at", "<f8"), ("lines", "<u4"), ("ids", "<u2")])
_QUANTITY = np.dtype("<u4")

# write_lines(lines, ready, orders, order id, record or '' (none)): the one way a record
# changes; the order store's scripts call it after writing the order. The shop's only order
# makes its records complete (any other record is a stale one).
WRITE_LINES_LUA = """
local function write_lines(lines, ready, orders, order_id, record)
  if redis.call('HLEN', orders) == 1 then
    redis.call('DEL', lines)
    redis.call('SET', ready, '1')
  end
  if record == '' then
    redis.call('HDEL', lines, order_id)
  else
    redis.call('HSET', lines, order_id, record)
  end
end
"""


def lines_keys(shop_id: str) -> tuple[str, str]:
    """The keys write_lines takes (but the orders): the records and the ready marker."""
    return keys.order_lines(shop_id), keys.order_lines_ready(shop_id)


def line_record(order: Order) -> bytes:
    """The packed record of `order`, b'' when it keeps no line (see the module docstring)."""
    if order.cancelled:
        return b""
    given_back: dict[str, int] = {}
    for refund in order.refunds:
        given_back[refund.line_id] = given_back.get(refund.line_id, 0) + refund.quantity
    kept = [(line.product_id, quantity) for line in order.lines
            if (quantity := _net_quantity(line, given_back)) > 0]
    if not kept:
        return b""
    ids = f"{order.order_id}\n{order.customer_id or ''}\n".encode()
    products = "".join([f"{product}\n" for product, _ in kept]).encode()
    return struct.pack(f"<dIH{len(kept)}I", order.created_at, len(kept), len(ids),
                       *(quantity for _, quantity in kept)) + ids + products


def _net_quantity(line: LineItem, given_back: dict[str, int]) -> int:
    """Order.net_quantity of the line, given what the order's refunds gave back per line."""
    if not line.line_id:
        return line.quantity
    return max(0, line.quantity - given_back.get(line.line_id, 0))


# ---- reading ----------------------------------------------------------------------------------


async def read_records(redis: aioredis.Redis, shop_id: str) -> list[bytes] | None:
    """Every record of the shop, or None while they are not complete (one transaction)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.exists(keys.order_lines_ready(shop_id))
        pipe.hvals(keys.order_lines(shop_id))
        ready, records = await pipe.execute()
    return records if ready else None


def parse_lines(records: list[bytes]) -> tuple[PurchaseLines, int]:
    """The lines of packed records, and how many records; vectorised but for decoding and
    coding the ids."""
    if not records:
        none = np.zeros(0, np.int64)
        return PurchaseLines([], [], [], none, none, none, none, np.zeros(0)), 0
    sizes = np.fromiter(map(len, records), np.int64, len(records))
    data = np.frombuffer(b"".join(records), np.uint8)
    heads = data[(np.cumsum(sizes) - sizes)[:, None] + np.arange(_HEAD.size)].view(_HEADS)[:, 0]
    counts = heads["lines"].astype(np.int64)
    lengths = np.column_stack([  # of each record's parts: head, quantities, ids, product ids
        np.full(len(records), _HEAD.size), _QUANTITY.itemsize * counts, heads["ids"],
        sizes - _HEAD.size - _QUANTITY.itemsize * counts - heads["ids"]])
    parts = np.repeat(np.tile(np.arange(4, dtype=np.int8), len(records)), lengths.ravel())
    ids = _words(data[parts == 2])  # of each record: order id, customer id ('': a guest)
    customers, customer_codes = coded(ids[1::2])
    with contextlib.suppress(ValueError):
        guest = customers.index("")
        del customers[guest]
        customer_codes[customer_codes == guest] = -1
        customer_codes[customer_codes > guest] -= 1
    products, product_codes = coded(_words(data[parts == 3]))
    line_record = np.repeat(np.arange(len(records)), counts)
    return PurchaseLines(
        ids[0::2], customers, products, line_record, customer_codes[line_record],
        product_codes, data[parts == 1].view(_QUANTITY).astype(np.int64),
        heads["at"][line_record]), len(records)


def record_customer_products(record: bytes) -> tuple[str, list[str]]:
    """One record's customer id ('' for a guest) and the product ids of its kept lines (a
    product may come twice: two lines of it)."""
    _, lines, ids_size = _HEAD.unpack_from(record)
    start = _HEAD.size + _QUANTITY.itemsize * lines
    customer_id = record[start:start + ids_size].decode("utf-8").split("\n")[1]
    products = record[start + ids_size:].decode("utf-8").split("\n")
    products.pop()  # after the last line feed
    return customer_id, products


def _words(text: np.ndarray) -> list[str]:
    """The ids of `text` (uint8: UTF-8 ids, each followed by a line feed)."""
    words = text.tobytes().decode("utf-8").split("\n")
    words.pop()  # after the last line feed
    return words


# ---- erasure and the migration ----------------------------------------------------------------


def remove_lines(pipe: Any, shop_id: str, order_ids: list[str]) -> None:
    """Queue on `pipe` (a MULTI pipeline) the removal of these orders' records."""
    pipe.hdel(keys.order_lines(shop_id), *order_ids)


def rewrite_lines(pipe: Any, shop_id: str, order: Order) -> None:
    """Queue on `pipe` (a MULTI pipeline that rewrites the stored order) the order's record."""
    record = line_record(order)
    if record:
        pipe.hset(keys.order_lines(shop_id), order.order_id, record)
    else:
        pipe.hdel(keys.order_lines(shop_id), order.order_id)


LINES = Derived(WRITE_LINES_LUA, "write_lines(KEYS[2], KEYS[3], KEYS[1], ARGV[1], ARGV[3])",
                lines_keys, line_record)

# The records are complete: marked unless the shop was deleted meanwhile (its config is gone).
_MARK_READY = """
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SET', KEYS[1], '1') end
"""


async def backfill_lines(redis: aioredis.Redis, shop_id: str) -> int:
    """Write the record of every stored order (orders stored before records existed), then
    mark the shop's records complete. Records written."""
    written = await backfill(redis, shop_id, LINES)
    await redis.eval(_MARK_READY, 2, keys.order_lines_ready(shop_id), keys.shop_config(shop_id))
    return written
